"""The fork server that starts pytest children: exit codes, logs, process groups, kill, fallback (no engine)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from porttest.run import launcher as child_launcher
from porttest.run.launcher import ForkedChild, Launcher


def _suite(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test_it.py").write_text(body)
    (folder / "pytest.ini").write_text("[pytest]\n")
    return folder


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    return env


@pytest.fixture
def launcher(tmp_path: Path):  # type: ignore[no-untyped-def]
    made = Launcher(_env(), tmp_path / "server.log")
    yield made
    server = made.server
    made.close()
    assert server is None or server.poll() is not None, "the fork server outlived close()"


def test_a_forked_child_runs_pytest_in_its_folder_and_reports_its_exit_code(tmp_path: Path, launcher: Launcher) -> None:
    folder = _suite(tmp_path / "s", "import os, sys\n\ndef test_a():\n    assert os.getcwd().endswith('s')\n"
                                    "    assert sys.path[0] == os.getcwd()  # as `python -m pytest` has it\n\n"
                                    "def test_b():\n    assert False, 'b fails'\n")
    child = launcher.start(["-q", "-p", "no:cacheprovider", "-c", str(folder / "pytest.ini"), "."], folder,
                           tmp_path / "child.log")
    assert isinstance(child, ForkedChild)
    assert child.wait(60) == 1  # pytest: some tests failed
    log = (tmp_path / "child.log").read_text()
    assert "1 failed, 1 passed" in log and "b fails" in log
    assert os.getpgid(os.getpid()) != child.pid  # it led a process group of its own (os.setsid)


def test_children_run_at_once_and_each_is_stopped_by_its_group(tmp_path: Path, launcher: Launcher) -> None:
    folder = _suite(tmp_path / "s", "import time\n\ndef test_slow():\n    time.sleep(60)\n")
    args = ["-q", "-p", "no:cacheprovider", "-c", str(folder / "pytest.ini"), "."]
    children = [launcher.start(args, folder, tmp_path / f"c{i}.log") for i in range(2)]
    time.sleep(1)
    assert [c.poll() for c in children] == [None, None]
    began = time.monotonic()
    for child in children:
        os.killpg(child.pid, signal.SIGKILL)
    assert [c.wait(10) for c in children] == [-signal.SIGKILL, -signal.SIGKILL]
    assert time.monotonic() - began < 10


def test_a_child_holds_none_of_the_descriptors_the_server_watches_its_siblings_with(tmp_path: Path,
                                                                                   launcher: Launcher) -> None:
    slow = _suite(tmp_path / "slow", "import time\n\ndef test_slow():\n    time.sleep(60)\n")
    first = launcher.start(["-q", "-p", "no:cacheprovider", "-c", str(slow / "pytest.ini"), "."], slow,
                           tmp_path / "slow.log")
    probe = _suite(tmp_path / "probe", "import os\n\ndef test_fds():\n"
                                      "    links = []\n"
                                      "    for fd in os.listdir('/proc/self/fd'):\n"
                                      "        try:\n"
                                      "            links.append(os.readlink(f'/proc/self/fd/{fd}'))\n"
                                      "        except FileNotFoundError:  # listdir's own descriptor\n"
                                      "            pass\n"
                                      "    assert links and not [link for link in links if 'pidfd' in link], links\n")
    try:
        second = launcher.start(["-q", "-p", "no:cacheprovider", "-c", str(probe / "pytest.ini"), "."], probe,
                                tmp_path / "probe.log")
        assert second.wait(60) == 0, (tmp_path / "probe.log").read_text()
        assert first.poll() is None  # the sibling was alive (and watched) while the second child ran
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)


def test_a_forked_child_imports_paramiko_only_when_its_suite_does_and_then_once(tmp_path: Path,
                                                                              launcher: Launcher) -> None:
    # The server holds paramiko back (engine.deferred_imports); a suite that imports one of its submodules first
    # must get the one real module, shared with the Docker SDK's reference to it.
    folder = _suite(tmp_path / "s", "import sys\n\ndef test_paramiko():\n"
                                    "    assert 'paramiko.transport' not in sys.modules\n"
                                    "    from paramiko.ssh_exception import SSHException\n"
                                    "    import paramiko\n"
                                    "    from docker.transport import sshconn\n"
                                    "    assert SSHException is paramiko.SSHException\n"
                                    "    assert sshconn.paramiko.SSHException is SSHException\n")
    child = launcher.start(["-q", "-p", "no:cacheprovider", "-p", "no:testinfra", "-c", str(folder / "pytest.ini"),
                            "."], folder, tmp_path / "child.log")
    assert isinstance(child, ForkedChild)
    assert child.wait(60) == 0, (tmp_path / "child.log").read_text()


def _servers_of_this_process() -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and b"porttest.run.fork_server" in cmdline:
            found.append(int(pid))
    return found


def test_close_during_warm_up_leaves_no_server(tmp_path: Path) -> None:
    # A run that fails early (a missing image) closes the launcher while its warm-up is still starting the server.
    for attempt in range(3):
        launcher = Launcher(_env(), tmp_path / f"server{attempt}.log")
        launcher.warm_up()
        launcher.close()
    deadline = time.monotonic() + 10
    while _servers_of_this_process() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _servers_of_this_process() == []


def test_children_are_stopped_when_porttest_goes_away(tmp_path: Path, launcher: Launcher) -> None:
    # porttest killed outright (SIGKILL, the OOM killer) closes the server's stdin with a child still running.
    folder = _suite(tmp_path / "s", "import time\n\ndef test_slow():\n    time.sleep(60)\n")
    child = launcher.start(["-q", "-p", "no:cacheprovider", "-c", str(folder / "pytest.ini"), "."], folder,
                           tmp_path / "child.log")
    time.sleep(1)
    assert child.poll() is None
    assert launcher.server is not None and launcher.server.stdin is not None
    launcher.server.stdin.close()
    assert child.wait(30) == -signal.SIGKILL
    assert launcher.server.wait(30) == 0  # and the server ends, having nobody left to serve
    with pytest.raises(ProcessLookupError):
        os.kill(child.pid, 0)


def test_without_the_server_children_are_plain_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(child_launcher, "SERVER", ("-P", "-m", "porttest.run.no_such_module"))
    launcher = Launcher(_env(), tmp_path / "server.log")
    folder = _suite(tmp_path / "s", "def test_a():\n    pass\n")
    child = launcher.start(["-q", "-p", "no:cacheprovider", "-c", str(folder / "pytest.ini"), "."], folder,
                           tmp_path / "child.log")
    assert isinstance(child, subprocess.Popen) and launcher.broken
    assert child.wait(60) == 0 and "1 passed" in (tmp_path / "child.log").read_text()


def test_switched_off_by_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTTEST_FORK_SERVER", "0")
    launcher = Launcher(_env(), tmp_path / "server.log")
    folder = _suite(tmp_path / "s", "def test_a():\n    pass\n")
    child = launcher.start(["-q", "-p", "no:cacheprovider", "."], folder, tmp_path / "child.log")
    assert isinstance(child, subprocess.Popen) and launcher.server is None
    assert child.wait(60) == 0


def test_the_server_leaves_the_child_plugin_and_testinfra_to_pytest() -> None:
    # pytest rewrites the asserts of the plugins it loads, on import: the server must not have imported them first.
    code = ("import sys; from porttest.run import fork_server; fork_server._preload(); "
            "print(sorted(m for m in sys.modules if m.startswith(('porttest.child', 'testinfra'))))")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("server", ["1", "0"])
def test_a_thread_a_test_leaves_running_does_not_hold_the_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 server: str) -> None:
    monkeypatch.setenv("PORTTEST_FORK_SERVER", server)
    launcher = Launcher(_env(), tmp_path / "server.log")
    folder = _suite(tmp_path / "s", "import threading, time\n\ndef test_a():\n"
                                    "    threading.Thread(target=time.sleep, args=(600,)).start()\n")
    try:
        child = launcher.start(["-q", "-p", "no:cacheprovider", "-c", str(folder / "pytest.ini"), "."], folder,
                               tmp_path / "child.log")
        assert child.wait(60) == 0, (tmp_path / "child.log").read_text()
    finally:
        launcher.close()
