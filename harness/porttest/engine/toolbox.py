"""Shell-less images: a static busybox for the image's CPU, placed read-only in the container, runs porttest's commands.

An image without /bin/sh (scratch, distroless, one static binary) cannot run a command porttest or testinfra sends.
For such an image porttest fills a labelled volume (engine/seeded.py) with a static busybox and its applet links and
mounts it read-only at TOOLBOX_DIR, outside the image's own tree; every command then runs under the toolbox's shell,
with TOOLBOX_DIR last on PATH. The image is never modified, and what the commands read is the image's own files.

Where the busybox comes from, first match wins, and only from the folders named when any are:
  1. the environment's `toolbox: DIR` (matrix key), then the folders in $PORTTEST_TOOLBOX (DIR[:DIR...]); in each,
     `busybox-ARCH`, `ARCH/busybox`, `ARCH/bin/busybox` (an extracted .deb), then a plain `busybox`. ARCH is Docker's
     name or Debian's (amd64/x86_64, arm64/aarch64, armhf/arm, i386/386, ppc64el/ppc64le, s390x, riscv64).
  2. when no folder is named: this machine's own busybox (/bin/busybox: `apt-get install busybox-static`).
Every candidate is checked: an ELF program for the image's CPU, statically linked (Debian's plain `busybox` package
is dynamically linked and cannot run in an image without its libc).
"""

from __future__ import annotations

import base64
import json
import os
import posixpath
import re
import shutil
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
from docker.types import Mount

from porttest.engine import seeded
from porttest.engine.connect import Engine
from porttest.engine.session import Shell
from porttest.errors import ContainerError

TOOLBOX_DIR = "/.porttest-toolbox"
ENV_VAR = "PORTTEST_TOOLBOX"
MACHINE_PATHS = ("/bin/busybox", "/usr/bin/busybox", "/usr/local/bin/busybox")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # what Docker gives a container
_MAX_LINKS = 8
# Go's os.ModeType bits in the archive API's stat: dir, symlink, device, pipe, socket, char device, irregular.
_MODE_TYPE = (1 << 31) | (1 << 27) | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)
_MODE_SYMLINK = 1 << 27
_PT_INTERP = 3
_VERSION = re.compile(rb"BusyBox v(\d[\w.+~-]*)")
_APPLETS_START = b"[\x00[[\x00"  # busybox's applet_names table: sorted, NUL-separated, "[" and "[[" first
_APPLET = re.compile(r"^[\[\]A-Za-z0-9_.-]{1,32}$")
# busybox has no getent, which testinfra's host.user needs (home, shell, gecos, password): one for the databases of
# the image's own /etc files. Found through PATH (the toolbox is last on it), so an image's own getent comes first.
GETENT = f"""#!{TOOLBOX_DIR}/sh
# getent for porttest's toolbox: passwd, group and shadow from the image's own /etc files.
db=$1; [ $# -gt 0 ] && shift
case "$db" in passwd|group|shadow) ;; *) echo "getent: unknown database: $db" >&2; exit 1;; esac
[ -r "/etc/$db" ] || exit 2
[ $# -eq 0 ] && exec cat "/etc/$db"
rc=0
for key in "$@"; do
  awk -F: -v k="$key" -v db="$db" '$1 == k || (db != "shadow" && $3 == k) {{ print; found = 1; exit }}
    END {{ exit !found }}' "/etc/$db" || rc=2
done
exit $rc
"""


@dataclass(frozen=True)
class Arch:
    """A CPU as Docker names it, the names a toolbox folder may use for it, and its ELF machine, class and order."""

    docker: str
    names: tuple[str, ...]
    machine: int
    bits: int
    little: bool


ARCHES = {a.docker: a for a in (
    Arch("amd64", ("amd64", "x86_64"), 62, 64, True),
    Arch("arm64", ("arm64", "aarch64"), 183, 64, True),
    Arch("arm", ("armhf", "arm", "armel"), 40, 32, True),
    Arch("386", ("i386", "386"), 3, 32, True),
    Arch("ppc64le", ("ppc64el", "ppc64le"), 21, 64, True),
    Arch("s390x", ("s390x",), 22, 64, False),
    Arch("riscv64", ("riscv64",), 243, 64, True),
    Arch("mips64le", ("mips64el", "mips64le"), 8, 64, True),
)}


@dataclass(frozen=True)
class Elf:
    """What an ELF header says about a program: its machine, class, byte order, and whether it is static."""

    machine: int
    bits: int
    little: bool
    static: bool


