"""Frozen models of a matrix: the image, the suites and the environments."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from porttest.config.image_ref import reference_problem
from porttest.config.run_options import RunOptions

ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
ShipMode = Literal["auto", "present", "load", "pull"]
REPOSITORY = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$"
ExecMode = Literal["session", "exec"]
# An absolute file path below a folder other than "/" (its folder is what a volume mounts).
FILE_PATH = r"^(/[^/\x00]+){2,}$"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BuildSpec(Frozen):
    """How to build the image on the local engine before the run."""

    context: Path
    dockerfile: str = "Dockerfile"
    args: dict[str, str | int | float | bool] = Field(default_factory=dict)
    target: str | None = None


class VerifyHook(Frozen):
    """A command run once against the resolved image (a signature check or a scanner); non-zero fails the run."""

    command: Annotated[str, Field(min_length=1)]
    name: str | None = None
    timeout: Annotated[float, Field(gt=0, le=7200)] = 600.0

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"command": value} if isinstance(value, str) else value


class ImageSpec(Frozen):
    """The one image a matrix tests: a ref, optionally built first and/or pinned by digest, and verified."""

    ref: str | None = None
    build: BuildSpec | None = None
    digest: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")] | None = None
    verify: tuple[VerifyHook, ...] = Field((), description="commands run once against {ref}, {id} and {digest}")

    @field_validator("ref")
    @classmethod
    def _docker_reference(cls, ref: str | None) -> str | None:
        problem = None if ref is None else reference_problem(ref)
        if problem:
            raise ValueError(f"not an image reference: {problem}")
        return ref

    @model_validator(mode="after")
    def _needs_something(self) -> ImageSpec:
        if not (self.ref or self.build or self.digest):
            raise ValueError("give `ref`, `build` or `digest`")
        return self


class TLSSpec(Frozen):
    """Mutual TLS for a tcp:// engine; verification is on unless `verify: false` is written."""

    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    verify: bool = True

    @model_validator(mode="after")
    def _pairs(self) -> TLSSpec:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("`client_cert` and `client_key` go together")
        if self.verify and self.ca_cert is None:
            raise ValueError("`verify: true` needs `ca_cert`")
        return self


class SSHSpec(Frozen):
    """Host keys and login for an ssh:// engine; a host key no known_hosts file vouches for is always refused."""

    known_hosts: Path | None = Field(None, description="a known_hosts file, read with ~/.ssh/known_hosts and "
                                                       "/etc/ssh/ssh_known_hosts")
    identity: Path | None = Field(None, description="a private key file; when given, the only key offered")


class EngineSpec(Frozen):
    """Where the environment's Docker engine is: unset means DOCKER_HOST or the local socket."""

    host: Annotated[str, Field(pattern=r"^(unix|tcp|ssh|npipe|http|https)://.+")] | None = None
    tls: TLSSpec | Literal[False] | None = None
    ssh: SSHSpec | None = None
    timeout: Annotated[float, Field(gt=0, le=3600)] = 60.0

    @model_validator(mode="after")
    def _host_is_usable(self) -> EngineSpec:
        if not self.host:
            return self
        parts = urlsplit(self.host)
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"`{self.host}` has an invalid port") from None
        if parts.scheme in ("tcp", "http", "https", "ssh") and not parts.hostname:
            raise ValueError(f"`{self.host}` names no host")
        if parts.scheme == "tcp" and port is None:
            raise ValueError(f"`{self.host}` needs a port (2376 is Docker's TLS port)")
        if parts.scheme == "unix" and not parts.path:
            raise ValueError(f"`{self.host}` names no socket path")
        return self

    @model_validator(mode="after")
    def _tls_for_tcp(self) -> EngineSpec:
        if self.host and self.host.startswith("tcp://") and self.tls is None:
            raise ValueError(
                "a tcp:// engine needs `tls:` (ca_cert, client_cert, client_key); write `tls: false` to accept "
                "an unencrypted connection"
            )
        if self.tls is not None and self.tls is not False and not (self.host or "").startswith(("tcp://", "https://")):
            raise ValueError("`tls:` applies to tcp:// engines only")
        if self.ssh is not None and not (self.host or "").startswith("ssh://"):
            raise ValueError("`ssh:` applies to ssh:// engines only")
        return self


