"""An environment's pytest child: brief it, start it, follow its progress, and judge whether its report holds."""

from __future__ import annotations

import contextlib
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from porttest.child.wire import ChildBrief, ChildReport, ProgressCounter, read_report
from porttest.config.models import Environment
from porttest.config.plan import Cell
from porttest.engine import container as containers
from porttest.engine.protocol import EngineHandle
from porttest.errors import ContainerError, SuiteError
from porttest.run.context import RunContext
from porttest.run.launcher import Child
from porttest.run.progress import Progress

CHILD_LOG_TAIL = 30


@dataclass(frozen=True)
class ChildRun:
    """A finished pytest child: its exit code (None: killed at the environment's timeout), report and log."""

    rc: int | None
    report: ChildReport
    log: Path


def run_child(cell: Cell, ctx: RunContext, engine: EngineHandle, started: containers.Started,
              services: dict[str, Any] | None = None) -> ChildRun:
    env = cell.environment
    messages = ctx.workdir / f"{env.name}.messages.jsonl"
    brief_path = ctx.workdir / f"{env.name}.child.json"
    ini = ctx.workdir / f"{env.name}.pytest.ini"  # one per child: threads never rewrite a file a child reads
    ini.write_text("[pytest]\n", encoding="utf-8")
    ChildBrief(
        environment=env.name, engine=ctx.engines.handoff(engine), container_id=started.id,
        container_name=started.name, image_id=ctx.image.id,
        profile=env.model_dump(mode="json", exclude={"name"}), messages=str(messages), run_id=ctx.run_id,
        shell=started.shell.to_json(), services=services or {},
    ).write(brief_path)
    args = [
        *map(str, cell.suites),
        "-p", "porttest.child.plugin", "--porttest-child", str(brief_path),
        "-p", "no:testinfra", "-p", "no:cacheprovider",
        "--rootdir", str(ctx.base_dir), "-c", str(ini),
        "--continue-on-collection-errors", "-q", "--color=no", "-rN", "--tb=short",
    ]
    log_path = ctx.workdir / f"{env.name}.pytest.log"
    proc = ctx.launcher.start(args, ctx.base_dir, log_path)
    ctx.tracker.add_child(env.name, proc)
    try:
        rc = _follow(proc, messages, env.name, env.timeout, ctx)
    finally:
        proc.stop()
        proc.wait()
        ctx.tracker.drop_child(env.name)
    if ctx.tracker.cancel.is_set():
        raise ContainerError("cancelled during the suites")
    return ChildRun(rc, read_report(messages), log_path)


def check_child(run: ChildRun, env: Environment, ctx: RunContext) -> None:
    """Raise the environment's error when the child's run cannot be trusted as the suites' results."""
    reported, rc = run.report, run.rc
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


def _follow(proc: Child, messages: Path, env: str, timeout: float, ctx: RunContext) -> int | None:
    """Wait for the child, reporting `tests n/N` as its messages arrive; past the environment's timeout, kill it and
    return None."""
    deadline = time.monotonic() + timeout
    progress = ProgressCounter(messages)
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
            proc.stop()
            return None
        if ctx.tracker.cancel.is_set():
            proc.stop()
            return proc.wait()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0.1)  # returns as soon as the child ends; a cancel is seen within 0.1 s


def _tail(path: Path, lines: int = CHILD_LOG_TAIL) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return containers.quote_log(text, heading="", lines=lines)
