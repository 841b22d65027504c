"""Other CPUs: whether an engine runs a platform's programs, natively or by user-mode emulation (binfmt_misc)."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from porttest.engine.runtimes import go_arch
from porttest.errors import ContainerError, PorttestError

if TYPE_CHECKING:  # pure: the facts type only, not the Docker SDK behind it
    from porttest.engine.connect import EngineInfo

BINFMT_MISC = Path("/proc/sys/fs/binfmt_misc")
# Go's architecture names (as platforms spell them) -> the name of qemu's binfmt_misc handler (qemu-<name>).
_QEMU = {"amd64": "x86_64", "386": "i386", "arm64": "aarch64", "arm": "arm", "ppc64le": "ppc64le", "ppc64": "ppc64",
         "s390x": "s390x", "riscv64": "riscv64", "mips64le": "mips64el", "mips64": "mips64", "mipsle": "mipsel",
         "mips": "mips", "loong64": "loongarch64"}
# Programs another CPU runs without emulation: amd64 kernels run 386 programs; many (not all) arm64 CPUs run arm ones.
_COMPATIBLE = {("amd64", "386"): True, ("arm64", "arm"): None}
Support = Literal["native", "emulated", "missing", "unchecked"]


@dataclass(frozen=True)
class BinfmtEntry:
    """One binfmt_misc handler as /proc/sys/fs/binfmt_misc/<name> describes it."""

    name: str
    enabled: bool
    interpreter: str
    flags: str

    @property
    def fix_binary(self) -> bool:
        """F: the kernel opened the interpreter at registration, so it works inside containers without a copy."""
        return "F" in self.flags


@dataclass(frozen=True)
class Binfmt:
    """The binfmt_misc handlers of this machine's kernel (mounted False: nothing can be registered)."""

    mounted: bool
    enabled: bool = False
    entries: tuple[BinfmtEntry, ...] = ()

    def entry(self, name: str) -> BinfmtEntry | None:
        return next((entry for entry in self.entries if entry.name == name), None)


@dataclass(frozen=True)
class PlatformSupport:
    """Whether an engine runs a platform, and how: its own CPU, emulation it was seen to have, or not known."""

    platform: str
    engine_arch: str
    support: Support
    reason: str = ""


def parse_entry(name: str, text: str) -> BinfmtEntry:
    """A handler file's text: `enabled`, `interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P`, `flags: PF`, ..."""
    lines = [line.strip() for line in text.splitlines()]
    fields = dict(line.split(" ", 1) for line in lines if " " in line)
    return BinfmtEntry(name=name, enabled="enabled" in lines, interpreter=fields.get("interpreter", ""),
                       flags=fields.get("flags:", "").strip())


def read_binfmt(directory: Path = BINFMT_MISC) -> Binfmt:
    """This machine's binfmt_misc handlers; not mounted when its `status` file cannot be read."""
    try:
        status = (directory / "status").read_text().strip()
    except OSError:
        return Binfmt(mounted=False)
    entries = []
    for path in sorted(directory.iterdir()):
        if path.name in ("status", "register"):
            continue
        try:
            entries.append(parse_entry(path.name, path.read_text()))
        except OSError:
            continue
    return Binfmt(mounted=True, enabled=status == "enabled", entries=tuple(entries))


def arch_of(platform: str) -> str:
    """`linux/arm64/v8` -> `arm64`; `arm64` -> `arm64`; machine names as engines report them are translated."""
    parts = platform.split("/")
    return go_arch(parts[1] if len(parts) > 1 else parts[0])


def support(platform: str, engine_arch: str, binfmt: Binfmt | None) -> PlatformSupport:
    """How an engine of `engine_arch` (its kernel's machine name) runs `platform`; `binfmt` is the engine's kernel's
    handlers, or None when porttest cannot read them (the engine runs on another machine or in a VM)."""
    native, wanted = go_arch(engine_arch), arch_of(platform)
    if wanted == native or _COMPATIBLE.get((native, wanted)):
        return PlatformSupport(platform, engine_arch, "native")
    if binfmt is None or (native, wanted) in _COMPATIBLE:
        return PlatformSupport(platform, engine_arch, "unchecked")
    name = f"qemu-{_QEMU.get(wanted, wanted)}"
    entry = binfmt.entry(name)
    if not binfmt.mounted:
        reason = f"binfmt_misc is not mounted at {BINFMT_MISC}, so no emulator is registered"
    elif not binfmt.enabled:
        reason = f"binfmt_misc is disabled ({BINFMT_MISC}/status)"
    elif entry is None:
        reason = f"no {name} handler is registered in {BINFMT_MISC}"
    elif not entry.enabled:
        reason = f"the {name} handler is registered but disabled"
    elif not entry.fix_binary:
        reason = (f"the {name} handler lacks the F flag (flags: {entry.flags or 'none'}), so it would look for "
                  f"{entry.interpreter or 'its interpreter'} inside each container")
    else:
        return PlatformSupport(platform, engine_arch, "emulated", f"{name} ({entry.interpreter})")
    return PlatformSupport(platform, engine_arch, "missing", reason)


