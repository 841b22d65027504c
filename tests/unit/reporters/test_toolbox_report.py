"""A shell-less image's toolbox as the reports show it: one line per environment that ran with it, nowhere else."""

from __future__ import annotations

import pytest

from porttest.reporters import console, html, markdown
from porttest.results.model import EnvironmentResult, ImageIdentity, RunResult, TestRecord, assemble

TOOLBOX = "busybox 1.35.0 (static, amd64)"
LINE = f"no /bin/sh in the image: commands ran with porttest's toolbox, {TOOLBOX}"


def _result(*toolboxes: str | None) -> RunResult:
    envs = {}
    for name, toolbox in zip(("local", "hardened"), toolboxes, strict=False):
        facts = {"arch": "x86_64", **({"toolbox": toolbox} if toolbox else {})}
        envs[name] = EnvironmentResult(name=name, status="ok", image_id="sha256:" + "a" * 64, facts=facts,
                                       engine={"kind": "docker", "version": "20.10.24"}, duration=1.0,
                                       tests=(TestRecord(id="t.py::test_ok", outcome="passed", duration=0.1),))
    return assemble(ImageIdentity(ref="shellless:1", id="sha256:" + "a" * 64), envs, run_id="r1")


@pytest.mark.parametrize("render", [lambda r: console.render(r, width=200), markdown.render, html.render],
                         ids=["console", "markdown", "html"])
def test_each_environment_that_ran_with_the_toolbox_says_so(render) -> None:  # type: ignore[no-untyped-def]
    text = render(_result(TOOLBOX, TOOLBOX))
    assert text.count(LINE.replace("'", "&#x27;") if "<html" in text else LINE) == 2


@pytest.mark.parametrize("render", [console.render, markdown.render, html.render], ids=["console", "markdown", "html"])
def test_an_image_with_its_own_shell_shows_no_toolbox(render) -> None:  # type: ignore[no-untyped-def]
    assert "toolbox" not in render(_result(None, None)).replace('class="toolbox"', "")
