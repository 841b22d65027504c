"""The pytest plugin of a porttest child (loaded with -p, never by entry point): the fixtures, and one message per
test to the parent."""

from __future__ import annotations

import os
import signal
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from porttest.child.fixtures import ChildFixtures
from porttest.child.wire import ChildBrief, MessageWriter

MESSAGE_LIMIT = 2000
DETAIL_LIMIT = 8000


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("porttest")
    group.addoption("--porttest-child", default=None, metavar="BRIEF",
                    help="(internal) run as porttest's child for one environment, per the BRIEF json file")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None]:
    """conftest.py files load from the suite folders and below them (a suite file's folder counts as a suite
    folder), never from above: a project's own conftest.py beside the matrix, written for its own tests and with
    its own imports, is not porttest's business."""
    known = early_config.known_args_namespace
    if getattr(known, "porttest_child", None):
        folders = suite_folders(known.file_or_dir or ())
        if folders:
            # Public: the deepest folder common to every suite. Exact where pytest still has the method: only
            # folders that are a suite folder or lie inside one.
            known.confcutdir = os.path.commonpath([str(f) for f in folders])
            manager = early_config.pluginmanager
            if hasattr(manager, "_is_in_confcutdir"):
                manager._is_in_confcutdir = lambda path: any(  # type: ignore[method-assign]
                    path == folder or folder in path.parents for folder in folders)
    return (yield)


def suite_folders(args: Iterable[str]) -> list[Path]:
    """The folders whose conftest.py files a suite may use: each suite folder, and each suite file's folder
    (a `FILE::TEST` node id counts as its file)."""
    out = []
    for arg in args:
        path = Path(os.path.abspath(arg.split("::", 1)[0]))
        out.append(path if path.is_dir() else path.parent)
    return out


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("porttest_child", None)
    if path:
        child = _Child(ChildBrief.read(path))
        config.pluginmanager.register(child, "porttest-child")
        config.pluginmanager.register(child.fixtures, "porttest-fixtures")


class _Child:
    """Registered only in a porttest child, so plain pytest runs never see these fixtures."""

    def __init__(self, brief: ChildBrief) -> None:
        self.brief = brief
        self.out: IO[str] = open(brief.messages, "a", encoding="utf-8")  # noqa: SIM115 - closed at unconfigure
        self.writer = MessageWriter(self.out)
        self.fixtures = ChildFixtures(brief, self.writer)
        self.pending: dict[str, dict[str, Any]] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        limit = self.brief.profile.get("test_timeout")
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
        self.fixtures.run_probe()  # before collection and the first test: the container as it started

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.writer.collected(len(session.items))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.writer.test({"id": report.nodeid, "outcome": "error", "duration": 0.0,
                              "message": _short(report) or "collection failed", "detail": _detail(report)})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        rec = self.pending.setdefault(report.nodeid, {"id": report.nodeid, "outcome": "passed",
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
            self.writer.test(self.pending.pop(report.nodeid))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        stop = session.shouldstop or session.shouldfail
        if stop:  # the suite stopped itself (maxfail, -x, a plugin): tests left unrun are its own choice
            self.writer.stopped(str(stop))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        for rec in self.pending.values():
            # Never reached its teardown: the session ended inside it (pytest.exit, a KeyboardInterrupt).
            if rec["outcome"] == "passed":
                rec["outcome"] = "error"
                rec["message"] = "the pytest session ended inside this test (pytest.exit?) before it finished"
            self.writer.test(rec)
        self.fixtures.close()
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
