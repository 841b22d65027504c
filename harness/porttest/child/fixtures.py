"""The child's fixtures (`host`, `environment`, `facts`, `services`) on its one brief, and the facts probe, which
runs through the same shell session before the first test. Registered as a plugin object only in a porttest child."""

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


class ServiceInfo:
    """One entry of the `services` fixture: the service's container, its address on the environment's network (None
    for a sidecar, which the tests reach on localhost), and `host`, a testinfra Host inside it."""

    def __init__(self, name: str, data: dict[str, Any], fixtures: ChildFixtures) -> None:
        self.name = name
        self.container_id = str(data["container_id"])
        self.container_name = str(data["container_name"])
        self.address: str | None = data.get("address")
        self.share_network = bool(data.get("share_network"))
        self.image_id: str | None = data.get("image_id")
        self._fixtures = fixtures
        self._host: Any = None

    @property
    def host(self) -> Any:
        if self._host is None:
            import testinfra.host

            from porttest.child.backend import PorttestBackend

            runner = self._fixtures.runner_for(self.container_id)
            self._host = testinfra.host.Host(PorttestBackend(runner, self.container_name,
                                                             timeout=self._fixtures.command_timeout))
        return self._host

    def __repr__(self) -> str:
        return f"<service {self.name} {self.container_name} {self.address or 'localhost'}>"


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
        self._service_runners: dict[str, Any] = {}

    @property
    def command_timeout(self) -> float:
        return float(self.brief.profile.get("command_timeout") or 300.0)

    def runner(self) -> Any:
        if self._opened is None:
            from porttest.engine.connect import reopen
            from porttest.engine.session import Shell, open_runner

            client = reopen(self.brief.engine, timeout=self.command_timeout + 60.0)
            try:
                runner, note = open_runner(client.api, self.brief.container_id,
                                           str(self.brief.profile.get("exec_mode") or "session"),
                                           timeout=self.command_timeout, shell=Shell.from_json(self.brief.shell))
            except BaseException:
                client.close()
                raise
            if note:
                self.writer.note(note)
            self._opened = (client, runner)
        return self._opened[1]

    def runner_for(self, container_id: str) -> Any:
        """A command runner in one of the environment's service containers (their images have their own shell)."""
        from porttest.engine.session import open_runner

        if container_id not in self._service_runners:
            self.runner()  # opens the client
            assert self._opened is not None
            runner, _note = open_runner(self._opened[0].api, container_id,
                                        str(self.brief.profile.get("exec_mode") or "session"),
                                        timeout=self.command_timeout)
            self._service_runners[container_id] = runner
        return self._service_runners[container_id]

    def close(self) -> None:
        """Best effort, at the end of the session: every test has run, and a connection that fails to close must
        not turn the child's exit code into pytest's internal error."""
        for runner in self._service_runners.values():
            with contextlib.suppress(Exception):
                runner.close()
        self._service_runners.clear()
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
    def services(self) -> dict[str, ServiceInfo]:
        """The environment's services by name (empty when it has none)."""
        return {name: ServiceInfo(name, data, self) for name, data in self.brief.services.items()}

    @pytest.fixture(scope="session")
    def facts(self) -> FactRecorder:
        return FactRecorder(self.writer)

    @pytest.fixture(scope="session")
    def host(self) -> Any:
        import testinfra.host

        from porttest.child.backend import PorttestBackend

        host = testinfra.host.Host(PorttestBackend(self.runner(), self.brief.container_name,
                                                   timeout=self.command_timeout))
        if self.brief.shell.get("applets"):
            # A shell-less image runs commands with porttest's busybox toolbox, so `ps` is busybox's; testinfra
            # tells that from the image's /bin/ps, which such an image lacks. Its module cache takes the flavour.
            from porttest.child.toolbox_process import process_module

            host.process = process_module(host)
        return host
