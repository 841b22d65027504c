"""The child's fixtures (`host`, `environment`, `facts`), registered only in a porttest child, on its one spec."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.child_spec import ChildSpec

# Set by harness.pytest_plugin before this module is registered as a plugin; one child runs one environment.
SPEC: ChildSpec | None = None
EMIT: Callable[[dict[str, Any]], None] | None = None


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


@pytest.fixture(scope="session")
def host() -> Iterator[Any]:
    import testinfra.host

    from harness.backend import PorttestBackend
    from harness.engines import reopen
    from harness.session import open_runner

    spec = _spec()
    command_timeout = float(spec.profile.get("command_timeout") or 300.0)
    client = reopen(spec.engine, timeout=command_timeout + 60.0)
    runner, note = open_runner(client.api, spec.container_id, str(spec.profile.get("exec_mode") or "session"),
                               timeout=command_timeout)
    if note:
        _emit({"kind": "note", "text": note})
    yield testinfra.host.Host(PorttestBackend(runner, spec.container_name, timeout=command_timeout))
    runner.close()
    client.close()
