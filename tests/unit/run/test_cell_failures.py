"""The runner's failure paths against the Engines double: an engine lost, a container that dies, a child that ends
early. The pytest children are real (and fast); no engine is."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest
import requests

from porttest.config import EngineSpec, Matrix, parse_matrix
from porttest.config.plan import make_plan
from porttest.engine.container import ExitState
from porttest.results.model import EnvironmentResult
from porttest.run.cells import run_cells
from porttest.run.context import RunContext
from porttest.run.launcher import Launcher, child_env
from porttest.run.tracker import Tracker
from tests.unit.doubles.engines import IMAGE_ID, LOCAL, OWN_PROBE, FakeEngines

CLOUD = "unix:///run/porttest-double/cloud.sock"
PASSING = "def test_one():\n    pass\n\n\ndef test_two():\n    pass\n"


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    """One fork server for the module's runs, as one run has one."""
    made = Launcher(child_env(), tmp_path_factory.mktemp("launcher") / "fork-server.log")
    made.warm_up()
    yield made
    made.close()


def _matrix(tmp_path: Path, suite: str, environments: str = f"  local: {{}}\n  cloud: {{engine: {{host: '{CLOUD}'}}}}\n"
            ) -> Matrix:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "test_suite.py").write_text(suite)
    text = f"version: 1\nimage: shop/api:1\nsuites: [suites]\nenvironments:\n{environments}"
    return parse_matrix(text, tmp_path / "matrix.yaml", {})


def _run(matrix: Matrix, engines: FakeEngines, launcher: Launcher, tmp_path: Path
         ) -> tuple[dict[str, EnvironmentResult], Tracker]:
    """run_cells as api.run drives it, with the double in place of the engines."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    tracker = Tracker(engines)
    source = engines.connect(EngineSpec())  # the local engine: where the image is
    image = engines.resolve_image(source, matrix.image, True)
    ctx = RunContext(run_id="20250101000000-" + secrets.token_hex(3), image=image, engines=engines,
                     shipper=engines.shipper(source, image, tracker.cancel), launcher=launcher, workdir=workdir,
                     base_dir=matrix.base_dir, tracker=tracker, on_progress=lambda _event: None)
    results, interrupted = run_cells(make_plan(matrix), ctx)
    source.close()
    assert interrupted is None
    return results, tracker


def _assert_undone(engines: FakeEngines, tracker: Tracker) -> None:
    assert engines.live() == [], "a container the run created is still there"
    assert tracker.containers == {} and tracker.children == {}
    assert engines.handles and all(handle.closed for handle in engines.handles), "an engine was left open"


def test_with_nothing_wrong_each_environment_runs_its_suites_and_its_container_goes(launcher: Launcher,
                                                                                    tmp_path: Path) -> None:
    engines = FakeEngines()
    results, tracker = _run(_matrix(tmp_path, PASSING), engines, launcher, tmp_path)
    for name in ("local", "cloud"):
        assert results[name].status == "ok", results[name].error
        assert [(t.id.split("::")[1], t.outcome) for t in results[name].tests] == [("test_one", "passed"),
                                                                                   ("test_two", "passed")]
        assert results[name].image_id == IMAGE_ID and results[name].engine["endpoint"] in (LOCAL, CLOUD)
    assert engines.operations(CLOUD) == ["connect", "ship", "create", "verify_runtime", "start", "container_image",
                                         "wait_ready", "handoff", "facts", "exit_state", "remove"]
    # The child could not reach the double's engine for its probe; the runner probed through the engines instead.
    assert all(probe is not None and probe.error for probe in engines.child_probes)
    assert results["cloud"].facts == {**OWN_PROBE, "runtime": {"name": "runc"}}
    _assert_undone(engines, tracker)


@pytest.mark.parametrize("lost", [
    requests.ConnectionError("('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))"),
    docker.errors.APIError("500 Server Error for http+docker://localhost/v1.43/images/load: Internal Server Error",
                           explanation="write /var/lib/docker/tmp/docker-import: no space left on device"),
], ids=["connection-reset", "api-error"])
def test_an_engine_lost_while_shipping_fails_that_environment_and_no_other(lost: Exception, launcher: Launcher,
                                                                           tmp_path: Path) -> None:
    engines = FakeEngines()
    engines.fail("ship", lost, endpoint=CLOUD)
    results, tracker = _run(_matrix(tmp_path, PASSING), engines, launcher, tmp_path)
    cloud = results["cloud"]
    assert (cloud.status, cloud.phase) == ("error", "ship")
    assert cloud.error is not None and cloud.error.startswith(f"the engine {CLOUD} failed during ship: ")
    reason = "Connection reset" if isinstance(lost, requests.ConnectionError) else "500 Server Error"
    assert reason in cloud.error and "check that it is up" in (cloud.hint or "")
    assert cloud.tests == () and cloud.container is None
    assert "create" not in engines.operations(CLOUD), "a container was created on an engine that was lost"
    assert results["local"].status == "ok" and len(results["local"].tests) == 2
    _assert_undone(engines, tracker)


def test_a_container_that_dies_during_the_suites_is_an_error_naming_its_exit(launcher: Launcher,
                                                                             tmp_path: Path) -> None:
    engines = FakeEngines()
    engines.exits(CLOUD, ExitState("exited", 137, True, "", "worker booted\nKilled\n"))
    results, tracker = _run(_matrix(tmp_path, PASSING), engines, launcher, tmp_path)
    cloud = results["cloud"]
    assert (cloud.status, cloud.phase) == ("error", "tests")
    assert cloud.error is not None
    assert cloud.error.startswith("the container stopped during the suites: status exited, exit code 137, OOMKilled")
    assert "  | Killed" in cloud.error  # the container's last log lines
    assert cloud.tests == (), "tests that ran in a container that died were reported as results"
    assert cloud.container is not None and cloud.container.endswith("-cloud")
    assert engines.operations(CLOUD)[-1] == "remove"
    assert results["local"].status == "ok"
    _assert_undone(engines, tracker)


@pytest.mark.parametrize(("suite", "expected"), [
    pytest.param("import pytest\n\n\ndef test_one():\n    pass\n\n\ndef test_two():\n    pytest.exit('enough', "
                 "returncode=0)\n\n\ndef test_three():\n    pass\n",
                 "the suites ended early: 2 of 3 collected tests finished (pytest exit code 0)", id="pytest.exit"),
    pytest.param("import os\n\n\ndef test_one():\n    os._exit(0)\n\n\ndef test_two():\n    pass\n",
                 "the suites ended before their first test finished (pytest exit code 0)", id="os._exit-at-once"),
    pytest.param("import os\n\n\ndef test_one():\n    pass\n\n\ndef test_two():\n    os._exit(3)\n",
                 "pytest ended with exit code 3:\n  | .", id="os._exit-3"),  # and the tail of pytest's log
])
def test_a_child_that_ends_early_is_the_environments_error(suite: str, expected: str, launcher: Launcher,
                                                           tmp_path: Path) -> None:
    engines = FakeEngines()
    results, tracker = _run(_matrix(tmp_path, suite, "  local: {}\n"), engines, launcher, tmp_path)
    local = results["local"]
    assert (local.status, local.phase) == ("error", "tests")
    assert local.error is not None and local.error.startswith(expected), local.error
    assert local.tests == ()
    # Its probe failed at once on the engine address it was given, and the runner's own probe took over.
    (probe,) = engines.child_probes
    assert probe is not None and "No such file or directory" in (probe.error or "")
    assert local.facts == {**OWN_PROBE, "runtime": {"name": "runc"}}
    _assert_undone(engines, tracker)
