"""Other CPUs without an engine: binfmt_misc handlers, whether an engine can run a platform, the errors and hints."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from porttest.engine.connect import EngineInfo
from porttest.engine.image import ResolvedImage
from porttest.engine.platforms import (
    Binfmt,
    BinfmtEntry,
    cannot_execute,
    check_platform,
    emulated,
    is_this_machine,
    parse_entry,
    read_binfmt,
    support,
)
from porttest.errors import EXIT_ENVIRONMENT, ContainerError

# /proc/sys/fs/binfmt_misc/qemu-aarch64 as Debian's qemu-user-static registers it.
QEMU_AARCH64 = """enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: PF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""
ENDPOINT = "unix:///var/run/docker.sock"


def info(arch: str = "x86_64", name: str = "vm", kernel: str = "6.1.0") -> EngineInfo:
    return EngineInfo(id="X", name=name, kind="docker", version="20.10.24", api_version="1.41", os="Debian",
                      os_type="linux", arch=arch, kernel=kernel, cgroup_version="1", runtimes=("runc",),
                      default_runtime="runc")


def binfmt(*entries: BinfmtEntry, mounted: bool = True, enabled: bool = True) -> Binfmt:
    return Binfmt(mounted=mounted, enabled=enabled, entries=entries)


AARCH64 = parse_entry("qemu-aarch64", QEMU_AARCH64)


def test_a_handler_file_is_read_as_debian_writes_it() -> None:
    assert BinfmtEntry("qemu-aarch64", True, "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", "PF") == AARCH64
    assert AARCH64.fix_binary
    disabled = parse_entry("qemu-arm", "disabled\ninterpreter /usr/bin/qemu-arm-static\nflags: \n")
    assert not disabled.enabled and not disabled.fix_binary and disabled.interpreter == "/usr/bin/qemu-arm-static"


def test_a_binfmt_directory_is_read_and_an_unmounted_one_says_so(tmp_path: Path) -> None:
    (tmp_path / "status").write_text("enabled\n")
    (tmp_path / "register").write_text("")
    (tmp_path / "qemu-aarch64").write_text(QEMU_AARCH64)
    found = read_binfmt(tmp_path)
    assert found == Binfmt(mounted=True, enabled=True, entries=(AARCH64,))
    assert found.entry("qemu-aarch64") == AARCH64 and found.entry("qemu-riscv64") is None
    assert read_binfmt(tmp_path / "absent") == Binfmt(mounted=False)


@pytest.mark.parametrize(("platform", "engine_arch"), [
    ("linux/amd64", "x86_64"), ("linux/386", "x86_64"), ("linux/arm64", "aarch64"), ("linux/arm64/v8", "aarch64"),
])
def test_the_engines_own_cpu_is_native(platform: str, engine_arch: str) -> None:
    assert support(platform, engine_arch, binfmt()).support == "native"


def test_a_registered_handler_with_the_f_flag_is_emulation() -> None:
    found = support("linux/arm64", "x86_64", binfmt(AARCH64))
    assert found.support == "emulated" and "qemu-aarch64" in found.reason


@pytest.mark.parametrize(("handlers", "reason"), [
    (binfmt(), "no qemu-aarch64 handler is registered"),
    (binfmt(BinfmtEntry("qemu-aarch64", False, "/usr/bin/qemu-aarch64-static", "F")), "registered but disabled"),
    (binfmt(BinfmtEntry("qemu-aarch64", True, "/usr/bin/qemu-aarch64-static", "")),
     "lacks the F flag (flags: none), so it would look for /usr/bin/qemu-aarch64-static inside each container"),
    (binfmt(AARCH64, enabled=False), "binfmt_misc is disabled"),
    (Binfmt(mounted=False), "binfmt_misc is not mounted"),
])
def test_each_way_emulation_can_be_missing_is_named(handlers: Binfmt, reason: str) -> None:
    found = support("linux/arm64", "x86_64", handlers)
    assert found.support == "missing" and reason in found.reason


def test_an_engine_whose_kernel_porttest_cannot_read_is_unchecked() -> None:
    assert support("linux/arm64", "x86_64", None).support == "unchecked"
    assert support("linux/arm/v7", "aarch64", binfmt()).support == "unchecked"  # some arm64 CPUs run it natively


