"""Resolve the image once on the local engine (building it if asked), then ship it to each engine by ID."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import docker.errors
import requests

from harness.config import ImageSpec
from harness.engines import Engine, short_reason
from harness.errors import ImageError
from harness.results import ShipRecord

CHUNK = 1 << 20


@dataclass(frozen=True)
class ResolvedImage:
    """The one image of a run, identified by its image ID (config digest)."""

    ref: str | None
    id: str
    repo_digests: tuple[str, ...]
    architecture: str
    os: str
    size: int
    layers: tuple[str, ...]

    @property
    def digest(self) -> str | None:
        """The repo digest (sha256:...) when the image came from or went to a registry."""
        return self.repo_digests[0].split("@", 1)[1] if self.repo_digests else None


def _from_attrs(ref: str | None, attrs: dict[str, Any]) -> ResolvedImage:
    return ResolvedImage(
        ref=ref, id=attrs["Id"], repo_digests=tuple(attrs.get("RepoDigests") or ()),
        architecture=str(attrs.get("Architecture") or ""), os=str(attrs.get("Os") or ""),
        size=int(attrs.get("Size") or 0), layers=tuple((attrs.get("RootFS") or {}).get("Layers") or ()),
    )


def resolve(engine: Engine, spec: ImageSpec, build: bool = True) -> ResolvedImage:
    """Build (when `build:` is given and `build` is true) and inspect the image on the local engine, then check the
    digest pin. Two builds of one Dockerfile give two image IDs, so CI fan-out builds once and passes build=False."""
    ref = spec.ref
    try:
        if spec.build is not None and build:
            image_id = _build(engine, spec)
            attrs = engine.client.api.inspect_image(image_id)
        else:
            attrs = engine.client.api.inspect_image(ref or spec.digest)
    except docker.errors.ImageNotFound:
        raise ImageError(f"image {ref or spec.digest} is not on the local engine ({engine.endpoint})",
                         hint=f"build or load it first (docker build -t {ref} ...), or give image.build") from None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ImageError(f"cannot inspect image {ref}: {short_reason(exc)}") from None
    image = _from_attrs(ref, attrs)
    if spec.digest is not None:
        digests = {d.split("@", 1)[-1] for d in image.repo_digests}
        if spec.digest != image.id and spec.digest not in digests:
            raise ImageError(
                f"image {ref} is {image.id}, not the pinned {spec.digest}",
                hint="image.digest pins the run to one image; rebuild/re-tag, or update the pin",
            )
    return image


def _build(engine: Engine, spec: ImageSpec) -> str:
    build = spec.build
    assert build is not None
    if not build.context.is_dir():
        raise ImageError(f"image.build.context is not a folder: {build.context}")
    tail: list[str] = []
    image_id = None
    stream = engine.client.api.build(
        path=str(build.context), dockerfile=build.dockerfile, tag=spec.ref, rm=True, forcerm=True, decode=True,
        buildargs={k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in build.args.items()},
        target=build.target, labels={"io.porttest.built": "true"},
    )
    for chunk in stream:
        if "error" in chunk:
            lines = "\n".join(tail[-10:])
            raise ImageError(f"image build failed: {chunk['error'].strip()}\n{lines}".rstrip(),
                             hint=f"try `docker build {build.context}` to see the whole log")
        text = chunk.get("stream", "")
        if text.strip():
            tail.append(text.rstrip())
        aux = chunk.get("aux")
        if isinstance(aux, dict) and "ID" in aux:
            image_id = aux["ID"]
    if image_id is None:
        raise ImageError("image build finished without an image ID", hint="\n".join(tail[-10:]))
    return str(image_id)


def _holds(engine: Engine, image_id: str) -> bool:
    try:
        return str(engine.client.api.inspect_image(image_id)["Id"]) == image_id
    except docker.errors.ImageNotFound:
        return False


class _Counted:
    """Iterate the source engine's save() stream, counting bytes; never holds more than one chunk."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.bytes += len(chunk)
            yield chunk


def ship(source: Engine, target: Engine, image: ResolvedImage, mode: str) -> ShipRecord:
    """Make `target` hold exactly `image.id` by the mode asked for; ImageError says why not."""
    started = time.monotonic()
    try:
        # Proof by inspection, never by engine ID: daemons that share /etc/docker/key.json report the same ID.
        if mode in ("present", "auto") and _holds(target, image.id):
            return ShipRecord(mode="present", seconds=time.monotonic() - started)
        if mode == "present":
            raise ImageError(
                f"engine {target.endpoint} does not hold image {image.id[:19]} (ship: present)",
                hint="use ship: load or ship: auto to copy it there, or put that very image on the engine",
            )
        counted = _Counted(source.client.api.get_image(image.id, chunk_size=CHUNK))
        for message in target.client.api.load_image(counted, quiet=True):
            if isinstance(message, dict) and message.get("error"):
                raise ImageError(f"engine {target.endpoint} refused the image: {message['error']}")
        if not _holds(target, image.id):
            raise ImageError(f"after loading, engine {target.endpoint} does not hold {image.id}",
                             hint="the engine may rewrite images on load (e.g. another storage format)")
        return ShipRecord(mode="load", seconds=time.monotonic() - started, bytes=counted.bytes)
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ImageError(f"shipping the image to {target.endpoint} failed: {short_reason(exc)}") from None
