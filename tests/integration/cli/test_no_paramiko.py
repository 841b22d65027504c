"""porttest installed without its `ssh` extra (no paramiko): validate and local runs work; an ssh:// environment is an
environment error that names the install command, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import BUSYBOX, REPO, SLEEPER, write

pytestmark = pytest.mark.integration

REMOTE = {"engine": {"host": "ssh://someone@127.0.0.1:1"}}  # nothing listens there; porttest must not even try


@pytest.fixture(scope="session")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv (no system site-packages) with porttest installed from this checkout, without extras."""
    env_dir = tmp_path_factory.mktemp("no-paramiko") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, capture_output=True, timeout=300)
    python = env_dir / "bin" / "python"
    pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(REPO)],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return env_dir


def _porttest(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(venv / "bin" / "porttest"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**env, "NO_COLOR": "1"})


def _project(folder: Path, environments: dict[str, Any]) -> Path:
    write(folder, "suite/test_sh.py", """
        def test_a_shell_answers(host):
            assert host.run("true").rc == 0
        """)
    return write(folder, "matrix.yaml", f"""
        version: 1
        image: {BUSYBOX}
        suites: [suite]
        environments: {json.dumps(environments)}
        """)


def test_the_venv_has_no_paramiko(bare_venv: Path) -> None:
    ran = subprocess.run([str(bare_venv / "bin" / "python"), "-c", "import paramiko"], capture_output=True, text=True)
    assert ran.returncode != 0 and "No module named 'paramiko'" in ran.stderr


def test_validate_takes_an_ssh_engine_without_paramiko(bare_venv: Path, tmp_path: Path) -> None:
    _project(tmp_path, {"local": {}, "remote": REMOTE})
    ran = _porttest(bare_venv, "validate", "matrix.yaml", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "2 environments" in ran.stdout


def test_an_ssh_environment_without_paramiko_is_an_environment_error_with_the_install_hint(
        bare_venv: Path, tmp_path: Path, base_images: dict[str, str]) -> None:
    _project(tmp_path, {"remote": REMOTE})
    ran = _porttest(bare_venv, "run", "matrix.yaml", cwd=tmp_path)
    output = ran.stdout + ran.stderr
    assert ran.returncode == 4, output
    assert "paramiko, which is not installed" in output
    assert "pip install 'porttest[ssh]'" in output and "pipx inject porttest paramiko" in output
    assert "Traceback" not in output


def test_a_local_environment_runs_without_paramiko(bare_venv: Path, tmp_path: Path,
                                                   base_images: dict[str, str]) -> None:
    _project(tmp_path, {"local": {"run": {"command": json.loads(SLEEPER)}}})
    ran = _porttest(bare_venv, "run", "matrix.yaml", cwd=tmp_path)
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output
    assert "verdict: PARITY" in ran.stdout and "Traceback" not in output
