"""A matrix folder is the user's project: its own harness.py, harness/, porttest.py, conftest.py or pytest.ini there
never replaces porttest's modules or settings in the pytest child, with the fork server and without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import SLEEPER, Ran, write

# The installed console script, as a user runs it (`python -m porttest` in a folder that holds its own porttest.py
# imports that file, by Python's own rules, before porttest has any say).
CONSOLE_SCRIPT = Path(sys.executable).with_name("porttest")

# Each of these, if porttest's child ever imported or read it, would break every environment.
USER_FILES = {
    "harness.py": "raise RuntimeError('the project harness.py was imported by porttest')\n",
    "harness/__init__.py": "raise RuntimeError('the project harness package was imported by porttest')\n",
    "porttest.py": "raise RuntimeError('the project porttest.py was imported by porttest')\n",
    "porttest/__init__.py": "raise RuntimeError('the project porttest package was imported by porttest')\n",
    "conftest.py": "raise RuntimeError('the project conftest.py beside the matrix was loaded')\n",
    "pytest.ini": "[pytest]\naddopts = --no-such-option-porttest\n",
}


def _project(folder: Path, image: str) -> Path:
    write(folder, "matrix.yaml", f"""
        version: 1
        image: {image}
        suites: [tests/portability]
        environments:
          local: {{run: {{command: {SLEEPER}}}}}
          hardened: {{run: {{command: {SLEEPER}, read_only: true, user: "65534:65534"}}}}
    """)
    # A helper beside the matrix stays importable from the suites, as under `python -m pytest`.
    write(folder, "helpers.py", "EXPECTED_SHELL = '/bin/sh'\n")
    # The suite's own conftest.py is loaded as pytest would load it.
    write(folder, "tests/portability/conftest.py", """
        import pytest

        @pytest.fixture
        def shell():
            from helpers import EXPECTED_SHELL
            return EXPECTED_SHELL
    """)
    write(folder, "tests/portability/test_app.py", """
        def test_shell_exists(host, shell):
            assert host.file(shell).exists

        def test_root_is_writable(host):
            assert host.run("touch /porttest-probe").rc == 0
    """)
    return folder


def porttest(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Ran:
    proc = subprocess.run([str(CONSOLE_SCRIPT), *args, "--json", "r.json"], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "NO_COLOR": "1", **(env or {})})
    results = json.loads((cwd / "r.json").read_text()) if (cwd / "r.json").exists() else None
    return Ran(proc.returncode, proc.stdout, proc.stderr, results)


def _summary(ran: Ran) -> tuple[int, str, dict[str, dict[str, str]]]:
    assert ran.results is not None, ran.explain()
    return ran.rc, ran.results["verdict"], {t["id"]: t["outcomes"] for t in ran.results["tests"]}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory, base_images: dict[str, str]) -> tuple[int, str, dict]:
    ran = porttest("run", "matrix.yaml", cwd=_project(tmp_path_factory.mktemp("clean"), base_images["busybox"]))
    summary = _summary(ran)
    # The honest baseline: the shell exists everywhere, the write diverges on the read-only root.
    assert summary[0] == 3 and summary[1] == "diverged", ran.explain()
    assert summary[2]["tests/portability/test_app.py::test_shell_exists"] == {"local": "passed",
                                                                             "hardened": "passed"}
    assert summary[2]["tests/portability/test_app.py::test_root_is_writable"] == {"local": "passed",
                                                                                 "hardened": "failed"}
    return summary


@pytest.mark.parametrize("server", ["1", "0"], ids=["fork-server", "plain-child"])
@pytest.mark.parametrize("name", sorted(USER_FILES))
def test_the_users_own_files_beside_the_matrix_change_nothing(tmp_path: Path, base_images: dict[str, str],
                                                              clean_run: tuple[int, str, dict], name: str,
                                                              server: str) -> None:
    folder = _project(tmp_path, base_images["busybox"])
    write(folder, name, USER_FILES[name])
    ran = porttest("run", "matrix.yaml", cwd=folder, env={"PORTTEST_FORK_SERVER": server})
    assert _summary(ran) == clean_run, ran.explain()
    assert "RuntimeError" not in ran.stdout + ran.stderr


def test_plain_pytest_in_a_folder_with_its_own_harness_is_untouched(tmp_path: Path) -> None:
    """porttest installs no pytest11 entry point: a project's own pytest run never loads porttest."""
    write(tmp_path, "harness.py", "VALUE = 42\n")
    write(tmp_path, "test_mine.py", "from harness import VALUE\n\ndef test_value():\n    assert VALUE == 42\n")
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mine.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    # What pytest loaded in that run, seen from inside it: no module and no plugin of porttest's.
    write(tmp_path, "conftest.py", """
        import sys

        def pytest_unconfigure(config):
            names = [name or "" for name, _ in config.pluginmanager.list_name_plugin()]
            loaded = sorted(m for m in sys.modules if m == "porttest" or m.startswith("porttest."))
            with open("loaded.txt", "w") as out:
                out.write(repr((loaded, [n for n in names if "porttest" in n and "/" not in n])))
    """)
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mine.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (tmp_path / "loaded.txt").read_text() == "([], [])"
