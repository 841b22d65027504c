"""Run every cell (environment) of a plan in parallel; on a signal, cancel and undo what was started."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from porttest.config.plan import Cell, Plan
from porttest.errors import Interrupted
from porttest.results.model import EnvironmentResult
from porttest.run.cell import run_cell
from porttest.run.context import RunContext
from porttest.run.tracker import ACTIVE


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
    ACTIVE.append(ctx.tracker)
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
        ACTIVE.remove(ctx.tracker)
        pool.shutdown(wait=not ctx.tracker.force.is_set(), cancel_futures=True)
    if interrupted is not None:
        for future, cell in futures.items():
            if cell.id not in results and future.done() and not future.cancelled():
                finished = future.result()
                results[cell.id] = finished.model_copy(update={"status": "error", "phase": "interrupted",
                                                               "error": f"interrupted by {interrupted.signal_name}"})
    return {cell.id: results[cell.id] for cell in plan.cells if cell.id in results}, interrupted
