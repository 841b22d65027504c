"""Command execution inside a container: one persistent shell per user (session), or one exec per command."""

from __future__ import annotations

import contextlib
import re
import secrets
import shlex
import struct
import time
from dataclasses import dataclass
from typing import Any, Protocol

import docker
import docker.errors
import requests

STDOUT, STDERR = 1, 2
RECV_SIZE = 1 << 16
# After a command's own process ends, docker exec waits up to 2 s for background processes that still hold its
# output; a session does the same before it gives up on the shell and opens a new one.
DRAIN_SECONDS = 2.0
OPEN_SECONDS = 30.0  # for a new shell to answer; a session's own command timeout, when shorter, bounds it instead


@dataclass(frozen=True)
class ExecResult:
    """A finished command: exit status and byte-exact stdout/stderr."""

    rc: int
    stdout: bytes
    stderr: bytes


class CommandTimeout(Exception):
    """A command did not finish within its timeout; the session that ran it was reset."""


class SessionUnavailable(Exception):
    """The container cannot host a persistent shell (no /bin/sh or no cat)."""


@dataclass(frozen=True)
class Shell:
    """The shell that runs porttest's commands: the image's own /bin/sh, or (an image without one) the shell of the
    toolbox porttest placed in the container, with the variables each exec sets (the toolbox's PATH)."""

    program: str = "/bin/sh"
    environment: tuple[str, ...] = ()
    applets: str | None = None  # a multi-call binary that runs a tool by its name: the toolbox's busybox

    def command(self, command: str) -> list[str]:
        return [self.program, "-c", command]

    def tool(self, argv: list[str]) -> list[str]:
        """A tool's argv (`cat FILE`) as one exec runs it without a shell: the image's own, or the toolbox's."""
        return [self.applets, *argv] if self.applets else argv

    def to_json(self) -> dict[str, Any]:
        return {"program": self.program, "environment": list(self.environment), "applets": self.applets}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Shell:
        if not data:
            return cls()
        return cls(str(data.get("program") or "/bin/sh"), tuple(map(str, data.get("environment") or ())),
                   data.get("applets") and str(data["applets"]))


class Runner(Protocol):
    mode: str

    def run(self, command: str, user: str | None = None, timeout: float | None = None) -> ExecResult: ...

    def close(self) -> None: ...


class ExecSession:
    """Runs each command as its own exec: `/bin/sh -c CMD` (or the toolbox's shell), with stdin closed."""

    mode = "exec"

    def __init__(self, api: docker.APIClient, container_id: str, user: str | None = None,
                 shell: Shell | None = None) -> None:
        self.api = api
        self.container_id = container_id
        self.user = user
        self.shell = shell or Shell()

    def run_argv(self, argv: list[str], user: str | None = None) -> ExecResult:
        exec_id = self.api.exec_create(self.container_id, argv, stdout=True, stderr=True, stdin=False,
                                       user=user or self.user or "",
                                       environment=list(self.shell.environment) or None)["Id"]
        out, err = self.api.exec_start(exec_id, demux=True)
        rc = self.api.exec_inspect(exec_id).get("ExitCode")
        return ExecResult(rc if rc is not None else -1, out or b"", err or b"")

    def run(self, command: str, user: str | None = None, timeout: float | None = None) -> ExecResult:
        # The exec API has no per-command deadline; the environment's timeout bounds the whole suite run.
        return self.run_argv(self.shell.command(command), user=user)

    def close(self) -> None:
        """Nothing to release: each exec ends with its command."""