class WaitFor(Frozen):
    """Readiness: exactly one of port, healthcheck, log or command, within `timeout` seconds."""

    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    healthcheck: Literal[True] | None = None
    log: Annotated[str, Field(min_length=1)] | None = None
    command: Annotated[str, Field(min_length=1)] | None = None
    timeout: Annotated[float, Field(gt=0, le=3600)] = 30.0
    interval: Annotated[float, Field(gt=0, le=60)] = 0.2

    @model_validator(mode="after")
    def _exactly_one(self) -> WaitFor:
        given = [k for k in ("port", "healthcheck", "log", "command") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `port`, `healthcheck`, `log` or `command`")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("port", "healthcheck", "log", "command") if getattr(self, k) is not None)


SERVICE_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"  # a DNS label: the name other containers reach it by


class ServiceSpec(Frozen):
    """A dependency of the image under test (a database, a cache), started beside it in an environment."""

    image: ImageSpec = Field(description="a ref, or {ref, build, digest}: resolved once and shipped by image ID")
    run: RunOptions = Field(default_factory=RunOptions)
    wait_for: WaitFor | None = None
    share_network: bool = Field(False, description="join the network namespace of the image under test, as a "
                                                   "container of the same Kubernetes pod: reachable on localhost")

    @model_validator(mode="after")
    def _own_namespace(self) -> ServiceSpec:
        extra = self.run.model_extra or {}
        chosen = next((f"run.{k}" for k in ("network_mode", "network", "networking_config")
                       if (self.run.network_mode if k == "network_mode" else extra.get(k)) is not None), None)
        if chosen and self.share_network:
            raise ValueError(f"share_network puts the service in the tested container's network; {chosen} "
                             "chooses another")
        if chosen:
            raise ValueError(f"a service runs on the environment's own network, where the others reach it by name; "
                             f"{chosen} chooses another")
        return self


class CISpec(Frozen):
    """Hints for CI fan-out (porttest plan --format github): where this environment's job runs."""

    runs_on: str | list[str] = "ubuntu-latest"


class RegistryPush(Frozen):
    """Push the run's image to `push` (a repository), then pull it on the engine by digest."""

    push: Annotated[str, Field(pattern=REPOSITORY)]


class ShipViaRegistry(Frozen):
    """`ship: {registry: {push: REPO}}`."""

    registry: RegistryPush


class KubernetesSource(Frozen):
    """`extends: {kubernetes: FILE, workload: KIND/NAME, container: NAME}`: a pod template as a profile."""

    kubernetes: Path
    workload: str | None = Field(None, description="KIND/NAME, e.g. deployment/api; optional when the file has one")
    container: str | None = Field(None, description="the container's name; optional when the pod has one")
    namespace: str = "default"
    runtime_classes: dict[str, str] = Field(default_factory=dict,
                                            description="runtimeClassName -> the engine's runtime, e.g. gvisor: runsc")
    secrets: dict[str, str] = Field(default_factory=dict, description="SECRET/KEY -> value (masked everywhere)")
    config_maps: dict[str, str] = Field(default_factory=dict, description="CONFIGMAP/KEY -> value")
    files: dict[str, Path] = Field(default_factory=dict,
                                   description="configmap/NAME or secret/NAME -> a local folder for that volume")

    def describe(self) -> str:
        return f"kubernetes {self.kubernetes}" + "".join(f" {p}" for p in (self.workload, self.container) if p)


class ComposeSource(Frozen):
    """`extends: {compose: FILE, service: NAME}`: a Compose service as a profile."""

    compose: Path
    service: str

    def describe(self) -> str:
        return f"compose {self.compose} service {self.service}"


ExtendsSource = Path | KubernetesSource | ComposeSource


class Environment(Frozen):
    """One place to run the image: an engine, a run profile, how the image gets there, and readiness."""

    name: str
    extends: tuple[ExtendsSource, ...] = ()
    engine: EngineSpec = Field(default_factory=EngineSpec)
    run: RunOptions = Field(default_factory=RunOptions)
    ship: ShipMode | ShipViaRegistry = "auto"
    wait_for: WaitFor | None = None
    timeout: Annotated[float, Field(gt=0)] = Field(1800.0, description="seconds the whole suite run may take")
    exec_mode: ExecMode = Field("session", description="session: one persistent shell; exec: one exec per command")
    command_timeout: Annotated[float, Field(gt=0)] = Field(300.0, description="seconds one command may take")
    test_timeout: Annotated[float, Field(gt=0)] | None = Field(None, description="seconds one test may take")
    ci: CISpec = Field(default_factory=CISpec)
    run_as_non_root: bool = Field(False, description="refuse an image that would run as root, as the kubelet does")
    toolbox: Path | None = Field(None, description="a folder holding a static busybox (busybox-ARCH or ARCH/busybox) "
                                                   "for images without /bin/sh; searched before $PORTTEST_TOOLBOX, "
                                                   "instead of this machine's own busybox")
    files: dict[Annotated[str, Field(pattern=FILE_PATH)], str] = Field(
        default_factory=dict, description="absolute path in the container -> text; placed read-only, each folder in a "
                                          "volume of its own that hides what the image has there (as Kubernetes "
                                          "mounts a service-account token)")
    services: dict[Annotated[str, Field(pattern=SERVICE_NAME)], ServiceSpec] = Field(
        default_factory=dict, description="the matrix's services with this environment's changes (add, override, "
                                          "or remove with `NAME: null`)")
    ip_variables: tuple[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], ...] = Field(
        (), description="environment variables set to the container's own IP address (as Kubernetes sets a pod's IP); "
                        "the container then runs on a network of its own, where its address is known before it starts")
    # Set by the loader, not written by users: run option -> "file:line" that set its effective value.
    origins: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)

    @model_validator(mode="after")
    def _own_network(self) -> Environment:
        extra = self.run.model_extra or {}
        chosen = next((f"run.{k}" for k in ("network_mode", "network", "networking_config")
                       if (getattr(self.run, k, None) if k == "network_mode" else extra.get(k)) is not None), None)
        networked = any(not service.share_network for service in self.services.values())  # sidecars join ours
        needs = "ip_variables need" if self.ip_variables else "services need" if networked else None
        if needs and chosen:
            raise ValueError(f"{needs} a network of the environment's own, and {chosen} chooses another; "
                             "drop one of the two")
        return self

    @field_validator("files")
    @classmethod
    def _plain_paths(cls, files: dict[str, str]) -> dict[str, str]:
        for path in files:
            if {".", ".."} & set(path.split("/")):
                raise ValueError(f"{path}: a file path may not have . or .. parts")
        return files

    @property
    def ship_mode(self) -> str:
        """The ship mode's name: auto, present, load, pull or registry."""
        return self.ship if isinstance(self.ship, str) else "registry"

    @property
    def push_to(self) -> str | None:
        return self.ship.registry.push if isinstance(self.ship, ShipViaRegistry) else None


