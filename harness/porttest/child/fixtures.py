"""The child's fixtures (`host`, `environment`, `facts`) on its one brief, and the facts probe, which runs through
the same shell session before the first test. Registered as a plugin object only in a porttest child."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import pytest

from porttest.child.wire import ChildBrief, MessageWriter
from porttest.engine.probe import ProbeOutput

PROBE_TIMEOUT = 60.0


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

    def __init__(self, writer: MessageWriter) -> None:
        self._writer = writer

    def record(self, key: str, value: Any) -> None:
        self._writer.fact(key, value)


class ChildFixtures:
    """One child runs one environment: one brief, one engine client and one command runner (session or exec),
    shared by the probe and the `host` fixture, opened on first use."""

    def __init__(self, brief: ChildBrief, writer: MessageWriter) -> None:
        self.brief = brief
        self.writer = writer
        self._opened: tuple[Any, Any] | None = None

    @property
    def command_timeout(self) -> float:
        return float(self.brief.profile.get("command_timeout") or 300.0)

    def runner(self) -> Any:
        if self._opened is None:
            from porttest.engine.connect import reopen
            from porttest.engine.session import open_runner

            client = reopen(self.brief.engine, timeout=self.command_timeout + 60.0)
            try:
                runner, note = open_runner(client.api, self.brief.container_id,
                                           str(self.brief.profile.get("exec_mode") or "session"),
                                           timeout=self.command_timeout)
            except BaseException:
                client.close()
                raise
            if note:
                self.writer.note(note)
            self._opened = (client, runner)
        return self._opened[1]

    def close(self) -> None:
        """Best effort, at the end of the session: every test has run, and a connection that fails to close must
        not turn the child's exit code into pytest's internal error."""
        if self._opened is not None:
            client, runner = self._opened
            self._opened = None
            for close in (runner.close, client.close):
                with contextlib.suppress(Exception):
                    close()

    def run_probe(self) -> None:
        """The built-in facts probe, through this child's session: one exec fewer per environment than a probe of
        its own. Facts are evidence: a probe that cannot run is reported, never a reason to fail a test."""
        from porttest.results.facts import PROBE

        try:
            result = self.runner().run(PROBE, timeout=PROBE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - the parent records why and the suites run as they would
            self.writer.probe(ProbeOutput(error=f"{type(exc).__name__}: {exc}"))
            return
        self.writer.probe(ProbeOutput(result.rc, result.stdout.decode("utf-8", "replace"),
                                      result.stderr.decode("utf-8", "replace")))

    @pytest.fixture(scope="session")
    def environment(self) -> EnvironmentInfo:
        b = self.brief
        return EnvironmentInfo(b.environment, b.profile, b.image_id, b.container_id, b.container_name, b.run_id)

    @pytest.fixture(scope="session")
    def facts(self) -> FactRecorder:
        return FactRecorder(self.writer)

    @pytest.fixture(scope="session")
    def host(self) -> Any:
        import testinfra.host

        from porttest.child.backend import PorttestBackend

        return testinfra.host.Host(PorttestBackend(self.runner(), self.brief.container_name,
                                                   timeout=self.command_timeout))
