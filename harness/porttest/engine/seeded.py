"""Files an environment places read-only in its container: one labelled volume per folder, filled before start.

Docker has no option that puts given files into a container, and a read-only mount cannot be written through the
archive API. So each folder gets a named volume, which a created (never started) helper container of the same image
fills through the archive API; the environment's container then mounts it read-only. This works on every engine
(a bind mount would need the files on the engine's own host). The volumes carry porttest's labels: they go with
their container (remove()), and `porttest clean` sweeps any that a killed run left.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import re
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import docker.errors
from docker.types import Mount

from porttest.engine.connect import Engine

SEED_AT = "/.porttest-seed"
KINDS = ("files", "toolbox")  # what a volume holds, in its name: an environment's `files`, or porttest's toolbox


@dataclass(frozen=True)
class SeededFile:
    """A file that is not text in mode 0644 (a program: bytes, 0755), or with `link`, a symbolic link to it."""

    content: bytes = b""
    mode: int = 0o644
    link: str | None = None


@dataclass(frozen=True)
class SeededFolder:
    """A folder of the container whose files porttest provides: its path, and each file's name and text."""

    target: str
    files: tuple[tuple[str, str | SeededFile], ...]


def folders(files: Mapping[str, str | SeededFile]) -> tuple[SeededFolder, ...]:
    """Absolute file paths -> content, grouped by their folder (the unit a volume mounts)."""
    grouped: dict[str, list[tuple[str, str | SeededFile]]] = {}
    for path, text in sorted(files.items()):
        folder, name = posixpath.split(posixpath.normpath(path))
        grouped.setdefault(folder, []).append((name, text))
    return tuple(SeededFolder(folder, tuple(entries)) for folder, entries in grouped.items())


def archive(folder: SeededFolder) -> bytes:
    """A tar of the folder's files, owned by root; text in mode 0644 (Kubernetes' defaultMode for projected
    volumes), a SeededFile in its own mode or as its symbolic link."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, entry in folder.files:
            item = entry if isinstance(entry, SeededFile) else SeededFile(entry.encode("utf-8"))
            info = tarfile.TarInfo(name)
            info.uid, info.gid = 0, 0
            if item.link is not None:
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, item.link, 0o777
                tar.addfile(info)
                continue
            info.size, info.mode = len(item.content), item.mode
            tar.addfile(info, io.BytesIO(item.content))
    return buffer.getvalue()


def volume_name(container_name: str, index: int, kind: str = "files") -> str:
    return f"{container_name}-{kind}-{index}"


def seed(engine: Engine, image_id: str, container_name: str, labels: dict[str, str],
         files: Mapping[str, str | SeededFile], platform: str | None = None, kind: str = "files") -> list[Mount]:
    """Create and fill a volume per folder; the read-only mounts for the container. On failure, nothing is left.
    `kind` (one of KINDS) names the volumes, so that several calls for one container never share a name."""
    mounts: list[Mount] = []
    made: list[str] = []
    try:
        for index, folder in enumerate(folders(files)):
            name = volume_name(container_name, index, kind)
            engine.client.api.create_volume(name, labels=labels)
            made.append(name)
            _fill(engine, image_id, name, labels, archive(folder), platform)
            mounts.append(Mount(target=folder.target, source=name, type="volume", read_only=True))
    except BaseException:
        remove_volumes(engine, made)
        raise
    return mounts


def _fill(engine: Engine, image_id: str, volume: str, labels: dict[str, str], data: bytes,
          platform: str | None) -> None:
    api = engine.client.api
    config = api.create_host_config(mounts=[Mount(target=SEED_AT, source=volume, type="volume")])
    kwargs: dict[str, Any] = {"platform": platform} if platform else {}
    # Never started: its command only has to be accepted, so one that no image has is fine.
    helper = api.create_container(image_id, command=["/porttest-seed"], entrypoint=[], labels=labels,
                                  host_config=config, name=f"{volume}-seed", **kwargs)
    try:
        api.put_archive(helper["Id"], SEED_AT, data)
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(helper["Id"], force=True)


def container_volumes(inspected: Mapping[str, Any]) -> list[str]:
    """The volumes that seed() made for a container (from its inspect output): named after it, mounted by it."""
    name = str(inspected.get("Name") or "").lstrip("/")
    pattern = re.compile(re.escape(name) + "-(?:" + "|".join(KINDS) + r")-\d+$")
    return [str(m["Name"]) for m in inspected.get("Mounts") or ()
            if m.get("Type") == "volume" and pattern.match(str(m.get("Name") or ""))]


def remove_volumes(engine: Engine, names: list[str]) -> None:
    """Remove volumes by name; already gone is fine."""
    for name in names:
        with contextlib.suppress(docker.errors.NotFound):
            engine.client.api.remove_volume(name, force=True)


def labelled_volumes(engine: Engine, label: str) -> Iterator[dict[str, Any]]:
    """Volumes carrying the label (any value), as the engine lists them."""
    listed = engine.client.api.volumes(filters={"label": label}) or {}
    for volume in listed.get("Volumes") or ():
        if label in (volume.get("Labels") or {}):
            yield volume
