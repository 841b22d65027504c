"""porttest.config.profile_diff: flatten, compare and render effective settings (pure)."""

from __future__ import annotations

import pytest

from porttest.config.models import EngineSpec, Environment, TLSSpec, WaitFor
from porttest.config.profile_diff import (
    ProfileDiff,
    effective_settings,
    flatten,
    format_table,
    parse_side,
    render_value,
    side_by_side,
)
from porttest.config.run_options import RunOptions
from porttest.errors import UsageError


def test_flatten_walks_mappings_and_keeps_lists_and_drops_unset() -> None:
    flat = flatten({"run": {"read_only": True, "cap_drop": ["ALL"], "environment": {"A": "1"}, "user": None,
                            "tmpfs": {}}, "wait_for": None})
    assert flat == {"run.read_only": True, "run.cap_drop": ["ALL"], "run.environment.A": "1"}


def test_effective_settings_of_an_environment() -> None:
    env = Environment(name="staging", run=RunOptions(read_only=True, cap_drop=["ALL"]), wait_for=WaitFor(port=8080),
                      run_as_non_root=True, ship="load", timeout=60,
                      engine=EngineSpec(host="tcp://cloud:2376", tls=TLSSpec(ca_cert="/secret/ca.pem")))
    flat = effective_settings(env)
    assert flat["run.read_only"] is True
    assert flat["run.cap_drop"] == ["ALL"]
    assert flat["wait_for.port"] == 8080
    assert flat["run_as_non_root"] is True
    assert flat["ship"] == "load"
    assert flat["timeout"] == 60
    assert flat["engine.host"] == "tcp://cloud:2376"
    assert flat["engine.tls"] == "verify"
    assert not any("ca_cert" in key or "/secret" in str(value) for key, value in flat.items())


def test_side_by_side_puts_differences_first_each_group_sorted() -> None:
    a = {"run.read_only": True, "run.user": "1000", "ship": "auto", "timeout": 1800.0}
    b = {"run.user": "1000", "ship": "load", "timeout": 1800, "run.cap_drop": ["ALL"]}
    rows = side_by_side([a, b])
    assert [(r.key, r.differs) for r in rows] == [
        ("run.cap_drop", True), ("run.read_only", True), ("ship", True), ("run.user", False), ("timeout", False)]
    assert rows[0].values == (None, ["ALL"])


def test_true_and_one_differ() -> None:
    assert side_by_side([{"k": True}, {"k": 1}])[0].differs


def test_render_value() -> None:
    assert render_value(None) == "-"
    assert render_value(True) == "true"
    assert render_value(1800.0) == "1800"
    assert render_value(0.5) == "0.5"
    assert render_value("1000") == "1000"
    assert render_value("") == '""'
    assert render_value(["ALL", "NET_RAW"]) == '["ALL", "NET_RAW"]'


def test_table_marks_the_differing_rows() -> None:
    text = format_table(("setting", "a", "b"), side_by_side([{"x": 1, "y": 2}, {"x": 1, "y": 3}]))
    lines = text.splitlines()
    assert lines[0].split() == ["setting", "a", "b"]
    assert lines[2].startswith("!=") and lines[2].split() == ["!=", "y", "2", "3"]
    assert lines[3].split() == ["x", "1", "1"]


def test_profile_diff_json_and_exit_code() -> None:
    diff = ProfileDiff("a", "b", tuple(side_by_side([{"x": 1, "y": 2}, {"x": 1}])))
    assert diff.exit_code == 1
    assert diff.to_json() == {"a": "a", "b": "b", "differences": [{"key": "y", "a": 2, "b": None}],
                              "same": [{"key": "x", "a": 1, "b": 1}], "warnings": []}
    assert ProfileDiff("a", "b", tuple(side_by_side([{"x": 1}, {"x": 1}]))).exit_code == 0


@pytest.mark.parametrize(("text", "entry"), [
    ("kubernetes:deploy.yaml", {"kubernetes": "deploy.yaml"}),
    ("kubernetes:deploy.yaml#deployment/api", {"kubernetes": "deploy.yaml", "workload": "deployment/api"}),
    ("kubernetes:d/x.yaml#deployment/api/app",
     {"kubernetes": "d/x.yaml", "workload": "deployment/api", "container": "app"}),
    ("compose:compose.yaml#api", {"compose": "compose.yaml", "service": "api"}),
    ("staging", None),
    ("environments/staging.yaml", None),
])
def test_parse_side(text: str, entry: dict[str, str] | None) -> None:
    assert parse_side(text) == entry


@pytest.mark.parametrize("text", ["compose:compose.yaml", "compose:compose.yaml#", "kubernetes:#deployment/api",
                                  "kubernetes:x.yaml#api", "kubernetes:x.yaml#a/b/c/d"])
def test_parse_side_refuses_bad_descriptors(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_side(text)
    assert caught.value.hint
