"""The persistent shell session against a real container: isolation, byte-exact framing, timeouts, background."""

from __future__ import annotations

import time
from collections.abc import Iterator

import docker
import pytest

from porttest.engine.session import CommandTimeout, ExecSession, ShellSession, open_runner


@pytest.fixture(params=["busybox", "debian", "podman-busybox"])
def container(request: pytest.FixtureRequest, engine: docker.DockerClient,
              base_images: dict[str, str]) -> Iterator[docker.models.containers.Container]:
    """A sleeping container on the machine's engine, or on the podman service (its exec attach is its own code)."""
    client, image = engine, request.param
    if image.startswith("podman-"):
        client, image = request.getfixturevalue("podman_client"), image.removeprefix("podman-")
    created = client.containers.run(base_images[image], ["sleep", "3600"], detach=True,
                                    labels={"io.porttest.test": "session"})
    try:
        yield created
    finally:
        created.remove(force=True)


@pytest.fixture
def session(container: docker.models.containers.Container) -> Iterator[ShellSession]:
    opened = ShellSession(container.client.api, str(container.id), timeout=30)
    try:
        yield opened
    finally:
        opened.close()


def test_streams_and_exit_codes_stay_separate(session: ShellSession) -> None:
    result = session.run("echo out; echo err >&2; exit 7")
    assert (result.rc, result.stdout, result.stderr) == (7, b"out\n", b"err\n")


def test_cd_export_and_exit_do_not_leak(session: ShellSession) -> None:
    assert session.run("cd /tmp && export PT_X=1 && umask 077 && exit 3").rc == 3
    after = session.run('pwd; echo "${PT_X:-unset}"; umask')
    assert after.stdout == b"/\nunset\n0022\n"


def test_stdin_is_dev_null(session: ShellSession) -> None:
    result = session.run("cat; echo done")
    assert result.stdout == b"done\n" and result.rc == 0


def test_binary_and_no_final_newline_are_byte_exact(session: ShellSession) -> None:
    assert session.run("printf 'no newline'").stdout == b"no newline"
    assert session.run(r"printf '\000\001\377\n\n'").stdout == b"\x00\x01\xff\n\n"
    assert session.run(r"printf 'x\r\ny' >&2").stderr == b"x\r\ny"


def test_ten_megabytes_of_output(session: ShellSession) -> None:
    result = session.run("head -c 10485760 /dev/zero | tr '\\000' 'a'")
    assert len(result.stdout) == 10 * 1024 * 1024 and result.stdout.count(b"a") == len(result.stdout)
    assert session.run("echo next").stdout == b"next\n"


def test_output_that_looks_like_a_marker_is_kept(session: ShellSession) -> None:
    tricky = "printf '__pt_0000000000000000_o 0\\n__pt_x_e\\n'"
    assert session.run(tricky).stdout == b"__pt_0000000000000000_o 0\n__pt_x_e\n"


def test_syntax_errors_stay_in_the_command(session: ShellSession) -> None:
    broken = session.run("echo 'unbalanced")
    assert broken.rc != 0 and broken.stdout == b""
    assert session.run("echo fine").stdout == b"fine\n"


def test_timeout_resets_the_session(session: ShellSession) -> None:
    began = time.monotonic()
    with pytest.raises(CommandTimeout):
        session.run("sleep 30", timeout=0.5)
    assert time.monotonic() - began < 10
    assert session.run("echo after").stdout == b"after\n"
    assert session.run("ps -o comm 2>/dev/null || ls /proc").rc == 0


def test_background_processes_do_not_corrupt_later_results(session: ShellSession) -> None:
    started = session.run("(sleep 0.3; echo late; echo late-err >&2) & echo now")
    assert started.stdout in (b"now\nlate\n", b"now\n")  # like docker exec: late output within 2 s is the command's
    for _ in range(5):
        assert session.run("echo clean").stdout == b"clean\n"
    session.run("(sleep 2.5; echo very-late) &")
    time.sleep(0.1)
    results = [session.run("echo clean") for _ in range(3)]
    time.sleep(3)
    results += [session.run("echo clean") for _ in range(3)]
    assert [r.stdout for r in results] == [b"clean\n"] * 6
    assert all(r.stderr == b"" for r in results)


def test_daemon_left_running_does_not_block_the_next_command(session: ShellSession) -> None:
    session.run("sleep 600 &")
    began = time.monotonic()
    assert session.run("echo next").stdout == b"next\n"
    assert time.monotonic() - began < 1.5


def test_each_user_gets_its_own_shell(session: ShellSession) -> None:
    assert session.run("id -u", user="65534").stdout == b"65534\n"
    assert session.run("id -u").stdout == b"0\n"
    assert set(session.shells) == {"65534", ""}


def test_exec_mode_gives_the_same_results(container: docker.models.containers.Container,
                                          session: ShellSession) -> None:
    exec_runner = ExecSession(container.client.api, str(container.id))
    for command in ("echo out; echo err >&2; exit 4", "printf 'a\\000b'", "cd /tmp; pwd", "cat; echo x"):
        assert exec_runner.run(command) == session.run(command), command


@pytest.mark.parametrize("on", ["docker", "podman"])
def test_session_falls_back_to_exec_without_a_shell(request: pytest.FixtureRequest, engine: docker.DockerClient,
                                                    base_images: dict[str, str], on: str) -> None:
    # An image whose /bin/sh is missing: the session cannot start, exec mode says so.
    client = request.getfixturevalue("podman_client") if on == "podman" else engine
    created = client.containers.run(base_images["busybox"], ["sleep", "3600"], detach=True,
                                    labels={"io.porttest.test": "session"})
    try:
        created.exec_run(["rm", "/bin/sh"])
        runner, note = open_runner(client.api, str(created.id), "session")
        assert isinstance(runner, ExecSession)
        assert note and "using one exec per command" in note
    finally:
        created.remove(force=True)
