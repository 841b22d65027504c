"""The child's records as the parent reads them back: the probe's output, or why it could not run."""

from __future__ import annotations

import json

from harness.records import ProbeOutput, parse_records


def test_probe_output_and_probe_error_are_read_back() -> None:
    ran = json.dumps({"kind": "probe", "rc": 0, "stdout": "id=uid=0(root)\n", "stderr": ""})
    assert parse_records(ran + "\n").probe == ProbeOutput(0, "id=uid=0(root)\n", "", None)
    failed = json.dumps({"kind": "probe", "error": "ConnectionError: lost"})
    assert parse_records(failed + "\n").probe == ProbeOutput(None, "", "", "ConnectionError: lost")


def test_no_probe_record_means_the_child_never_probed() -> None:
    assert parse_records('{"kind": "collected", "count": 1}\n{"kind": "probe", "rc": 0, "std').probe is None
