"""The wire between porttest and its pytest child: what the writer writes, the parent reads back whole."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from porttest.child.wire import ChildBrief, MessageWriter, ProbeOutput, ProgressCounter, parse_report, read_report


def _written(write: object) -> str:
    out = io.StringIO()
    writer = MessageWriter(out)
    write(writer)  # type: ignore[operator]
    return out.getvalue()


def test_every_kind_round_trips_through_writer_and_reader() -> None:
    def write(w: MessageWriter) -> None:
        w.probe(ProbeOutput(0, "id=uid=0(root)\n", ""))
        w.collected(2)
        w.test({"id": "t.py::a", "outcome": "passed", "duration": 0.5, "message": None, "detail": None})
        w.test({"id": "t.py::b", "outcome": "failed", "duration": 0.1, "message": "assert 1 == 2", "detail": "x"})
        w.note("exec mode")
        w.note("exec mode")
        w.fact("java", {"version": "21"})
        w.stopped("maxfail")

    report = parse_report(_written(write))
    assert report.collected == 2
    assert [(t.id, t.outcome, t.message) for t in report.tests] == [("t.py::a", "passed", None),
                                                                      ("t.py::b", "failed", "assert 1 == 2")]
    assert report.notes == ("exec mode",)
    assert report.facts == {"java": {"version": "21"}}
    assert report.stopped == "maxfail"
    assert report.probe == ProbeOutput(0, "id=uid=0(root)\n", "", None)


def test_a_probe_error_is_read_back() -> None:
    report = parse_report(_written(lambda w: w.probe(ProbeOutput(error="ConnectionError: lost"))))
    assert report.probe == ProbeOutput(None, "", "", "ConnectionError: lost")


def test_no_probe_message_means_the_child_never_probed() -> None:
    assert parse_report('{"kind": "collected", "count": 1}\n{"kind": "probe", "rc": 0, "std').probe is None


def test_reading_does_not_depend_on_key_order(tmp_path: Path) -> None:
    lines = [json.dumps({"count": 3, "kind": "collected"}),
             json.dumps({"outcome": "passed", "id": "t.py::a", "kind": "test", "duration": 0.0})]
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert ProgressCounter(path).read() == (3, 1)
    report = read_report(path)
    assert report.collected == 3 and report.tests[0].id == "t.py::a"


def test_progress_counts_only_complete_lines_and_reads_only_new_bytes(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    counter = ProgressCounter(path)
    assert counter.read() == (None, 0)
    path.write_text(_written(lambda w: w.collected(2)) + '{"kind": "test", "id": "t.py::a", "outc', encoding="utf-8")
    assert counter.read() == (2, 0)
    with open(path, "a", encoding="utf-8") as out:
        out.write('ome": "passed"}\n' + _written(lambda w: w.test({"id": "t.py::b", "outcome": "skipped"})))
    assert counter.read() == (2, 2)


def test_the_writer_refuses_what_the_reader_would_drop() -> None:
    with pytest.raises(ValueError):
        _written(lambda w: w.test({"id": "t.py::a", "outcome": "exploded"}))
    with pytest.raises(TypeError):
        _written(lambda w: w.fact("k", object()))


def test_unknown_kinds_and_broken_lines_are_skipped() -> None:
    text = ('{"kind": "gossip"}\n[1, 2]\nnot json\n{"kind": "note", "text": "kept"}\n'
            '{"kind": "test", "outcome": "passed"}\n{"kind": "test", "id": "t.py::x", "outcome": "exploded"}\n'
            '{"kind": "test", "id": "t.py::a", "outcome": "passed"}\n')
    report = parse_report(text)
    assert report.notes == ("kept",)
    assert [t.id for t in report.tests] == ["t.py::a"]


def test_a_brief_round_trips(tmp_path: Path) -> None:
    brief = ChildBrief(environment="local", engine={"base_url": "unix:///x"}, container_id="c" * 64,
                       container_name="porttest-x", image_id="sha256:" + "1" * 64, profile={"run": {}},
                       messages=str(tmp_path / "m.jsonl"), run_id="r1")
    brief.write(tmp_path / "brief.json")
    assert ChildBrief.read(tmp_path / "brief.json") == brief
