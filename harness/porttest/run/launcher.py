"""Start pytest children through one fork server per run (run.fork_server), or as plain processes (run.bootstrap)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Protocol

from porttest.run.processes import kill_group

# -P: nothing of the folder they start in goes on sys.path before porttest's own modules are imported.
SERVER = ("-P", "-m", "porttest.run.fork_server")
PLAIN_CHILD = ("-P", "-m", "porttest.run.bootstrap")
READY_SECONDS = 30.0  # the server's imports take well under a second; past this, children are plain processes


def child_env() -> dict[str, str]:
    """The environment of every pytest child: this process's own, minus what would change how pytest runs."""
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    # pytest rewrites the asserts of every test module and plugin module on import (0.8 s for testinfra's modules
    # per child here); a bytecode cache outside the user's folders lets it do that once, not once per environment.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    env.setdefault("PYTHONPYCACHEPREFIX", os.path.join(cache, "porttest", "pycache"))
    return env


class Child(Protocol):
    """What a run needs of a pytest child: its PID (it leads its own process group), poll, wait and stop."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def stop(self) -> None:
        """SIGKILL the child and what it started, if it still runs: only then are its PID and group ID ours (an
        ended child had its group killed before it was reaped)."""
        ...


class ForkedChild:
    """A child the fork server started: its exit code arrives over the server's pipe."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._done = threading.Event()

    def _exited(self, code: int) -> None:
        self.returncode = code
        self._done.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired("pytest", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def stop(self) -> None:
        if self.returncode is None:
            kill_group(self.pid)


class PlainChild(subprocess.Popen[bytes]):
    """A `python -P -m porttest.run.bootstrap` child: when it ends, what its tests left running in its process
    group is killed before the child is reaped, while the group's ID is still its own."""

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                ended = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                ended = None
            if ended is not None and ended.si_pid:
                kill_group(self.pid, leader_too=False)
        return super().poll()

    def stop(self) -> None:
        if self.poll() is None:
            kill_group(self.pid)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(0.01)
        return code


class Launcher:
    """Starts the fork server on first use; falls back to one `python -m pytest` process per child when the server
    cannot start or is switched off (PORTTEST_FORK_SERVER=0)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.lock = threading.Lock()
        self.server: subprocess.Popen[bytes] | None = None
        self.broken = os.environ.get("PORTTEST_FORK_SERVER", "1") == "0"
        self.closed = False
        self.ids = itertools.count()
        self.waiting: dict[int, threading.Event] = {}
        self.started: dict[int, ForkedChild] = {}

    def warm_up(self) -> None:
        """Start the server now, in the background, so that its imports overlap the containers' start."""
        threading.Thread(target=self._ensure_server, name="porttest-fork-server", daemon=True).start()

    def _ensure_server(self) -> None:
        with self.lock:
            if not self.broken and not self.closed and self.server is None:
                self._start_server()

    def start(self, args: list[str], cwd: Path, log: Path) -> Child:
        """`python -m pytest ARGS` in `cwd`, its output to `log`, leading a process group of its own."""
        self._ensure_server()
        with self.lock:
            server = None if self.broken else self.server
        if server is not None:
            try:
                return self._fork(server, args, cwd, log)
            except (OSError, ValueError, TimeoutError):
                self.broken = True
        with open(log, "ab") as out:
            # A new session keeps the terminal's Ctrl-C away from the child; the parent stops it by PID. Its first
            # argument is porttest's PID: killed outright, porttest takes the child with it (run.bootstrap).
            return PlainChild([sys.executable, *PLAIN_CHILD, str(os.getpid()), *args], stdout=out,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True,
                              env=self.env)

    def _start_server(self) -> None:
        try:
            with open(self.log, "ab") as err:
                self.server = subprocess.Popen([sys.executable, *SERVER], stdin=subprocess.PIPE,
                                               stdout=subprocess.PIPE, stderr=err, start_new_session=True,
                                               env=self.env)
            assert self.server.stdout is not None
            self._await_ready(self.server.stdout)
            ready = json.loads(self.server.stdout.readline() or b"{}")
            if "ready" not in ready:
                raise OSError("the fork server did not start")
        except (OSError, ValueError):
            self.broken = True
            server, self.server = self.server, None
            _stop(server)
            return
        threading.Thread(target=self._read, args=(self.server.stdout,), name="porttest-forks", daemon=True).start()

    def _await_ready(self, stream: IO[bytes]) -> None:
        """Wait for the server's first line, but not past READY_SECONDS and not once the launcher is closed."""
        deadline = time.monotonic() + READY_SECONDS
        while not select.select([stream], [], [], 0.1)[0]:
            if self.closed:
                raise OSError("the launcher was closed")
            if time.monotonic() > deadline:
                raise OSError(f"the fork server did not answer within {READY_SECONDS:g}s")

    def _fork(self, server: subprocess.Popen[bytes], args: list[str], cwd: Path, log: Path) -> ForkedChild:
        ident = next(self.ids)
        forked = threading.Event()
        with self.lock:
            self.waiting[ident] = forked
        request = {"id": ident, "args": args, "cwd": str(cwd), "log": str(log), "env": self.env}
        assert server.stdin is not None
        with self.lock:
            server.stdin.write(json.dumps(request).encode() + b"\n")
            server.stdin.flush()
        if not forked.wait(30):
            raise TimeoutError("the fork server did not answer")
        with self.lock:
            return self.started[ident]

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            message: dict[str, Any] = json.loads(line)
            with self.lock:
                ident = int(message.get("id", -1))
                if "pid" in message:  # always before that child's "exit": the server reaps after it answers
                    self.started[ident] = ForkedChild(int(message["pid"]))
                    self.waiting.pop(ident).set()
                elif "exit" in message:
                    self.started[ident]._exited(int(message["exit"]))
        stream.close()
        with self.lock:  # the server is gone: children it could not report on count as killed
            for child in self.started.values():
                if child.returncode is None:
                    child._exited(-signal.SIGKILL)

    def close(self) -> None:
        """Stop the server by its PID: it holds nothing but its imports (the run has stopped its children).
        A warm-up still starting the server gives up within 0.1 s, and none starts after this."""
        self.closed = True
        with self.lock:
            server, self.server = self.server, None
        _stop(server)


def _stop(server: subprocess.Popen[bytes] | None) -> None:
    if server is None:
        return
    server.kill()
    server.wait()
    with contextlib.suppress(OSError):
        if server.stdin is not None:
            server.stdin.close()
    # Its stdout ends now; the reading thread sees the end and stops.
