"""Progress events of a run (phase changes, test counts) and the guard that keeps a failing display harmless."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("porttest")


@dataclass(frozen=True)
class Progress:
    """A phase change (or test count) in one environment, for live display."""

    environment: str
    phase: str
    detail: str = ""


OnProgress = Callable[[Progress], None]


def guarded(on_progress: OnProgress | None) -> OnProgress:
    """Progress is for show: a callback that fails (its stream was closed) is dropped, never allowed to cost an
    environment its result or its clean-up."""
    if on_progress is None:
        return lambda _event: None
    failed = threading.Event()

    def notify(event: Progress) -> None:
        if failed.is_set():
            return
        try:
            on_progress(event)
        except Exception as exc:  # noqa: BLE001 - any failure of a display callback
            failed.set()
            log.warning("progress display stopped: %s: %s", type(exc).__name__, exc)

    return notify
