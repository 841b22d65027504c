"""One Docker SDK client per environment: local socket/DOCKER_HOST, tcp:// with mutual TLS, ssh:// (verified)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
import docker.tls
import docker.utils
import requests

from porttest.engine import deferred_imports
from porttest.engine import ssh as ssh_transport
from porttest.errors import EngineError

if TYPE_CHECKING:  # the pytest child reconnects without importing the config models
    from porttest.config import EngineSpec

_PROBE_API_VERSION = "1.24"


@dataclass(frozen=True)
class EngineInfo:
    """What an engine says about itself; recorded per environment."""

    id: str
    name: str
    kind: str
    version: str
    api_version: str
    os: str
    os_type: str
    arch: str
    kernel: str
    cgroup_version: str
    runtimes: tuple[str, ...]
    default_runtime: str

    def public(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "version": self.version, "api_version": self.api_version, "os": self.os,
            "os_type": self.os_type, "arch": self.arch, "kernel": self.kernel, "cgroup_version": self.cgroup_version,
            "runtimes": list(self.runtimes), "default_runtime": self.default_runtime, "name": self.name,
        }


@dataclass
class Engine:
    """A connected engine: the SDK client, where it is, and its facts."""

    client: docker.DockerClient
    endpoint: str
    info: EngineInfo
    spec: EngineSpec | None = None

    def close(self) -> None:
        # Closing a dead connection must not mask the real error.
        with contextlib.suppress(Exception):
            self.client.close()


def handoff(engine: Engine) -> dict[str, Any]:
    """What a pytest child needs to open its own client to the same engine (JSON-ready, no secrets inside)."""
    spec = engine.spec
    tls = spec.tls if spec is not None else None
    return {
        "host": spec.host if spec is not None else None,
        "tls": None if not tls else {"ca_cert": _text(tls.ca_cert), "client_cert": _text(tls.client_cert),
                                     "client_key": _text(tls.client_key), "verify": tls.verify},
        "ssh": _ssh_data(spec),
        "api_version": engine.info.api_version,
    }


def _text(path: object) -> str | None:
    return None if path is None else str(path)


def _ssh_data(spec: EngineSpec | None) -> dict[str, str | None] | None:
    ssh = spec.ssh if spec is not None else None
    return None if ssh is None else {"known_hosts": _text(ssh.known_hosts), "identity": _text(ssh.identity)}


def reopen(data: dict[str, Any], timeout: float | None) -> docker.DockerClient:
    """A client from handoff() data: same endpoint, same negotiated API version, no probing round trips."""
    return _client(_sdk_kwargs(data.get("host"), data.get("tls")), str(data["api_version"]), timeout,
                   data.get("ssh"))


def client_kwargs(spec: EngineSpec) -> dict[str, Any]:
    """DockerClient keyword arguments for a spec, checking certificate and SSH key files first."""
    tls = spec.tls or None
    files = [("tls.ca_cert", tls.ca_cert), ("tls.client_cert", tls.client_cert),
             ("tls.client_key", tls.client_key)] if tls else []
    if spec.ssh is not None:
        files += [("ssh.known_hosts", spec.ssh.known_hosts), ("ssh.identity", spec.ssh.identity)]
    for label, path in files:
        if path is not None and not os.access(path, os.R_OK):
            raise EngineError(f"engine.{label}: cannot read {path}",
                              hint="check the path (relative to the file that names it) and its permissions")
    data = None if not tls else {"ca_cert": tls.ca_cert, "client_cert": tls.client_cert,
                                 "client_key": tls.client_key, "verify": tls.verify}
    return _sdk_kwargs(spec.host, data)


def _sdk_kwargs(host: str | None, tls: dict[str, Any] | None) -> dict[str, Any]:
    """base_url (DOCKER_HOST and friends when no host is given), ssh client and TLS settings for DockerClient."""
    if host is None:
        kwargs = dict(docker.utils.kwargs_from_env())
        kwargs.setdefault("base_url", "unix:///var/run/docker.sock")
    else:
        kwargs = {"base_url": host}
    if str(kwargs["base_url"]).startswith("ssh://"):
        # The SDK's shell-out adapter does not connect when built; _client replaces it with a verified one.
        kwargs["use_ssh_client"] = True
    if tls:
        cert, key, ca = tls.get("client_cert"), tls.get("client_key"), tls.get("ca_cert")
        kwargs["tls"] = docker.tls.TLSConfig(
            client_cert=(str(cert), str(key)) if cert else None,
            ca_cert=str(ca) if ca and tls.get("verify") else None,
            verify=bool(tls.get("verify")),
        )
    return kwargs


def _client(kwargs: dict[str, Any], version: str, timeout: float | None,
            ssh: dict[str, Any] | None = None) -> docker.DockerClient:
    base_url = str(kwargs["base_url"])
    if base_url.startswith("ssh://"):
        ssh = ssh or {}
        client = ssh_transport.open_client(base_url, version, timeout, ssh.get("known_hosts"), ssh.get("identity"))
    else:
        client = docker.DockerClient(**kwargs, version=version, timeout=timeout)
    # REQUESTS_CA_BUNDLE and friends would replace the engine's CA with the system bundle; the engine's own
    # TLS settings must win, so the environment is not consulted for this session.
    client.api.trust_env = False
    return client


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def connect(spec: EngineSpec, timeout: float | None = None) -> Engine:
    """Connect, negotiate the API version and read the engine's facts; EngineError with the reason otherwise."""
    kwargs = client_kwargs(spec)
    endpoint = str(kwargs.get("base_url"))
    wait = spec.timeout if timeout is None else timeout
    ssh = _ssh_data(spec)
    try:
        probe = _client(kwargs, _PROBE_API_VERSION, min(wait, 15.0), ssh)
        try:
            version = probe.version()
        finally:
            probe.close()
        api = min(_version_tuple(version.get("ApiVersion", "1.24")),
                  _version_tuple(docker.constants.DEFAULT_DOCKER_API_VERSION))
        client = _client(kwargs, ".".join(map(str, api)), wait, ssh)
        try:
            info = client.info()
        except BaseException:
            client.close()
            raise
    except _connect_errors() as exc:
        raise EngineError(f"cannot reach engine {endpoint}: {short_reason(exc)}", hint=_hint_for(exc, spec)) from None
    components = {c.get("Name", "") for c in version.get("Components") or []}
    kind = "podman" if any("podman" in c.lower() for c in components) else "docker"
    runtimes = tuple(sorted((info.get("Runtimes") or {}).keys()))
    facts = EngineInfo(
        id=str(info.get("ID") or ""), name=str(info.get("Name") or ""), kind=kind,
        version=str(version.get("Version") or ""), api_version=".".join(map(str, api)),
        os=str(info.get("OperatingSystem") or ""), os_type=str(info.get("OSType") or ""),
        arch=str(info.get("Architecture") or ""), kernel=str(info.get("KernelVersion") or ""),
        cgroup_version=str(info.get("CgroupVersion") or ""), runtimes=runtimes,
        default_runtime=str(info.get("DefaultRuntime") or ""),
    )
    return Engine(client=client, endpoint=endpoint, info=facts, spec=spec)


