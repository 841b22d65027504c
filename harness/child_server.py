"""A fork server for pytest children: imports pytest and the Docker SDK once, then forks one child per environment,
so that three environments pay for those imports once. Run as a script (`python .../child_server.py`), never as
part of the `harness` package: pytest rewrites the asserts of plugin packages (harness, testinfra) on import, so
those must be imported by each child, after pytest has started."""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import json
import os
import select
import signal
import sys
from typing import Any

if __name__ == "__main__":
    sys.path.pop(0)  # the script's own folder (harness/) must not shadow top-level modules


# What every child imports before its first test, and pytest never rewrites: CPU spent here is spent once per run,
# not once per child. Plugin packages (harness, testinfra, anything under pytest11) are left to the child.
PRELOAD = ("docker", "pytest", "_pytest.faulthandler", "_pytest.helpconfig", "_pytest.junitxml", "_pytest.pastebin",
           "_pytest.setuponly", "_pytest.setupplan", "_pytest.skipping", "_pytest.threadexception",
           "_pytest.tracemalloc", "_pytest.unittest", "_pytest.unraisableexception", "_pytest.warnings", "pdb",
           "secrets", "xml.etree.ElementTree")


_DEFERRED: Any = None  # harness/deferred_imports.py, once _preload has loaded it


def _deferred_imports() -> Any:
    """harness/deferred_imports.py, loaded by its path: this script must not import the harness package."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "deferred_imports.py")
    spec = importlib.util.spec_from_file_location("_porttest_deferred_imports", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _preload() -> None:
    # The Docker SDK imports paramiko for ssh:// engines; each child imports it only if it needs it (see _child).
    global _DEFERRED
    _DEFERRED = _deferred_imports()
    if _DEFERRED is not None:
        _DEFERRED.defer("paramiko")
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # another pytest may lack one of its own plugins; the child copes
            importlib.import_module(name)
    # Everything imported so far lives as long as every child: keep it out of the children's garbage collections
    # (pytest alone runs several full ones per session), which then scan only what the child itself allocates.
    gc.collect()
    gc.freeze()


def _child(request: dict[str, Any]) -> None:
    """In the fork: become what `python -m pytest ARGS` in `cwd` with `env` would be, run it, and exit with its code."""
    code = 70
    try:
        # Signal dispositions stay as the server's own Python set them (SIGPIPE ignored, SIGINT raising
        # KeyboardInterrupt), as a fresh `python -m pytest` would have them.
        os.setsid()
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [sys.executable, "-m", "pytest", *request["args"]]
        sys.path.insert(0, request["cwd"])  # as `python -m pytest` would have it
        if _DEFERRED is not None:  # suites may import paramiko's submodules, which a stand-in would run twice
            _DEFERRED.release("paramiko")
        import pytest

        code = int(pytest.main(request["args"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child's own crash ends up in its log and exit code
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # exiting anyway
                stream.flush()
        os._exit(code)


def _watch(pid: int) -> int | None:
    """A descriptor that becomes readable when `pid` exits (Linux 5.3+), so an exit is reported at once."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _say(message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # porttest is gone: nobody to tell
        print(json.dumps(message), file=sys.stdout, flush=True)


def _stop_all(children: dict[int, Any]) -> None:
    """porttest closed our stdin with children still running: it died (SIGKILL, OOM), so nobody will read their
    results; stop each child's process group rather than let the suites run on against its containers."""
    for pid in children:
        for kill in (os.killpg, os.kill):  # a child not yet in its own session has no group to kill
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(pid, signal.SIGKILL)


def serve() -> None:
    """Read one JSON request per line on stdin; answer {"id", "pid"} at fork and {"id", "exit"} when it ends."""
    _preload()
    children: dict[int, Any] = {}
    watches: set[int] = set()  # a pidfd per child that has one
    _say({"ready": os.getpid()})
    stdin_open = True
    buffer = b""
    while stdin_open or children:
        # Without a pidfd for every child, poll for exits every 50 ms instead of sleeping until one is readable.
        timeout = None if len(watches) == len(children) else 0.05
        readable, _, _ = select.select(([0] if stdin_open else []) + list(watches), [], [], timeout)
        if 0 in readable:
            chunk = os.read(0, 65536)
            if not chunk:
                stdin_open = False
                _stop_all(children)
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    for watch in watches:  # the siblings' pidfds are the server's business
                        os.close(watch)
                    _child(request)
                children[pid] = request["id"]
                pidfd = _watch(pid)
                if pidfd is not None:
                    watches.add(pidfd)
                _say({"id": request["id"], "pid": pid})
        for watch in [fd for fd in readable if fd in watches]:
            os.close(watch)
            watches.discard(watch)
        while children:
            try:  # peek first: an ended child not yet reaped still holds its PID, and so its group's ID
                ended = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                break
            if ended is None or ended.si_pid == 0:
                break
            pid = ended.si_pid
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # what its tests left running in the background
            _, status = os.waitpid(pid, 0)
            ident = children.pop(pid, None)
            if ident is not None:
                _say({"id": ident, "exit": os.waitstatus_to_exitcode(status)})
        if not stdin_open and not children:
            break


if __name__ == "__main__":
    serve()
