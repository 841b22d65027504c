"""Lab daemons: start one with its output in a log file, wait until it answers, or stop it and say why not."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """The daemon in a session of its own (a terminal's Ctrl-C is for the tests, not for it), logging to `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def await_answer(name: str, proc: subprocess.Popen[bytes], log: Path, answers: Callable[[], bool],
                 stop: Callable[[], None], timeout: float) -> None:
    """Return once `answers()` is true; if the daemon exits or stays silent for `timeout` seconds, `stop()` cleans
    up and RuntimeError carries the end of its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text(errors="replace")[-2000:]
            stop()
            raise RuntimeError(f"{name} exited ({proc.returncode}):\n{text}")
        if answers():
            return
        time.sleep(0.05)
    stop()
    raise RuntimeError(f"{name} did not answer within {timeout}s:\n{log.read_text(errors='replace')[-2000:]}")


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM to our own daemon by its PID, SIGKILL after `timeout` seconds; nothing when it has already ended."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