def read_elf(data: bytes) -> Elf | None:
    """The ELF header and program headers of a program (None: not ELF). Static means no PT_INTERP (no loader)."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    bits, little = (64 if data[4] == 2 else 32), data[5] == 1
    order = "<" if little else ">"
    machine = struct.unpack_from(order + "H", data, 18)[0]
    if bits == 64:
        phoff = struct.unpack_from(order + "Q", data, 32)[0]
        entsize, count = struct.unpack_from(order + "HH", data, 54)
    else:
        phoff = struct.unpack_from(order + "I", data, 28)[0]
        entsize, count = struct.unpack_from(order + "HH", data, 42)
    interp = any(phoff + i * entsize + 4 <= len(data)
                 and struct.unpack_from(order + "I", data, phoff + i * entsize)[0] == _PT_INTERP
                 for i in range(count))
    return Elf(machine, bits, little, not interp)


def applets(data: bytes) -> tuple[str, ...]:
    """The applet names busybox holds (its applet_names table), or () when the table is not found."""
    start = data.find(_APPLETS_START)
    if start < 0:
        return ()
    names = []
    for raw in data[start:start + 16384].split(b"\x00"):
        name = raw.decode("ascii", "replace")
        if not _APPLET.match(name):
            break
        names.append(name)
    return tuple(names)


@dataclass(frozen=True)
class Toolbox:
    """A static busybox for one CPU: where it was found, its version, and its content."""

    path: Path
    arch: str
    version: str | None
    content: bytes = field(repr=False)

    def describe(self) -> str:
        """'busybox 1.35.0 (static, amd64)': the toolbox as the facts and reports name it."""
        return f"busybox {self.version or '(unknown version)'} (static, {self.arch})"

    def files(self) -> dict[str, seeded.SeededFile]:
        """TOOLBOX_DIR's files: busybox (0755), a link to it per applet (`sh` always among them), and getent."""
        names = {name for name in (*applets(self.content), "sh") if name != "busybox"}
        files = {f"{TOOLBOX_DIR}/busybox": seeded.SeededFile(self.content, 0o755),
                 **{f"{TOOLBOX_DIR}/{name}": seeded.SeededFile(link="busybox") for name in sorted(names)}}
        files.setdefault(f"{TOOLBOX_DIR}/getent", seeded.SeededFile(GETENT.encode(), 0o755))
        return files


def mismatch(elf: Elf | None, arch: Arch) -> str | None:
    """Why a program cannot be the toolbox of `arch` images; None when it can."""
    if elf is None:
        return "not an ELF program"
    if (elf.machine, elf.bits, elf.little) != (arch.machine, arch.bits, arch.little):
        found = next((a.docker for a in ARCHES.values() if (a.machine, a.bits, a.little) ==
                      (elf.machine, elf.bits, elf.little)), f"ELF machine {elf.machine}")
        return f"a program for {found}, not {arch.docker}"
    if not elf.static:
        return "dynamically linked (a static busybox is needed: Debian's busybox-static, not busybox)"
    return None


def search_folders(matrix_folder: Path | None, environ: Mapping[str, str] | None = None) -> list[Path]:
    """The folders named for toolboxes: the environment's `toolbox:`, then $PORTTEST_TOOLBOX (DIR[:DIR...])."""
    named = (environ if environ is not None else os.environ).get(ENV_VAR, "")
    folders = [matrix_folder] if matrix_folder is not None else []
    return folders + [Path(part) for part in named.split(os.pathsep) if part]


def candidates(arch: Arch, folders: Sequence[Path]) -> list[Path]:
    """Where to look, in order: in the named folders only when there are any, else this machine's busybox."""
    if not folders:
        found = shutil.which("busybox")
        return [Path(p) for p in dict.fromkeys((*MACHINE_PATHS, *([found] if found else [])))]
    out = []
    for folder in folders:
        for name in arch.names:
            out += [folder / f"busybox-{name}", folder / name / "busybox", folder / name / "bin" / "busybox"]
        out.append(folder / "busybox")
    return out