class Matrix(Frozen):
    """A validated matrix.yaml: one image, the suites, and the environments to compare."""

    version: Literal[1]
    image: ImageSpec
    suites: Annotated[tuple[Path, ...], Field(min_length=1)]
    environments: dict[str, Environment]
    secrets: tuple[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], ...] = Field(
        (), description="names of variables whose values are redacted from every output")
    allow_privileged: bool = Field(False, description="allow privileged mode, host namespaces and dangerous caps")
    services: dict[Annotated[str, Field(pattern=SERVICE_NAME)], ServiceSpec] = Field(
        default_factory=dict, description="dependencies started beside the image in every environment")
    allow_different_services: bool = Field(False, description="run although a service's image differs between "
                                                              "environments (the difference is reported)")
    descriptor_warnings: tuple[str, ...] = Field((), description="what a descriptor's translation left out")
    source: Path
    base_dir: Path
    secret_values: frozenset[str] = Field(default=frozenset(), exclude=True, repr=False)

    @model_validator(mode="after")
    def _has_environments(self) -> Matrix:
        if not self.environments:
            raise ValueError("`environments` needs at least one environment")
        return self

    def warnings(self) -> list[str]:
        """What the user switched off in writing and should hear about on every run."""
        out = []
        for env in self.environments.values():
            tls = env.engine.tls
            if tls is False:
                out.append(f"{env.name}: engine {env.engine.host} is used WITHOUT TLS (engine.tls: false)")
            elif tls is not None and not tls.verify:
                out.append(f"{env.name}: TLS verification is OFF for {env.engine.host} (engine.tls.verify: false)")
            for where, what in dangerous_options(env.run):
                out.append(f"{env.name}: {what} (run.{where}; allowed by allow_privileged: true)")
            for folder in sorted({path.rsplit("/", 1)[0] for path in env.files} & _SYSTEM_FOLDERS):
                out.append(f"{env.name}: files: a volume over {folder} hides everything the image has there "
                           f"(a Kubernetes subPath mount would place one file); use a folder of the app's own")
        return out + list(self.descriptor_warnings)