class _Shell:
    """One `/bin/sh` attached over a hijacked exec stream, reading multiplexed stdout/stderr frames."""

    def __init__(self, api: docker.APIClient, container_id: str, user: str, shell: Shell) -> None:
        self.api = api
        exec_id = api.exec_create(container_id, [shell.program], stdin=True, stdout=True, stderr=True, tty=False,
                                  user=user, environment=list(shell.environment) or None)["Id"]
        self.exec_id = exec_id
        attached = api.exec_start(exec_id, socket=True)
        self._keep = attached  # holds the HTTP response that owns the connection
        self.sock: Any = getattr(attached, "_sock", attached)
        self.buffers = {STDOUT: bytearray(), STDERR: bytearray()}
        self.pending = bytearray()
        self.pid = 0
        self.busy = False

    def send(self, script: str) -> None:
        self.sock.sendall(script.encode("utf-8", "surrogateescape"))

    def pump(self, deadline: float) -> None:
        """Read at least one chunk (or raise socket.timeout at the deadline) and split it into frames."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(RECV_SIZE)
        except TimeoutError as exc:
            raise TimeoutError from exc
        if not chunk:
            raise ConnectionError("the session's shell ended")
        data = self.pending
        data += chunk
        offset = 0
        while len(data) - offset >= 8:
            stream, size = struct.unpack_from(">BxxxL", data, offset)
            if len(data) - offset - 8 < size:
                break
            if stream in self.buffers:
                self.buffers[stream] += data[offset + 8: offset + 8 + size]
            offset += 8 + size
        del data[:offset]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sock.close()
        with contextlib.suppress(Exception):
            self._keep.close()


class ShellSession:
    """Persistent shells (one per user) fed commands over one attached exec stream each.

    Every command runs as `( eval 'CMD' ) </dev/null` in a subshell, so `cd`, `export` and `exit` do not leak into
    the next command. Results are framed by markers carrying a random nonce per command; the exit status travels
    inside the stdout frame. A command that may leave background processes (see may_leave_background) gets pipes of
    its own (one `cat` each) so that those processes can never write into a later command's result; like docker
    exec, what they write within DRAIN_SECONDS belongs to the command, and a shell they still hold after that is
    left to them and replaced. A program that daemonizes itself without `&` and keeps its inherited output open is
    the one case this does not cover; use exec_mode: exec for such suites.
    """

    mode = "session"

    def __init__(self, api: docker.APIClient, container_id: str, user: str | None = None,
                 timeout: float | None = None, shell: Shell | None = None) -> None:
        self.api = api
        self.container_id = container_id
        self.user = user
        self.timeout = timeout
        self.shell = shell or Shell()
        self.shells: dict[str, _Shell] = {}

    def _shell(self, user: str) -> _Shell:
        shell = self.shells.get(user)
        if shell is not None and shell.busy:
            self._drop(user, kill=False)
            shell = None
        if shell is None:
            shell = _Shell(self.api, self.container_id, user, self.shell)
            self.shells[user] = shell
            try:
                opening = min(OPEN_SECONDS, self.timeout) if self.timeout else OPEN_SECONDS
                probe = self._exchange(shell, "command -v cat >/dev/null && echo $$", time.monotonic() + opening)
            except (TimeoutError, ConnectionError, OSError) as exc:
                self._drop(user, kill=False)
                raise SessionUnavailable(f"no shell session: {exc}") from None
            if probe.rc != 0 or not probe.stdout.strip().isdigit():
                self._drop(user, kill=False)
                raise SessionUnavailable("the image has no /bin/sh with `cat`")
            shell.pid = int(probe.stdout.strip())
        return shell

    def run(self, command: str, user: str | None = None, timeout: float | None = None) -> ExecResult:
        who = user or self.user or ""
        limit = timeout if timeout is not None else self.timeout
        shell = self._shell(who)
        deadline = time.monotonic() + (limit if limit else 10 * 365 * 24 * 3600.0)
        try:
            return self._exchange(shell, command, deadline)
        except TimeoutError:
            self._drop(who, kill=True)
            raise CommandTimeout(f"command timed out after {limit:g}s (its session was reset): {command[:200]}") \
                from None
        except (ConnectionError, OSError) as exc:
            self._drop(who, kill=False)
            raise ConnectionError(f"the session's shell was lost: {exc}") from None
        except BaseException:
            # Interrupted mid-command (a test timeout, Ctrl-C): the shell's output is out of step; start afresh.
            self._drop(who, kill=True)
            raise

    def _exchange(self, shell: _Shell, command: str, deadline: float) -> ExecResult:
        nonce = secrets.token_hex(8)
        mark = f"__pt_{nonce}"
        begin, out_end, err_end, done = (f"{mark}_b\n".encode(), f"\n{mark}_o ".encode(),
                                         f"\n{mark}_e\n".encode(), f"{mark}_d\n".encode())
        body = (f"( eval {shlex.quote(command)} ) </dev/null; "
                f"printf '\\n{mark}_o %d\\n' \"$?\"; printf '\\n{mark}_e\\n' >&2")
        piped = may_leave_background(command)
        if piped:
            # Swap trick: the command's stderr goes into a pipe of its own (cat >&2), its stdout into another
            # (the last cat); background processes keep only these pipes, never the session's streams.
            body = f"{{ {{ {body}; }} 2>&1 1>&3 3>&- | cat >&2; }} 3>&1 | cat; printf '{mark}_d\\n'"
        shell.send(f"printf '{mark}_b\\n'; {body}\n")
        out, err = shell.buffers[STDOUT], shell.buffers[STDERR]
        # A shell still held by an earlier command's background processes was replaced before this send (busy),
        # so the command is never sent twice: it starts here or the deadline passes.
        while (start := out.find(begin)) < 0:
            shell.pump(deadline)
        del out[: start + len(begin)]
        rc: int | None = None
        out_at = err_at = line_end = -1
        while True:
            if out_at < 0:
                out_at = out.find(out_end)
            if out_at >= 0 and rc is None:
                line_end = out.find(b"\n", out_at + len(out_end))
                if line_end >= 0:
                    rc = int(out[out_at + len(out_end): line_end])
            if err_at < 0:
                err_at = err.find(err_end)
            if rc is not None and err_at >= 0:
                break
            shell.pump(deadline)
        stdout, stderr = bytes(out[:out_at]), bytes(err[:err_at])
        del out[: line_end + 1]
        del err[: err_at + len(err_end)]
        if piped:
            # Like docker exec: output that background processes write while they still hold the command's pipes
            # (up to DRAIN_SECONDS) belongs to the command; after that the shell is left to them.
            late_deadline = min(deadline, time.monotonic() + DRAIN_SECONDS)
            try:
                while (end := out.find(done)) < 0:
                    shell.pump(late_deadline)
            except TimeoutError:
                shell.busy = True  # still held by a background process: the next command gets a new shell
            else:
                stdout += bytes(out[:end])
                stderr += bytes(err)
                del out[: end + len(done)]
                err.clear()
        return ExecResult(rc, stdout, stderr)

    def _drop(self, user: str, kill: bool) -> None:
        shell = self.shells.pop(user, None)
        if shell is None:
            return
        shell.close()
        if kill and shell.pid:
            # Stop the shell and what it is running (a timed-out command), by PID, best effort.
            script = (f"k() {{ for c in $(awk -v p=$1 '$4==p{{print $1}}' /proc/[0-9]*/stat 2>/dev/null); "
                      f"do k $c; done; kill -9 $1 2>/dev/null; }}; k {shell.pid}")
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                ExecSession(self.api, self.container_id, shell=self.shell).run(script, user=user)

    def close(self) -> None:
        for user in list(self.shells):
            self._drop(user, kill=False)


_BACKGROUND = re.compile(r"(?<![&>|<])&(?!&)|\b(nohup|setsid|disown|daemon|start-stop-daemon|service|systemctl)\b")


def may_leave_background(command: str) -> bool:
    """Whether a command may start processes that outlive it (`&`, nohup, service ...): those run with pipes of
    their own. A false positive only costs two `cat` processes."""
    return _BACKGROUND.search(command) is not None


def open_runner(api: docker.APIClient, container_id: str, mode: str, timeout: float | None = None,
                user: str | None = None, shell: Shell | None = None) -> tuple[Runner, str | None]:
    """The runner for `mode`; a session that cannot start falls back to exec, with a note saying why."""
    if mode == "exec":
        return ExecSession(api, container_id, user, shell), None
    session = ShellSession(api, container_id, user, timeout, shell)
    try:
        session._shell(user or "")
    except SessionUnavailable as exc:
        note = f"exec_mode session unavailable ({exc}); using one exec per command"
        return ExecSession(api, container_id, user, shell), note
    return session, None
