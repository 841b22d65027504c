"""Stopping what porttest started: a process and its process group, by PID, and nothing else."""

from __future__ import annotations

import contextlib
import os
import signal


def kill_group(pid: int, *, leader_too: bool = True) -> None:
    """SIGKILL the process group that `pid` leads (what it started in the background), then `pid` itself.

    Call it while `pid` is still ours: running, or ended but not yet reaped (its group ID cannot be reused until it
    is). A process not yet in a group of its own is killed alone; one that is already gone is no error.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if leader_too:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