def is_this_machine(endpoint: str, info: EngineInfo) -> bool:
    """Whether the engine shares this machine's kernel: a unix socket or loopback address, and the engine reports
    this machine's hostname and kernel release (a socket into a VM, as Docker Desktop's, does not)."""
    parts = urlsplit(endpoint)
    if parts.scheme in ("unix", "http+unix"):
        near = True
    elif parts.scheme in ("tcp", "http", "https"):
        host = parts.hostname or ""
        try:
            near = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            near = False
    else:
        near = False
    return near and info.name == socket.gethostname() and info.kernel == os.uname().release


def check_platform(info: EngineInfo, endpoint: str, platform: str | None,
                   binfmt: Binfmt | None = None) -> PlatformSupport | None:
    """Refuse before anything is shipped when the engine is on this machine and cannot run `platform`; None when no
    platform is known. Other engines are `unchecked`: a start that fails there is translated (`cannot_execute`)."""
    if not platform:
        return None
    if binfmt is None and is_this_machine(endpoint, info):
        binfmt = read_binfmt(BINFMT_MISC)
    found = support(platform, info.arch, binfmt)
    if found.support == "missing":
        raise emulation_missing(found, endpoint)
    return found


def emulation_missing(found: PlatformSupport, endpoint: str, said: str | None = None) -> ContainerError:
    """The error for an engine that cannot run a platform's programs, with the ways to give it emulation."""
    wanted = arch_of(found.platform)
    why = f": {found.reason}" if found.reason else ""
    if said:
        why += f" (the container said: {said})"
    return ContainerError(
        f"engine {endpoint} runs {found.engine_arch} and cannot run {found.platform} programs: no user-mode emulation "
        f"for {wanted}{why}",
        hint=enable_hint(found.platform),
    )


def enable_hint(platform: str) -> str:
    """How to register qemu's user-mode emulation (with the F flag) on the engine's host, or avoid needing it."""
    wanted = arch_of(platform)
    return (f"enable emulation on the engine's host, as root: `mount -t binfmt_misc binfmt_misc {BINFMT_MISC}` "
            "(where not mounted) and `apt-get install qemu-user-static binfmt-support` (Debian, Ubuntu); with a "
            f"registry at hand: `docker run --privileged --rm tonistiigi/binfmt --install {wanted}`; "
            f"or run this environment on a {platform} engine")


def emulated(machine: str | None, engine_arch: str) -> bool | None:
    """Whether a container's `uname -m` names another CPU than its engine's (so it ran under emulation); None when
    either is unknown, or the pair may run either way (arm programs on an arm64 CPU)."""
    if not machine or not engine_arch:
        return None
    native, seen = go_arch(engine_arch), go_arch(machine)
    if native == seen:
        return False
    compatible = _COMPATIBLE.get((native, seen), False)
    return None if compatible is None else not compatible


def cannot_execute(error: PorttestError, platform: str | None, info: EngineInfo, endpoint: str) -> PorttestError:
    """A container whose programs the kernel refused (`exec format error`) as the emulation error, when the platform
    is not the engine's own; otherwise `error` itself, with a hint about the image's programs."""
    if "exec format error" not in error.message.lower():
        return error
    found = support(platform, info.arch, None) if platform else None
    if found is not None and found.support == "unchecked":
        return emulation_missing(found, endpoint, said="exec format error")
    shown = f"the image says it is {platform}, but " if platform else ""
    return ContainerError(error.message, hint=f"{shown}a program in it is not for this engine's CPU ({info.arch}): "
                                              "rebuild the image for the platform it declares")
