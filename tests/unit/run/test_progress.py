"""Progress events: the plain live display, and what happens when the display's stream or callback fails."""

from __future__ import annotations

import io

import pytest

from porttest.cli.live import LiveStatus
from porttest.run.progress import Progress, guarded


class ClosedPipe(io.StringIO):
    """A stream whose reader went away, as stderr is under `porttest run ... 2>&1 | head -1` after one line."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        raise BrokenPipeError(32, "Broken pipe")


def test_plain_display_writes_one_line_per_phase_change() -> None:
    out = io.StringIO()
    with LiveStatus(("a", "b"), stream=out, color=False) as live:
        live(Progress("a", "start"))
        live(Progress("a", "tests", "1/3"))
        live(Progress("a", "tests", "2/3"))  # same phase: no new line
        live(Progress("b", "error", "engine gone\nsecond line"))
    lines = out.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "porttest: [a] start", "porttest: [a] tests 1/3", "porttest: [b] error engine gone"]


def test_a_closed_stream_stops_the_display_without_raising() -> None:
    stream = ClosedPipe()
    with LiveStatus(("a",), stream=stream, color=False) as live:
        live(Progress("a", "start"))
        live(Progress("a", "tests"))
        live(Progress("a", "done"))
    assert live.gone and stream.writes == 1  # tried once, then left alone
    assert live.state["a"] == ("done", "")  # the state still follows the run


def test_a_failing_callback_is_dropped_after_its_first_failure(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    def display(event: Progress) -> None:
        calls.append(event.phase)
        raise BrokenPipeError(32, "Broken pipe")

    notify = guarded(display)
    notify(Progress("a", "start"))
    notify(Progress("a", "teardown"))  # never raises: the environment's clean-up comes after this call
    assert calls == ["start"]
    assert "progress display stopped: BrokenPipeError" in caplog.text

