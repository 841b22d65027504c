"""The child's fixtures (`host`, `environment`, `facts`), registered only in a porttest child, on its one spec, and
the facts probe, which runs through the same session before the first test."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from harness.child_spec import ChildSpec

# Set by harness.pytest_plugin before this module is registered as a plugin; one child runs one environment.
SPEC: ChildSpec | None = None
EMIT: Callable[[dict[str, Any]], None] | None = None
PROBE_TIMEOUT = 60.0
# The one client and runner (session or exec) of this child, shared by the probe and the `host` fixture.
_opened: tuple[Any, Any] | None = None


def _spec() -> ChildSpec:
    assert SPEC is not None, "harness.child_fixtures is registered only by a porttest child"
    return SPEC


def _emit(record: dict[str, Any]) -> None:
    assert EMIT is not None
    EMIT(record)


@pytest.fixture(scope="session")
def environment() -> Any:
    from harness.pytest_plugin import EnvironmentInfo

    s = _spec()
    return EnvironmentInfo(s.environment, s.profile, s.image_id, s.container_id, s.container_name, s.run_id)


@pytest.fixture(scope="session")
def facts() -> Any:
    from harness.pytest_plugin import FactRecorder

    return FactRecorder(_emit)


def _command_timeout() -> float:
    return float(_spec().profile.get("command_timeout") or 300.0)


def _runner() -> Any:
    global _opened
    if _opened is None:
        from harness.engines import reopen
        from harness.session import open_runner

        spec = _spec()
        client = reopen(spec.engine, timeout=_command_timeout() + 60.0)
        try:
            runner, note = open_runner(client.api, spec.container_id,
                                       str(spec.profile.get("exec_mode") or "session"), timeout=_command_timeout())
        except BaseException:
            client.close()
            raise
        if note:
            _emit({"kind": "note", "text": note})
        _opened = (client, runner)
    return _opened[1]


def close_runner() -> None:
    """Best effort, at the end of the session: every test has run, and a connection that fails to close must not
    turn the child's exit code into pytest's internal error."""
    global _opened
    if _opened is not None:
        client, runner = _opened
        _opened = None
        for close in (runner.close, client.close):
            with contextlib.suppress(Exception):
                close()


def run_probe() -> None:
    """The built-in facts probe, through this child's session: one exec fewer per environment than a probe of its
    own. Facts are evidence: a probe that cannot run is reported, never a reason to fail a test."""
    from harness.facts import PROBE

    try:
        result = _runner().run(PROBE, timeout=PROBE_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - the parent records why and the suites run as they would
        _emit({"kind": "probe", "error": f"{type(exc).__name__}: {exc}"})
        return
    _emit({"kind": "probe", "rc": result.rc, "stdout": result.stdout.decode("utf-8", "replace"),
           "stderr": result.stderr.decode("utf-8", "replace")})


@pytest.fixture(scope="session")
def host() -> Any:
    import testinfra.host

    from harness.backend import PorttestBackend

    return testinfra.host.Host(PorttestBackend(_runner(), _spec().container_name, timeout=_command_timeout()))
