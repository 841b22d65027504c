"""The verdict is worded in one place: console, Markdown and HTML all say the same thing with the same figures."""

from __future__ import annotations

import html as html_lib

import pytest

from porttest.reporters import console, html, markdown
from porttest.reporters.common import verdict_summary
from porttest.results.model import EnvironmentResult, ImageIdentity, RunResult, TestRecord, assemble

IMAGE = ImageIdentity(ref="shop/api:1", id="sha256:" + "a" * 64)


def _result(local: str, staging: str | None, **extra: object) -> RunResult:
    envs = {"local": EnvironmentResult(name="local", status="ok", image_id=IMAGE.id,
                                       tests=(TestRecord(id="t.py::a", outcome=local),))}
    if staging is None:
        envs["staging"] = EnvironmentResult(name="staging", status="error", error="engine gone", phase="connect")
    else:
        envs["staging"] = EnvironmentResult(name="staging", status="ok", image_id=IMAGE.id,
                                            tests=(TestRecord(id="t.py::a", outcome=staging),))
    return assemble(IMAGE, envs, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(("local", "staging", "name", "detail"), [
    ("passed", "passed", "PARITY", "(1 tests x 2 environments)"),
    ("failed", "failed", "FAILED", "(1 tests x 2 environments)"),
    ("passed", "failed", "DIVERGED", "(1 of 1 tests differ)"),
    ("passed", None, "ERROR", "(staging)"),
])
def test_every_reporter_words_the_verdict_the_same(local: str, staging: str | None, name: str, detail: str) -> None:
    result = _result(local, staging, run_id="20261202-abc", duration=2.5)
    summary = verdict_summary(result)
    assert (summary.name, summary.detail, summary.exit_code) == (name, detail, result.exit_code)
    assert summary.meta == ("run 20261202-abc", "2.5s")
    shown = {
        "console": console.render(result),
        "markdown": markdown.render(result),
        "html": html_lib.unescape(html.render(result)),
    }
    for reporter, text in shown.items():
        assert summary.meaning in text, reporter
        assert detail in text, reporter
        assert str(result.exit_code) in text, reporter
        assert "run 20261202-abc" in text or reporter == "console", reporter
