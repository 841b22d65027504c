"""Container lifecycle: create from the image ID with the run profile, start, wait for readiness, remove."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import docker.errors
import requests

from porttest.config import Environment, WaitFor
from porttest.engine import networks, podman, seeded, toolbox
from porttest.engine.connect import Engine, short_reason
from porttest.engine.runtimes import non_root_refusal, platform_mismatch, refusal_hint, runtime_missing
from porttest.engine.session import CommandTimeout, ExecSession, Runner, SessionUnavailable, Shell, open_runner
from porttest.errors import ContainerError

LABEL_RUN = "io.porttest.run"
LABEL_ENV = "io.porttest.environment"
LABEL_CREATED = "io.porttest.created"
LABEL_OWNER = "io.porttest.owner"
LOG_TAIL = 20
HEALTH_INTERVAL_NS = 30_000_000_000  # Docker's default healthcheck interval


@dataclass(frozen=True)
class Started:
    """A running container porttest owns, and the shell its commands run with (a toolbox's, for a shell-less
    image: `toolbox` then names it)."""

    id: str
    name: str
    shell: Shell = field(default_factory=Shell)
    toolbox: str | None = None


@dataclass(frozen=True)
class ExitState:
    """Why a container is no longer running."""

    status: str
    exit_code: int | None
    oom_killed: bool
    error: str
    logs: str

    def describe(self) -> str:
        parts = [f"status {self.status}"]
        if self.exit_code is not None:
            parts.append(f"exit code {self.exit_code}")
        if self.oom_killed:
            parts.append("OOMKilled")
        if self.error:
            parts.append(self.error)
        return ", ".join(parts) + quote_log(self.logs)


def container_name(run_id: str, environment: str) -> str:
    return f"porttest-{run_id}-{re.sub(r'[^A-Za-z0-9_.-]', '-', environment)}"


def extra_labels() -> dict[str, str]:
    """Labels from PORTTEST_LABELS="key=value,key2=value2" (e.g. a CI job id), added to every container."""
    out = {}
    for item in os.environ.get("PORTTEST_LABELS", "").split(","):
        key, sep, value = item.strip().partition("=")
        if sep and key and not key.startswith("io.porttest.run"):
            out[key] = value
    return out


def labels_for(run_id: str, environment: str) -> dict[str, str]:
    return {
        **extra_labels(),
        LABEL_RUN: run_id,
        LABEL_ENV: environment,
        LABEL_CREATED: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        LABEL_OWNER: f"{socket.gethostname()}:{os.getpid()}",
    }


def owner_alive(labels: dict[str, str]) -> bool:
    """Whether the porttest process that created a container still runs on this machine."""
    host, _, pid = labels.get(LABEL_OWNER, "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read()
    except OSError:
        return False
    return b"porttest" in cmdline


def created_at(labels: dict[str, str]) -> datetime | None:
    try:
        return datetime.strptime(labels.get(LABEL_CREATED, ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def create(engine: Engine, env: Environment, image_id: str, run_id: str,
           network: networks.OwnNetwork | None = None) -> Started:
    """Create (not start) the container from the image ID; the caller registers it for removal first."""
    if env.run_as_non_root:
        image_user = str((engine.client.api.inspect_image(image_id).get("Config") or {}).get("User") or "")
        refusal = non_root_refusal(None if env.run.user is None else str(env.run.user), image_user)
        if refusal is not None:
            raise ContainerError(f"{refusal} (environment: {env.name})",
                                 hint="run_as_non_root (runAsNonRoot: true) refuses what would run as root: give the "
                                      "image a numeric non-root USER, or set runAsUser")
    kwargs: dict[str, Any] = env.run.sdk_kwargs()
    labels = {**kwargs.pop("labels", {}), **labels_for(run_id, env.name)}
    name = container_name(run_id, env.name)
    seeded_volumes: list[str] = []
    created: str | None = None
    box: toolbox.Toolbox | None = None
    try:
        with _refusals(engine, env, image_id):
            if env.files:
                mounts = seeded.seed(engine, image_id, name, labels, env.files, env.run.platform)
                seeded_volumes = [str(m["Source"]) for m in mounts]
                kwargs["mounts"] = [*(kwargs.get("mounts") or ()), *mounts]
            if network is not None:  # the environment's own (services, ip_variables); the run removes it
                kwargs.update(network.create_kwargs(engine.client.api.api_version))
                kwargs["extra_hosts"] = networks.with_hosts(kwargs.get("extra_hosts"), network.hosts)
            if network is not None and env.ip_variables:
                kwargs["environment"] = _with_variables(kwargs.get("environment"),
                                                        dict.fromkeys(env.ip_variables, network.address))
                for key in ("command", "entrypoint"):  # $(POD_IP) in args, as the kubelet expands it
                    if isinstance(kwargs.get(key), list):
                        kwargs[key] = [_expand(str(a), env.ip_variables, network.address) for a in kwargs[key]]
            container = engine.client.containers.create(image_id, name=name, labels=labels, detach=True, **kwargs)
            created = str(container.id)
            if not toolbox.has_shell(engine.client.api, created):
                # No /bin/sh: the same container again, with porttest's toolbox mounted read-only beside the image.
                engine.client.api.remove_container(created, force=True, v=True)
                created = None
                box, mounts = toolbox.provide(engine, image_id, name, labels, env.run.platform, env.toolbox)
                seeded_volumes += [str(m["Source"]) for m in mounts]
                kwargs["mounts"] = [*(kwargs.get("mounts") or ()), *mounts]
                container = engine.client.containers.create(image_id, name=name, labels=labels, detach=True, **kwargs)
                created = str(container.id)
    except BaseException:
        if created is not None:
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                engine.client.api.remove_container(created, force=True, v=True)
        seeded.remove_volumes(engine, seeded_volumes)
        raise
    return Started(id=str(container.id), name=name, shell=toolbox.shell_of(container.attrs),
                   toolbox=box.describe() if box is not None else None)


def _expand(arg: str, names: tuple[str, ...], address: str) -> str:
    """$(NAME) of an IP variable -> the address; $$(NAME) stays $(NAME), as Kubernetes escapes it."""
    for name in names:
        arg = arg.replace(f"$$({name})", "\0").replace(f"$({name})", address).replace("\0", f"$({name})")
    return arg


def _with_variables(environment: Any, added: dict[str, str]) -> dict[str, str] | list[str]:
    """run.environment (a mapping or KEY=VALUE list, or none) with the variables set; theirs win."""
    if isinstance(environment, list):
        return [item for item in environment if str(item).split("=", 1)[0] not in added] + \
            [f"{k}={v}" for k, v in added.items()]
    return {**(environment or {}), **added}


@contextlib.contextmanager
def _refusals(engine: Engine, env: Environment, image_id: str) -> Iterator[None]:
    """The engine's refusals to create the environment's containers, as ContainerError with what to do."""
    try:
        yield
    except docker.errors.ImageNotFound as exc:
        # Docker answers 404 both for a missing image and for an image of another platform than run.platform.
        mismatch = platform_mismatch(_api_reason(exc), env.run.platform, engine.info, image_id)
        if mismatch is not None:
            raise mismatch from None
        raise ContainerError(f"engine {engine.endpoint} does not hold image {image_id}") from None
    except docker.errors.InvalidVersion as exc:
        raise ContainerError(f"run options need a newer engine API than {engine.info.api_version}: {exc}",
                             hint="run.platform needs API 1.41 (Docker 20.10) or newer; drop it for this engine") \
            from None
    except docker.errors.APIError as exc:
        reason = _api_reason(exc)
        translated = (runtime_missing(engine.info, engine.endpoint, env.run.runtime, reason)
                      or platform_mismatch(reason, env.run.platform, engine.info, image_id))
        if translated is not None:
            raise translated from None
        raise ContainerError(f"the engine refused to create the container: {reason}",
                             hint=_create_hint(exc, engine)) from None
    except (TypeError, ValueError) as exc:
        raise ContainerError(f"run options rejected by the Docker SDK: {exc}",
                             hint="keys under run: take the values docker.containers.run() takes") from None


def verify_runtime(engine: Engine, env: Environment, started: Started) -> str:
    """The OCI runtime the created container will run under; ContainerError when it is not the one asked for.

    Docker refuses an unknown run.runtime at create; podman's compat API ignores HostConfig.Runtime and runs its
    default runtime, so a gVisor profile would quietly run under runc there."""
    if engine.info.kind == "podman":
        runtime = podman.oci_runtime(engine.client.api, started.id)
    else:
        attrs = engine.client.api.inspect_container(started.id)
        runtime = str((attrs.get("HostConfig") or {}).get("Runtime") or "")
    wanted = env.run.runtime
    if wanted and runtime and runtime != wanted:
        hint = ("podman's Docker-compatible API ignores the runtime a client asks for; set `runtime = "
                f"\"{wanted}\"` under [engine] in the podman service's containers.conf (one service per runtime)"
                if engine.info.kind == "podman" else None)
        raise ContainerError(f"run.runtime asks for {wanted}, but the engine runs the container under {runtime}",
                             hint=hint)
    return runtime or engine.info.default_runtime


def start(engine: Engine, started: Started) -> None:
    try:
        engine.client.api.start(started.id)
    except docker.errors.APIError as exc:
        raise ContainerError(f"the container did not start: {_api_reason(exc)}",
                             hint=_create_hint(exc, engine)) from None


def _api_reason(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc).strip()


def _create_hint(exc: docker.errors.APIError, engine: Engine) -> str | None:
    return refusal_hint(_api_reason(exc), engine.info)


def exit_state(engine: Engine, container_id: str) -> ExitState | None:
    """None while the container runs; otherwise its exit status and last log lines."""
    try:
        attrs = engine.client.api.inspect_container(container_id)
    except docker.errors.NotFound:
        return ExitState("removed", None, False, "the container was removed by someone else", "")
    state = attrs.get("State") or {}
    if state.get("Running") and not state.get("Restarting"):
        return None
    return ExitState(
        status=str(state.get("Status") or "exited"), exit_code=state.get("ExitCode"),
        oom_killed=bool(state.get("OOMKilled")), error=str(state.get("Error") or ""),
        logs=tail_logs(engine, container_id),
    )


def tail_logs(engine: Engine, container_id: str, lines: int = LOG_TAIL) -> str:
    try:
        raw = engine.client.api.logs(container_id, stdout=True, stderr=True, tail=lines)
    except (docker.errors.DockerException, requests.RequestException):
        return ""
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def ensure_running(engine: Engine, started: Started, when: str) -> None:
    state = exit_state(engine, started.id)
    if state is not None:
        raise ContainerError(f"the container stopped {when}: {state.describe()}",
                             hint="the image's command must keep running; set run.command (e.g. sleep infinity) "
                                  "for images that exit at once")


def wait_ready(engine: Engine, started: Started, wait: WaitFor | None, cancel: threading.Event) -> float:
    """Block until the readiness condition holds; returns the seconds waited. Stops early on cancel."""
    began = time.monotonic()
    if wait is None:
        ensure_running(engine, started, "right after start")
        return 0.0
    deadline = began + wait.timeout
    last_reason = ""
    health = _HealthClock.for_podman(engine, started) if wait.healthcheck else None
    # Port and command checks go through one persistent shell, opened at the first check: an exec per check costs
    # the engine about as much CPU as a hundred commands in a session, and three environments poll at once.
    session: Runner | None = None
    try:
        while True:
            ensure_running(engine, started, f"while waiting for {wait.kind}")
            if health is not None:
                health.tick()
            if session is None and (wait.port is not None or wait.command is not None):
                session = _open_checks(engine, started, max(deadline - time.monotonic(), 0.5))
            ready, last_reason = _check(engine, started, wait, session, deadline)
            if ready:
                return time.monotonic() - began
            if time.monotonic() >= deadline:
                raise ContainerError(
                    f"not ready after {wait.timeout:g}s waiting for {_describe(wait)}"
                    + (f" ({last_reason})" if last_reason else "")
                    + quote_log(tail_logs(engine, started.id)),
                    hint="raise wait_for.timeout, or check that the service starts under this environment's profile",
                )
            if cancel.wait(wait.interval):
                raise ContainerError("cancelled while waiting for readiness")
    finally:
        if session is not None:
            session.close()


def _open_checks(engine: Engine, started: Started, limit: float) -> Runner:
    """The shell that runs readiness checks, opened within `limit` seconds (what is left of the wait); one exec per
    check where no session can start (or it fails to)."""
    try:
        return open_runner(engine.client.api, started.id, "session", timeout=limit, shell=started.shell)[0]
    except (docker.errors.DockerException, requests.RequestException, ConnectionError, OSError):
        return ExecSession(engine.client.api, started.id, shell=started.shell)


@dataclass
class _HealthClock:
    """Runs a podman container's healthcheck on Docker's schedule (every interval after start), because podman
    leaves the scheduling to systemd timers that do not exist in most containers and CI runners."""

    engine: Engine
    container_id: str
    interval: float
    due: float

    @classmethod
    def for_podman(cls, engine: Engine, started: Started) -> _HealthClock | None:
        if engine.info.kind != "podman":
            return None
        config = (engine.client.api.inspect_container(started.id).get("Config") or {}).get("Healthcheck") or {}
        if not config.get("Test") or config["Test"][0] == "NONE":
            return None
        interval = (config.get("Interval") or HEALTH_INTERVAL_NS) / 1e9
        return cls(engine, started.id, interval, time.monotonic() + interval)

    def tick(self) -> None:
        if time.monotonic() >= self.due:
            self.due = time.monotonic() + self.interval
            # A refused run leaves the status as the last check left it; that status is what the caller reads.
            with contextlib.suppress(docker.errors.APIError):
                podman.run_healthcheck(self.engine.client.api, self.container_id)


def _describe(wait: WaitFor) -> str:
    if wait.port is not None:
        return f"port {wait.port} to listen"
    if wait.healthcheck:
        return "the healthcheck to pass"
    if wait.log is not None:
        return f"log line {wait.log!r}"
    return f"command {wait.command!r} to succeed"


def quote_log(text: str, heading: str = "last log lines:", lines: int | None = None) -> str:
    """Log text quoted under a heading, one `  | ` per line; empty when there is nothing to show."""
    kept = text.rstrip().splitlines()
    if lines is not None:
        kept = kept[-lines:]
    if not text.strip():
        return ""
    return (f"\n{heading}\n" if heading else "\n") + "\n".join("  | " + line for line in kept)


def _check(engine: Engine, started: Started, wait: WaitFor, session: Runner | None,
           deadline: float) -> tuple[bool, str]:
    # A check never outlives the wait: a hanging readiness command ends (and its shell is reset) at the deadline.
    limit = max(deadline - time.monotonic(), 0.5)
    try:
        if wait.port is not None:
            assert session is not None
            tables = ["cat", "/proc/net/tcp", "/proc/net/tcp6"]
            result = (session.run_argv(session.shell.tool(tables)) if isinstance(session, ExecSession) else  # no shell
                      session.run(" ".join(tables), timeout=limit))
            if result.rc not in (0, 1) and not result.stdout:
                reason = result.stderr.decode(errors="replace")[:200]
                return False, "cannot read /proc/net/tcp in the container: " + reason
            return listening(result.stdout.decode("ascii", "replace"), wait.port), ""
        if wait.healthcheck:
            attrs = engine.client.api.inspect_container(started.id)
            # Podman reports an empty Health (Status "") for containers without a healthcheck; Docker none at all.
            status = str(((attrs.get("State") or {}).get("Health") or {}).get("Status") or "")
            if not status:
                raise ContainerError("wait_for.healthcheck is set but the image defines no HEALTHCHECK",
                                     hint="add HEALTHCHECK to the image, set run.healthcheck, or wait for a port")
            return status == "healthy", f"health is {status}"
        if wait.log is not None:
            logs = engine.client.api.logs(started.id, stdout=True, stderr=True)
            return wait.log.encode() in logs, ""
        assert wait.command is not None and session is not None
        result = session.run(wait.command, timeout=limit)
        return result.rc == 0, f"last exit code {result.rc}"
    except docker.errors.APIError as exc:
        return False, short_reason(exc)
    except CommandTimeout:
        return False, "the check itself did not finish"
    except (SessionUnavailable, ConnectionError, OSError) as exc:
        # The container is going away (the next round says why) or its shell was lost (the next check opens one).
        return False, str(exc)[:200]


def listening(proc_net_tcp: str, port: int) -> bool:
    """Whether /proc/net/tcp{,6} text shows a socket in LISTEN state (0A) on `port`."""
    want = f"{port:04X}"
    for line in proc_net_tcp.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and ":" in fields[1] and fields[1].rsplit(":", 1)[1] == want and fields[3] == "0A":
            return True
    return False


def remove(engine: Engine, container_id: str) -> None:
    """Force-remove a container, its anonymous volumes and the volumes porttest filled for it; gone is fine."""
    try:
        inspected = engine.client.api.inspect_container(container_id)
        engine.client.api.remove_container(container_id, force=True, v=True)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise
        return
    seeded.remove_volumes(engine, seeded.container_volumes(inspected))


def find_leftovers(engine: Engine, run_id: str | None = None) -> list[dict[str, Any]]:
    """porttest-labelled containers, then networks and volumes, on an engine (optionally of one run); nothing without
    the label. Each is listed as the engine lists containers (Id, Names, Labels), with Kind "container", "network"
    or "volume"."""
    label = f"{LABEL_RUN}={run_id}" if run_id else LABEL_RUN
    found = [{**c, "Kind": "container"} for c in engine.client.api.containers(all=True, filters={"label": label})
             if LABEL_RUN in (c.get("Labels") or {})]
    others = [("network", n) for n in networks.labelled(engine, LABEL_RUN)] + \
        [("volume", v) for v in seeded.labelled_volumes(engine, LABEL_RUN)]
    for kind, item in others:
        labels = item.get("Labels") or {}
        if run_id is None or labels.get(LABEL_RUN) == run_id:
            found.append({"Id": item["Name"], "Names": [item["Name"]], "Labels": labels, "Kind": kind})
    return found
