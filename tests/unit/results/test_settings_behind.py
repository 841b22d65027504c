"""A "why?" line names the run option behind the fact that differs, and the file and line that set it."""

from __future__ import annotations

from porttest.results.model import EnvironmentResult, TestRecord, line_up


def _env(name: str, outcome: str, read_only: bool, run: dict, origins: dict | None = None) -> EnvironmentResult:
    facts = {"filesystem": {"rootfs_read_only": read_only}, "user": {"uid": 0}}
    return EnvironmentResult(name=name, status="ok", facts=facts, run=run, origins=origins or {},
                             tests=(TestRecord(id="t.py::test_write", outcome=outcome),))


def test_the_setting_and_where_it_was_written_follow_the_fact() -> None:
    rows = line_up({
        "local": _env("local", "passed", False, {"command": ["sleep", "1"]}),
        "prod": _env("prod", "failed", True, {"read_only": True, "command": ["sleep", "1"]},
                     {"run.read_only": "deploy/web.yaml:47"}),
    })
    (row,) = rows
    first = row.explanation[0]
    assert first.startswith("prod: rootfs read-only; local: rootfs writable")
    assert "[run.read_only: local -, prod true (deploy/web.yaml:47)]" in first


def test_no_setting_is_named_when_the_run_options_agree() -> None:
    rows = line_up({
        "a": _env("a", "passed", False, {"read_only": False}),
        "b": _env("b", "failed", True, {"read_only": False}),  # read-only for another reason (the engine)
    })
    assert "[" not in rows[0].explanation[0]
