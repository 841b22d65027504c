"""The wheel that `python -m build` makes installs into a clean virtualenv and runs the demo's local environments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.integration.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", str(out), str(REPO)],
                           capture_output=True, text=True, timeout=600)
    if built.returncode != 0 and "No module named build" in built.stderr:
        pytest.skip("the `build` package is not installed (pip install build)")
    assert built.returncode == 0, built.stderr[-3000:]
    wheels = list(out.glob("porttest-*.whl"))
    assert len(wheels) == 1 and list(out.glob("porttest-*.tar.gz"))
    return wheels[0]


def test_wheel_installs_into_a_clean_venv_and_runs(wheel: Path, tmp_path: Path, base_images: dict[str, str]) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    exe = env_dir / "bin" / "porttest"
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("porttest ")
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    ran = subprocess.run([str(exe), "run", "matrix.yaml", "-e", "local", "-e", "staging"], cwd=REPO,
                         capture_output=True, text=True, timeout=600,
                         env={**clean_env, "BASE_IMAGE": base_images["debian"], "NO_COLOR": "1"})
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "verdict: PARITY" in ran.stdout


def test_the_wheel_holds_one_package_named_porttest_and_no_pytest_plugin(wheel: Path, tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next((archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt")), "")
    tops = {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"porttest"}, sorted(tops)
    assert "porttest/child/plugin.py" in names and "porttest/run/fork_server.py" in names
    # No pytest11 entry point: pytest in the user's own projects never loads porttest.
    assert "pytest11" not in entry_points and "porttest.cli.main:entry" in entry_points
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True, timeout=900)
    helped = subprocess.run([python, "-m", "porttest", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert helped.returncode == 0 and "usage: porttest" in helped.stdout, helped.stderr
    harness = subprocess.run([python, "-c", "import harness"], capture_output=True, text=True, cwd=tmp_path)
    assert harness.returncode != 0 and "No module named 'harness'" in harness.stderr


BUILTIN_MATRIX = """\
# yaml-language-server: $schema=matrix.schema.json
version: 1
image: {image}
suites: [porttest:baseline]
environments:
  local:
    extends: porttest:local
    wait_for: !reset null
    run: {{command: [sleep, infinity]}}
  staging:
    extends: porttest:staging
    wait_for: !reset null
    run: {{command: [sleep, infinity]}}
"""


def test_builtin_profiles_and_suite_work_from_the_wheel_in_an_empty_folder(
        wheel: Path, tmp_path: Path, base_images: dict[str, str]) -> None:
    """As after `pipx install porttest`: no repository anywhere, only the wheel's own data."""
    import zipfile

    with zipfile.ZipFile(wheel) as archive:  # the shipped copies are the repository's files, byte for byte
        shipped = {n.removeprefix("porttest/data/"): archive.read(n) for n in archive.namelist()
                   if n.startswith("porttest/data/")}
    expected = [*(REPO / "environments").glob("*.yaml"), *(REPO / "suites" / "baseline").glob("*.py")]
    assert {p.relative_to(REPO).as_posix(): p.read_bytes() for p in expected} == shipped

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], check=True,
                   capture_output=True, timeout=900)
    exe = str(env_dir / "bin" / "porttest")
    folder = tmp_path / "empty"
    folder.mkdir()
    clean_env = {**{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}, "NO_COLOR": "1"}

    def porttest(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, *args], cwd=folder, capture_output=True, text=True, timeout=600, env=clean_env)

    missing = porttest("validate")
    assert missing.returncode == 2 and "there is no matrix.yaml in this folder" in missing.stderr, missing.stderr
    assert "Traceback" not in missing.stderr

    (folder / "matrix.yaml").write_text(BUILTIN_MATRIX.format(image=base_images["debian"]))
    validated = porttest("validate")
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.startswith("matrix.yaml: ok (2 environments: local, staging; 1 suite paths)")

    ran = porttest("run", "--json", "results.json")
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    results = json.loads((folder / "results.json").read_text())
    assert results["verdict"] == "parity" and len(results["tests"]) >= 10
    staging = results["environments"]["staging"]
    assert staging["run"]["read_only"] is True and staging["run"]["user"] == "10001:10001"
    assert staging["origins"]["run.read_only"].startswith("porttest:staging:")

    # A profile that does not ship, and paths of a shipped profile: relative to the matrix's folder.
    (folder / "matrix.yaml").write_text(BUILTIN_MATRIX.format(image=base_images["debian"])
                                        + "  cloud: {extends: porttest:clod}\n  tls: {extends: porttest:cloud}\n")
    bad = porttest("validate")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "matrix.yaml:14: environments.cloud.extends[0]: no built-in profile porttest:clod" in bad.stderr
    assert "did you mean porttest:cloud? built-in profiles: porttest:cloud, porttest:gvisor" in bad.stderr
    assert f"environments.tls.engine.tls.ca_cert: file not found: {folder / 'certs' / 'ca.pem'}" in bad.stderr
