"""Other CPUs on real engines: an arm64 image under qemu's user-mode emulation, and a platform nothing emulates here."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from porttest.engine.platforms import BINFMT_MISC, parse_entry
from tests.integration.conftest import REPO, SLEEPER, porttest, write
from tests.lab.sshd import Sshd

ARM64 = "porttest-base/busybox:arm64"
# Itanium: a platform the engine accepts and no qemu here emulates (qemu-user has no ia64 target).
NOWHERE = "linux/ia64"
ARCH_SUITE = '''
    def test_machine(host):
        assert host.check_output("uname -m") == "aarch64"

    def test_files(host):
        assert host.file("/etc/passwd").contains("root")
'''


def _qemu_aarch64() -> bool:
    try:
        entry = parse_entry("qemu-aarch64", (BINFMT_MISC / "qemu-aarch64").read_text())
    except OSError:
        return False
    return entry.enabled and entry.fix_binary


@pytest.fixture(scope="module")
def arm64_image(engine: docker.DockerClient, base_images: dict[str, str]) -> str:
    """The arm64 busybox image, with qemu-aarch64 registered (the lab script does both; run here when missing)."""
    if not (_qemu_aarch64() and engine.images.list(name=ARM64)):
        subprocess.run(["bash", str(REPO / "scripts" / "build-base-images.sh")], check=False)
    if not _qemu_aarch64():
        pytest.skip(f"no qemu-aarch64 handler with the F flag in {BINFMT_MISC} (scripts/build-base-images.sh as root "
                    "registers it)")
    if not engine.images.list(name=ARM64):
        pytest.skip(f"{ARM64} is missing (scripts/build-base-images.sh builds it)")
    return ARM64


@pytest.fixture(scope="module")
def nowhere_image(engine: docker.DockerClient, base_images: dict[str, str]) -> Iterator[str]:
    """An image that says it is linux/ia64: busybox's files for this CPU (they do run here) plus /prog, an ELF
    header for ia64 that no kernel here executes. Removed afterwards."""
    if (BINFMT_MISC / "qemu-ia64").exists():
        pytest.skip(f"{BINFMT_MISC} has a qemu-ia64 handler: this machine emulates {NOWHERE}")
    made = engine.containers.create(base_images["busybox"], command=["true"])
    try:
        rootfs = b"".join(made.export())
    finally:
        made.remove(force=True)
    elf = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack("<HHIQQQIHHHHHH", 2, 50, 1, 0x400000, 64, 0, 0,
                                                                    64, 56, 0, 0, 0, 0)
    dockerfile = b'FROM scratch\nADD rootfs.tar /\nCOPY prog /prog\nCMD ["sh"]\n'
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        files = (("rootfs.tar", rootfs, 0o644), ("prog", elf, 0o755), ("Dockerfile", dockerfile, 0o644))
        for name, data, mode in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    tag = "porttest-scratch/ia64:platforms-test"
    image, _ = engine.images.build(fileobj=context, custom_context=True, platform=NOWHERE, tag=tag, rm=True)
    try:
        assert engine.api.inspect_image(image.id)["Architecture"] == "ia64"
        yield tag
    finally:
        engine.images.remove(image.id, force=True)


def test_an_arm64_image_runs_under_emulation_and_its_facts_say_so(tmp_path: Path, arm64_image: str) -> None:
    write(tmp_path, "suites/test_arch.py", ARCH_SUITE)
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {arm64_image}
        suites: [suites]
        environments:
          local: {{run: {{command: {SLEEPER}}}}}
          arm64: {{run: {{command: {SLEEPER}, platform: linux/arm64}}}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    res = ran.results
    assert res is not None and res["image"]["architecture"] == "arm64"
    for name in ("local", "arm64"):  # without run.platform the engine runs the image's own platform, emulated too
        env = res["environments"][name]
        assert env["status"] == "ok", ran.explain()
        emulated = env["engine"]["arch"] != "aarch64"
        assert (env["platform"], env["facts"]["arch"], env["facts"]["emulated"]) == ("linux/arm64", "aarch64", emulated)
    assert ran.outcomes("test_machine") == {"local": "passed", "arm64": "passed"}


def test_a_native_image_is_not_emulated(tmp_path: Path, base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_shell.py", "def test_shell(host):\n    assert host.run('true').rc == 0\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          local: {{run: {{command: {SLEEPER}}}}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    assert ran.results is not None
    local = ran.results["environments"]["local"]
    machine = local["engine"]["arch"]
    assert (local["platform"], local["facts"]["arch"], local["facts"]["emulated"]) == (
        f"linux/{ran.results['image']['architecture']}", machine, False)


def test_a_platform_without_emulation_fails_its_environments_and_the_others_finish(
        tmp_path: Path, nowhere_image: str, sshd: Sshd) -> None:
    """On this machine's engine the handlers are read before shipping; over ssh they cannot be, so the container's
    `exec format error` is what tells, and is told the same way."""
    keys = tmp_path / "keys"
    keys.mkdir()
    shutil.copy(sshd.known_hosts, keys / "known_hosts")
    shutil.copy(sshd.identity, keys / "id_ed25519")
    write(tmp_path, "suites/test_shell.py", "def test_shell(host):\n    assert host.run('true').rc == 0\n")
    remote = f"{{host: {sshd.host}, ssh: {{known_hosts: keys/known_hosts, identity: keys/id_ed25519}}}}"
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {nowhere_image}
        suites: [suites]
        environments:
          local: {{run: {{command: {SLEEPER}}}}}
          remote: {{engine: {remote}, run: {{command: {SLEEPER}}}}}
          remote-prog: {{engine: {remote}, run: {{command: ["/prog"]}}}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    res = ran.results
    assert res is not None and res["verdict"] == "error"
    local = res["environments"]["local"]
    assert (local["status"], local["phase"], local["container"], local["ship"]) == ("error", "connect", None, None)
    machine = local["engine"]["arch"]
    assert local["error"] == (f"engine {local['engine']['endpoint']} runs {machine} and cannot run linux/ia64 "
                              f"programs: no user-mode emulation for ia64: no qemu-ia64 handler is registered in "
                              f"{BINFMT_MISC}")
    assert "apt-get install qemu-user-static binfmt-support" in local["hint"]
    assert "tonistiigi/binfmt --install ia64" in local["hint"]
    prog = res["environments"]["remote-prog"]
    assert (prog["status"], prog["phase"]) == ("error", "ready")
    assert prog["error"] == (f"engine {sshd.host} runs {machine} and cannot run linux/ia64 programs: no user-mode "
                             "emulation for ia64 (the container said: exec format error)")
    assert "qemu-user-static" in prog["hint"] and "must keep running" not in prog["hint"]
    # The ssh engine is not checked before shipping: this image's shell is amd64's, so that environment runs.
    finished = res["environments"]["remote"]
    assert finished["status"] == "ok", ran.explain()
    assert (finished["platform"], finished["facts"]["emulated"]) == (NOWHERE, False)
    assert ran.outcomes("test_shell") == {"remote": "passed"}