_SYSTEM_FOLDERS = {"/etc", "/bin", "/sbin", "/lib", "/lib64", "/usr", "/usr/bin", "/usr/lib", "/usr/local/bin",
                   "/var", "/var/lib", "/run", "/tmp", "/opt", "/home", "/root", "/srv"}
HOST_NAMESPACES = ("network_mode", "pid_mode", "ipc_mode", "uts_mode", "userns_mode")
DANGEROUS_CAPS = frozenset({"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_RAWIO", "SYS_PTRACE", "SYS_BOOT", "SYS_TIME",
                            "NET_ADMIN", "DAC_READ_SEARCH", "MAC_ADMIN", "MAC_OVERRIDE", "BPF", "PERFMON",
                            "SYSLOG", "LINUX_IMMUTABLE"})


def dangerous_options(run: RunOptions) -> list[tuple[str, str]]:
    """(key, why) for every run option that weakens isolation between the container and its host."""
    found: list[tuple[str, str]] = []
    if run.privileged:
        found.append(("privileged", "the container runs PRIVILEGED"))
    for key in HOST_NAMESPACES:
        if getattr(run, key) == "host":
            found.append((key, f"the container shares the host's {key.split('_')[0]} namespace"))
    for cap in run.cap_add or []:
        if cap.upper().removeprefix("CAP_") in DANGEROUS_CAPS:
            found.append(("cap_add", f"the container gets CAP_{cap.upper().removeprefix('CAP_')}"))
    for opt in run.security_opt or []:
        if opt.replace("=", ":").lower() in ("seccomp:unconfined", "apparmor:unconfined", "label:disable"):
            found.append(("security_opt", f"the container runs with {opt}"))
    if run.devices:
        found.append(("devices", "host devices are passed into the container"))
    volumes = run.volumes or {}
    sources = list(volumes) if isinstance(volumes, dict) else [str(v).split(":", 1)[0] for v in volumes]
    for source in sources:
        if _dangerous_host_path(source):
            found.append(("volumes", f"the host path {source} is mounted into the container"))
    for mount in getattr(run, "mounts", None) or []:
        source = str(mount.get("source") or mount.get("Source") or "") if isinstance(mount, dict) else ""
        kind = str(mount.get("type") or mount.get("Type") or "volume") if isinstance(mount, dict) else ""
        if kind == "bind" and _dangerous_host_path(source):
            found.append(("mounts", f"the host path {source} is mounted into the container"))
    return found


_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock", "/run/containerd/containerd.sock")


def _dangerous_host_path(source: str) -> bool:
    """`/`, the host's kernel interfaces, the engine's own data, or any folder that holds an engine socket."""
    path = "/" + source.strip("/") if source.startswith("/") else source
    if path in ("/", "/etc") or path.startswith(("/proc", "/sys", "/dev", "/var/lib/docker", "/boot")):
        return True
    return any(sock == path or sock.startswith(path.rstrip("/") + "/") for sock in _SOCKETS)
