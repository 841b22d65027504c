"""The one channel between porttest and a pytest child: the brief the parent writes, the messages the child writes.

The brief is one JSON file (which engine, which container, which profile). The child answers with a JSON-lines
file of messages, each an object with a `kind`: collected, test, note, fact, stopped, probe. Writing and reading
both live here; a reader never depends on the order of keys, and skips a line still being written.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from porttest.engine.probe import ProbeOutput
from porttest.results.model import TestRecord

COLLECTED, TEST, NOTE, FACT, STOPPED, PROBE = "collected", "test", "note", "fact", "stopped", "probe"
KINDS = frozenset({COLLECTED, TEST, NOTE, FACT, STOPPED, PROBE})


@dataclass(frozen=True)
class ChildBrief:
    """What the parent tells a pytest child, in a JSON file whose path the child gets as --porttest-child."""

    environment: str
    engine: dict[str, Any]
    container_id: str
    container_name: str
    image_id: str
    profile: dict[str, Any]
    messages: str  # the path of the JSON-lines file the child writes
    run_id: str
    shell: dict[str, Any] = field(default_factory=dict)  # Shell.to_json(): the toolbox's, for a shell-less image
    services: dict[str, Any] = field(default_factory=dict)  # name -> container_id, container_name, address, ...

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def read(cls, path: str | Path) -> ChildBrief:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


@dataclass(frozen=True)
class ChildReport:
    """Everything one child said: the collected count, the tests, notes and the suite's own facts."""

    collected: int | None = None
    tests: tuple[TestRecord, ...] = ()
    notes: tuple[str, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)
    stopped: str | None = None  # why the suite stopped itself early (maxfail, -x), when it did
    probe: ProbeOutput | None = None


class MessageWriter:
    """The child's side: one JSON object per line, flushed at once so that the parent sees progress live."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def _write(self, kind: str, **body: Any) -> None:
        self.out.write(json.dumps({"kind": kind, **body}) + "\n")
        self.out.flush()

    def collected(self, count: int) -> None:
        self._write(COLLECTED, count=count)

    def test(self, test: dict[str, Any]) -> None:
        """A finished test (id, outcome, duration, message, detail), validated as the parent will read it."""
        self._write(TEST, **TestRecord.model_validate(test).model_dump(mode="json"))

    def note(self, text: str) -> None:
        self._write(NOTE, text=text)

    def fact(self, key: str, value: Any) -> None:
        json.dumps(value)  # must be JSON-ready: fail in the test that recorded it, not later
        self._write(FACT, key=str(key), value=value)

    def stopped(self, reason: str) -> None:
        self._write(STOPPED, reason=reason)

    def probe(self, probe: ProbeOutput) -> None:
        if probe.error is not None:
            self._write(PROBE, error=probe.error)
        else:
            self._write(PROBE, rc=probe.rc, stdout=probe.stdout, stderr=probe.stderr)


def parse_message(line: str | bytes) -> dict[str, Any] | None:
    """One line as a message, or None for a line still being written, a broken one or an unknown kind."""
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("kind") not in KINDS:
        return None
    return data


def parse_report(text: str) -> ChildReport:
    """PURE: one pass over the lines; the last message of a kind wins, except tests (by id) and notes (deduped)."""
    collected = None
    tests: dict[str, TestRecord] = {}
    notes: dict[str, None] = {}
    facts: dict[str, Any] = {}
    stopped: str | None = None
    probe: ProbeOutput | None = None
    for line in text.splitlines():
        data = parse_message(line)
        if data is None:
            continue
        kind = data["kind"]
        if kind == COLLECTED:
            collected = int(data["count"])
        elif kind == TEST:
            try:
                record = TestRecord.model_validate({k: v for k, v in data.items() if k != "kind"})
            except ValidationError:
                continue  # not written by MessageWriter, which validates: nothing to trust in it
            tests[record.id] = record
        elif kind == NOTE:
            notes.setdefault(str(data.get("text")), None)
        elif kind == FACT and "key" in data:
            facts[str(data["key"])] = data.get("value")
        elif kind == STOPPED:
            stopped = str(data.get("reason") or "stopped")
        elif kind == PROBE:
            rc = data.get("rc")
            probe = ProbeOutput(rc if isinstance(rc, int) else None, str(data.get("stdout") or ""),
                                str(data.get("stderr") or ""), data.get("error") and str(data["error"]))
    return ChildReport(collected, tuple(tests.values()), tuple(notes), facts, stopped, probe)


def read_report(path: Path) -> ChildReport:
    try:
        return parse_report(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ChildReport()


class ProgressCounter:
    """Counts finished tests while the child runs: only new, complete lines are read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.collected: int | None = None
        self.finished = 0

    def read(self) -> tuple[int | None, int]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return None, 0
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.splitlines():
            # A cheap look before parsing: a test message's `detail` may be long, and only two kinds count here.
            if b'"collected"' not in line and b'"test"' not in line:
                continue
            data = parse_message(line)
            if data is None:
                continue
            if data["kind"] == COLLECTED:
                self.collected = int(data["count"])
            elif data["kind"] == TEST:
                self.finished += 1
        return self.collected, self.finished
