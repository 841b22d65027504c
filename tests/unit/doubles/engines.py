"""An in-memory porttest.engine.protocol.Engines (as httpx's MockTransport): records every call, fails where told."""

from __future__ import annotations

import contextlib
import itertools
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from porttest.config import EngineSpec, Environment, ImageSpec, WaitFor
from porttest.engine.connect import EngineInfo
from porttest.engine.container import (
    LABEL_CREATED,
    LABEL_ENV,
    LABEL_OWNER,
    LABEL_RUN,
    ExitState,
    Started,
    container_name,
    labels_for,
)
from porttest.engine.image import ResolvedImage
from porttest.engine.networks import OwnNetwork
from porttest.engine.probe import ProbeOutput, facts_from
from porttest.errors import ContainerError, Interrupted
from porttest.results.model import ShipRecord
from porttest.run.tracker import force_quit

LOCAL = "unix:///var/run/docker.sock"  # what an environment without engine.host (and the image's source) reaches
IMAGE_ID = "sha256:" + "ab" * 32
# What the pytest child gets to reach "the engine": a socket that does not exist, so that the child's own facts
# probe fails at once and the runner falls back to facts() here (see porttest.engine.connect.reopen).
HANDOFF = {"host": "unix:///nonexistent/porttest-double.sock", "tls": None, "ssh": None, "api_version": "1.41"}
HOLD_SECONDS = 10.0  # an interrupted call waits at most this long for the run to cancel
OWN_PROBE = {"probed_by": "the double"}


def engine_info(endpoint: str) -> EngineInfo:
    return EngineInfo(id="DOUBLE:" + endpoint, name="double", kind="docker", version="24.0.0", api_version="1.43",
                      os="Double Linux", os_type="linux", arch="x86_64", kernel="6.1.0-double", cgroup_version="2",
                      runtimes=("runc",), default_runtime="runc")


@dataclass
class Handle:
    """A connected engine as the double hands it out; `closed` says whether the runner let it go."""

    endpoint: str
    info: EngineInfo
    closed: bool = False

    def close(self) -> None:
        self.closed = True


@dataclass
class Container:
    id: str
    name: str
    endpoint: str
    labels: dict[str, str]
    image_id: str = IMAGE_ID
    running: bool = False
    removed: bool = False


@dataclass(frozen=True)
class Call:
    operation: str
    endpoint: str
    detail: str = ""


@dataclass
class _Rule:
    operation: str
    endpoint: str | None
    error: BaseException
    once: bool

    def matches(self, operation: str, endpoint: str) -> bool:
        return self.operation == operation and self.endpoint in (None, endpoint)


@dataclass
class FakeShipping:
    engines: FakeEngines
    image: ResolvedImage

    def ship(self, target: Handle, mode: str, push_to: str | None = None) -> ShipRecord:
        self.engines._enter("ship", target, mode)
        return ShipRecord(mode="present", asked=mode, image_id=self.image.id)


