"""Get the run's one image onto each engine (present, load, pull by digest, push-then-pull, auto) and prove it by ID."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import docker.errors
import requests

from porttest.engine.connect import Engine, short_reason
from porttest.engine.image import ResolvedImage
from porttest.engine.registry_stream import StreamSummary, read_stream, split_digest_ref
from porttest.errors import ImageError
from porttest.results.model import ShipRecord

CHUNK = 1 << 20


@dataclass(frozen=True)
class Pushed:
    """The image as one registry holds it: `repo@digest`, and what pushing it cost."""

    repo: str
    digest: str
    seconds: float
    bytes: int
    by_this_call: bool = True

    @property
    def ref(self) -> str:
        return f"{self.repo}@{self.digest}"


@dataclass
class Shipper:
    """Ships one resolved image from the source engine to targets; each registry gets one push per run."""

    source: Engine
    image: ResolvedImage
    cancel: threading.Event = field(default_factory=threading.Event)
    _pushed: dict[str, Pushed | ImageError] = field(default_factory=dict)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _locks_guard: threading.Lock = field(default_factory=threading.Lock)

    def ship(self, target: Engine, mode: str, push_to: str | None = None) -> ShipRecord:
        """Make `target` hold exactly `image.id` the way `mode` asks; ImageError says why it cannot.

        Environments on one engine ship one after the other, so that with `auto` the second finds the image there
        instead of moving the same bytes again."""
        with self._held("engine " + target.endpoint):
            return self._ship(target, mode, push_to)

    @contextlib.contextmanager
    def _held(self, key: str) -> Iterator[None]:
        """A lock per key, given up on (ImageError 'cancelled') when the run is interrupted while waiting."""
        with self._locks_guard:
            lock = self._locks.setdefault(key, threading.Lock())
        while not lock.acquire(timeout=0.2):
            if self.cancel.is_set():
                raise ImageError("cancelled")
        try:
            if self.cancel.is_set():
                raise ImageError("cancelled")
            yield
        finally:
            lock.release()

    def _ship(self, target: Engine, mode: str, push_to: str | None) -> ShipRecord:
        started = time.monotonic()
        notes: list[str] = []
        try:
            # Proof by inspection, never by engine ID: daemons that share /etc/docker/key.json report the same ID.
            if mode in ("present", "auto") and _holds(target, self.image.id):
                return self._record(target, "present", mode, started)
            if mode == "present":
                raise ImageError(
                    f"engine {target.endpoint} does not hold image {self.image.id[:19]} (ship: present)",
                    hint="use ship: load or ship: auto to copy it there, or put that very image on the engine",
                )
            if mode == "registry":
                assert push_to is not None
                pushed = self.push(push_to)
                summary = self._pull(target, pushed.ref)
                notes.append(f"pushed {pushed.ref} ({pushed.bytes / 1e6:.1f} MB in {pushed.seconds:.1f}s)"
                             if pushed.by_this_call else f"pulled {pushed.ref}, pushed once for this run")
                return self._record(target, "registry", mode, started, summary.bytes, pushed.ref, notes)
            if mode in ("pull", "auto"):
                ref = self.image.pull_ref
                if ref is None and mode == "pull":
                    raise ImageError(
                        f"ship: pull needs the image's registry digest, and {self.image.ref or self.image.id[:19]} "
                        "has none on the local engine",
                        hint="pull or push the image first so that it has a RepoDigest, "
                             "or use ship: {registry: {push: REGISTRY/REPO}}",
                    )
                if ref is not None:
                    try:
                        summary = self._pull(target, ref)
                        return self._record(target, "pull", mode, started, summary.bytes, ref)
                    except ImageError as exc:
                        if mode == "pull":
                            raise
                        notes.append(f"pull of {ref} failed ({exc.message}); loaded instead")
            moved = self._load(target)
            return self._record(target, "load", mode, started, moved, None, notes)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise ImageError(f"shipping the image to {target.endpoint} failed: {short_reason(exc)}") from None

    def push(self, repo: str) -> Pushed:
        """Push once per repository per run (the other environments wait for it and reuse its digest)."""
        with self._held("push " + repo):
            done = self._pushed.get(repo)
            if done is not None:
                if isinstance(done, ImageError):
                    raise ImageError(done.message, hint=done.hint)
                return dataclasses.replace(done, by_this_call=False)
            try:
                done = _push(self.source, self.image, repo)
            except (docker.errors.DockerException, requests.RequestException) as exc:
                done = ImageError(f"pushing to {repo} failed: {short_reason(exc)}",
                                  hint="is the registry running and reachable from the local engine?")
            except ImageError as exc:
                done = exc
            self._pushed[repo] = done
        if isinstance(done, ImageError):
            raise ImageError(done.message, hint=done.hint)
        return done

    def _pull(self, target: Engine, ref: str) -> StreamSummary:
        repo, digest = split_digest_ref(ref)
        try:
            stream = target.client.api.pull(repo, tag=digest, stream=True, decode=True, auth_config=_auth_for(target))
            summary = read_stream(stream, "Downloading")
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise ImageError(f"engine {target.endpoint} cannot pull {ref}: {short_reason(exc)}",
                             hint=_pull_hint(target)) from None
        if summary.error:
            # Podman answers a refused pull with a 404 later on; the stream carries the real reason.
            raise ImageError(f"engine {target.endpoint} cannot pull {ref}: {summary.error}", hint=_pull_hint(target))
        got = _image_id(target, ref)
        if got != self.image.id:
            raise ImageError(
                f"{ref} is image {got[:19] if got else '?'} on {target.endpoint}, not the run's {self.image.id[:19]}",
                hint="the digest names another image for this engine (a multi-platform index?); "
                     "pin the platform-specific digest, or ship by load",
            )
        return summary

    def _load(self, target: Engine) -> int:
        counted = _Counted(self.source.client.api.get_image(self.image.id, chunk_size=CHUNK))
        for message in target.client.api.load_image(counted, quiet=True):
            if isinstance(message, dict) and message.get("error"):
                raise ImageError(f"engine {target.endpoint} refused the image: {message['error']}")
        if not _holds(target, self.image.id):
            raise ImageError(f"after loading, engine {target.endpoint} does not hold {self.image.id}",
                             hint="the engine may rewrite images on load (e.g. another storage format)")
        return counted.bytes

    def _record(self, target: Engine, how: str, asked: str, started: float, moved: int = 0,
                pulled: str | None = None, notes: Iterable[str] = ()) -> ShipRecord:
        attrs = target.client.api.inspect_image(self.image.id)
        digests = [d for d in attrs.get("RepoDigests") or () if "@" in d]
        wanted = pulled.split("@", 1)[1] if pulled else None
        digest = wanted if wanted and any(d.endswith("@" + wanted) for d in digests) else (
            digests[0].split("@", 1)[1] if digests else None)
        return ShipRecord(mode=how, asked=asked, seconds=round(time.monotonic() - started, 3), bytes=moved,
                          image_id=str(attrs["Id"]), digest=digest, pulled=pulled, notes=tuple(notes))


def _push(source: Engine, image: ResolvedImage, repo: str) -> Pushed:
    started = time.monotonic()
    tag = "porttest-" + image.id.split(":", 1)[-1][:12]
    source.client.api.tag(image.id, repo, tag)
    summary = read_stream(source.client.api.push(repo, tag=tag, stream=True, decode=True), "Pushing")
    if summary.error:
        raise ImageError(f"pushing to {repo} failed: {summary.error}",
                         hint="is the registry running, reachable from the local engine, and are you logged in?")
    if not summary.digest:
        raise ImageError(f"the registry did not report a digest for {repo}:{tag}")
    return Pushed(repo, summary.digest, round(time.monotonic() - started, 3), summary.bytes)


def _auth_for(target: Engine) -> dict[str, str] | None:
    """Registry credentials from the local docker config go only to engines over a verified channel (the local
    socket, verified TLS, SSH); an empty auth keeps them from a plain-TCP or unverified-TLS engine."""
    spec = target.spec
    host = spec.host if spec is not None else None
    if host is None or host.startswith(("unix://", "npipe://", "ssh://")):
        return None
    tls = spec.tls if spec is not None else None
    return None if tls and tls.verify else {}


def _image_id(engine: Engine, ref: str) -> str | None:
    """The ID of the image `ref` names on `engine` (an ID names itself when the engine holds it), or None."""
    try:
        return str(engine.client.api.inspect_image(ref)["Id"])
    except docker.errors.NotFound:  # podman says "image not known": a plain NotFound
        return None


def _holds(engine: Engine, image_id: str) -> bool:
    return _image_id(engine, image_id) == image_id


def _pull_hint(target: Engine) -> str:
    if target.info.kind == "podman":
        return ("is the registry reachable from the engine's host? a plain-HTTP registry must be listed as insecure "
                "in the engine's registries.conf")
    return ("is the registry reachable from the engine's host? a plain-HTTP registry outside 127.0.0.0/8 must be in "
            "the engine's insecure-registries")


class _Counted:
    """Iterate the source engine's save() stream, counting bytes; never holds more than one chunk."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.bytes += len(chunk)
            yield chunk

