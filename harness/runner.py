"""Run every cell in parallel: connect -> ship -> start -> ready -> pytest child -> collect; teardown always."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import requests

from harness import container as containers
from harness.child_launcher import Child, Launcher
from harness.child_spec import ChildSpec
from harness.config import Environment
from harness.engines import Engine, connect, handoff, short_reason
from harness.errors import ContainerError, Interrupted, PorttestError, SuiteError
from harness.facts import PROBE, parse_facts
from harness.image import ResolvedImage
from harness.plan import Cell, Plan
from harness.progress import OnProgress, Progress
from harness.records import ChildRecords, ProbeOutput, ProgressCounter, read_records
from harness.results import EnvironmentResult
from harness.runtimes import check_runtime
from harness.session import ExecSession
from harness.shipping import Shipper

log = logging.getLogger("porttest")

PHASES = ("connect", "ship", "start", "ready", "tests", "teardown")
CHILD_LOG_TAIL = 30




@dataclass
class Tracker:
    """Everything a run started that must be undone: containers on engines and pytest children."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    containers: dict[str, tuple[Engine, str]] = field(default_factory=dict)
    children: dict[str, Child] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    force: threading.Event = field(default_factory=threading.Event)

    def add_container(self, env: str, engine: Engine, container_id: str) -> None:
        with self.lock:
            self.containers[env] = (engine, container_id)

    def drop_container(self, env: str) -> tuple[Engine, str] | None:
        with self.lock:
            return self.containers.pop(env, None)

    def add_child(self, env: str, proc: Child) -> None:
        with self.lock:
            self.children[env] = proc

    def drop_child(self, env: str) -> None:
        with self.lock:
            self.children.pop(env, None)

    def abort(self) -> None:
        """Cancel: stop our own children by PID, then force-remove our containers (any thread may call this)."""
        self.cancel.set()
        with self.lock:
            children = list(self.children.values())
            owned = list(self.containers.items())
        for proc in children:
            _kill_group(proc)
        for env, (engine, cid) in owned:
            try:
                containers.remove(engine, cid)
            except Exception as exc:  # noqa: BLE001 - keep removing the others
                log.warning("could not remove container %s of %s: %s", cid[:12], env, exc)
            self.drop_container(env)


_ACTIVE: list[Tracker] = []


def force_quit() -> None:
    """A second Ctrl-C: stop waiting for environments that are still winding down (safe in a signal handler)."""
    for tracker in list(_ACTIVE):
        tracker.force.set()


@dataclass(frozen=True)
class RunContext:
    """What every cell shares: the run, the image, the local engine, and where to put files."""

    run_id: str
    image: ResolvedImage
    shipper: Shipper
    launcher: Launcher
    workdir: Path
    base_dir: Path
    tracker: Tracker
    on_progress: OnProgress
    keep_workdir: bool = False


