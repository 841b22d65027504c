"""The pytest child's records file (JSON lines): what the child writes and how the parent reads it back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.results import TestRecord


@dataclass(frozen=True)
class ProbeOutput:
    """What the built-in facts probe printed in the container (run by the child before the first test), or why
    it could not run."""

    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None


@dataclass(frozen=True)
class ChildRecords:
    """Everything one child reported: the collected count, the tests, notes and the suite's own facts."""

    collected: int | None = None
    tests: tuple[TestRecord, ...] = ()
    notes: tuple[str, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)
    stopped: str | None = None  # why the suite stopped itself early (maxfail, -x), when it did
    probe: ProbeOutput | None = None


def parse_records(text: str) -> ChildRecords:
    """PURE: one pass over the lines; a line still being written (or broken) is skipped."""
    collected = None
    tests: dict[str, TestRecord] = {}
    notes: dict[str, None] = {}
    facts: dict[str, Any] = {}
    stopped: str | None = None
    probe: ProbeOutput | None = None
    for line in text.splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        kind = data.get("kind") if isinstance(data, dict) else None
        if kind == "collected":
            collected = int(data["count"])
        elif kind == "test":
            tests[data["id"]] = TestRecord.model_validate(data)
        elif kind == "note":
            notes.setdefault(str(data.get("text")), None)
        elif kind == "fact" and "key" in data:
            facts[str(data["key"])] = data.get("value")
        elif kind == "stopped":
            stopped = str(data.get("reason") or "stopped")
        elif kind == "probe":
            rc = data.get("rc")
            probe = ProbeOutput(rc if isinstance(rc, int) else None, str(data.get("stdout") or ""),
                                str(data.get("stderr") or ""), data.get("error") and str(data["error"]))
    return ChildRecords(collected, tuple(tests.values()), tuple(notes), facts, stopped, probe)


def read_records(path: Path) -> ChildRecords:
    try:
        return parse_records(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ChildRecords()


class ProgressCounter:
    """Counts finished tests incrementally while the child runs (only new bytes are read, nothing is validated)."""

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
            if line.startswith(b'{"kind": "collected"'):
                self.collected = int(json.loads(line)["count"])
            elif line.startswith(b'{"kind": "test"'):
                self.finished += 1
        return self.collected, self.finished
