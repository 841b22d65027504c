"""Command execution inside a container through the engine's exec API (no docker CLI)."""

from __future__ import annotations

from dataclasses import dataclass

import docker


@dataclass(frozen=True)
class ExecResult:
    """A finished command: exit status and byte-exact stdout/stderr."""

    rc: int
    stdout: bytes
    stderr: bytes


class ExecSession:
    """Runs each command as its own exec: `/bin/sh -c CMD`, with stdin closed."""

    mode = "exec"

    def __init__(self, api: docker.APIClient, container_id: str, user: str | None = None) -> None:
        self.api = api
        self.container_id = container_id
        self.user = user

    def run_argv(self, argv: list[str], user: str | None = None) -> ExecResult:
        exec_id = self.api.exec_create(self.container_id, argv, stdout=True, stderr=True, stdin=False,
                                       user=user or self.user or "")["Id"]
        out, err = self.api.exec_start(exec_id, demux=True)
        rc = self.api.exec_inspect(exec_id).get("ExitCode")
        return ExecResult(rc if rc is not None else -1, out or b"", err or b"")

    def run(self, command: str, user: str | None = None) -> ExecResult:
        return self.run_argv(["/bin/sh", "-c", command], user=user)

    def close(self) -> None:
        """Nothing to release: each exec ends with its command."""