def test_missing_emulation_is_refused_with_how_to_enable_it() -> None:
    with pytest.raises(ContainerError) as caught:
        check_platform(info(), ENDPOINT, "linux/arm64", binfmt())
    error = caught.value
    assert error.exit_code == EXIT_ENVIRONMENT
    assert error.message == (f"engine {ENDPOINT} runs x86_64 and cannot run linux/arm64 programs: no user-mode "
                             "emulation for arm64: no qemu-aarch64 handler is registered in /proc/sys/fs/binfmt_misc")
    assert error.hint is not None
    assert "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc" in error.hint
    assert "apt-get install qemu-user-static binfmt-support" in error.hint
    assert "docker run --privileged --rm tonistiigi/binfmt --install arm64" in error.hint
    assert "run this environment on a linux/arm64 engine" in error.hint


def test_a_platform_that_runs_or_none_at_all_passes_the_check() -> None:
    assert check_platform(info(), ENDPOINT, None, binfmt()) is None
    found = check_platform(info(), ENDPOINT, "linux/arm64", binfmt(AARCH64))
    assert found is not None and found.support == "emulated"


def test_only_an_engine_on_this_machines_kernel_is_read() -> None:
    here = info(name=socket.gethostname(), kernel=os.uname().release)
    assert is_this_machine("unix:///var/run/docker.sock", here)
    assert is_this_machine("tcp://127.0.0.1:2376", here) and is_this_machine("tcp://localhost:2376", here)
    assert not is_this_machine("ssh://root@127.0.0.1:2222", here)  # the far end of a tunnel is anyone's
    assert not is_this_machine("tcp://192.0.2.7:2376", here)
    assert not is_this_machine("unix:///var/run/docker.sock", info(name="docker-desktop", kernel=here.kernel))
    assert not is_this_machine("unix:///var/run/docker.sock", info(name=here.name, kernel="5.15.0-vm"))


@pytest.mark.parametrize(("machine", "engine_arch", "expected"), [
    ("aarch64", "x86_64", True), ("x86_64", "x86_64", False), ("aarch64", "aarch64", False),
    ("x86_64", "aarch64", True), ("armv7l", "aarch64", None), (None, "x86_64", None), ("x86_64", "", None),
])
def test_emulated_is_the_containers_cpu_against_the_engines(machine: str | None, engine_arch: str,
                                                            expected: bool | None) -> None:
    assert emulated(machine, engine_arch) is expected


STOPPED = ContainerError("the container stopped right after start: status exited, exit code 1\nlast log lines:\n"
                         "  | exec /bin/sh: exec format error",
                         hint="the image's command must keep running; set run.command (e.g. sleep infinity)")


def test_exec_format_error_on_another_cpu_says_emulation_is_missing() -> None:
    error = cannot_execute(STOPPED, "linux/arm64", info(), "ssh://root@build-7")
    assert error.message == ("engine ssh://root@build-7 runs x86_64 and cannot run linux/arm64 programs: no user-mode "
                             "emulation for arm64 (the container said: exec format error)")
    assert error.hint is not None and "tonistiigi/binfmt --install arm64" in error.hint
    assert "must keep running" not in error.hint
    assert error.exit_code == EXIT_ENVIRONMENT


def test_exec_format_error_on_the_engines_own_cpu_blames_the_image() -> None:
    error = cannot_execute(STOPPED, "linux/amd64", info(), ENDPOINT)
    assert error.message == STOPPED.message
    assert error.hint == ("the image says it is linux/amd64, but a program in it is not for this engine's CPU "
                          "(x86_64): rebuild the image for the platform it declares")


def test_other_errors_pass_through_unchanged() -> None:
    other = ContainerError("not ready after 5s waiting for port 8080 to listen")
    assert cannot_execute(other, "linux/arm64", info(), ENDPOINT) is other


@pytest.mark.parametrize(("arch", "variant", "expected"), [
    ("arm64", "v8", "linux/arm64/v8"), ("amd64", "", "linux/amd64"), ("", "", None),
])
def test_the_images_platform_is_os_arch_and_variant(arch: str, variant: str, expected: str | None) -> None:
    image = ResolvedImage(ref="x", id="sha256:1", repo_digests=(), architecture=arch, os="linux", size=0, layers=(),
                          variant=variant)
    assert image.platform == expected
