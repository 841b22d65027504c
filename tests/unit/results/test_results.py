"""porttest.results.model: rows, verdict, exit code and the porttest.results/1 JSON (no engine)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from porttest.errors import ResultsError
from porttest.reporters import json_report
from porttest.results.model import (
    SCHEMA,
    EnvironmentResult,
    ImageIdentity,
    RunResult,
    ShipRecord,
    TestRecord,
    assemble,
    decide,
    from_json,
    line_up,
)

IMAGE_ID = "sha256:" + "a" * 64
IMAGE = ImageIdentity(ref="shop/api:1.4.2", id=IMAGE_ID, digest=None)


def ok(name: str, *tests: tuple[str, str] | tuple[str, str, str], **extra: object) -> EnvironmentResult:
    records = tuple(TestRecord(id=t[0], outcome=t[1], message=t[2] if len(t) > 2 else None, duration=0.25)
                    for t in tests)
    return EnvironmentResult(name=name, status="ok", image_id=IMAGE_ID, tests=records, **extra)


def error(name: str, message: str = "engine unreachable", hint: str | None = "start the engine") -> EnvironmentResult:
    return EnvironmentResult(name=name, status="error", error=message, hint=hint, phase="connect")


def envs(*results: EnvironmentResult) -> dict[str, EnvironmentResult]:
    return {r.name: r for r in results}


# ---------------------------------------------------------------------------------------------------- verdicts


def test_parity() -> None:
    environments = envs(ok("local", ("t::a", "passed"), ("t::b", "skipped")),
                        ok("staging", ("t::a", "passed"), ("t::b", "skipped")))
    result = assemble(IMAGE, environments)
    assert result.verdict == "parity"
    assert result.exit_code == 0
    assert all(row.same for row in result.tests)
    assert result.divergent == ()
    assert [row.id for row in result.tests] == ["t::a", "t::b"]
    assert result.tests[0].outcomes == {"local": "passed", "staging": "passed"}


def test_same_failure_everywhere_is_failed_exit_1() -> None:
    environments = envs(ok("local", ("t::a", "passed"), ("t::b", "failed", "assert 1 == 2")),
                        ok("staging", ("t::a", "passed"), ("t::b", "failed", "assert 1 == 2")))
    result = assemble(IMAGE, environments)
    assert result.verdict == "failed"
    assert result.exit_code == 1
    row = result.tests[1]
    assert row.same is True
    assert row.messages == {"local": "assert 1 == 2", "staging": "assert 1 == 2"}


def test_same_error_everywhere_is_failed() -> None:
    environments = envs(ok("a", ("t::x", "error", "fixture blew up")), ok("b", ("t::x", "error", "fixture blew up")))
    assert assemble(IMAGE, environments).verdict == "failed"


def test_divergence_is_exit_3() -> None:
    environments = envs(ok("local", ("t::a", "passed"), ("t::rootfs", "passed")),
                        ok("staging", ("t::a", "passed"), ("t::rootfs", "failed", "Read-only file system")))
    result = assemble(IMAGE, environments)
    assert result.verdict == "diverged"
    assert result.exit_code == 3
    same, differs = result.tests
    assert same.same is True
    assert differs.same is False
    assert differs.outcomes == {"local": "passed", "staging": "failed"}
    assert differs.messages == {"staging": "Read-only file system"}  # passed tests carry no message
    assert result.divergent == (differs,)


def test_divergence_wins_over_failure() -> None:
    environments = envs(ok("a", ("t::f", "failed", "x"), ("t::d", "passed")),
                        ok("b", ("t::f", "failed", "x"), ("t::d", "skipped")))
    assert assemble(IMAGE, environments).verdict == "diverged"


def test_skip_versus_pass_is_a_divergence() -> None:
    environments = envs(ok("a", ("t::x", "passed")), ok("b", ("t::x", "skipped", "no gvisor")))
    result = assemble(IMAGE, environments)
    assert result.verdict == "diverged"
    assert result.tests[0].messages == {"b": "no gvisor"}


def test_missing_test_counts_as_divergence() -> None:
    environments = envs(ok("local", ("t::a", "passed"), ("t::only_local", "passed")),
                        ok("staging", ("t::a", "passed")))
    result = assemble(IMAGE, environments)
    assert result.verdict == "diverged"
    row = next(r for r in result.tests if r.id == "t::only_local")
    assert row.outcomes == {"local": "passed", "staging": "missing"}
    assert row.same is False
    assert "staging" not in row.durations


def test_test_only_in_a_later_environment_is_lined_up_too() -> None:
    rows = line_up(envs(ok("a", ("t::1", "passed")), ok("b", ("t::2", "passed"), ("t::1", "passed"))))
    assert [r.id for r in rows] == ["t::1", "t::2"]  # first-seen order
    assert rows[1].outcomes == {"a": "missing", "b": "passed"}


def test_error_environment_is_exit_4_and_other_rows_remain() -> None:
    environments = envs(ok("local", ("t::a", "passed"), ("t::b", "failed", "boom")),
                        error("cloud"),
                        ok("staging", ("t::a", "passed"), ("t::b", "failed", "boom")))
    result = assemble(IMAGE, environments)
    assert result.verdict == "error"
    assert result.exit_code == 4
    assert [r.id for r in result.tests] == ["t::a", "t::b"]
    for row in result.tests:
        assert set(row.outcomes) == {"local", "staging"}  # the errored environment is excluded...
        assert row.same is True  # ...and does not break sameness
    assert result.environments["cloud"].error == "engine unreachable"


def test_error_wins_over_divergence() -> None:
    environments = envs(ok("a", ("t::x", "passed")), ok("b", ("t::x", "failed", "x")), error("c"))
    result = assemble(IMAGE, environments)
    assert result.verdict == "error"
    assert result.tests[0].same is False  # the divergence is still recorded


def test_every_environment_in_error() -> None:
    result = assemble(IMAGE, envs(error("a"), error("b")))
    assert result.verdict == "error" and result.tests == () and result.exit_code == 4


def test_no_tests_at_all_is_parity() -> None:
    assert decide(envs(ok("a"), ok("b")), []) == "parity"


def test_decide_directly() -> None:
    environments = envs(ok("a"), ok("b"))
    same_fail = line_up(envs(ok("a", ("t", "failed")), ok("b", ("t", "failed"))))
    assert decide(environments, same_fail) == "failed"
    xfail = line_up(envs(ok("a", ("t", "xfailed")), ok("b", ("t", "xfailed"))))
    assert decide(environments, xfail) == "parity"


def test_durations_are_lined_up() -> None:
    rows = line_up(envs(ok("a", ("t", "passed")), ok("b", ("t", "passed"))))
    assert rows[0].durations == {"a": 0.25, "b": 0.25}


def test_assemble_passes_extra_fields() -> None:
    result = assemble(IMAGE, envs(ok("a")), run_id="r-1", warnings=("w",), interrupted=True)
    assert result.run_id == "r-1" and result.warnings == ("w",) and result.interrupted is True


# ---------------------------------------------------------------------------------------------------- JSON


@pytest.fixture
def rich_result() -> RunResult:
    environments = envs(
        ok("local", ("s/test_os.py::test_root_fs", "passed"), ("s/test_os.py::test_kernel", "passed"),
           facts={"kernel": "6.1.0", "user": "root"}, engine={"kind": "docker", "version": "24.0"},
           ship=ShipRecord(mode="present"), container="abc123", duration=3.5),
        ok("staging", ("s/test_os.py::test_root_fs", "failed", "assert ...\nOSError: read-only"),
           ("s/test_os.py::test_kernel", "passed"), facts={"kernel": "4.4.0"}, notes=("gvisor",)),
        error("cloud"),
    )
    image = ImageIdentity(ref="shop/api:1.4.2", id=IMAGE_ID, digest="sha256:" + "b" * 64,
                          repo_digests=("shop/api@sha256:" + "b" * 64,))
    return assemble(image, environments, run_id="r1", porttest_version="0.1.0", warnings=("cloud: no TLS",))


def test_json_has_the_design_top_level_keys(rich_result: RunResult) -> None:
    data = json.loads(rich_result.to_json())
    assert {"schema", "verdict", "image", "environments", "tests"} <= set(data)
    assert data["schema"] == "porttest.results/1" == SCHEMA
    assert data["verdict"] == "error"
    assert {"ref", "id", "digest"} <= set(data["image"])
    assert data["image"]["id"] == IMAGE_ID
    assert set(data["environments"]) == {"local", "staging", "cloud"}
    for env in data["environments"].values():
        assert {"status", "image_id", "error", "facts"} <= set(env)
        assert env["status"] in ("ok", "error")
    assert data["environments"]["cloud"] == {**data["environments"]["cloud"], "status": "error",
                                             "error": "engine unreachable", "image_id": None, "facts": {}}
    assert data["environments"]["local"]["error"] is None
    assert data["environments"]["local"]["facts"] == {"kernel": "6.1.0", "user": "root"}
    assert isinstance(data["tests"], list) and len(data["tests"]) == 2
    for row in data["tests"]:
        assert {"id", "outcomes", "same", "messages"} <= set(row)
    root = data["tests"][0]
    assert root["id"] == "s/test_os.py::test_root_fs"
    assert root["outcomes"] == {"local": "passed", "staging": "failed"}
    assert root["same"] is False
    assert root["messages"] == {"staging": "assert ...\nOSError: read-only"}


def test_json_digest_null_when_unknown() -> None:
    data = json.loads(assemble(IMAGE, envs(ok("a"))).to_json())
    assert data["image"]["digest"] is None
    assert data["verdict"] == "parity"


def test_json_round_trip(rich_result: RunResult) -> None:
    text = rich_result.to_json()
    back = from_json(text)
    assert back == rich_result
    assert back.to_json() == text
    assert back.exit_code == 4


@pytest.mark.parametrize("verdict_envs", [
    lambda: envs(ok("a", ("t", "passed")), ok("b", ("t", "passed"))),
    lambda: envs(ok("a", ("t", "failed", "m")), ok("b", ("t", "failed", "m"))),
    lambda: envs(ok("a", ("t", "passed")), ok("b", ("t", "xpassed"))),
    lambda: envs(error("a", hint=None)),
])
def test_json_round_trip_every_verdict(verdict_envs) -> None:
    result = assemble(IMAGE, verdict_envs())
    assert from_json(result.to_json()) == result


def test_json_reporter_renders_the_same_document(rich_result: RunResult) -> None:
    text = json_report.render(rich_result)
    assert text == rich_result.to_json()
    assert text.endswith("\n")
    assert json.loads(text)["schema"] == SCHEMA


def test_from_json_ignores_unknown_keys(rich_result: RunResult) -> None:
    data = json.loads(rich_result.to_json())
    data["added_in_a_later_version"] = {"x": 1}
    data["environments"]["local"]["new_field"] = 1
    assert from_json(json.dumps(data)) == rich_result


@pytest.mark.parametrize("schema", ["porttest.results/2", "other", None, 1])
def test_from_json_refuses_other_schemas(rich_result: RunResult, schema: object) -> None:
    data = json.loads(rich_result.to_json())
    data["schema"] = schema
    with pytest.raises(ResultsError) as caught:
        from_json(json.dumps(data), source="old.json")
    assert caught.value.exit_code == 2
    assert "old.json" in caught.value.message
    assert repr(schema) in caught.value.message
    assert caught.value.hint is not None and SCHEMA in caught.value.hint


def test_from_json_refuses_missing_schema(rich_result: RunResult) -> None:
    data = json.loads(rich_result.to_json())
    del data["schema"]
    with pytest.raises(ResultsError):
        from_json(json.dumps(data))


@pytest.mark.parametrize("text", ["not json at all", "[1, 2]", '"a string"', ""])
def test_from_json_refuses_non_documents(text: str) -> None:
    with pytest.raises(ResultsError) as caught:
        from_json(text, source="r.json")
    assert caught.value.message.startswith("r.json: ")


def test_from_json_refuses_a_bad_body_with_its_location(rich_result: RunResult) -> None:
    data = json.loads(rich_result.to_json())
    data["verdict"] = "maybe"
    with pytest.raises(ResultsError) as caught:
        from_json(json.dumps(data), source="r.json")
    assert "verdict" in caught.value.message
    data = json.loads(rich_result.to_json())
    data["tests"][0]["outcomes"]["local"] = "exploded"
    with pytest.raises(ResultsError) as caught:
        from_json(json.dumps(data), source="r.json")
    assert "tests.0.outcomes.local" in caught.value.message


def test_results_are_frozen(rich_result: RunResult) -> None:
    with pytest.raises(ValidationError):
        rich_result.verdict = "parity"  # type: ignore[misc]
    assert rich_result.verdict == "error"


def test_a_failed_verify_hook_rejects_the_run_with_exit_5() -> None:
    from porttest.results.model import VerifyRecord

    envs = {n: EnvironmentResult(name=n, status="error", phase="verify", error="not run") for n in ("a", "b")}
    check = VerifyRecord(name="scan", command="trivy", exit_code=1, passed=False)
    result = assemble(ImageIdentity(ref="x", id="sha256:1", verify=(check,)), envs)
    assert (result.verdict, result.exit_code) == ("rejected", 5)
    # One environment lost in another phase is an ordinary environment error.
    envs["b"] = EnvironmentResult(name="b", status="error", phase="ship", error="gone")
    assert assemble(ImageIdentity(ref="x", id="sha256:1"), envs).exit_code == 4
