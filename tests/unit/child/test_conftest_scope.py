"""Which conftest.py files a porttest child loads: those of the suite folders and below, never those above them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from porttest.child.plugin import suite_folders
from porttest.child.wire import ChildBrief

REPO = Path(__file__).resolve().parents[3]
# Each conftest says it was loaded; none may break the run by being loaded.
CONFTEST = "import os\nopen(os.environ['LOADED'], 'a').write({name!r} + '\\n')\n"


def _tree(root: Path) -> None:
    for name in ("conftest.py", "suites/conftest.py", "suites/a/conftest.py", "suites/a/sub/conftest.py",
                 "other/conftest.py"):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(CONFTEST.format(name=name))
    for name in ("suites/a/test_a.py", "suites/a/sub/test_sub.py", "other/test_other.py", "test_beside.py"):
        (root / name).write_text("def test_ok():\n    pass\n")


def _loaded(root: Path, suites: list[str]) -> list[str]:
    """The conftest files a porttest child loads for these suites (the child's own args, with no engine)."""
    brief = ChildBrief(environment="e", engine={"host": "unix:///nonexistent/porttest.sock", "tls": None,
                                                "ssh": None, "api_version": "1.41"},
                       container_id="c", container_name="n", image_id="i", profile={},
                       messages=str(root / "m.jsonl"), run_id="r")
    brief.write(root / "brief.json")
    (root / "pytest-child.ini").write_text("[pytest]\n")
    loaded = root / "loaded.txt"
    loaded.write_text("")
    ran = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", *suites, "-p", "porttest.child.plugin", "--porttest-child",
         str(root / "brief.json"), "-p", "no:testinfra", "-p", "no:cacheprovider", "--rootdir", str(root),
         "-c", str(root / "pytest-child.ini"), "-q"],
        cwd=root, capture_output=True, text=True, timeout=120,
        env={**os.environ, "LOADED": str(loaded), "PYTHONPATH": str(REPO / "harness"),
             "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return sorted(loaded.read_text().split())


@pytest.mark.parametrize(("suites", "expected"), [
    (["suites/a"], ["suites/a/conftest.py", "suites/a/sub/conftest.py"]),
    (["suites/a/sub"], ["suites/a/sub/conftest.py"]),
    # A suite file's folder is a suite folder: its conftest loads, those above it do not.
    (["suites/a/test_a.py"], ["suites/a/conftest.py"]),
    (["suites/a/test_a.py::test_ok"], ["suites/a/conftest.py"]),
    (["suites/a/sub/test_sub.py"], ["suites/a/sub/conftest.py"]),
    # Suites in two trees: each tree's own, neither the common parent's nor the matrix folder's.
    (["suites/a/sub", "other"], ["other/conftest.py", "suites/a/sub/conftest.py"]),
    # A suite file beside the matrix makes the matrix folder a suite folder.
    (["test_beside.py"], ["conftest.py"]),
])
def test_only_the_suites_own_conftests_load(tmp_path: Path, suites: list[str], expected: list[str]) -> None:
    _tree(tmp_path)
    assert _loaded(tmp_path, suites) == expected


def test_without_the_porttest_child_option_pytest_is_untouched(tmp_path: Path) -> None:
    _tree(tmp_path)
    loaded = tmp_path / "loaded.txt"
    ran = subprocess.run([sys.executable, "-m", "pytest", "suites/a", "-p", "porttest.child.plugin", "-q",
                          "-p", "no:cacheprovider"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "LOADED": str(loaded), "PYTHONPATH": str(REPO / "harness"),
                              "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "conftest.py" in loaded.read_text().split()  # plain pytest still loads the root conftest


def test_suite_folders_of_files_folders_and_node_ids(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "t.py").write_text("")
    os.chdir(tmp_path)
    assert suite_folders(["d", "d/t.py", "d/t.py::test[a/b]"]) == [tmp_path / "d"] * 3
    assert json.dumps([str(p) for p in suite_folders([])]) == "[]"