def run_cells(plan: Plan, ctx: RunContext, jobs: int | None = None) -> tuple[dict[str, EnvironmentResult],
                                                                            Interrupted | None]:
    """Run the cells in parallel, at most `jobs` at once (all when None); on Ctrl-C/SIGTERM abort (children stopped,
    containers removed, cells not started never start), return what finished."""
    results: dict[str, EnvironmentResult] = {}
    interrupted: Interrupted | None = None
    workers = max(1, min(len(plan.cells), jobs or len(plan.cells)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="porttest-env")
    futures: dict[Future[EnvironmentResult], Cell] = {}
    pending: set[Future[EnvironmentResult]] = set()
    _ACTIVE.append(ctx.tracker)
    try:
        for cell in plan.cells:
            future = pool.submit(run_cell, cell, ctx)
            futures[future] = cell
            pending.add(future)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                results[futures[future].id] = future.result()
    except Interrupted as signal_:
        interrupted = signal_
        ctx.tracker.abort()
        pending = {future for future in pending if not future.cancel()}  # queued cells (--jobs) never start
        # Environments wind down on their own (each removes its container); a second signal stops the waiting.
        while pending and not ctx.tracker.force.is_set():
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        ctx.tracker.abort()  # anything registered while winding down
    finally:
        _ACTIVE.remove(ctx.tracker)
        pool.shutdown(wait=not ctx.tracker.force.is_set(), cancel_futures=True)
    if interrupted is not None:
        for future, cell in futures.items():
            if cell.id not in results and future.done() and not future.cancelled():
                finished = future.result()
                results[cell.id] = finished.model_copy(update={"status": "error", "phase": "interrupted",
                                                               "error": f"interrupted by {interrupted.signal_name}"})
    return {cell.id: results[cell.id] for cell in plan.cells if cell.id in results}, interrupted


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
        run = _run_child(cell, ctx, engine, started)
        reported = run.records
        # The child probes through its own session; one that never got that far (or could not) leaves it to us.
        facts = record["facts"] = (facts_from(reported.probe, engine, runtime)
                                   if reported.probe is not None and reported.probe.error is None
                                   else probe_facts(engine, started.id, runtime))
        if reported.facts:
            facts["custom"] = reported.facts
        _check_child(run, env, ctx)
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


def _kill_group(proc: Child) -> None:
    """Stop a running pytest child and anything it started (it leads its own process group), by its PID. A child
    that has ended had its group killed before it was reaped (fork server, PlainChild), while the ID was still its."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


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


@dataclass(frozen=True)
class ChildRun:
    """A finished pytest child: its exit code (None: killed at the environment's timeout), records and log."""

    rc: int | None
    records: ChildRecords
    log: Path


def _run_child(cell: Cell, ctx: RunContext, engine: Engine, started: containers.Started) -> ChildRun:
    env = cell.environment
    records = ctx.workdir / f"{env.name}.records.jsonl"
    spec_path = ctx.workdir / f"{env.name}.child.json"
    ini = ctx.workdir / f"{env.name}.pytest.ini"  # one per child: threads never rewrite a file a child reads
    ini.write_text("[pytest]\n", encoding="utf-8")
    ChildSpec(
        environment=env.name, engine=handoff(engine), container_id=started.id,
        container_name=started.name, image_id=ctx.image.id,
        profile=env.model_dump(mode="json", exclude={"name"}), records=str(records), run_id=ctx.run_id,
    ).write(spec_path)
    args = [
        *map(str, cell.suites),
        "-p", "harness.pytest_plugin", "--porttest-child", str(spec_path),
        "-p", "no:testinfra", "-p", "no:cacheprovider",
        "--rootdir", str(ctx.base_dir), "-c", str(ini),
        "--continue-on-collection-errors", "-q", "--color=no", "-rN", "--tb=short",
    ]
    log_path = ctx.workdir / f"{env.name}.pytest.log"
    proc = ctx.launcher.start(args, ctx.base_dir, log_path)
    ctx.tracker.add_child(env.name, proc)
    try:
        rc = _follow(proc, records, env.name, env.timeout, ctx)
    finally:
        _kill_group(proc)
        proc.wait()
        ctx.tracker.drop_child(env.name)
    if ctx.tracker.cancel.is_set():
        raise ContainerError("cancelled during the suites")
    return ChildRun(rc, read_records(records), log_path)


def _check_child(run: ChildRun, env: Environment, ctx: RunContext) -> None:
    """Raise the environment's error when the child's run cannot be trusted as the suites' results."""
    reported, rc = run.records, run.rc
    if rc is None:
        raise SuiteError(f"the suites did not finish within {env.timeout:g}s",
                         hint="raise the environment's `timeout`, or look for a hanging command")
    if rc not in (0, 1, 5):
        raise SuiteError(f"pytest ended with exit code {rc}:{_tail(run.log)}",
                         hint=f"the whole log is in {run.log}" if ctx.keep_workdir else
                         "run with --keep-workdir to keep the whole pytest log")
    early = "a test or conftest called pytest.exit() or os._exit(), or pytest crashed"
    if not reported.tests and not reported.collected:
        raise SuiteError("the suites collected no tests", hint="check the suite paths and file names (test_*.py)")
    if not reported.tests:
        raise SuiteError(f"the suites ended before their first test finished (pytest exit code {rc})", hint=early)
    finished = sum(1 for test in reported.tests if "::" in test.id)  # collection errors name a module, not a test
    if reported.collected is not None and finished < reported.collected and reported.stopped is None:
        raise SuiteError(f"the suites ended early: {finished} of {reported.collected} collected tests finished "
                         f"(pytest exit code {rc})",
                         hint=f"{early}; --keep-workdir keeps the pytest log")


def _follow(proc: Child, records: Path, env: str, timeout: float, ctx: RunContext) -> int | None:
    """Wait for the child, reporting `tests n/N` as records arrive; past the environment's timeout, kill it and
    return None."""
    deadline = time.monotonic() + timeout
    progress = ProgressCounter(records)
    seen = -1
    while True:
        rc = proc.poll()
        collected, finished = progress.read()
        if collected is not None and finished != seen:
            seen = finished
            ctx.on_progress(Progress(env, "tests", f"{seen}/{collected}"))
        if rc is not None:
            return rc
        if time.monotonic() > deadline:
            _kill_group(proc)
            return None
        if ctx.tracker.cancel.is_set():
            _kill_group(proc)
            return proc.wait()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0.1)  # returns as soon as the child ends; a cancel is seen within 0.1 s


def probe_facts(engine: Engine, container_id: str, runtime: str) -> dict[str, Any]:
    """Run the built-in probe in the container as one exec of its own (when the child could not) and parse it."""
    try:
        result = ExecSession(engine.client.api, container_id).run(PROBE)
    except Exception as exc:  # noqa: BLE001 - facts are evidence, never a reason to fail the environment
        return facts_from(ProbeOutput(error=f"{type(exc).__name__}: {exc}"), engine, runtime)
    return facts_from(ProbeOutput(result.rc, result.stdout.decode("utf-8", "replace"),
                                  result.stderr.decode("utf-8", "replace")), engine, runtime)


def facts_from(probe: ProbeOutput, engine: Engine, runtime: str) -> dict[str, Any]:
    """The facts of what the probe printed, with the runtime the engine reports for the container."""
    if probe.error is not None:
        return {"probe_error": probe.error, "runtime": {"name": runtime}}
    facts = parse_facts(probe.stdout)
    facts["runtime"]["name"] = runtime or engine.info.default_runtime
    if probe.rc != 0 and not probe.stdout:
        facts["probe_error"] = probe.stderr[:300]
    return facts


def _tail(path: Path, lines: int = CHILD_LOG_TAIL) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return containers.quote_log(text, heading="", lines=lines)
