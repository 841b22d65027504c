"""The toolbox for shell-less images without an engine: which busybox fits an image, what goes in its volume, the
shell commands run with, and the error that says how to give porttest one."""

from __future__ import annotations

import io
import struct
import tarfile
from pathlib import Path
from typing import Any

import pytest

from porttest.child.wire import ChildBrief
from porttest.engine import seeded, toolbox
from porttest.engine.session import Shell
from porttest.errors import EXIT_ENVIRONMENT, ContainerError

MACHINES = {"amd64": 62, "arm64": 183, "arm": 40, "s390x": 22}


def elf(machine: int, bits: int = 64, little: bool = True, interp: bool = False, tail: bytes = b"") -> bytes:
    """A minimal ELF file: header and one program header (PT_INTERP for a dynamically linked program)."""
    order = "<" if little else ">"
    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 1 if little else 2, 1]) + bytes(9)
    p_type = 3 if interp else 1
    if bits == 64:
        header = struct.pack(order + "HHIQQQIHHHHHH", 2, machine, 1, 0, 64, 0, 0, 64, 56, 1, 0, 0, 0)
        program = struct.pack(order + "IIQQQQQQ", p_type, 0, 0, 0, 0, 0, 0, 0)
    else:
        header = struct.pack(order + "HHIIIIIHHHHHH", 2, machine, 1, 0, 52, 0, 0, 52, 32, 1, 0, 0, 0)
        program = struct.pack(order + "IIIIIIII", p_type, 0, 0, 0, 0, 0, 0, 0)
    return ident + header + program + tail


APPLET_TABLE = b"\x00[\x00[[\x00ash\x00busybox\x00cat\x00ps\x00sh\x00wget\x00\x00\xff\x01"
BUSYBOX_ARM64 = elf(183, tail=b"BusyBox v1.36.1 (Debian 1:1.36.1-9) multi-call binary" + APPLET_TABLE)


def test_elf_headers_say_cpu_and_whether_static() -> None:
    assert toolbox.read_elf(elf(183)) == toolbox.Elf(183, 64, True, True)
    assert toolbox.read_elf(elf(62, interp=True)) == toolbox.Elf(62, 64, True, False)
    assert toolbox.read_elf(elf(40, bits=32)) == toolbox.Elf(40, 32, True, True)
    assert toolbox.read_elf(elf(22, little=False)) == toolbox.Elf(22, 64, False, True)
    assert toolbox.read_elf(b"#!/bin/sh\necho hi\n" * 8) is None
    assert toolbox.read_elf(b"\x7fELF") is None


@pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="no /bin/busybox on this machine")
def test_this_machine_busybox_is_read_like_any_other() -> None:
    data = Path("/bin/busybox").read_bytes()
    assert toolbox.read_elf(data) is not None
    assert {"sh", "cat", "ps", "netstat", "wget", "["} <= set(toolbox.applets(data))


def test_why_a_program_cannot_be_the_toolbox() -> None:
    arm64 = toolbox.ARCHES["arm64"]
    assert toolbox.mismatch(toolbox.read_elf(elf(183)), arm64) is None
    assert toolbox.mismatch(toolbox.read_elf(elf(62)), arm64) == "a program for amd64, not arm64"
    assert "dynamically linked" in str(toolbox.mismatch(toolbox.read_elf(elf(183, interp=True)), arm64))
    assert toolbox.mismatch(None, arm64) == "not an ELF program"


def test_applet_names_come_from_busybox_own_table() -> None:
    assert toolbox.applets(BUSYBOX_ARM64) == ("[", "[[", "ash", "busybox", "cat", "ps", "sh", "wget")
    assert toolbox.applets(elf(183)) == ()


