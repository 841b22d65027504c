"""An environment's `files:` in matrix.yaml: absolute paths below a folder, and a warning for a volume that would
hide a system folder (no engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.config.test_config import issues_of, line_no, load, matrix_file, write


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "suites" / "baseline" / "test_os.py", "def test_ok():\n    pass\n")
    return tmp_path


def test_files_take_absolute_paths_below_a_folder(project: Path) -> None:
    m = load(project, "environments:\n  local:\n    files: {/etc/app/mode: fast, /srv/app/flag: 'on'}\n")
    assert m.environments["local"].files == {"/etc/app/mode": "fast", "/srv/app/flag": "on"}
    assert m.warnings() == []


@pytest.mark.parametrize("path", ["/flag", "etc/app/mode", "/etc/app/../passwd", "/etc/app/"])
def test_a_bad_file_path_is_a_located_error(project: Path, path: str) -> None:
    written = matrix_file(project, f"environments:\n  local:\n    files: {{'{path}': x}}\n")
    found = issues_of(written)
    assert any(i.path.startswith("environments.local.files") and i.line == line_no(written, "files:")
               for i in found), found
    if ".." not in path:
        assert found[0].message.startswith("not an absolute file path below a folder"), found


def test_a_file_in_a_system_folder_warns_that_the_folder_is_hidden(project: Path) -> None:
    m = load(project, "environments:\n  local:\n    files: {/etc/app.conf: x}\n")
    (warning,) = m.warnings()
    assert warning.startswith("local: files: a volume over /etc hides everything the image has there")
