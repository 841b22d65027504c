"""ssh:// engines through paramiko: host keys checked against known_hosts files (unknown ones refused), an identity.

paramiko is an extra, `porttest[ssh]`: this module imports without it, and then an ssh:// engine fails to connect
with the install command as its hint, while every other engine works as usual."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import docker
import docker.constants
import requests

from porttest.engine import deferred_imports
from porttest.errors import EngineError

try:  # the Docker SDK's paramiko adapter: docker.transport holds it only where paramiko is installed
    from docker.transport.sshconn import SSHHTTPAdapter
except ImportError:  # open_client() says how to install paramiko before it would make an adapter
    SSHHTTPAdapter = object  # type: ignore[misc,no-redef]

GLOBAL_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
DIAL_STDIO = "docker system dial-stdio"
_DIAGNOSE_SECONDS = 5.0
INSTALL_HINT = ("install porttest's ssh extra: pip install 'porttest[ssh]' "
                "(where pipx installed porttest: pipx inject porttest paramiko)")


class RemoteDockerError(requests.ConnectionError):
    """The remote `docker system dial-stdio` failed; the message is the last line it wrote to stderr."""

    def __init__(self, line: str, status: int) -> None:
        super().__init__(f"`{DIAL_STDIO}` failed on the remote host (exit {status}): {line}")
        self.status = status
        self.line = line


class VerifiedSSHAdapter(SSHHTTPAdapter):  # type: ignore[misc]
    """The SDK's paramiko adapter, with extra known_hosts, an optional identity and bounded connect times."""

    def __init__(self, base_url: str, timeout: float, known_hosts: str | None, identity: str | None) -> None:
        # Read by _create_paramiko_client, which the SDK calls (and then connects) inside its own __init__.
        self._known_hosts = known_hosts
        self._identity = identity
        self._connect_timeout = timeout
        try:
            super().__init__(base_url, timeout, pool_connections=docker.constants.DEFAULT_NUM_POOLS_SSH,
                             max_pool_size=docker.constants.DEFAULT_MAX_POOL_SIZE, shell_out=False)
        except BaseException:
            # paramiko leaves the transport (a thread and a socket) open when it rejects a host key or a login.
            if getattr(self, "ssh_client", None) is not None:
                self.ssh_client.close()
            raise

    def _create_paramiko_client(self, base_url: str) -> None:
        import paramiko

        super()._create_paramiko_client(base_url)  # ~/.ssh/config and ~/.ssh/known_hosts, as the SDK reads them
        if os.path.exists(GLOBAL_KNOWN_HOSTS):
            self.ssh_client.load_system_host_keys(GLOBAL_KNOWN_HOSTS)
        if self._known_hosts:
            self.ssh_client.load_system_host_keys(self._known_hosts)
        # Set here whatever the SDK's default: a host key no known_hosts file vouches for ends the connection,
        # and the files are never written to.
        self.ssh_client.set_missing_host_key_policy(paramiko.RejectPolicy())
        if self._identity:
            self.ssh_params.update(key_filename=self._identity, allow_agent=False, look_for_keys=False)
        wait = self._connect_timeout
        self.ssh_params.update(timeout=wait, banner_timeout=wait, auth_timeout=wait)

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        import paramiko

        try:
            return super().send(request, *args, **kwargs)
        except paramiko.SSHException as exc:
            # A lost session (or a refused reconnect) is a connection error to every caller, as with other engines.
            raise requests.ConnectionError(f"SSH: {exc}") from exc
        except requests.ConnectionError as exc:
            # The SSH session works but the HTTP stream died: the remote command usually says why on stderr.
            found = self.dial_stdio_error()
            if found is None:
                raise
            raise RemoteDockerError(*found) from exc

    def dial_stdio_error(self) -> tuple[str, int] | None:
        """Run the remote command with no input: (last stderr line, exit status) when it fails, else None."""
        import paramiko

        transport = self.ssh_client.get_transport() if self.ssh_client else None
        if transport is None or not transport.is_active():
            return None
        try:
            channel = transport.open_session(timeout=_DIAGNOSE_SECONDS)
            try:
                channel.settimeout(_DIAGNOSE_SECONDS)
                channel.exec_command(DIAL_STDIO)
                channel.shutdown_write()
                stderr = channel.makefile_stderr("rb").read()
                if not channel.status_event.wait(_DIAGNOSE_SECONDS):
                    return None
                status = channel.recv_exit_status()
            finally:
                channel.close()
        except (paramiko.SSHException, OSError):
            return None
        lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        if status == 0:
            return None
        return (lines[-1][:300] if lines else "no message"), status