def find(architecture: str, folders: Sequence[Path]) -> Toolbox:
    """The first usable static busybox for images of `architecture` (Docker's name); ContainerError when none is."""
    arch = ARCHES.get(architecture)
    tried: list[str] = []
    for path in candidates(arch, folders) if arch is not None else ():
        assert arch is not None
        try:
            if not path.is_file():
                continue
            content = path.read_bytes()
        except OSError as exc:
            tried.append(f"{path}: {exc.strerror or exc}")
            continue
        version = _VERSION.search(content)
        reason = mismatch(read_elf(content), arch) or (None if version else "not a busybox")
        if reason is not None:
            tried.append(f"{path}: {reason}")
            continue
        assert version is not None
        return Toolbox(path, architecture, version.group(1).decode("ascii", "replace"), content)
    where = (" in " + ", ".join(map(str, folders)) + f" ({ENV_VAR} or the environment's toolbox:)" if folders
             else " on this machine (" + ", ".join(MACHINE_PATHS) + ")")
    message = (f"the image has no shell (/bin/sh), and porttest found no static busybox for {architecture or '?'} "
               f"images{where} to run its commands with")
    if tried:
        message += ": " + "; ".join(tried)
    raise ContainerError(message, hint=_hint(architecture))


def _hint(architecture: str) -> str:
    debian = ARCHES[architecture].names[0] if architecture in ARCHES else architecture
    return (f"porttest mounts a static busybox read-only at {TOOLBOX_DIR} in a shell-less container. Give it one: "
            "`apt-get install busybox-static` (this machine's CPU), or put one in a folder as busybox-ARCH or "
            f"ARCH/busybox (e.g. `apt-get download busybox-static:{debian}` and `dpkg-deb -x` it into DIR/{debian}) "
            f"and name the folder with {ENV_VAR}=DIR or `toolbox: DIR` in the environment")


def image_architecture(inspected_image: Mapping[str, Any]) -> str:
    """Docker's name of the image's CPU (amd64, arm64, arm ...) from the image's inspect output."""
    return str(inspected_image.get("Architecture") or "")


def has_shell(api: Any, container_id: str, path: str = "/bin/sh") -> bool:
    """Whether a created container has an executable /bin/sh: asked through the archive API's stat (no start, no
    exec), following symbolic links inside the container, so that a dangling /bin/sh counts as none. An engine that
    cannot answer (an error other than "no such path") is taken to have one, as before there was a toolbox."""
    for _ in range(_MAX_LINKS):
        try:
            stat = _stat(api, container_id, path)
        except docker.errors.APIError:
            return True
        if stat is None:
            return False
        target = str(stat.get("linkTarget") or "")
        mode = int(stat.get("mode") or 0)
        # Podman fills linkTarget for a plain file too (with its own path): only a link, or a target elsewhere,
        # is followed.
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target)) if target else path
        if resolved == path or (target and not mode & _MODE_SYMLINK and _is_regular(mode)):
            return _is_regular(mode) and bool(mode & 0o111)
        # Docker resolves the whole chain inside the container (an absolute target); a relative one is followed.
        path = resolved
    return False


def _is_regular(mode: int) -> bool:
    """Go's os.FileMode (what the archive stat reports): no type bits set is a regular file."""
    return not mode & _MODE_TYPE


def _stat(api: Any, container_id: str, path: str) -> dict[str, Any] | None:
    """The archive API's stat of a path in a container (HEAD: nothing is copied); None when the path is missing."""
    response = api.head(api._url("/containers/{0}/archive", container_id), params={"path": path})
    try:
        if response.status_code == 404:
            return None
        api._raise_for_status(response)
        header = response.headers.get("X-Docker-Container-Path-Stat") or ""
        return dict(json.loads(base64.b64decode(header))) if header else {}
    finally:
        response.close()


def shell_of(inspected: Mapping[str, Any]) -> Shell:
    """The shell that runs commands in a container (from its inspect output): the toolbox's when porttest mounted
    one, with TOOLBOX_DIR last on the container's PATH; else the image's /bin/sh."""
    if not any(m.get("Destination") == TOOLBOX_DIR for m in inspected.get("Mounts") or ()):
        return Shell()
    env = (inspected.get("Config") or {}).get("Env") or ()
    path = next((str(e)[5:] for e in env if str(e).startswith("PATH=")), DEFAULT_PATH)
    return Shell(f"{TOOLBOX_DIR}/sh", (f"PATH={path}:{TOOLBOX_DIR}" if path else f"PATH={TOOLBOX_DIR}",),
                 f"{TOOLBOX_DIR}/busybox")


def provide(engine: Engine, image_id: str, container_name: str, labels: dict[str, str], platform: str | None,
            matrix_folder: Path | None) -> tuple[Toolbox, list[Mount]]:
    """The toolbox for the image's CPU in a labelled volume of the container's; its read-only mounts."""
    toolbox = find(image_architecture(engine.client.api.inspect_image(image_id)), search_folders(matrix_folder))
    return toolbox, seeded.seed(engine, image_id, container_name, labels, toolbox.files(), platform, kind="toolbox")
