"""Resolve the run's one image on the local engine (building it if asked) and check its digest pin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker.errors
import requests

from porttest.config import ImageSpec
from porttest.engine.connect import Engine, short_reason
from porttest.engine.registry_stream import StreamSummary, read_stream
from porttest.errors import ImageError


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
    variant: str = ""

    @property
    def platform(self) -> str | None:
        """os/arch[/variant] as the image's config says (linux/arm64), None when it does not say."""
        if not self.architecture:
            return None
        return "/".join(part for part in (self.os or "linux", self.architecture, self.variant) if part)

    @property
    def pull_ref(self) -> str | None:
        """`repo@sha256:...` to pull the image by, preferring the repository that the ref names."""
        if not self.repo_digests:
            return None
        wanted = repository(self.ref) if self.ref else None
        return next((d for d in self.repo_digests if d.split("@", 1)[0] == wanted), self.repo_digests[0])

    @property
    def digest(self) -> str | None:
        """The repo digest (sha256:...) when the image came from or went to a registry."""
        ref = self.pull_ref
        return ref.split("@", 1)[1] if ref else None


def repository(ref: str) -> str:
    """`host:5000/a/b:tag` -> `host:5000/a/b` (a colon after the last slash is a tag)."""
    name = ref.split("@", 1)[0]
    return name[: name.rfind(":")] if _has_tag(name) else name


def _from_attrs(ref: str | None, attrs: dict[str, Any]) -> ResolvedImage:
    return ResolvedImage(
        ref=ref, id=attrs["Id"], repo_digests=tuple(attrs.get("RepoDigests") or ()),
        architecture=str(attrs.get("Architecture") or ""), os=str(attrs.get("Os") or ""),
        size=int(attrs.get("Size") or 0), layers=tuple((attrs.get("RootFS") or {}).get("Layers") or ()),
        variant=str(attrs.get("Variant") or ""),
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
            attrs = _inspect_or_pull(engine, spec)
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


def _inspect_or_pull(engine: Engine, spec: ImageSpec) -> dict[str, Any]:
    """The local image by ref; missing, a ref that names a registry is pulled (by the pinned digest when given)."""
    ref = spec.ref or spec.digest
    assert ref is not None
    try:
        return dict(engine.client.api.inspect_image(ref))
    except docker.errors.NotFound:  # podman says "image not known": a plain NotFound
        pass
    missing = f"image {ref} is not on the local engine ({engine.endpoint})"
    if spec.ref is None or not _names_registry(spec.ref):
        raise ImageError(missing, hint=f"build or load it first (docker build -t {ref} ...), or give image.build")
    name, _, at = spec.ref.partition("@")
    repo, tag = name.rsplit(":", 1) if _has_tag(name) else (name, "latest")
    # With a pin, pull the pinned content, never whatever the tag points at today; a pin that is an image ID
    # (config digest) cannot be pulled by, so the tag is pulled and the pin check decides.
    tries = list(dict.fromkeys(t for t in (at, spec.digest, None if at else tag) if t))
    summary = StreamSummary()
    for candidate in tries:
        try:
            summary = read_stream(engine.client.api.pull(repo, tag=candidate, stream=True, decode=True),
                                  "Downloading")
        except (docker.errors.DockerException, requests.RequestException) as exc:
            summary = StreamSummary(error=short_reason(exc))
        if not summary.error:
            pulled = f"{repo}@{candidate}" if candidate.startswith("sha256:") else f"{repo}:{candidate}"
            return dict(engine.client.api.inspect_image(pulled))
    raise ImageError(f"{missing}, and pulling it failed: {summary.error}",
                     hint="build or load it locally, or check that the registry is reachable")


def _names_registry(ref: str) -> bool:
    first = ref.split("/", 1)[0]
    return "/" in ref and ("." in first or ":" in first or first == "localhost")


def _has_tag(name: str) -> bool:
    return name.rfind(":") > name.rfind("/")


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