@dataclass
class FakeEngines:
    """Engines that live in memory. Every operation of the protocol is recorded in `calls` (operation, endpoint);
    `fail()` makes one fail, `exits()` reports containers as stopped, `hold_ready()` makes readiness wait for the run
    to be cancelled. An Interrupted given to fail() is delivered as the real thing is: a signal to the main thread,
    while the call it was given for (in an environment's thread) stays in flight until the run cancels."""

    calls: list[Call] = field(default_factory=list)
    handles: list[Handle] = field(default_factory=list)
    containers: dict[str, Container] = field(default_factory=dict)
    child_probes: list[ProbeOutput | None] = field(default_factory=list)
    run_cancel: threading.Event | None = None
    _rules: list[_Rule] = field(default_factory=list)
    _exits: dict[str, ExitState] = field(default_factory=dict)
    _held_ready: set[str] = field(default_factory=set)
    _ids: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- what a test tells it ------------------------------------------------------------------------------------

    def fail(self, operation: str, error: BaseException, endpoint: str | None = None) -> None:
        """`operation` (a method name of Engines, or "ship") raises `error` on `endpoint` (None: on every engine);
        every time, except an Interrupted, which is one signal."""
        self._rules.append(_Rule(operation, endpoint, error, once=isinstance(error, Interrupted)))

    def exits(self, endpoint: str, state: ExitState) -> None:
        """exit_state() reports the containers on `endpoint` as stopped, for `state`'s reason."""
        self._exits[endpoint] = state

    def hold_ready(self, endpoint: str) -> None:
        """wait_ready() on `endpoint` waits for the run's cancel, then gives up as the real one does."""
        self._held_ready.add(endpoint)

    def add_leftover(self, endpoint: str, run_id: str = "20200101000000-abcdef", env: str = "old",
                     owner: str = "elsewhere:1", created: str = "2020-01-01T00:00:00Z",
                     labelled: bool = True) -> Container:
        """A container some earlier run left on `endpoint` (`labelled=False`: one porttest does not own)."""
        labels = {LABEL_RUN: run_id, LABEL_ENV: env, LABEL_CREATED: created, LABEL_OWNER: owner} if labelled else {}
        return self._new_container(endpoint, container_name(run_id, env), labels)

    # -- what a test asserts on ----------------------------------------------------------------------------------

    def operations(self, endpoint: str | None = None) -> list[str]:
        with self._lock:
            return [c.operation for c in self.calls if endpoint in (None, c.endpoint)]

    def live(self) -> list[Container]:
        """Containers that exist on some engine (not removed)."""
        with self._lock:
            return [c for c in self.containers.values() if not c.removed]

    # -- the protocol ----------------------------------------------------------------------------------------------

    def connect(self, spec: EngineSpec) -> Handle:
        endpoint = spec.host or LOCAL
        self._enter("connect", endpoint)
        handle = Handle(endpoint, engine_info(endpoint))
        with self._lock:
            self.handles.append(handle)
        return handle

    def resolve_image(self, source: Handle, image: ImageSpec, build: bool) -> ResolvedImage:
        self._enter("resolve_image", source, image.ref or "")
        return ResolvedImage(ref=image.ref, id=IMAGE_ID, repo_digests=(), architecture="amd64", os="linux", size=1,
                             layers=("sha256:" + "cd" * 32,))

    def shipper(self, source: Handle, image: ResolvedImage, cancel: threading.Event) -> FakeShipping:
        self._enter("shipper", source)
        self.run_cancel = cancel
        return FakeShipping(self, image)

    def create_network(self, engine: Handle, env: Environment, run_id: str) -> OwnNetwork:
        self._enter("create_network", engine, env.name)
        return OwnNetwork(f"{container_name(run_id, env.name)}-net", "10.9.0.2", "10.9.0.1")

    def create_service(self, engine: Handle, env: Environment, name: str, image_id: str, run_id: str,
                       network: OwnNetwork | None, main: Started | None = None) -> Started:
        self._enter("create_service", engine, f"{env.name}/{name}")
        made = self._new_container(engine.endpoint, f"{container_name(run_id, env.name)}-svc-{name}",
                                   labels_for(run_id, env.name), image_id)
        return Started(made.id, made.name)

    def service_address(self, engine: Handle, started: Started, network: OwnNetwork) -> str | None:
        self._enter("service_address", engine, started.id)
        return "10.9.128.1"

    def create(self, engine: Handle, env: Environment, image_id: str, run_id: str,
               network: OwnNetwork | None = None) -> Started:
        self._enter("create", engine, env.name)
        made = self._new_container(engine.endpoint, container_name(run_id, env.name), labels_for(run_id, env.name),
                                   image_id)
        return Started(made.id, made.name)

    def verify_runtime(self, engine: Handle, env: Environment, started: Started) -> str:
        self._enter("verify_runtime", engine, started.id)
        return env.run.runtime or engine.info.default_runtime

    def start(self, engine: Handle, started: Started) -> None:
        self._enter("start", engine, started.id)
        self._container(started.id).running = True

    def container_image(self, engine: Handle, container_id: str) -> str:
        self._enter("container_image", engine, container_id)
        return self._container(container_id).image_id

    def wait_ready(self, engine: Handle, started: Started, wait: WaitFor | None, cancel: threading.Event) -> float:
        self._enter("wait_ready", engine, started.id)
        if engine.endpoint in self._held_ready:
            cancel.wait(HOLD_SECONDS)
            raise ContainerError("cancelled while waiting for readiness")
        return 0.0

    def handoff(self, engine: Handle) -> dict[str, Any]:
        self._enter("handoff", engine)
        return dict(HANDOFF)

    def facts(self, engine: Handle, container_id: str, runtime: str, probe: ProbeOutput | None) -> dict[str, Any]:
        with self._lock:
            self.child_probes.append(probe)
        if probe is not None and probe.error is None:
            self._enter("facts", engine, "the child's probe")
            return facts_from(probe, engine, runtime)  # type: ignore[arg-type] - it reads engine.info only
        self._enter("facts", engine, "a probe of its own")
        return {**OWN_PROBE, "runtime": {"name": runtime}}

    def exit_state(self, engine: Handle, container_id: str) -> ExitState | None:
        self._enter("exit_state", engine, container_id)
        with self._lock:
            if self._container(container_id).removed:
                return ExitState("removed", None, False, "the container was removed by someone else", "")
            return self._exits.get(engine.endpoint)

    def remove(self, engine: Handle, container_id: str) -> None:
        self._enter("remove", engine, container_id)
        with self._lock:
            found = self.containers.get(container_id)
            if found is not None:  # already gone is fine, as for the real one
                found.removed = True
                found.running = False

    def remove_leftover(self, engine: Handle, kind: str, name: str) -> None:
        self._enter("remove_leftover", engine, f"{kind} {name}")

    def find_leftovers(self, engine: Handle) -> list[dict[str, Any]]:
        self._enter("find_leftovers", engine)
        with self._lock:
            return [{"Id": c.id, "Names": ["/" + c.name], "Labels": dict(c.labels), "Kind": "container"}
                    for c in self.live()
                    if c.endpoint == engine.endpoint and LABEL_RUN in c.labels]

    # -- inside --------------------------------------------------------------------------------------------------

    def _new_container(self, endpoint: str, name: str, labels: dict[str, str], image_id: str = IMAGE_ID) -> Container:
        with self._lock:
            made = Container(f"{next(self._ids):04d}" + "c0ffee" * 10, name, endpoint, labels, image_id)
            self.containers[made.id] = made
        return made

    def _container(self, container_id: str) -> Container:
        with self._lock:
            return self.containers[container_id]

    def _enter(self, operation: str, where: Handle | str, detail: str = "") -> None:
        """Record the call, then fail as told: raise the error, or deliver the signal and stay in flight."""
        endpoint = where if isinstance(where, str) else where.endpoint
        with self._lock:
            self.calls.append(Call(operation, endpoint, detail))
            rule = next((r for r in self._rules if r.matches(operation, endpoint)), None)
            if rule is not None and rule.once:
                self._rules.remove(rule)
        if rule is None:
            return
        if not isinstance(rule.error, Interrupted) or threading.current_thread() is threading.main_thread():
            raise rule.error  # in the main thread, a signal handler's Interrupted surfaces right where it runs
        _signal_main_thread(rule.error.signal_name)
        if self.run_cancel is None or not self.run_cancel.wait(HOLD_SECONDS):
            raise AssertionError(f"the run was not cancelled within {HOLD_SECONDS}s of {rule.error.signal_name}")


def _signal_main_thread(name: str) -> None:
    signum = getattr(signal, name)
    if getattr(signal.getsignal(signum), "__self__", None) is not _handler:
        raise AssertionError(f"{name} would not reach porttest as Interrupted: use the interrupts() fixture helper")
    signal.pthread_kill(threading.main_thread().ident or 0, signum)


class _Handler:
    """The CLI's handling of SIGINT/SIGTERM (porttest.cli.main): the first signal raises Interrupted in the main
    thread, a second one stops the waiting (force_quit)."""

    def __init__(self) -> None:
        self.count = 0

    def handle(self, signum: int, frame: object) -> None:
        self.count += 1
        if self.count == 1:
            raise Interrupted(signal.Signals(signum).name)
        force_quit()


_handler = _Handler()


@contextlib.contextmanager
def interrupts() -> Iterator[_Handler]:
    """SIGINT and SIGTERM raise Interrupted in the main thread while inside, as under `porttest run`."""
    _handler.count = 0
    saved = {sig: signal.signal(sig, _handler.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield _handler
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)
