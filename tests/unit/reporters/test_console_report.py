"""porttest.reporters.console: plain-text rendering of a RunResult (no engine, no terminal)."""

from __future__ import annotations

import re

import pytest

from porttest.reporters.console import render
from porttest.results.model import EnvironmentResult, ImageIdentity, RunResult, ShipRecord, TestRecord, assemble

IMAGE_ID = "sha256:" + "0123456789ab" + "c" * 52
IMAGE = ImageIdentity(ref="shop/api:1.4.2", id=IMAGE_ID, digest="sha256:" + "d" * 64)
ANSI = re.compile(r"\x1b\[")


def ok(name: str, *tests: tuple[str, ...], **extra: object) -> EnvironmentResult:
    records = tuple(TestRecord(id=t[0], outcome=t[1], message=t[2] if len(t) > 2 else None) for t in tests)
    return EnvironmentResult(name=name, status="ok", image_id=IMAGE_ID, tests=records, **extra)


def build(*environments: EnvironmentResult, **extra: object) -> RunResult:
    return assemble(IMAGE, {e.name: e for e in environments}, **extra)


def line_with(text: str, needle: str) -> str:
    lines = [line for line in text.splitlines() if needle in line]
    assert lines, f"{needle!r} not in:\n{text}"
    return lines[0]


@pytest.fixture
def diverged() -> RunResult:
    return build(
        ok("local", ("suite/test_os.py::test_same", "passed"), ("suite/test_os.py::test_rootfs", "passed"),
           engine={"kind": "docker", "version": "24.0.7"}, ship=ShipRecord(mode="present"), duration=2.0),
        ok("staging", ("suite/test_os.py::test_same", "passed"),
           ("suite/test_os.py::test_rootfs", "failed", "OSError: [Errno 30]\n   Read-only file system: '/x'")),
        run_id="run-42",
    )


def test_no_colour_means_no_escapes(diverged: RunResult) -> None:
    text = render(diverged, color=False)
    assert not ANSI.search(text)
    assert text.strip()


def test_colour_means_escapes(diverged: RunResult) -> None:
    assert ANSI.search(render(diverged, color=True))


def test_default_is_without_colour(diverged: RunResult) -> None:
    assert not ANSI.search(render(diverged))


def test_pass_fail_markers_and_divergence_marker(diverged: RunResult) -> None:
    text = render(diverged)
    same = line_with(text, "test_same")
    assert same.split()[-2:] == ["PASS", "PASS"]
    assert "!=" not in same
    rootfs = line_with(text, "test_os.py::test_rootfs")  # the matrix row comes first
    assert rootfs.lstrip().startswith("!=")
    assert rootfs.split()[-2:] == ["PASS", "FAIL"]


def test_matrix_columns_are_the_environments(diverged: RunResult) -> None:
    header = line_with(render(diverged), "test ")
    assert header.split()[-2:] == ["local", "staging"]


def test_divergent_environment_message_is_shown_on_one_line(diverged: RunResult) -> None:
    text = render(diverged)
    assert "Divergences" in text
    assert "  != suite/test_os.py::test_rootfs" in text
    assert "staging: failed: OSError: [Errno 30] Read-only file system: '/x'" in text
    assert "local: passed" in text


def test_verdict_line_diverged(diverged: RunResult) -> None:
    last = render(diverged).rstrip("\n").splitlines()[-1]
    assert last.startswith("verdict: DIVERGED")
    assert "(1 of 2 tests differ)" in last
    assert last.endswith("[exit 3]")


def test_header_shows_image_identity(diverged: RunResult) -> None:
    first = render(diverged, width=200).splitlines()[0]
    assert "shop/api:1.4.2" in first
    assert "0123456789ab" in first and IMAGE_ID not in first  # short id
    assert "sha256:" + "d" * 64 in first
    assert "run-42" in first


def test_environment_table(diverged: RunResult) -> None:
    text = render(diverged)
    local = line_with(text, "local ")
    assert "docker 24.0.7" in local and "present" in local and "2/2 passed" in local and "2.0s" in local
    assert "1/2 passed" in line_with(text, "staging ")


def test_parity_verdict() -> None:
    text = render(build(ok("a", ("t::x", "passed")), ok("b", ("t::x", "passed"))))
    last = text.rstrip("\n").splitlines()[-1]
    assert last.startswith("verdict: PARITY") and last.endswith("[exit 0]")
    assert "(1 tests x 2 environments)" in last
    assert "Divergences" not in text and "!=" not in text