def test_named_folders_are_searched_alone_in_order_with_either_arch_name(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    found = toolbox.candidates(toolbox.ARCHES["arm64"], [first, second])
    assert found[:3] == [first / "busybox-arm64", first / "arm64" / "busybox", first / "arm64" / "bin" / "busybox"]
    assert first / "busybox-aarch64" in found and found.index(first / "busybox") < found.index(second / "busybox-arm64")
    assert not any(str(path).startswith("/bin") for path in found)
    assert Path("/bin/busybox") in toolbox.candidates(toolbox.ARCHES["amd64"], [])


def test_folders_come_from_the_matrix_then_the_variable(tmp_path: Path) -> None:
    assert toolbox.search_folders(None, {}) == []
    assert toolbox.search_folders(tmp_path, {"PORTTEST_TOOLBOX": "/x:/y"}) == [tmp_path, Path("/x"), Path("/y")]


def test_a_folder_with_the_image_cpu_busybox_gives_the_toolbox(tmp_path: Path) -> None:
    (tmp_path / "arm64" / "bin").mkdir(parents=True)
    (tmp_path / "arm64" / "bin" / "busybox").write_bytes(BUSYBOX_ARM64)
    (tmp_path / "busybox-amd64").write_bytes(elf(62, tail=b"BusyBox v1.35.0"))
    found = toolbox.find("arm64", [tmp_path])
    assert found.path == tmp_path / "arm64" / "bin" / "busybox"
    assert found.describe() == "busybox 1.36.1 (static, arm64)"
    assert toolbox.find("amd64", [tmp_path]).describe() == "busybox 1.35.0 (static, amd64)"


def test_no_usable_busybox_says_the_image_has_no_shell_and_how_to_give_one(tmp_path: Path) -> None:
    (tmp_path / "busybox-arm64").write_bytes(elf(183, interp=True, tail=b"BusyBox v1.36.1"))
    (tmp_path / "busybox").write_bytes(elf(62, tail=b"BusyBox v1.36.1"))
    (tmp_path / "arm64").mkdir()
    (tmp_path / "arm64" / "busybox").write_bytes(elf(183, tail=b"not the one"))
    with pytest.raises(ContainerError) as caught:
        toolbox.find("arm64", [tmp_path])
    error = caught.value
    assert error.exit_code == EXIT_ENVIRONMENT
    assert error.message.startswith("the image has no shell (/bin/sh)")
    assert f"{tmp_path}/busybox-arm64: dynamically linked" in error.message
    assert f"{tmp_path}/arm64/busybox: not a busybox" in error.message
    assert f"{tmp_path}/busybox: a program for amd64, not arm64" in error.message
    assert error.hint is not None
    assert "apt-get install busybox-static" in error.hint and "PORTTEST_TOOLBOX=DIR" in error.hint
    assert "busybox-static:arm64" in error.hint and "toolbox: DIR" in error.hint


def test_an_empty_folder_and_an_unknown_cpu_are_refused_too(tmp_path: Path) -> None:
    with pytest.raises(ContainerError, match=f"for amd64 images in {tmp_path}"):
        toolbox.find("amd64", [tmp_path])
    with pytest.raises(ContainerError, match="no static busybox for sparc64 images"):
        toolbox.find("sparc64", [tmp_path])


def test_the_toolbox_volume_holds_busybox_its_applet_links_and_getent() -> None:
    found = toolbox.Toolbox(Path("/x"), "arm64", "1.36.1", BUSYBOX_ARM64)
    files = found.files()
    folder = seeded.folders(files)
    assert [f.target for f in folder] == [toolbox.TOOLBOX_DIR]
    with tarfile.open(fileobj=io.BytesIO(seeded.archive(folder[0]))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["busybox"].mode == 0o755 and members["busybox"].isfile()
        assert tar.extractfile("busybox").read() == BUSYBOX_ARM64  # type: ignore[union-attr]
        assert members["sh"].issym() and members["sh"].linkname == "busybox"
        assert members["wget"].issym() and members["[["].issym()
        assert "busybox" not in [m.name for m in members.values() if m.issym()]
        assert members["getent"].mode == 0o755
        assert tar.extractfile("getent").read().startswith(b"#!/.porttest-toolbox/sh\n")  # type: ignore[union-attr]
        assert {m.uid for m in members.values()} == {0}


def test_text_files_keep_their_mode_beside_binary_ones() -> None:
    [folder] = seeded.folders({"/etc/app/flag": "on\n", "/etc/app/tool": seeded.SeededFile(b"\x00\x01", 0o700)})
    with tarfile.open(fileobj=io.BytesIO(seeded.archive(folder))) as tar:
        assert {m.name: m.mode for m in tar.getmembers()} == {"flag": 0o644, "tool": 0o700}


def test_toolbox_volumes_go_with_their_container() -> None:
    inspected = {"Name": "/porttest-r1-local", "Mounts": [
        {"Type": "volume", "Name": "porttest-r1-local-files-0"},
        {"Type": "volume", "Name": "porttest-r1-local-toolbox-0"},
        {"Type": "volume", "Name": "porttest-r1-local-cache"},
        {"Type": "volume", "Name": "porttest-r1-local2-toolbox-0"}]}
    assert seeded.volume_name("porttest-r1-local", 0, "toolbox") == "porttest-r1-local-toolbox-0"
    assert seeded.container_volumes(inspected) == ["porttest-r1-local-files-0", "porttest-r1-local-toolbox-0"]


def test_a_container_with_the_toolbox_runs_commands_with_its_shell() -> None:
    inspected = {"Mounts": [{"Destination": "/.porttest-toolbox"}], "Config": {"Env": ["A=1", "PATH=/usr/bin:/bin"]}}
    shell = toolbox.shell_of(inspected)
    assert shell.command("id") == ["/.porttest-toolbox/sh", "-c", "id"]
    assert shell.environment == ("PATH=/usr/bin:/bin:/.porttest-toolbox",)
    assert shell.tool(["cat", "/proc/net/tcp"]) == ["/.porttest-toolbox/busybox", "cat", "/proc/net/tcp"]
    no_path = toolbox.shell_of({**inspected, "Config": {"Env": None}})
    assert no_path.environment == (f"PATH={toolbox.DEFAULT_PATH}:/.porttest-toolbox",)
    plain = toolbox.shell_of({"Mounts": [{"Destination": "/data"}], "Config": {"Env": []}})
    assert plain == Shell() and plain.command("id") == ["/bin/sh", "-c", "id"] and plain.tool(["cat"]) == ["cat"]


def test_the_shell_reaches_the_child_through_its_brief(tmp_path: Path) -> None:
    shell = toolbox.shell_of({"Mounts": [{"Destination": "/.porttest-toolbox"}], "Config": {"Env": []}})
    brief = ChildBrief("local", {}, "c1", "n1", "sha256:x", {}, "m.jsonl", "r1", shell=shell.to_json())
    brief.write(tmp_path / "brief.json")
    assert Shell.from_json(ChildBrief.read(tmp_path / "brief.json").shell) == shell
    old = {k: v for k, v in brief.__dict__.items() if k != "shell"}  # a brief written before shells were sent
    assert Shell.from_json(ChildBrief(**old).shell) == Shell()


class _Head:
    """The archive API's HEAD answers for paths of one container (stat as Docker encodes it, or missing)."""

    def __init__(self, stats: dict[str, dict[str, Any]]) -> None:
        self.stats = stats
        self.asked: list[str] = []

    def _url(self, template: str, *args: str) -> str:
        return template.format(*args)

    def head(self, url: str, params: dict[str, str]) -> Any:
        import base64
        import json

        self.asked.append(params["path"])
        stat = self.stats.get(params["path"])
        header = base64.b64encode(json.dumps(stat).encode()).decode() if stat is not None else ""
        return _Response(200 if stat is not None else 404, {"X-Docker-Container-Path-Stat": header})

    def _raise_for_status(self, response: Any) -> None:
        pass


class _Response:
    def __init__(self, status_code: int, headers: dict[str, str]) -> None:
        self.status_code, self.headers = status_code, headers

    def close(self) -> None:
        pass


FILE, LINK, DIR = 0o755, (1 << 27) | 0o777, (1 << 31) | 0o755


@pytest.mark.parametrize(("stats", "expected"), [
    ({"/bin/sh": {"mode": FILE}}, True),
    ({"/bin/sh": {"mode": LINK, "linkTarget": "/usr/bin/dash"}, "/usr/bin/dash": {"mode": FILE}}, True),
    ({"/bin/sh": {"mode": LINK, "linkTarget": "busybox"}, "/bin/busybox": {"mode": FILE}}, True),
    ({"/bin/sh": {"mode": LINK, "linkTarget": "/nonexistent/dash"}}, False),  # dangling
    ({"/bin/sh": {"mode": DIR}}, False),
    ({"/bin/sh": {"mode": 0o644}}, False),  # not executable
    ({}, False),
], ids=["file", "link", "relative-link", "dangling", "directory", "not-executable", "missing"])
def test_shell_detection_follows_links_inside_the_container(stats: dict[str, dict[str, Any]], expected: bool) -> None:
    assert toolbox.has_shell(_Head(stats), "c1") is expected


def test_a_link_loop_is_no_shell() -> None:
    api = _Head({"/bin/sh": {"mode": LINK, "linkTarget": "/bin/sh"}})
    assert toolbox.has_shell(api, "c1") is False and len(api.asked) == 1
    api = _Head({"/bin/sh": {"mode": LINK, "linkTarget": "/bin/dash"},
                 "/bin/dash": {"mode": LINK, "linkTarget": "/bin/sh"}})
    assert toolbox.has_shell(api, "c1") is False and len(api.asked) == 8


def test_podmans_link_target_on_a_plain_file_is_the_file_itself() -> None:
    # Podman's archive stat fills linkTarget for a regular file with its own path; Docker leaves it empty.
    api = _Head({"/bin/sh": {"mode": FILE, "linkTarget": "/bin/sh"}})
    assert toolbox.has_shell(api, "c1") is True and len(api.asked) == 1
    api = _Head({"/bin/sh": {"mode": FILE, "linkTarget": "/bin/busybox"}})  # resolved for us: the target's stat
    assert toolbox.has_shell(api, "c1") is True and len(api.asked) == 1


def test_the_matrix_key_names_a_folder_relative_to_the_file_that_writes_it(tmp_path: Path) -> None:
    from porttest.config.loader import parse_matrix
    from porttest.config.schema import matrix_schema

    (tmp_path / "profiles").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "profiles" / "prod.yaml").write_text("toolbox: ../tools/arm64\nrun: {read_only: true}\n")
    matrix = parse_matrix("version: 1\nimage: shop/api:1\nsuites: [tests]\nenvironments:\n"
                          "  local: {toolbox: tools}\n  prod: {extends: profiles/prod.yaml}\n  plain: {}\n",
                          tmp_path / "matrix.yaml", {})
    envs = matrix.environments
    assert (envs["local"].toolbox, envs["prod"].toolbox, envs["plain"].toolbox) == (
        (tmp_path / "tools").resolve(), (tmp_path / "tools" / "arm64").resolve(), None)
    assert "toolbox" in matrix_schema()["$defs"]["Environment"]["properties"]
