"""Shell-less images on the real engine: a FROM-scratch image holding one static program gets porttest's busybox
toolbox, testinfra's modules work in a local, a hardened and an exec-mode environment, and nothing is left behind."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from porttest.engine.toolbox import read_elf
from tests.integration.conftest import LABEL, porttest, write
from tests.lab.podman_service import PodmanService

BUSYBOX = Path("/bin/busybox")
PASSWD = b"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
GROUP = b"root:x:0:\nnogroup:x:65534:\n"
PAGE = b"<p>served by a shell-less image</p>\n"
ENTRYPOINT = '["/httpd", "-f", "-p", "8080", "-h", "/www"]'
HARDENED = '{user: "65534:65534", read_only: true, cap_drop: [ALL], security_opt: [no-new-privileges]}'

SUITE = """
    def test_the_image_has_no_shell_of_its_own(host):
        assert not host.file("/bin/sh").exists or not host.file(host.file("/bin/sh").linked_to).exists

    def test_the_server_runs(host):
        server = host.process.get(comm="httpd")
        assert (server.pid, server.args) == (1, "/httpd -f -p 8080 -h /www")

    def test_port_8080_listens(host):
        assert host.socket("tcp://8080").is_listening
        assert not host.socket("tcp://8081").is_listening

    def test_the_page_is_the_image_own_file(host):
        page = host.file("/www/index.html")
        assert page.is_file and page.user == "root" and page.group == "root" and page.mode == 0o644
        assert page.content_string == "<p>served by a shell-less image</p>\\n"
        assert page.sha256sum == host.check_output("sha256sum /www/index.html").split()[0]

    def test_the_user_comes_from_the_image_passwd(host, environment):
        user = host.user()
        expected = "root" if environment.run.get("user") is None else "nobody"
        assert (user.name, user.home) == (expected, "/root" if expected == "root" else "/nonexistent")
        assert host.user("nobody").exists and host.group("nogroup").gid == 65534
        assert not host.user("postgres").exists

    def test_commands_run(host):
        served = host.run("wget -q -O - http://127.0.0.1:8080/index.html")
        assert (served.rc, served.stdout) == (0, "<p>served by a shell-less image</p>\\n")
        failed = host.run("ls /no/such/dir")
        assert failed.rc != 0 and "No such file" in failed.stderr
        assert host.exists("wget") and not host.exists("no-such-program")

    def test_the_toolbox_cannot_be_written(host):
        assert host.run("touch /.porttest-toolbox/x").rc != 0
        assert host.file("/.porttest-toolbox/busybox").mode == 0o755
"""


def _static_busybox() -> bytes:
    if not BUSYBOX.exists():
        pytest.skip(f"{BUSYBOX} is missing (apt-get install busybox-static)")
    data = BUSYBOX.read_bytes()
    elf = read_elf(data)
    if elf is None or not elf.static:
        pytest.skip(f"{BUSYBOX} is not a static busybox (apt-get install busybox-static)")
    return data


def _build(engine: docker.DockerClient, tag: str, files: dict[str, tuple[bytes, int]], dockerfile: str,
           platform: str | None = None) -> str:
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, (data, mode) in {**files, "Dockerfile": (dockerfile.encode(), 0o644)}.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    image, _ = engine.images.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True,
                                   **({"platform": platform} if platform else {}))
    return str(image.id)


def _scratch(engine: docker.DockerClient, tag: str, program: bytes, extra: str = "",
             platform: str | None = None) -> str:
    return _build(engine, tag, {"httpd": (program, 0o755), "passwd": (PASSWD, 0o644), "group": (GROUP, 0o644),
                                "index.html": (PAGE, 0o644)},
                  "FROM scratch\nCOPY httpd /httpd\nCOPY passwd group /etc/\nCOPY index.html /www/index.html\n"
                  f"{extra}ENTRYPOINT {ENTRYPOINT}\n", platform)


@pytest.fixture(scope="module")
def shellless(engine: docker.DockerClient, base_images: dict[str, str]) -> Iterator[dict[str, str]]:
    """A FROM-scratch image of this machine's static busybox as /httpd (no /bin/sh), and one whose /bin/sh is a
    dangling symbolic link. Removed afterwards."""
    program = _static_busybox()
    made = {"plain": _scratch(engine, "porttest-test/shellless:plain", program)}
    try:
        made["dangling"] = _with_dangling_sh(engine, made["plain"])
        yield made
    finally:
        for image_id in reversed(made.values()):
            engine.images.remove(image_id, force=True)


def _with_dangling_sh(engine: docker.DockerClient, base: str) -> str:
    """The image with /bin/sh -> /usr/bin/dash, which it does not have (added as a tar layer: ADD keeps links)."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("bin/sh")
        info.type, info.linkname = tarfile.SYMTYPE, "/usr/bin/dash"
        tar.addfile(info)
    return _build(engine, "porttest-test/shellless:dangling", {"layer.tar": (layer.getvalue(), 0o644)},
                  f"FROM {base}\nADD layer.tar /\n")


