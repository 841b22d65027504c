"""The lab engine's last-resort cleanup: processes that name a lab folder, and what runs below them, are ended."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.lab.tls_engine import kill_leftovers, lab_processes


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_processes_naming_the_folder_and_their_children_are_killed(tmp_path: Path) -> None:
    lab = tmp_path / "engine0-x"
    # Like a shim: the folder is on its command line; like a container process, its child's is not.
    shim = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!; wait", f"{lab}/exec/shim"], stdout=subprocess.PIPE,
                            text=True)
    other = subprocess.Popen(["sh", "-c", "sleep 60", f"{tmp_path}/engine0-xy/exec/shim"])
    try:
        assert shim.stdout is not None
        child = int(shim.stdout.readline())
        assert lab_processes(lab) == sorted([shim.pid, child])
        assert sorted(kill_leftovers(lab)) == sorted([shim.pid, child])
        shim.wait(timeout=5)
        deadline = time.monotonic() + 5
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(child)
        assert other.poll() is None  # a folder that merely starts with the same name is someone else's
        assert lab_processes(lab) == []
    finally:
        for proc in (shim, other):
            proc.kill()
            proc.wait()