def _connect_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (docker.errors.DockerException, requests.RequestException, OSError)
    # paramiko's errors exist only once an ssh:// engine has loaded it (porttest.engine.deferred_imports).
    if not deferred_imports.loaded("paramiko"):
        return errors
    import paramiko

    return (*errors, paramiko.SSHException)


def short_reason(exc: BaseException) -> str:
    """The innermost useful line of an SDK/requests/SSH error, without urllib3's object reprs."""
    ssh = ssh_transport.describe(exc, None)
    if ssh is not None:
        return ssh[0]
    text = str(exc)
    for marker in ("Connection refused", "No such file or directory", "Name or service not known",
                   "certificate verify failed", "timed out", "Permission denied", "wrong version number",
                   "Connection reset", "Temporary failure in name resolution", "tlsv1 alert", "sslv3 alert"):
        if marker.lower() in text.lower():
            return marker
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _hint_for(exc: BaseException, spec: EngineSpec) -> str:
    ssh = ssh_transport.describe(exc, spec.host)
    if ssh is not None:
        return ssh[1]
    text = str(exc).lower()
    if "certificate" in text or "ssl" in text or "tls" in text:
        return "check engine.tls: the CA must have signed the engine's certificate, and the client pair must match"
    if spec.host is None:
        return "is the Docker engine running? check DOCKER_HOST or /var/run/docker.sock"
    return f"is the engine at {spec.host} running and reachable from here?"
