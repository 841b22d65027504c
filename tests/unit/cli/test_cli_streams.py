"""The CLI with its output streams closed from the start: exit codes stay the documented ones (no engine)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _porttest(*args: str, close: tuple[int, ...], cwd: Path) -> subprocess.CompletedProcess[str]:
    def closed() -> None:
        for fd in close:
            os.close(fd)

    return subprocess.run([sys.executable, "-m", "porttest", *args], cwd=cwd, capture_output=False, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "harness")}, preexec_fn=closed, timeout=60)


def test_commands_keep_their_exit_codes_with_stdout_and_stderr_closed(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("version: 1\nimage: x\nsuites: [s]\nenvironments: {a: {exec_mode: maybe}}\n")
    assert _porttest("schema", close=(1,), cwd=tmp_path).returncode == 0
    assert _porttest("schema", close=(1, 2), cwd=tmp_path).returncode == 0
    assert _porttest("validate", "bad.yaml", close=(2,), cwd=tmp_path).returncode == 2
    assert _porttest("validate", "bad.yaml", close=(1, 2), cwd=tmp_path).returncode == 2


def test_an_error_with_stderr_closed_does_not_land_on_stdout(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("version: 1\nimage: x\nsuites: [s]\nenvironments: {a: {exec_mode: maybe}}\n")
    ran = subprocess.run([sys.executable, "-m", "porttest", "validate", "bad.yaml"], cwd=tmp_path, capture_output=False,
                         stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "harness")},
                         preexec_fn=lambda: os.close(2), timeout=60)
    assert ran.returncode == 2 and ran.stdout == ""


def test_a_report_path_that_cannot_be_written_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    (tmp_path / "suite").mkdir()
    (tmp_path / "taken").mkdir()
    (tmp_path / "matrix.yaml").write_text("version: 1\nimage: x\nsuites: [suite]\nenvironments: {a: {}}\n")
    ran = subprocess.run([sys.executable, "-m", "porttest", "run", "matrix.yaml", "--json", "taken"], cwd=tmp_path,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "harness")},
                         timeout=60)
    assert ran.returncode == 2
    assert "cannot write --json taken: it is a folder" in ran.stderr and "image" not in ran.stderr
