"""PURE: what an engine's runtimes and platform allow, and what its refusals to create or start a container mean."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from porttest.errors import ContainerError

if TYPE_CHECKING:  # pure: the facts type only, not the Docker SDK behind it
    from porttest.engine.connect import EngineInfo


def check_runtime(info: EngineInfo, endpoint: str, runtime: str | None) -> None:
    """Refuse before anything is shipped or created when the engine does not list the runtime asked for.

    An engine that lists no runtimes at all (some Podman versions) is left to answer at create time."""
    if runtime is None or not info.runtimes or runtime in info.runtimes:
        return
    error = runtime_missing(info, endpoint, runtime)
    assert error is not None
    raise error


def runtime_missing(info: EngineInfo, endpoint: str, runtime: str | None,
                    engine_said: str | None = None) -> ContainerError | None:
    """The error for a run.runtime the engine does not offer, naming those it does; None when it is not that.

    With `engine_said` (the engine's refusal), only a refusal about an unknown runtime is translated."""
    if runtime is None or (engine_said is not None and "unknown runtime" not in engine_said.lower()):
        return None
    offered = ", ".join(info.runtimes) or "(none listed)"
    said = f" (the engine said: {engine_said})" if engine_said else ""
    if runtime == "runsc":
        how = ('install gVisor (Debian: apt-get install runsc) and register it in the engine\'s daemon.json, e.g. '
               '"runtimes": {"runsc": {"path": "/usr/bin/runsc"}}, then restart the engine')
    else:
        how = f"register {runtime!r} under \"runtimes\" in the engine's daemon.json and restart the engine"
    return ContainerError(
        f"run.runtime is {runtime!r}, but engine {endpoint} does not offer it; it offers: {offered}{said}",
        hint=f"set run.runtime to one of: {offered}; or {how}",
    )


_PLATFORM_WORDS = re.compile(r"wanted (?P<wanted>[\w/.-]+), actual: (?P<actual>[\w/.-]+)")
# Engines report the kernel's machine name; platforms use Go's architecture names.
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
            "s390x": "s390x", "armv6l": "arm", "armv8l": "arm", "i386": "386", "loongarch64": "loong64"}


def go_arch(machine: str) -> str:
    """A kernel's machine name (`uname -m`: x86_64, aarch64) in Go's names (amd64, arm64); Go's names unchanged."""
    return _GO_ARCH.get(machine, machine)


def engine_platform(info: EngineInfo) -> str:
    """The engine's own platform as os/arch in the names run.platform uses (linux/amd64, not linux/x86_64)."""
    return f"{info.os_type or 'linux'}/{go_arch(info.arch) or '?'}"


def platform_mismatch(engine_said: str, asked: str | None, info: EngineInfo,
                      image_id: str | None = None) -> ContainerError | None:
    """The error for a run.platform the image or the engine cannot serve; None when the refusal is about else."""
    if asked is None:
        return None
    lowered = engine_said.lower()
    image = f"the image {image_id.removeprefix('sha256:')[:12]}" if image_id else "the image"
    if "does not match the specified platform" in lowered:
        words = _PLATFORM_WORDS.search(engine_said)
        actual = words.group("actual") if words else f"another platform (engine said: {engine_said})"
        return ContainerError(
            f"run.platform asks for {asked}, but {image} is {actual}",
            hint=f"this engine runs {engine_platform(info)}; give an image built for {asked} (docker buildx build "
                 f"--platform {asked}), run this environment on a {asked} engine, or drop run.platform",
        )
    if "unknown operating system or architecture" in lowered or "invalid platform" in lowered:
        return ContainerError(f"run.platform {asked!r} is not a platform the engine knows ({engine_said})",
                              hint=f"write os/arch[/variant], e.g. linux/amd64 or linux/arm64; this engine runs "
                                   f"{engine_platform(info)}")
    return None


def refusal_hint(engine_said: str, info: EngineInfo) -> str | None:
    """What to do about an engine's refusal to create or start a container, when the refusal says enough."""
    text = engine_said.lower()
    offered = ", ".join(info.runtimes) or "(none reported)"
    # Most specific first: every OCI runtime failure mentions "runtime", whatever its cause.
    if "exec format error" in text:
        return (f"the image's programs are for another CPU than this engine's ({info.arch}), and the engine has no "
                "user-mode emulation for it: register qemu's (apt-get install qemu-user-static binfmt-support), "
                "give an image built for this CPU, or run this environment on an engine of the image's CPU")
    if "executable file not found" in text:
        return "the image has no such command; set run.command to a program the image has"
    if "fork/exec" in text and "no such file" in text:
        return (f"the engine could not start its OCI runtime program; if run.runtime is set, check that the runtime "
                f"is installed where the engine's daemon.json says (this engine offers: {offered})")
    if "runtime" in text:
        return f"this engine offers the runtimes: {offered}"
    if "no such file" in text:
        return "the image has no such command; set run.command to a program the image has"
    if "rlimit" in text and info.kind == "podman":
        # Seen where the service lacks CAP_SYS_RESOURCE: podman drops its default_ulimits once run.ulimits is set.
        return ("podman raises every ulimit that run.ulimits does not name to its own maximum, beyond this host's "
                "hard limits: name nofile and nproc in run.ulimits (e.g. {name: nproc, soft: 32768, hard: 32768})")
    return None


def non_root_refusal(run_user: str | None, image_user: str) -> str | None:
    """Why the kubelet would refuse to start a container under `runAsNonRoot: true`, in its own words, or None.

    `run_user` is the user the environment asks for (runAsUser), else the image's configured USER decides: empty
    means root, a name cannot be verified, a UID of 0 is root (the group after a colon does not count).
    """
    if run_user:
        uid = run_user.split(":", 1)[0]
        if uid == "0":
            return "container's runAsUser breaks non-root policy"
        if uid.isdigit() or uid == "":
            return None
        image_user = run_user  # a name given to Docker: the kubelet could not verify it either
    user = image_user.split(":", 1)[0]
    if user and not user.isdigit():
        return f"container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root"
    if not user or int(user) == 0:
        return "container has runAsNonRoot and image will run as root"
    return None
