"""Live progress on stderr: a redrawn table on a terminal, one plain line per phase change in CI logs."""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any

from porttest.results.redact import redact_text

if TYPE_CHECKING:  # the engine layers load only once the run starts
    from porttest.run.progress import Progress


class LiveStatus:
    """Receives Progress events from worker threads and shows the phase of every environment."""

    def __init__(self, names: tuple[str, ...], stream: IO[str] | None = None, color: bool | None = None,
                 secrets: frozenset[str] = frozenset()) -> None:
        self.secrets = secrets
        self.stream: Any = stream or sys.stderr  # None when porttest was started with stderr closed
        self.names = names
        self.state: dict[str, tuple[str, str]] = {n: ("waiting", "") for n in names}
        self.began = {n: time.monotonic() for n in names}
        self.lock = threading.Lock()
        # Closed from the start, or under us (`| head`, a killed `tee`): progress is dropped.
        self.gone = self.stream is None
        self.tty = not self.gone and (self.stream.isatty() if color is None else color)
        self._live: Any = None

    def __enter__(self) -> LiveStatus:
        if self.tty:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._table(), console=Console(file=self.stream), refresh_per_second=8, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            try:
                self._live.update(self._table())
                self._live.__exit__(None, None, None)
            except OSError:
                self.gone = True

    def __call__(self, event: Progress) -> None:
        detail = redact_text(event.detail, self.secrets) if self.secrets else event.detail
        with self.lock:
            previous = self.state.get(event.environment, ("", ""))[0]
            self.state[event.environment] = (event.phase, detail)
            if self.gone:
                return
            try:
                if self._live is not None:
                    self._live.update(self._table())
                elif event.phase != previous or event.phase in ("done", "error"):
                    detail = f" {detail.splitlines()[0]}" if detail else ""
                    elapsed = time.monotonic() - self.began.get(event.environment, time.monotonic())
                    self.stream.write(f"porttest: [{event.environment}] {event.phase}{detail} ({elapsed:.1f}s)\n")
                    self.stream.flush()
            except OSError:
                self.gone = True

    def _table(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 2))
        for name in self.names:
            phase, detail = self.state[name]
            style = {"done": "green", "error": "red"}.get(phase, "cyan")
            elapsed = time.monotonic() - self.began[name]
            table.add_row(name, Text(phase, style=style), Text((detail.splitlines() or [""])[0][:80]),
                          f"{elapsed:.1f}s")
        return table
