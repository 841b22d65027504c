"""One environment from connect to teardown: connect -> ship -> start -> ready -> pytest child -> collect."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

import docker.errors
import requests

from porttest.config.models import Environment
from porttest.config.plan import Cell
from porttest.engine.connect import short_reason
from porttest.engine.platforms import cannot_execute, check_platform, emulated
from porttest.engine.protocol import EngineHandle
from porttest.engine.runtimes import check_runtime
from porttest.errors import ContainerError, PorttestError
from porttest.results.model import EnvironmentResult
from porttest.run.child import check_child, run_child
from porttest.run.context import RunContext
from porttest.run.progress import Progress
from porttest.run.services import EnvironmentServices, remove_services

log = logging.getLogger("porttest")


def run_cell(cell: Cell, ctx: RunContext) -> EnvironmentResult:
    """One environment from connect to teardown; any expected failure becomes this environment's error."""
    env = cell.environment
    began = time.monotonic()
    phase = "connect"
    engine: EngineHandle | None = None
    engines = ctx.engines
    fields: dict[str, object] = {"name": env.name, "run": _recorded_run(env), "origins": dict(env.origins),
                                 "files": tuple(sorted(env.files))}  # by path: their text may be a credential
    # The image's own platform is what runs; a run.platform that differs is refused at create, as a mismatch.
    platform = fields["platform"] = ctx.image.platform or env.run.platform
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
        engine = engines.connect(env.engine)
        fields["engine"] = {"endpoint": engine.endpoint, **engine.info.public()}
        check_runtime(engine.info, engine.endpoint, env.run.runtime)  # before shipping anything
        check_platform(engine.info, engine.endpoint, platform)  # another CPU: emulation, where it can be seen
        enter("ship", env.push_to or env.ship_mode)
        shipped = ctx.shipper.ship(engine, env.ship_mode, env.push_to)
        fields["ship"] = shipped
        services = EnvironmentServices(env, ctx, engine)
        services.ship()
        fields["services"] = services.records
        services.open_network()
        if any(not s.share_network for s in env.services.values()):
            enter("services", ", ".join(env.services))
            services.start(sidecars=False)
        enter("start")
        started = engines.create(engine, env, ctx.image.id, ctx.run_id, services.network)
        ctx.tracker.add_container(env.name, engine, started.id)
        fields["container"] = started.name
        runtime = engines.verify_runtime(engine, env, started)
        engines.start(engine, started)
        fields["image_id"] = engines.container_image(engine, started.id)
        services.start(sidecars=True, main=started)  # a pod's other containers join its namespace
        enter("ready", env.wait_for.kind if env.wait_for else "")
        engines.wait_ready(engine, started, env.wait_for, ctx.tracker.cancel)
        enter("tests")
        run = run_child(cell, ctx, engine, started, services.handoff())
        reported = run.report
        # The child probes through its own session; one that never got that far (or could not) leaves it to us.
        facts = fields["facts"] = engines.facts(engine, started.id, runtime, reported.probe)
        if started.toolbox:  # the image has no shell: porttest's commands ran with its toolbox
            facts["toolbox"] = started.toolbox
        if facts.get("arch"):  # `uname -m` inside against the engine's own: another CPU ran under emulation
            facts["emulated"] = emulated(facts["arch"], engine.info.arch)
        if env.services:  # each service's image and settings: a service that differs explains a divergence
            facts["services"] = services.facts()
        if reported.facts:
            facts["custom"] = reported.facts
        check_child(run, env, ctx)
        tests = reported.tests
        notes.extend(reported.notes)
        state = engines.exit_state(engine, started.id)
        if state is not None:
            raise ContainerError(f"the container stopped during the suites: {state.describe()}",
                                 hint="see the exit reason above; the tests' own results are not trusted after this")
        services.check()
        fields["tests"] = tests
        status = "ok"
    except PorttestError as caught:
        status = "error"
        exc = caught if engine is None else cannot_execute(caught, platform, engine.info, engine.endpoint)
        fields.update(error=exc.message, hint=exc.hint, phase=phase)
    except (docker.errors.DockerException, requests.RequestException) as exc:
        status = "error"
        where = engine.endpoint if engine is not None else (env.engine.host or "the local engine")
        fields.update(error=f"the engine {where} failed during {phase}: {short_reason(exc)}", phase=phase,
                      hint="the engine stopped answering or refused a request; check that it is up")
    except Exception as exc:  # a bug: keep the traceback, but let the other environments finish
        log.exception("internal error in environment %s during %s", env.name, phase)
        status = "error"
        fields.update(error=f"internal error during {phase}: {type(exc).__name__}: {exc}", phase=phase,
                      hint="this is a porttest bug; please report it with the traceback above", internal=True)
    finally:
        ctx.on_progress(Progress(env.name, "teardown"))
        _injected_delay("teardown", threading.Event())
        owned = ctx.tracker.drop_container(env.name)
        if owned is not None:
            try:
                engines.remove(*owned)
            except Exception as exc:  # noqa: BLE001
                notes.append(f"container {owned[1][:12]} could not be removed: {exc}")
        remove_services(ctx, env.name, notes)  # after the tested container: a sidecar lives in its namespace
        if engine is not None:
            engine.close()
    result = EnvironmentResult(status=status, duration=round(time.monotonic() - began, 3), notes=tuple(notes),
                               **fields)  # type: ignore[arg-type]
    ctx.on_progress(Progress(env.name, "done" if status == "ok" else "error", result.error or ""))
    return result


def _recorded_run(env: Environment) -> dict[str, object]:
    """The effective run options as the results keep them: environment variables by name only, as the facts keep
    them (their values may be credentials that no secret rule names)."""
    run: dict[str, object] = env.run.model_dump(mode="json", exclude_none=True)
    variables = run.get("environment")
    if isinstance(variables, dict):
        run["environment"] = sorted(variables)
    elif isinstance(variables, list):
        run["environment"] = sorted(str(item).split("=", 1)[0] for item in variables)
    return run


def _injected_delay(phase: str, cancel: threading.Event) -> None:
    """Fault injection for porttest's own tests: PORTTEST_FAULT_DELAY="start=2,teardown=2" holds a phase open."""
    delays = os.environ.get("PORTTEST_FAULT_DELAY")
    if not delays:
        return
    for item in delays.split(","):
        name, _, seconds = item.partition("=")
        if name.strip() == phase:
            with contextlib.suppress(ValueError):
                cancel.wait(float(seconds))
