"""pytest plugin for the child process: `host`, `environment` fixtures on the container, per-test records."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import pytest

from harness.child_spec import ChildSpec

MESSAGE_LIMIT = 2000
DETAIL_LIMIT = 8000


@dataclass(frozen=True)
class EnvironmentInfo:
    """The `environment` fixture: which environment this is, its profile, image and container."""

    name: str
    profile: dict[str, Any]
    image_id: str
    container_id: str
    container_name: str
    run_id: str

    @property
    def run(self) -> dict[str, Any]:
        return dict(self.profile.get("run") or {})


class FactRecorder:
    """The `facts` fixture: `facts.record("java_version", "21")` adds to environments.<name>.facts.custom."""

    def __init__(self, emit: Any) -> None:
        self._emit = emit

    def record(self, key: str, value: Any) -> None:
        json.dumps(value)  # must be JSON-ready; fail in the test that recorded it, not later
        self._emit({"kind": "fact", "key": str(key), "value": value})


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("porttest")
    group.addoption("--porttest-child", default=None, metavar="SPEC",
                    help="(internal) run as porttest's child for one environment, per SPEC json")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("porttest_child", None)
    if path:
        from harness import child_fixtures

        child = _Child(ChildSpec.read(path))
        config.pluginmanager.register(child, "porttest-child")
        child_fixtures.SPEC, child_fixtures.EMIT = child.spec, child._emit
        config.pluginmanager.register(child_fixtures, "porttest-fixtures")


class _Child:
    """Registered only in a porttest child, so plain pytest runs never see these fixtures."""

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.out: IO[str] = open(spec.records, "a", encoding="utf-8")  # noqa: SIM115 - closed at unconfigure
        self.pending: dict[str, dict[str, Any]] = {}

    def _emit(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        limit = self.spec.profile.get("test_timeout")
        if not limit:
            yield
            return

        def expire(signum: int, frame: Any) -> None:
            pytest.fail(f"test_timeout: the test took longer than {limit:g}s", pytrace=False)

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, float(limit))
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from harness import child_fixtures

        child_fixtures.run_probe()  # before collection and the first test: the container as it started

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._emit({"kind": "collected", "count": len(session.items)})

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self._emit({"kind": "test", "id": report.nodeid, "outcome": "error", "duration": 0.0,
                        "message": _short(report) or "collection failed", "detail": _detail(report)})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        rec = self.pending.setdefault(report.nodeid, {"kind": "test", "id": report.nodeid, "outcome": "passed",
                                                      "duration": 0.0, "message": None, "detail": None})
        rec["duration"] += report.duration
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if hasattr(report, "wasxfail"):
                rec["outcome"] = "xfailed" if report.skipped else "xpassed"
                rec["message"] = str(report.wasxfail) or None
            elif report.skipped:
                rec["outcome"] = "skipped"
                rec["message"] = _skip_reason(report)
            elif report.failed:
                rec["outcome"] = "failed" if report.when == "call" else "error"
                rec["message"], rec["detail"] = _short(report), _detail(report)
        elif report.when == "teardown" and report.failed and rec["outcome"] in ("passed", "skipped"):
            rec["outcome"] = "error"
            rec["message"], rec["detail"] = "teardown: " + (_short(report) or ""), _detail(report)
        if report.when == "teardown":
            self._emit(self.pending.pop(report.nodeid))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        stop = session.shouldstop or session.shouldfail
        if stop:  # the suite stopped itself (maxfail, -x, a plugin): tests left unrun are its own choice
            self._emit({"kind": "stopped", "reason": str(stop)})

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        for rec in self.pending.values():
            # Never reached its teardown: the session ended inside it (pytest.exit, a KeyboardInterrupt).
            if rec["outcome"] == "passed":
                rec["outcome"] = "error"
                rec["message"] = "the pytest session ended inside this test (pytest.exit?) before it finished"
            self._emit(rec)
        from harness import child_fixtures

        child_fixtures.close_runner()
        self.out.close()


def _short(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    """The first line of the crash message (the assertion's own text); the full report goes to `detail`."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = getattr(crash, "message", None) or report.longreprtext.strip()
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0][:MESSAGE_LIMIT] if lines else None


def _detail(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    text = report.longreprtext
    return text[-DETAIL_LIMIT:] if text else None


def _skip_reason(report: pytest.TestReport) -> str | None:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return None