def open_client(base_url: str, version: str, timeout: float | None, known_hosts: str | None,
                identity: str | None) -> docker.DockerClient:
    """A DockerClient on a verified SSH connection (connects now, so host key and login problems show here)."""
    _load_paramiko()
    # use_ssh_client=True makes the SDK build a shell-out adapter that does not connect; ours replaces it.
    client = docker.DockerClient(base_url=base_url, version=version, timeout=timeout, use_ssh_client=True)
    try:
        adapter = VerifiedSSHAdapter(base_url, timeout or 60.0, known_hosts, identity)
    except BaseException:
        client.close()
        raise
    shell_out = client.api._custom_adapter
    client.api._custom_adapter = adapter
    client.api.mount("http+docker://ssh", adapter)
    shell_out.close()
    return client


def _load_paramiko() -> None:
    """Import paramiko now (here, once, before environments' threads reach it at the same time), or say how to get it.
    An EngineError either way: an ssh:// environment that cannot connect, never a traceback."""
    try:
        deferred_imports.load("paramiko")
    except ModuleNotFoundError as exc:
        if exc.name != "paramiko":  # paramiko is there, one of its own dependencies is not: a broken install
            raise _broken(exc) from None
        raise EngineError("ssh:// engines need paramiko, which is not installed", hint=INSTALL_HINT) from None
    except Exception as exc:  # noqa: BLE001 - whatever a broken install raises on import
        raise _broken(exc) from None
    if SSHHTTPAdapter is object:  # paramiko imports now but did not when this module was loaded (installed since)
        raise EngineError("ssh:// engines need paramiko, which could not be imported when porttest started",
                          hint="run porttest again")


def _broken(exc: BaseException) -> EngineError:
    return EngineError(f"ssh:// engines need paramiko, which cannot be imported: {exc}",
                       hint="reinstall it: pip install --force-reinstall 'porttest[ssh]' "
                            "(where pipx installed porttest: pipx inject --force porttest paramiko)")


def describe(exc: BaseException, host: str | None) -> tuple[str, str] | None:
    """(reason, hint) for SSH-level failures; None for anything else."""
    if not deferred_imports.loaded("paramiko"):  # no SSH connection was tried, so no SSH error can exist
        return None
    import paramiko

    where = _keyscan_target(host)
    if isinstance(exc, requests.ConnectionError) and isinstance(exc.__cause__, paramiko.SSHException):
        exc = exc.__cause__
    if isinstance(exc, RemoteDockerError):
        if exc.status == 127 or "not found" in exc.line:
            return (f"the remote host has no `docker` command ({exc.line})",
                    f"install the Docker CLI on the remote host, on the PATH of non-interactive ssh sessions: "
                    f"porttest runs `{DIAL_STDIO}` there")
        return str(exc), "the remote `docker` CLI cannot reach its engine: is the engine on that host running?"
    if isinstance(exc, paramiko.BadHostKeyException):
        return ("the SSH host key does not match known_hosts",
                "the host's key changed: if that is expected, replace its known_hosts line; otherwise the connection "
                "may be intercepted")
    if isinstance(exc, paramiko.PasswordRequiredException):
        return ("the SSH identity is encrypted (porttest asks for no passphrase)",
                "leave engine.ssh.identity unset to use your ssh agent, or give a key without a passphrase")
    if isinstance(exc, paramiko.AuthenticationException):
        return ("SSH authentication failed",
                "check the user in the host URL and engine.ssh.identity: its public key must be in the remote "
                "user's authorized_keys")
    if isinstance(exc, paramiko.SSHException) and "not found in known_hosts" in str(exc):
        return (f"unknown SSH host key: {exc}",
                f"porttest refuses unknown host keys: check the host's key fingerprint, then add its line "
                f"(`ssh-keyscan {where}`) to engine.ssh.known_hosts or ~/.ssh/known_hosts")
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        causes = {getattr(e, "strerror", None) or str(e) for e in exc.errors.values()}
        text = str(exc).removeprefix("[Errno None] ")
        return (f"{text} ({', '.join(sorted(causes))})" if causes else text,
                "is sshd running on that host and port, and reachable from here?")
    if isinstance(exc, paramiko.SSHException):
        return f"SSH: {exc}", "is an SSH server (sshd) answering on that host and port?"
    return None


def _keyscan_target(host: str | None) -> str:
    try:
        parts = urlsplit(host or "")
        port = parts.port
    except ValueError:
        return "HOST"
    return f"-p {port} {parts.hostname}" if port else str(parts.hostname or "HOST")