def test_failed_verdict_lists_the_common_failures() -> None:
    text = render(build(ok("a", ("t::x", "failed", "assert 0")), ok("b", ("t::x", "failed", "assert 0"))))
    assert "Failures (the same in every environment)" in text
    assert "x  t::x: assert 0" in text
    assert text.rstrip("\n").splitlines()[-1].endswith("[exit 1]")
    assert "!=" not in text


def test_environment_error_with_hint() -> None:
    broken = EnvironmentResult(name="cloud", status="error", phase="connect",
                               error="cannot reach tcp://h:2376", hint="check engine.host and the certificates")
    text = render(build(ok("local", ("t::x", "passed")), broken))
    assert "cloud: error during connect: cannot reach tcp://h:2376" in text
    assert "cloud: hint: check engine.host and the certificates" in text
    assert "ERROR" in line_with(text, "cloud ")
    header = line_with(text, "test ")
    assert "cloud" not in header  # no column for an environment that did not run
    last = text.rstrip("\n").splitlines()[-1]
    assert last.startswith("verdict: ERROR") and "(cloud)" in last and last.endswith("[exit 4]")


def test_environment_error_without_hint_prints_no_hint_line() -> None:
    broken = EnvironmentResult(name="cloud", status="error", error="boom")
    text = render(build(broken))
    assert "cloud: error during ?: boom" in text
    assert "hint" not in text


def test_missing_and_skipped_labels() -> None:
    text = render(build(ok("a", ("t::x", "skipped", "why"), ("t::only_a", "xfailed")), ok("b", ("t::x", "skipped"))))
    assert line_with(text, "t::x ").split()[-2:] == ["SKIP", "SKIP"]
    assert line_with(text, "t::only_a").split()[-2:] == ["XFAIL", "-"]


def test_warnings_and_interrupted() -> None:
    text = render(build(ok("a", ("t", "passed")), warnings=("cloud: WITHOUT TLS",), interrupted=True))
    assert "warning: cloud: WITHOUT TLS" in text
    assert "verdict: INTERRUPTED; PARITY" in text


def test_long_message_is_shortened() -> None:
    text = render(build(ok("a", ("t", "passed")), ok("b", ("t", "failed", "x" * 500))), width=400)
    line = line_with(text, "b: failed:")
    assert line.endswith("...")
    assert len(line.split("b: failed: ", 1)[1]) == 200


def test_long_test_id_folds_under_its_column_and_keeps_its_outcomes_on_the_first_line() -> None:
    long_id = "suite/test_paths.py::test_" + "deep_" * 30 + "path"
    text = render(build(ok("local", (long_id, "passed"), ("t::short", "passed")),
                        ok("staging", (long_id, "failed", "no"), ("t::short", "passed"))), width=80)
    first = line_with(text, "suite/test_paths.py")
    assert first.startswith("!=   suite/test_paths.py") and first.split()[-2:] == ["PASS", "FAIL"]
    assert len(first) <= 80
    lines = text.splitlines()
    at, short = lines.index(first), lines.index(line_with(text, "t::short"))
    folded = lines[at + 1:short]
    assert folded and all(line.startswith("     ") and len(line) <= 80 for line in folded)
    assert first.split()[1] + "".join(line.strip() for line in folded) == long_id
    assert line_with(text, "t::short").split()[-2:] == ["PASS", "PASS"]


def test_grid_header_names_every_environment_over_its_column() -> None:
    text = render(build(ok("a-very-long-environment-name", ("t::x", "passed")), ok("b", ("t::x", "xpassed"))))
    header, row = line_with(text, "     test "), line_with(text, "t::x")
    assert header.index("a-very-long-environment-name") == row.index("PASS")
    assert header.index(" b") + 1 == row.index("XPASS")


def test_environment_columns_wider_than_the_console_stay_on_their_row() -> None:
    names = [f"alpine-3-20-docker{i}" for i in range(3)]
    text = render(build(*(ok(name, ("suite/test_long_name.py::test_something_long", "passed"), ("t::x", "passed"))
                          for name in names)), width=80)
    header = line_with(text, "     test ")
    assert header.split()[1:] == names  # one line, however wide
    row = line_with(text, "t::x")
    assert row.split()[1:] == ["PASS"] * 3
    folded = line_with(text, "suite/test_l")
    assert folded.split()[-3:] == ["PASS"] * 3 and len(folded.split()[0]) == 12  # the narrowest test column
