"""The effective run options (after extends and translation) in the console, Markdown and HTML reports."""

from __future__ import annotations

import pytest

from porttest.reporters import console, html, markdown
from porttest.results.model import EnvironmentResult, ImageIdentity, RunResult, TestRecord, assemble

IMAGE_ID = "sha256:" + "a" * 64
IMAGE = ImageIdentity(ref="shop/api:1", id=IMAGE_ID)


def env(name: str, run: dict[str, object]) -> EnvironmentResult:
    return EnvironmentResult(name=name, status="ok", image_id=IMAGE_ID, run=run,
                             tests=(TestRecord(id="t.py::test_a", outcome="passed"),))


@pytest.fixture
def result() -> RunResult:
    return assemble(IMAGE, {
        "local": env("local", {"mem_limit": "512m"}),
        "staging": env("staging", {"read_only": True, "cap_drop": ["ALL"], "mem_limit": "512m"}),
    })


def test_console_lists_only_the_differing_run_options(result: RunResult) -> None:
    text = console.render(result)
    lines = [line.strip() for line in text.splitlines()]
    assert "run options that differ:" in lines
    assert "run.read_only: local -; staging true" in lines
    assert 'run.cap_drop: local -; staging ["ALL"]' in lines
    assert not any(line.startswith("run.mem_limit") for line in lines)


def test_console_says_nothing_when_the_run_options_agree() -> None:
    same = assemble(IMAGE, {"a": env("a", {"read_only": True}), "b": env("b", {"read_only": True})})
    assert "run options" not in console.render(same)


def test_markdown_table_differences_first(result: RunResult) -> None:
    text = markdown.render(result)
    assert "### Effective run options" in text
    assert "2 differ between environments" in text
    section = text[text.index("### Effective run options"):]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`run." in line]
    keys = [row.split("`")[1] for row in rows]
    assert keys == ["run.cap_drop", "run.read_only", "run.mem_limit"]
    assert rows[1] == "| **≠** | `run.read_only` | - | true |"
    assert rows[2] == "|  | `run.mem_limit` | 512m | 512m |"
    assert "<details>" in section and "</details>" in section


def test_html_section_differences_first(result: RunResult) -> None:
    text = html.render(result)
    assert '<section id="run-options-section">' in text
    section = text[text.index('<table id="run-options">'):]
    order = [section.index(f'data-setting="run.{key}"') for key in ("cap_drop", "read_only", "mem_limit")]
    assert order == sorted(order)
    assert '<tr class="differs" data-setting="run.read_only">' in section
    assert '<tr class="same" data-setting="run.mem_limit">' in section
    assert '<td data-env="staging">true</td>' in section


def test_no_section_when_no_run_options_were_recorded() -> None:
    bare = assemble(IMAGE, {"a": env("a", {}), "b": env("b", {})})
    assert "Effective run options" not in markdown.render(bare)
    assert "run-options-section" not in html.render(bare)


def test_html_escapes_run_option_values() -> None:
    odd = assemble(IMAGE, {"a": env("a", {"hostname": "<script>"}), "b": env("b", {})})
    text = html.render(odd)
    assert "&lt;script&gt;" in text
    assert '<td data-env="a"><script></td>' not in text
