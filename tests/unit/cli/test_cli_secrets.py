"""Secrets never reach what the CLI prints: warnings, plan, clean (no engine: the one named is unreachable)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SECRET = "auth-EEEE5555"


@pytest.mark.parametrize("command", [["validate"], ["plan"], ["plan", "--format", "github"],
                                     ["clean", "--dry-run"]])
def test_commands_mask_the_matrix_secrets(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "suite").mkdir()
    (tmp_path / "matrix.yaml").write_text(
        "version: 1\nimage: porttest-base/busybox:latest\nsuites: [suite]\nsecrets: [ENGINE_AUTH]\n"
        "environments:\n  plain:\n    engine: {host: 'tcp://${ENGINE_AUTH}@127.0.0.1:1', tls: false}\n")
    ran = subprocess.run([sys.executable, "-m", "porttest", command[0], "matrix.yaml", *command[1:]], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO / "harness"), "ENGINE_AUTH": SECRET})
    shown = ran.stdout + ran.stderr
    assert "***" in shown, shown  # the value was there to mask
    assert SECRET not in shown and "EEEE5555" not in shown
