"""`porttest run|validate|plan|clean` with no path read ./matrix.yaml; without one, a clear usage error (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from porttest.cli.main import main

MATRIX = """\
version: 1
image: porttest-base/busybox:latest
suites: [suite]
environments:
  local: {}
  cloud:
    engine:
      host: tcp://127.0.0.1:1
      tls: {ca_cert: certs/ca.pem}
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "suite").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("command", [["run"], ["validate"], ["plan"], ["clean", "--dry-run"],
                                     ["run", "-e", "local"]])
def test_no_matrix_here_is_a_usage_error_with_a_hint(folder: Path, command: list[str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "porttest: error: no matrix file given, and there is no matrix.yaml in this folder" in err
    assert "hint:" in err and "README" in err and "Traceback" not in err


def test_plan_reads_the_matrix_of_this_folder(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "matrix.yaml").write_text(MATRIX)
    assert main(["plan"]) == 0  # plan reads no certificate
    assert "cloud: engine tcp://127.0.0.1:1" in capsys.readouterr().out


def test_validate_reads_the_matrix_of_this_folder_and_its_engine_files(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "matrix.yaml").write_text(MATRIX)
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "matrix.yaml:9: environments.cloud.engine.tls.ca_cert: file not found:" in err
    (folder / "certs").mkdir()
    (folder / "certs" / "ca.pem").write_text("x")
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.startswith("matrix.yaml: ok (2 environments: local, cloud;")


def test_run_checks_only_the_engine_files_of_the_environments_it_runs(
        folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    (folder / "matrix.yaml").write_text(MATRIX)
    assert main(["run", "-e", "cloud"]) == 2
    assert "environments.cloud.engine.tls.ca_cert: file not found" in capsys.readouterr().err
    assert main(["run"]) == 2
    capsys.readouterr()

    from porttest import api

    def stop(*args: object, **kwargs: object) -> object:
        raise SystemExit(99)  # the matrix was accepted: the run would start here

    monkeypatch.setattr(api, "run", stop)
    with pytest.raises(SystemExit) as stopped:
        main(["run", "-e", "local"])
    assert stopped.value.code == 99
