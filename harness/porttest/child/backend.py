"""A testinfra backend over porttest's session, so testinfra's Host and modules work unchanged."""

from __future__ import annotations

from typing import Any

from testinfra.backend import base

from porttest.engine.session import Runner


class PorttestBackend(base.BaseBackend):  # type: ignore[misc]  # testinfra ships no type information
    """testinfra's one required method, run(), on a container through porttest's session or exec runner."""

    NAME = "porttest"

    def __init__(self, runner: Runner, hostname: str, user: str | None = None, timeout: float | None = None,
                 **kwargs: Any) -> None:
        self.runner = runner
        self.user = user
        self.timeout = timeout
        super().__init__(hostname, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        cmd = self.get_command(command, *args)
        result = self.runner.run(cmd, user=self.user, timeout=self.timeout)
        return self.result(result.rc, self.encode(cmd), result.stdout, result.stderr)
