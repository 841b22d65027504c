"""A testinfra backend over porttest's session, so testinfra's Host and modules work unchanged."""

from __future__ import annotations

from typing import Any

from testinfra.backend import base

from harness.session import ExecSession


class PorttestBackend(base.BaseBackend):  # type: ignore[misc]  # testinfra ships no type information
    """testinfra's one required method, run(), on a container through the engine API."""

    NAME = "porttest"

    def __init__(self, session: ExecSession, hostname: str, user: str | None = None, **kwargs: Any) -> None:
        self.session = session
        self.user = user
        super().__init__(hostname, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        cmd = self.get_command(command, *args)
        result = self.session.run(cmd, user=self.user)
        return self.result(result.rc, self.encode(cmd), result.stdout, result.stderr)