def _leftovers(engine: docker.DockerClient, run_id: str) -> tuple[list[str], list[str]]:
    containers = [c.name for c in engine.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"})]
    volumes = [v["Name"] for v in engine.api.volumes(filters={"label": f"{LABEL}={run_id}"}).get("Volumes") or ()]
    return containers, volumes


def _version() -> str:
    import re

    found = re.search(rb"BusyBox v(\d[\w.+~-]*)", BUSYBOX.read_bytes())
    assert found is not None
    return found.group(1).decode()


def test_a_scratch_image_gives_parity_with_the_toolbox(tmp_path: Path, engine: docker.DockerClient,
                                                       shellless: dict[str, str]) -> None:
    write(tmp_path, "tests/test_shellless.py", SUITE)
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {shellless["plain"]}
        suites: [tests]
        environments:
          local: {{wait_for: {{port: 8080, timeout: 20}}}}
          hardened: {{run: {HARDENED}, wait_for: {{port: 8080, timeout: 20}}}}
          exec: {{exec_mode: exec, wait_for: {{port: 8080, timeout: 20}}}}
    """)
    ran = porttest("run", "matrix.yaml", "--markdown", "report.md", cwd=tmp_path)
    assert ran.rc == 0 and ran.results is not None, ran.explain()
    res = ran.results
    assert res["verdict"] == "parity"
    assert {t["id"].split("::")[-1] for t in res["tests"] if set(t["outcomes"].values()) == {"passed"}} == {
        "test_the_image_has_no_shell_of_its_own", "test_the_server_runs", "test_port_8080_listens",
        "test_the_page_is_the_image_own_file", "test_the_user_comes_from_the_image_passwd", "test_commands_run",
        "test_the_toolbox_cannot_be_written"}
    toolbox = f"busybox {_version()} (static, amd64)"
    for name, env in res["environments"].items():
        facts = env["facts"]
        assert facts["toolbox"] == toolbox and "probe_error" not in facts, name
        assert facts["user"]["name"] == ("nobody" if name == "hardened" else "root")  # the image's /etc/passwd
        assert facts["filesystem"]["writable_mounts"] == []  # the toolbox is mounted read-only
    assert res["environments"]["hardened"]["facts"]["filesystem"]["rootfs_read_only"] is True
    assert f"local: no /bin/sh in the image: commands ran with porttest's toolbox, {toolbox}" in ran.stdout
    assert f"**hardened**: no /bin/sh in the image: commands ran with porttest's toolbox, {toolbox}" in \
        (tmp_path / "report.md").read_text()
    assert _leftovers(engine, res["run_id"]) == ([], [])
    assert engine.images.get(shellless["plain"]).id == shellless["plain"]  # the image itself is untouched


def test_a_dangling_bin_sh_is_no_shell(tmp_path: Path, engine: docker.DockerClient,
                                       shellless: dict[str, str]) -> None:
    write(tmp_path, "tests/test_link.py", """
        def test_bin_sh_is_the_image_dangling_link(host):
            sh = host.file("/bin/sh")
            assert sh.is_symlink and not sh.exists  # busybox's realpath (testinfra's linked_to) needs a target
            assert host.check_output("readlink /bin/sh") == "/usr/bin/dash"
    """)
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {shellless["dangling"]}
        suites: [tests]
        environments:
          local: {{}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0 and ran.results is not None, ran.explain()
    assert ran.results["environments"]["local"]["facts"]["toolbox"].startswith("busybox ")
    assert _leftovers(engine, ran.results["run_id"]) == ([], [])


def test_without_a_toolbox_the_environment_says_how_to_give_one(tmp_path: Path, engine: docker.DockerClient,
                                                                shellless: dict[str, str]) -> None:
    """PORTTEST_TOOLBOX names an empty folder, so this machine's busybox is not used; one environment names a folder
    of its own with `toolbox:` and runs, the other fails with the way out, and nothing is left."""
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(BUSYBOX, write(tmp_path, "tools/README", "a toolbox folder\n").parent / "busybox-amd64")
    write(tmp_path, "tests/test_ok.py", "def test_ok(host):\n    assert host.run('true').rc == 0\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {shellless["plain"]}
        suites: [tests]
        environments:
          given: {{toolbox: tools}}
          none: {{}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path, env={"PORTTEST_TOOLBOX": str(empty)})
    assert ran.rc == 4 and ran.results is not None, ran.explain()
    given, none = ran.results["environments"]["given"], ran.results["environments"]["none"]
    assert given["status"] == "ok" and given["facts"]["toolbox"].endswith("(static, amd64)"), given
    assert ran.outcomes("test_ok") == {"given": "passed"}  # an environment in error has no outcomes
    assert (none["status"], none["phase"]) == ("error", "start")
    assert none["error"].startswith("the image has no shell (/bin/sh), and porttest found no static busybox for "
                                    f"amd64 images in {empty}")
    assert "apt-get install busybox-static" in none["hint"] and "PORTTEST_TOOLBOX=DIR" in none["hint"]
    assert "none: error during start: the image has no shell" in ran.stdout
    assert _leftovers(engine, ran.results["run_id"]) == ([], [])


ARM64 = "porttest-base/busybox:arm64"


@pytest.fixture(scope="module")
def arm64_shellless(engine: docker.DockerClient, base_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[tuple[str, Path]]:
    """A FROM-scratch linux/arm64 image of Debian's arm64 busybox-static as /httpd, and a toolbox folder holding
    that busybox as arm64/busybox. Skipped without the arm64 base image (and so without emulation)."""
    if not engine.images.list(name=ARM64):
        pytest.skip(f"{ARM64} is missing (scripts/build-base-images.sh builds it where it can emulate arm64)")
    made = engine.containers.create(ARM64, command=["true"], platform="linux/arm64")
    try:
        stream, _ = made.get_archive("/bin/busybox")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile("busybox")
            assert member is not None
            program = member.read()
    finally:
        made.remove(force=True)
    folder = tmp_path_factory.mktemp("toolbox")
    (folder / "arm64").mkdir()
    (folder / "arm64" / "busybox").write_bytes(program)
    image_id = _scratch(engine, "porttest-test/shellless:arm64", program, platform="linux/arm64")
    try:
        yield image_id, folder
    finally:
        engine.images.remove(image_id, force=True)


def test_an_arm64_scratch_image_gets_the_arm64_toolbox(tmp_path: Path, engine: docker.DockerClient,
                                                       arm64_shellless: tuple[str, Path]) -> None:
    image_id, folder = arm64_shellless
    write(tmp_path, "tests/test_arm64.py", """
        def test_machine_and_server(host):
            assert host.check_output("uname -m") == "aarch64"
            assert host.socket("tcp://8080").is_listening
            assert host.process.get(comm="httpd").pid == 1
    """)
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {image_id}
        suites: [tests]
        environments:
          arm64: {{run: {{platform: linux/arm64}}, wait_for: {{port: 8080, timeout: 60}}}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path, env={"PORTTEST_TOOLBOX": str(folder)})
    assert ran.rc == 0 and ran.results is not None, ran.explain()
    facts = ran.results["environments"]["arm64"]["facts"]
    assert facts["toolbox"].endswith("(static, arm64)") and facts["arch"] == "aarch64"
    assert _leftovers(engine, ran.results["run_id"]) == ([], [])


def test_the_shellless_example_gives_parity(tmp_path: Path, engine: docker.DockerClient,
                                            base_images: dict[str, str]) -> None:
    _static_busybox()
    ran = porttest("run", "examples/shellless/matrix.yaml", "--json", str(tmp_path / "r.json"),
                   env={"BUSYBOX_IMAGE": base_images["busybox"]})
    assert ran.rc == 0 and ran.results is not None, ran.explain()
    assert set(ran.results["environments"]) == {"local", "hardened"}
    assert len(ran.results["tests"]) == 6 and all(set(t["outcomes"].values()) == {"passed"}
                                                   for t in ran.results["tests"])
    assert all(env["facts"]["toolbox"] for env in ran.results["environments"].values())
    assert _leftovers(engine, ran.results["run_id"]) == ([], [])


def test_podman_gives_the_same_toolbox(tmp_path: Path, shellless: dict[str, str], podman_service: PodmanService,
                                       podman_client: docker.DockerClient) -> None:
    """Podman's compatible API answers the archive stat and fills the toolbox volume the same way."""
    write(tmp_path, "tests/test_shellless.py", SUITE)
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {shellless["plain"]}
        suites: [tests]
        environments:
          local: {{wait_for: {{port: 8080, timeout: 20}}}}
          podman:
            engine: {{host: "{podman_service.host}"}}
            ship: load
            run: {HARDENED}
            wait_for: {{port: 8080, timeout: 30}}
    """)
    try:
        ran = porttest("run", "matrix.yaml", cwd=tmp_path)
        assert ran.rc == 0 and ran.results is not None, ran.explain()
        pod = ran.results["environments"]["podman"]
        assert pod["engine"]["kind"] == "podman" and pod["facts"]["toolbox"].startswith("busybox "), pod
        assert podman_client.api.volumes(filters={"label": f"{LABEL}={ran.results['run_id']}"}).get("Volumes") \
            in (None, [])
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            podman_client.images.remove(shellless["plain"], force=True)


def test_an_arm64_image_is_refused_this_machine_busybox(tmp_path: Path, engine: docker.DockerClient,
                                                        arm64_shellless: tuple[str, Path]) -> None:
    image_id, _ = arm64_shellless
    write(tmp_path, "tests/test_ok.py", "def test_ok(host):\n    assert True\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {image_id}
        suites: [tests]
        environments:
          arm64: {{run: {{platform: linux/arm64}}}}
    """)
    if "PORTTEST_TOOLBOX" in os.environ or os.uname().machine != "x86_64":
        pytest.skip("needs this machine's own (amd64) busybox to be the only candidate")
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4 and ran.results is not None, ran.explain()
    arm64 = ran.results["environments"]["arm64"]
    assert "no static busybox for arm64 images on this machine" in arm64["error"]
    assert f"{BUSYBOX}: a program for amd64, not arm64" in arm64["error"]
    assert "busybox-static:arm64" in arm64["hint"]
    assert _leftovers(engine, ran.results["run_id"]) == ([], [])
