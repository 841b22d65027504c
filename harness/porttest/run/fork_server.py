"""A fork server for pytest children: imports pytest and the Docker SDK once, then forks one child per environment,
so that three environments pay for those imports once. Started as `python -P -m porttest.run.fork_server`: -P keeps
the folder it runs in off sys.path. It imports only porttest's process helpers; the child plugin is left to each
child, where pytest imports it (pytest rewrites the asserts of the plugins it loads, on import)."""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import select
import sys
from typing import Any

from porttest.engine import deferred_imports
from porttest.run.bootstrap import run_pytest
from porttest.run.processes import kill_group

# What every child imports before its first test, and pytest never rewrites: CPU spent here is spent once per run,
# not once per child. Plugins (porttest.child.plugin, testinfra, anything under pytest11) are left to the child.
PRELOAD = ("docker", "pytest", "_pytest.faulthandler", "_pytest.helpconfig", "_pytest.junitxml", "_pytest.pastebin",
           "_pytest.setuponly", "_pytest.setupplan", "_pytest.skipping", "_pytest.threadexception",
           "_pytest.tracemalloc", "_pytest.unittest", "_pytest.unraisableexception", "_pytest.warnings", "pdb",
           "secrets", "xml.etree.ElementTree")


def _preload() -> None:
    # The Docker SDK imports paramiko for ssh:// engines; each child imports it only if it needs it (see _child).
    deferred_imports.defer("paramiko")
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # another pytest may lack one of its own plugins; the child copes
            importlib.import_module(name)
    # Everything imported so far lives as long as every child: keep it out of the children's garbage collections
    # (pytest alone runs several full ones per session), which then scan only what the child itself allocates.
    gc.collect()
    gc.freeze()


def _child(request: dict[str, Any]) -> None:
    """In the fork: become what `python -m pytest ARGS` in `cwd` with `env` would be, run it, and exit with its code."""
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
        deferred_imports.release("paramiko")  # suites may import paramiko's submodules, which a stand-in runs twice
    except BaseException:  # noqa: BLE001 - a child that cannot even be set up ends with the crash code
        os._exit(70)
    run_pytest(request["args"])


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
        kill_group(pid)


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
            kill_group(pid, leader_too=False)  # what its tests left running in the background
            _, status = os.waitpid(pid, 0)
            ident = children.pop(pid, None)
            if ident is not None:
                _say({"id": ident, "exit": os.waitstatus_to_exitcode(status)})
        if not stdin_open and not children:
            break


if __name__ == "__main__":
    serve()
