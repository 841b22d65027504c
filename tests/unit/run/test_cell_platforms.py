"""Another CPU in a run, against the Engines double: a container the kernel cannot execute is told as missing
emulation, and the other environments finish; the image's platform is recorded per environment."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from porttest.config import EngineSpec, parse_matrix
from porttest.config.plan import make_plan
from porttest.errors import ContainerError
from porttest.results.model import EnvironmentResult
from porttest.run.cells import run_cells
from porttest.run.context import RunContext
from porttest.run.launcher import Launcher, child_env
from porttest.run.tracker import Tracker
from tests.unit.doubles.engines import FakeEngines

CLOUD = "unix:///run/porttest-double/cloud.sock"
MATRIX = f"""version: 1
image: shop/api:1
suites: [suites]
environments:
  local: {{}}
  cloud: {{engine: {{host: '{CLOUD}'}}, run: {{platform: PLATFORM}}}}
"""
# What Docker 20.10 reports when no emulator takes the image's programs: the start succeeds, the process does not.
STOPPED = ContainerError("the container stopped right after start: status exited, exit code 1\nlast log lines:\n"
                         "  | exec /bin/sh: exec format error",
                         hint="the image's command must keep running; set run.command (e.g. sleep infinity) for "
                              "images that exit at once")


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    made = Launcher(child_env(), tmp_path_factory.mktemp("launcher") / "fork-server.log")
    made.warm_up()
    yield made
    made.close()


def _run(engines: FakeEngines, launcher: Launcher, tmp_path: Path, arch: str,
         variant: str = "") -> dict[str, EnvironmentResult]:
    """A run of an image of `arch`, whose cloud environment asks for that platform by run.platform."""
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "test_suite.py").write_text("def test_one():\n    pass\n")
    matrix = parse_matrix(MATRIX.replace("PLATFORM", f"linux/{arch}"), tmp_path / "matrix.yaml", {})
    (tmp_path / "work").mkdir()
    tracker = Tracker(engines)
    source = engines.connect(EngineSpec())
    image = dataclasses.replace(engines.resolve_image(source, matrix.image, True), architecture=arch, variant=variant)
    ctx = RunContext(run_id="20250101000000-" + secrets.token_hex(3), image=image, engines=engines,
                     shipper=engines.shipper(source, image, tracker.cancel), launcher=launcher,
                     workdir=tmp_path / "work", base_dir=matrix.base_dir, tracker=tracker,
                     on_progress=lambda _event: None)
    results, interrupted = run_cells(make_plan(matrix), ctx)
    source.close()
    assert interrupted is None
    assert engines.live() == []
    return results


def test_exec_format_error_on_another_cpu_says_emulation_is_missing_and_others_finish(
        launcher: Launcher, tmp_path: Path) -> None:
    engines = FakeEngines()
    engines.fail("wait_ready", STOPPED, endpoint=CLOUD)
    results = _run(engines, launcher, tmp_path, "arm64", "v8")
    cloud = results["cloud"]
    assert (cloud.status, cloud.phase, cloud.platform) == ("error", "ready", "linux/arm64/v8")
    assert cloud.error == (f"engine {CLOUD} runs x86_64 and cannot run linux/arm64/v8 programs: no user-mode "
                           "emulation for arm64 (the container said: exec format error)")
    assert cloud.hint is not None and "tonistiigi/binfmt --install arm64" in cloud.hint
    assert "qemu-user-static" in cloud.hint and "must keep running" not in cloud.hint
    assert (results["local"].status, results["local"].platform) == ("ok", "linux/arm64/v8")


def test_exec_format_error_on_the_engines_own_cpu_keeps_the_message_and_blames_the_image(
        launcher: Launcher, tmp_path: Path) -> None:
    engines = FakeEngines()
    engines.fail("wait_ready", STOPPED, endpoint=CLOUD)
    results = _run(engines, launcher, tmp_path, "amd64")
    cloud = results["cloud"]
    assert cloud.error == STOPPED.message
    assert cloud.hint is not None and cloud.hint.startswith("the image says it is linux/amd64, but a program")
