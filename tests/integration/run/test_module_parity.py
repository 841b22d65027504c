"""porttest's backend, in session and in exec mode, gives the same outcomes as testinfra's own docker:// backend."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import docker
import pytest

from tests.integration.conftest import REPO, SLEEPER, porttest, write

SUITE = REPO / "tests" / "fixtures" / "module_suite"


def _testinfra_outcomes(container: str, folder: Path) -> dict[str, str]:
    report = folder / "junit.xml"
    (folder / "pytest.ini").write_text("[pytest]\n")
    subprocess.run(
        [sys.executable, "-m", "pytest", str(folder / "suite"), f"--hosts=docker://{container}",
         "-p", "no:cacheprovider", "-c", str(folder / "pytest.ini"), "--rootdir", str(folder),
         f"--junitxml={report}", "-q"],
        cwd=folder, capture_output=True, text=True, timeout=600,
    )
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        # testinfra adds its host to every id: test[docker://NAME] and test[docker://NAME-param]
        name = case.get("name", "").replace(f"[docker://{container}]", "").replace(f"docker://{container}-", "")
        kinds = {child.tag for child in case}
        if "failure" in kinds:
            outcome = "failed"
        elif "error" in kinds:
            outcome = "error"
        elif "skipped" in kinds:
            skipped = case.find("skipped")
            outcome = "xfailed" if skipped is not None and skipped.get("type") == "pytest.xfail" else "skipped"
        else:
            outcome = "passed"
        outcomes[name] = outcome
    return outcomes


@pytest.mark.skipif(shutil.which("docker") is None, reason="testinfra's docker:// backend needs the docker CLI")
def test_module_suite_matches_testinfra_docker_backend(tmp_path: Path, engine: docker.DockerClient,
                                                       base_images: dict[str, str]) -> None:
    shutil.copytree(SUITE, tmp_path / "suite")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["debian"]}
        suites: [suite]
        environments:
          session: {{exec_mode: session, run: {{command: {SLEEPER}}}}}
          exec: {{exec_mode: exec, run: {{command: {SLEEPER}}}}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.results is not None, ran.explain()
    assert ran.rc == 1, ran.explain()  # the suite fails on purpose, the same way in both modes
    session = {t["id"].split("::", 1)[1]: t["outcomes"]["session"] for t in ran.results["tests"]}
    exec_mode = {t["id"].split("::", 1)[1]: t["outcomes"]["exec"] for t in ran.results["tests"]}

    name = f"porttest-anchor-{uuid.uuid4().hex[:8]}"
    container = engine.containers.run(base_images["debian"], ["sleep", "3600"], name=name, detach=True,
                                      labels={"io.porttest.test": "anchor"})
    try:
        theirs = _testinfra_outcomes(name, tmp_path)
    finally:
        container.remove(force=True)

    assert len(session) >= 38, session
    for ours in (session, exec_mode):
        assert set(ours) == set(theirs), (sorted(set(ours) ^ set(theirs)))
        different = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
        assert not different, different
    # The suite is broad only if it exercises every kind of outcome.
    assert {"passed", "failed", "skipped", "xfailed"} <= set(session.values())
    assert list(session.values()).count("passed") >= 30
    assert os.environ.get("PORTTEST_CHILD") is None
