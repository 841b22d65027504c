"""Pure safety nets: redaction, cycles in YAML, internal errors, combine, session helpers, durations."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from porttest.cli.main import _duration
from porttest.config import read_matrix
from porttest.config.yaml_source import load_yaml
from porttest.engine.container import listening
from porttest.engine.session import may_leave_background
from porttest.errors import EXIT_INTERNAL, ConfigError, ResultsError
from porttest.results.combine import Labelled, compare, merge
from porttest.results.model import EnvironmentResult, ImageIdentity, TestRecord, assemble
from porttest.results.redact import redact_result

IMAGE = ImageIdentity(ref="x", id="sha256:" + "a" * 64)


def _env(name: str, *tests: tuple[str, str, str | None]) -> EnvironmentResult:
    return EnvironmentResult(name=name, status="ok", image_id=IMAGE.id, tests=tuple(
        TestRecord(id=t, outcome=o, message=m) for t, o, m in tests))  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", ["test", "passed", "porttest", "error"])
def test_secrets_that_are_ordinary_words_never_break_the_result(secret: str) -> None:
    result = assemble(IMAGE, {"a": _env("a", ("t::x", "failed", f"got {secret}!")),
                              "b": _env("b", ("t::x", "passed", None))})
    masked = redact_result(result, {secret})
    assert masked.schema_ == "porttest.results/1" and masked.verdict == "diverged"
    assert masked.tests[0].outcomes == {"a": "failed", "b": "passed"}
    assert masked.tests[0].messages["a"] == "got ***!"


def test_secret_inside_another_is_masked_whole() -> None:
    result = assemble(IMAGE, {"a": _env("a", ("t::x", "failed", "token=abcdefgh"))})
    assert redact_result(result, {"abcd", "abcdefgh"}).tests[0].messages["a"] == "token=***"


def test_recursive_alias_is_a_located_issue_not_a_crash() -> None:
    doc = load_yaml("a: &a [*a]\nb: &b {x: *b}\n", "f.yaml", {})
    assert [(i.path, i.line) for i in doc.issues] == [("a[0]", 1), ("b.x", 2)]


def test_secret_default_values_are_masked_too(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    path = tmp_path / "matrix.yaml"
    path.write_text("version: 1\nimage: x\nsuites: [t]\nenvironments:\n  e:\n"
                    "    run: {mem_limit: '${DB_PASSWORD:-hunter2222}'}\n")
    with pytest.raises(ConfigError) as caught:
        read_matrix(path, env={})
    assert "hunter2222" not in str(caught.value)


@pytest.mark.parametrize("mount", [
    "{mounts: [{type: bind, source: /, target: /host}]}",
    "{volumes: ['/var/run:/x']}",
    "{volumes: {/etc: {bind: /h, mode: ro}}}",
])
def test_host_paths_that_expose_the_host_are_refused(tmp_path: Path, mount: str) -> None:
    (tmp_path / "t").mkdir()
    path = tmp_path / "matrix.yaml"
    path.write_text(f"version: 1\nimage: x\nsuites: [t]\nenvironments:\n  e:\n    run: {mount}\n")
    with pytest.raises(ConfigError) as caught:
        read_matrix(path, env={})
    assert "refused" in str(caught.value)


def test_an_internal_error_exits_70_not_a_verdict_code() -> None:
    bug = EnvironmentResult(name="a", status="error", error="internal error", internal=True)
    assert assemble(IMAGE, {"a": bug}).exit_code == EXIT_INTERNAL == 70
    assert assemble(IMAGE, {"a": bug.model_copy(update={"internal": False})}).exit_code == 4


def test_merge_and_compare() -> None:
    local = assemble(IMAGE, {"local": _env("local", ("t::x", "passed", None))})
    staging = assemble(IMAGE, {"staging": _env("staging", ("t::x", "failed", "boom"))})
    merged = merge([Labelled("l", local), Labelled("s", staging)])
    assert merged.verdict == "diverged" and set(merged.environments) == {"local", "staging"}
    with pytest.raises(ResultsError, match="in both"):
        merge([Labelled("l", local), Labelled("l", local)])
    compared = compare([Labelled("ci", local), Labelled("ci", local)])
    assert set(compared.environments) == {"ci:local", "ci-2:local"} and compared.verdict == "parity"
    other = local.model_copy(update={"image": ImageIdentity(ref="x", id="sha256:" + "b" * 64)})
    with pytest.raises(ResultsError, match="different images"):
        compare([Labelled("a", local), Labelled("b", other)])
    assert compare([Labelled("a", local), Labelled("b", other)], allow_different_image=True).warnings


@pytest.mark.parametrize("command, expected", [
    ("a && b", False), ("x 2>&1", False), ("sleep 1 &", True), ("nohup x", True), ("cmd &>/dev/null", True),
    ("service nginx start", True), ("echo done", False), ("curl 'http://x?a=1&b=2'", True),
])
def test_background_detection(command: str, expected: bool) -> None:
    assert may_leave_background(command) is expected


def test_listening_reads_proc_net_tcp() -> None:
    text = ("  sl  local_address rem_address   st\n"
            "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000\n"
            "   1: 0100007F:0050 0100007F:9C40 01 00000000:00000000\n")
    assert listening(text, 8080) and not listening(text, 80) and not listening(text, 9)


def test_durations() -> None:
    assert _duration("90s") == 90 and _duration("30m") == 1800 and _duration("2h") == 7200 and _duration("1d") == 86400
    with pytest.raises(argparse.ArgumentTypeError):
        _duration("soon")


def test_secrets_are_masked_in_the_forms_pytest_shows_them() -> None:
    backslashed, url, long_one = "pw\\CCCC3333", "postgres://u:pw-BBBB2222@db/x", "L" * 5 + "0123456789abcdef" * 200
    messages = {
        "a": "AssertionError: assert 'pw\\\\CCCC3333' == 'x'",  # repr() doubles the backslash
        "b": "assert 'postgres://u...BBBB2222@db/x' == 'x'",  # saferepr cuts the middle
        "c": f"E  - {long_one[:592]}",  # a diff shows a long value in pieces
    }
    result = assemble(IMAGE, {env: _env(env, ("t/test_postgres.py::test_db", "failed", text))
                              for env, text in messages.items()})
    masked = redact_result(result, {backslashed, url, long_one})
    shown = masked.tests[0].messages
    assert "CCCC3333" not in shown["a"] and "BBBB2222" not in shown["b"] and "0123456789" not in shown["c"]
    assert shown["a"].startswith("AssertionError: assert '***'")
    assert masked.tests[0].id == "t/test_postgres.py::test_db"  # ids are masked only where a whole secret appears


def test_a_secret_urls_scheme_is_not_masked_in_test_messages() -> None:
    result = assemble(IMAGE, {"a": _env("a", ("t::x", "failed", "see https://example.com/docs"))})
    assert redact_result(result, {"https://user:pw-XXXX9999@db"}).tests[0].messages["a"] == \
        "see https://example.com/docs"


def test_the_log_mask_leaves_a_malformed_record_to_logging_and_masks_a_good_one() -> None:
    import logging

    from porttest.cli.output import _mask_record, hide

    hide({"zz-test-secret-zz"})
    bad = logging.LogRecord("porttest", logging.WARNING, __file__, 1, "%s and %s", ("only one",), None)
    assert _mask_record(bad) is True and bad.args == ("only one",)  # logging's own handleError reports it
    good = logging.LogRecord("porttest", logging.WARNING, __file__, 1, "token %s", ("zz-test-secret-zz",), None)
    assert _mask_record(good) is True and good.getMessage() == "token ***"
