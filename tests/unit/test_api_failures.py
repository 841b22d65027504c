"""api.run and api.clean when engines fail (against the Engines double): the image cannot be had, an engine cannot
list or remove containers. Also: the double and the real engines keep to one protocol."""

from __future__ import annotations

import dataclasses
import inspect
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest
import requests

from porttest import api
from porttest.config import Matrix, parse_matrix
from porttest.engine.docker_engines import DockerEngines
from porttest.engine.protocol import EngineHandle, Engines, Shipping
from porttest.errors import EXIT_ENVIRONMENT, EngineError, ImageError
from tests.unit.doubles.engines import LOCAL, FakeEngines, FakeShipping, Handle

CLOUD = "unix:///run/porttest-double/cloud.sock"
STAGING = "unix:///run/porttest-double/staging.sock"


def _matrix(tmp_path: Path, environments: str) -> Matrix:
    (tmp_path / "suites").mkdir(exist_ok=True)
    (tmp_path / "suites" / "test_suite.py").write_text("def test_one():\n    pass\n")
    text = f"version: 1\nimage: shop/api:1\nsuites: [suites]\nenvironments:\n{environments}"
    return parse_matrix(text, tmp_path / "matrix.yaml", {})


TWO = f"  local: {{}}\n  cloud: {{engine: {{host: '{CLOUD}'}}}}\n"


@pytest.mark.parametrize(("operation", "error"), [
    ("resolve_image", ImageError("cannot inspect image shop/api:1: Connection refused")),
    ("connect", EngineError(f"cannot reach engine {LOCAL}: No such file or directory",
                            hint="is the Docker engine running?")),
], ids=["resolve", "connect"])
def test_an_image_that_cannot_be_had_is_every_environments_error(operation: str, error: Exception,
                                                                 tmp_path: Path) -> None:
    engines = FakeEngines()
    engines.fail(operation, error, endpoint=LOCAL)
    outcome = api.run(_matrix(tmp_path, TWO), engines=engines)
    assert outcome.interrupted is None and outcome.exit_code == EXIT_ENVIRONMENT
    assert outcome.result.verdict == "error" and outcome.result.image.id is None
    for env in ("local", "cloud"):
        result = outcome.result.environments[env]
        assert (result.status, result.phase, result.error) == ("error", "image", str(error))
    assert engines.operations(CLOUD) == [], "an environment's engine was reached without an image to run"
    assert engines.containers == {}
    assert all(handle.closed for handle in engines.handles)


@pytest.fixture
def living_porttest() -> Iterator[str]:
    """A process on this machine whose command line names porttest: the owner of a run still going."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "porttest"])
    try:
        yield f"{socket.gethostname()}:{proc.pid}"
    finally:
        proc.kill()
        proc.wait()


def test_clean_goes_on_past_an_engine_that_cannot_list_or_remove(living_porttest: str, tmp_path: Path) -> None:
    # The engines that fail come first: those after them are still swept.
    matrix = _matrix(tmp_path, f"  cloud: {{engine: {{host: '{CLOUD}'}}}}\n"
                               f"  gone: {{engine: {{host: 'unix:///run/porttest-double/gone.sock'}}}}\n"
                               f"  staging: {{engine: {{host: '{STAGING}'}}}}\n"
                               "  local: {}\n  again: {}\n")  # the local engine once more: swept once
    engines = FakeEngines()
    engines.fail("find_leftovers", requests.ConnectionError("Connection refused"), endpoint=CLOUD)
    engines.fail("connect", EngineError("cannot reach engine unix:///run/porttest-double/gone.sock: No such file"),
                 endpoint="unix:///run/porttest-double/gone.sock")
    old = engines.add_leftover(LOCAL, env="local")
    running = engines.add_leftover(LOCAL, run_id="20990101000000-aaaaaa", owner=living_porttest)
    foreign = engines.add_leftover(LOCAL, labelled=False)
    stuck = engines.add_leftover(STAGING, env="stuck")
    on_cloud = engines.add_leftover(CLOUD)
    engines.fail("remove", docker.errors.APIError("409 Client Error: Conflict", explanation="device or resource busy"),
                 endpoint=STAGING)
    errors: list[str] = []
    found = api.clean(matrix, on_error=errors.append, engines=engines)

    assert errors == [
        f"cloud: cannot list containers on {CLOUD}: Connection refused",
        "gone: cannot reach engine unix:///run/porttest-double/gone.sock: No such file",
        f'staging: cannot remove {stuck.id[:12]}: 409 Client Error: Conflict ("device or resource busy")',
    ]
    assert [(item.environment, item.id, item.removed) for item in found] == [("local", old.id[:12], True)]
    assert {c.id for c in engines.live()} == {running.id, foreign.id, stuck.id, on_cloud.id}
    assert engines.operations(LOCAL).count("find_leftovers") == 1
    assert all(handle.closed for handle in engines.handles)


def test_clean_dry_run_removes_nothing_and_a_lost_engine_holds_back_no_other(tmp_path: Path) -> None:
    matrix = _matrix(tmp_path, TWO)
    engines = FakeEngines()
    engines.fail("find_leftovers", requests.ConnectionError("Connection reset by peer"), endpoint=LOCAL)
    left = [engines.add_leftover(CLOUD, env=f"e{i}") for i in range(2)]
    errors: list[str] = []
    dry = api.clean(matrix, dry_run=True, on_error=errors.append, engines=engines)
    assert [item.removed for item in dry] == [False, False] and len(engines.live()) == 2
    found = api.clean(matrix, on_error=errors.append, engines=engines)
    assert sorted(item.id for item in found) == sorted(c.id[:12] for c in left)
    assert all(item.removed and item.engine == CLOUD for item in found) and engines.live() == []
    assert errors == [f"local: cannot list containers on {LOCAL}: Connection reset"] * 2  # short_reason()


def _methods(cls: type) -> dict[str, list[str]]:
    return {name: list(inspect.signature(member).parameters) for name, member in vars(cls).items()
            if callable(member) and not name.startswith("_")}


def test_the_double_and_the_real_engines_keep_to_the_protocol() -> None:
    wanted = _methods(Engines)
    assert wanted and _methods(DockerEngines) == wanted
    assert {name: _methods(FakeEngines)[name] for name in wanted} == wanted
    assert _methods(FakeShipping)["ship"] == _methods(Shipping)["ship"]
    assert {name for name in vars(EngineHandle) if not name.startswith("_")} == {"endpoint", "info", "close"}
    assert {field.name for field in dataclasses.fields(Handle)} >= {"endpoint", "info"} and callable(Handle.close)
