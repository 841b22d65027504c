"""What a run and the api need of the engine layer (Engines), and the opaque engine handles it hands out."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # types only: this module loads neither the Docker SDK nor the engine modules that use it
    from porttest.config import EngineSpec, Environment, ImageSpec, WaitFor
    from porttest.engine.connect import EngineInfo
    from porttest.engine.container import ExitState, Started
    from porttest.engine.image import ResolvedImage
    from porttest.engine.networks import OwnNetwork
    from porttest.engine.probe import ProbeOutput
    from porttest.results.model import ShipRecord


class EngineHandle(Protocol):
    """A connected engine as a run sees it: where it is, what it says about itself, and how to let it go.
    Everything else about it belongs to the Engines object that connected it."""

    @property
    def endpoint(self) -> str: ...

    @property
    def info(self) -> EngineInfo: ...

    def close(self) -> None: ...


class Shipping(Protocol):
    """Ships the run's one image to the engines of a run (one object per run: a registry gets one push)."""

    def ship(self, target: EngineHandle, mode: str, push_to: str | None = None) -> ShipRecord: ...


class Engines(Protocol):
    """Every engine operation a run and `clean` perform, in the order a run meets them. Expected failures are
    PorttestError; an engine lost on the way is docker.errors.DockerException or requests.RequestException."""

    def connect(self, spec: EngineSpec) -> EngineHandle:
        """EngineError when the engine cannot be reached."""
        ...

    def resolve_image(self, source: EngineHandle, image: ImageSpec, build: bool) -> ResolvedImage:
        """The run's image on the local engine (built when asked); ImageError otherwise."""
        ...

    def shipper(self, source: EngineHandle, image: ResolvedImage, cancel: threading.Event) -> Shipping:
        """What ships `image` from `source` to each environment's engine; gives up when `cancel` is set."""
        ...

    def create_network(self, engine: EngineHandle, env: Environment, run_id: str) -> OwnNetwork:
        """The environment's own network (for services and ip_variables); the caller registers it for removal."""
        ...

    def create_service(self, engine: EngineHandle, env: Environment, name: str, image_id: str, run_id: str,
                       network: OwnNetwork | None, main: Started | None = None) -> Started:
        """Create (not start) one of the environment's services; `main` is the tested container, for a sidecar."""
        ...

    def service_address(self, engine: EngineHandle, started: Started, network: OwnNetwork) -> str | None:
        """A started service's address on the environment's network (None for a sidecar)."""
        ...

    def create(self, engine: EngineHandle, env: Environment, image_id: str, run_id: str,
               network: OwnNetwork | None = None) -> Started:
        """Create (not start) the environment's container, on `network` when given; the caller registers it for
        removal first."""
        ...

    def verify_runtime(self, engine: EngineHandle, env: Environment, started: Started) -> str:
        """The OCI runtime the created container runs under; ContainerError when it is not the one asked for."""
        ...

    def start(self, engine: EngineHandle, started: Started) -> None: ...

    def container_image(self, engine: EngineHandle, container_id: str) -> str:
        """The image ID the engine says the container runs."""
        ...

    def wait_ready(self, engine: EngineHandle, started: Started, wait: WaitFor | None,
                   cancel: threading.Event) -> float:
        """Block until the readiness condition holds (seconds waited); ContainerError when it does not."""
        ...

    def handoff(self, engine: EngineHandle) -> dict[str, Any]:
        """What a pytest child needs to open its own client to the same engine (JSON-ready, no secrets)."""
        ...

    def facts(self, engine: EngineHandle, container_id: str, runtime: str, probe: ProbeOutput | None) -> dict[str, Any]:
        """The container's facts: from the probe the child ran, or (none, or it failed) from a probe of our own."""
        ...

    def exit_state(self, engine: EngineHandle, container_id: str) -> ExitState | None:
        """None while the container runs; otherwise why it stopped."""
        ...

    def remove(self, engine: EngineHandle, container_id: str) -> None:
        """Force-remove a container and its anonymous volumes; already gone is fine."""
        ...

    def remove_leftover(self, engine: EngineHandle, kind: str, name: str) -> None:
        """Remove a network or volume porttest made (kind as find_leftovers lists it); already gone is fine."""
        ...

    def find_leftovers(self, engine: EngineHandle) -> list[dict[str, Any]]:
        """porttest-labelled containers, then networks and volumes, on the engine (Id, Names, Labels, and Kind:
        "container", "network" or "volume")."""
        ...
