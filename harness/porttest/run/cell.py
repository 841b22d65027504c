"""One environment from connect to teardown: connect -> ship -> start -> ready -> pytest child -> collect."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import TYPE_CHECKING

import docker.errors
import requests

from porttest.config.plan import Cell
from porttest.engine import container as containers
from porttest.engine.connect import Engine, connect, short_reason
from porttest.engine.probe import facts_from, probe_facts
from porttest.engine.runtimes import check_runtime
from porttest.errors import ContainerError, PorttestError
from porttest.results.model import EnvironmentResult
from porttest.run.child import check_child, run_child
from porttest.run.progress import Progress

if TYPE_CHECKING:
    from porttest.run.cells import RunContext

log = logging.getLogger("porttest")


def run_cell(cell: Cell, ctx: RunContext) -> EnvironmentResult:
    """One environment from connect to teardown; any expected failure becomes this environment's error."""
    env = cell.environment
    began = time.monotonic()
    phase = "connect"
    engine: Engine | None = None
    record: dict[str, object] = {"name": env.name}
    notes: list[str] = []

    def enter(name: str, detail: str = "") -> None:
        nonlocal phase
        if ctx.tracker.cancel.is_set():
            raise ContainerError("cancelled")
        phase = name
        ctx.on_progress(Progress(env.name, name, detail))
        _injected_delay(name, ctx.tracker.cancel)

    try:
        enter("connect", env.engine.host or "local engine")
        engine = connect(env.engine)
        record["engine"] = {"endpoint": engine.endpoint, **engine.info.public()}
        check_runtime(engine.info, engine.endpoint, env.run.runtime)  # before shipping anything
        enter("ship", env.push_to or env.ship_mode)
        shipped = ctx.shipper.ship(engine, env.ship_mode, env.push_to)
        record["ship"] = shipped
        enter("start")
        started = containers.create(engine, env, ctx.image.id, ctx.run_id)
        ctx.tracker.add_container(env.name, engine, started.id)
        record["container"] = started.name
        runtime = containers.verify_runtime(engine, env, started)
        containers.start(engine, started)
        inspected = engine.client.api.inspect_container(started.id)
        record["image_id"] = str(inspected["Image"])
        enter("ready", env.wait_for.kind if env.wait_for else "")
        containers.wait_ready(engine, started, env.wait_for, ctx.tracker.cancel)
        enter("tests")
        run = run_child(cell, ctx, engine, started)
        reported = run.report
        # The child probes through its own session; one that never got that far (or could not) leaves it to us.
        facts = record["facts"] = (facts_from(reported.probe, engine, runtime)
                                   if reported.probe is not None and reported.probe.error is None
                                   else probe_facts(engine, started.id, runtime))
        if reported.facts:
            facts["custom"] = reported.facts
        check_child(run, env, ctx)
        tests = reported.tests
        notes.extend(reported.notes)
        state = containers.exit_state(engine, started.id)
        if state is not None:
            raise ContainerError(f"the container stopped during the suites: {state.describe()}",
                                 hint="see the exit reason above; the tests' own results are not trusted after this")
        record["tests"] = tests
        status = "ok"
    except PorttestError as exc:
        status = "error"
        record.update(error=exc.message, hint=exc.hint, phase=phase)
    except (docker.errors.DockerException, requests.RequestException) as exc:
        status = "error"
        where = engine.endpoint if engine is not None else (env.engine.host or "the local engine")
        record.update(error=f"the engine {where} failed during {phase}: {short_reason(exc)}", phase=phase,
                      hint="the engine stopped answering or refused a request; check that it is up")
    except Exception as exc:  # a bug: keep the traceback, but let the other environments finish
        log.exception("internal error in environment %s during %s", env.name, phase)
        status = "error"
        record.update(error=f"internal error during {phase}: {type(exc).__name__}: {exc}", phase=phase,
                      hint="this is a porttest bug; please report it with the traceback above", internal=True)
    finally:
        ctx.on_progress(Progress(env.name, "teardown"))
        _injected_delay("teardown", threading.Event())
        owned = ctx.tracker.drop_container(env.name)
        if owned is not None:
            try:
                containers.remove(*owned)
            except Exception as exc:  # noqa: BLE001
                notes.append(f"container {owned[1][:12]} could not be removed: {exc}")
        if engine is not None:
            engine.close()
    result = EnvironmentResult(status=status, duration=round(time.monotonic() - began, 3), notes=tuple(notes),
                               **record)  # type: ignore[arg-type]
    ctx.on_progress(Progress(env.name, "done" if status == "ok" else "error", result.error or ""))
    return result


def _injected_delay(phase: str, cancel: threading.Event) -> None:
    """Fault injection for porttest's own tests: PORTTEST_FAULT_DELAY="start=2,teardown=2" holds a phase open."""
    spec = os.environ.get("PORTTEST_FAULT_DELAY")
    if not spec:
        return
    for item in spec.split(","):
        name, _, seconds = item.partition("=")
        if name.strip() == phase:
            with contextlib.suppress(ValueError):
                cancel.wait(float(seconds))
