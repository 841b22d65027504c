"""SIGINT/SIGTERM in each phase of a run (api.run against the Engines double): the run ends interrupted with the
signal's exit code, every container it created is removed, every engine closed, and no pytest child outlives it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from porttest import api
from porttest.config import Matrix, parse_matrix
from porttest.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, Interrupted
from porttest.run.launcher import Child, Launcher
from tests.unit.doubles.engines import LOCAL, FakeEngines, interrupts

CLOUD = "unix:///run/porttest-double/cloud.sock"
EXIT = {"SIGINT": EXIT_INTERRUPTED, "SIGTERM": EXIT_TERMINATED}
PASSING = "def test_one():\n    pass\n"
# In the tests phase the signal comes from inside the suite, while the cloud environment's child runs a test.
SIGNALLING = ("import os, signal, time\n\n\ndef test_slow(environment):\n"
              "    if environment.name == 'cloud':\n        os.kill({pid}, signal.{name})\n    time.sleep(30)\n")


def _matrix(tmp_path: Path, suite: str) -> Matrix:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "test_suite.py").write_text(suite)
    text = (f"version: 1\nimage: shop/api:1\nsuites: [suites]\n"
            f"environments:\n  local: {{}}\n  cloud: {{engine: {{host: '{CLOUD}'}}}}\n")
    return parse_matrix(text, tmp_path / "matrix.yaml", {})


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[Child]:
    """Every pytest child the run's launcher starts."""
    started: list[Child] = []
    real = Launcher.start

    def start(self: Launcher, args: list[str], cwd: Path, log: Path) -> Child:
        child = real(self, args, cwd, log)
        started.append(child)
        return child

    monkeypatch.setattr(Launcher, "start", start)
    return started


@pytest.mark.parametrize(("phase", "operation", "name"), [
    ("connect", "connect", "SIGINT"),
    ("ship", "ship", "SIGTERM"),
    ("start", "create", "SIGINT"),
    ("ready", "wait_ready", "SIGTERM"),
    ("tests", None, "SIGINT"),
    ("teardown", "remove", "SIGTERM"),
])
def test_a_signal_in_any_phase_ends_the_run_and_undoes_it(phase: str, operation: str | None, name: str,
                                                         children: list[Child], tmp_path: Path) -> None:
    engines = FakeEngines()
    engines.hold_ready(LOCAL)  # the other environment is waiting for readiness, its container up, when it comes
    if operation is not None:
        engines.fail(operation, Interrupted(name), endpoint=CLOUD)
    suite = SIGNALLING.format(pid=os.getpid(), name=name) if phase == "tests" else PASSING
    began = time.monotonic()
    with interrupts() as handler:
        outcome = api.run(_matrix(tmp_path, suite), engines=engines)
    assert time.monotonic() - began < 20, "the run waited for what it should have stopped"
    assert handler.count == 1 and not outcome.forced

    assert outcome.interrupted is not None and outcome.interrupted.signal_name == name
    assert outcome.exit_code == EXIT[name] and outcome.result.interrupted
    for env in ("local", "cloud"):
        result = outcome.result.environments[env]
        assert (result.status, result.phase, result.error) == ("error", "interrupted", f"interrupted by {name}")
    created = {c.name.rsplit("-", 1)[1]: c for c in engines.containers.values()}
    assert "local" in created and ("cloud" in created) == (phase not in ("connect", "ship"))
    assert engines.live() == [], f"left behind: {[c.name for c in engines.live()]}"
    assert all(handle.closed for handle in engines.handles)
    if phase in ("tests", "teardown"):
        assert children, "the suites never started"
    else:
        assert children == [], "a pytest child started after the run was cancelled"
    assert all(child.poll() is not None and not _alive(child.pid) for child in children)


def test_a_signal_while_the_image_is_resolved_ends_the_run_before_any_environment(children: list[Child],
                                                                                  tmp_path: Path) -> None:
    engines = FakeEngines()
    engines.fail("resolve_image", Interrupted("SIGTERM"))  # in the main thread, where a signal handler raises it
    outcome = api.run(_matrix(tmp_path, PASSING), engines=engines)
    assert outcome.exit_code == EXIT_TERMINATED and outcome.result.interrupted
    assert {env.phase for env in outcome.result.environments.values()} == {"interrupted"}
    assert engines.operations() == ["connect", "resolve_image"]
    assert [handle.closed for handle in engines.handles] == [True]
    assert engines.containers == {} and children == []
