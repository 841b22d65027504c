"""The real Engines: each operation delegates to the engine layer's functions over the Docker SDK, unchanged."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from porttest.config import EngineSpec, Environment, ImageSpec, WaitFor
from porttest.engine import connect as connecting
from porttest.engine import container as containers
from porttest.engine import networks, seeded, services
from porttest.engine.connect import Engine
from porttest.engine.image import ResolvedImage, resolve
from porttest.engine.probe import ProbeOutput, facts_from, probe_facts
from porttest.engine.protocol import EngineHandle, Engines
from porttest.engine.shipping import Shipper
from porttest.results.model import ShipRecord


def _engine(handle: EngineHandle) -> Engine:
    """The SDK-backed engine behind a handle; only handles this module's connect() made are accepted."""
    if not isinstance(handle, Engine):
        raise TypeError(f"not an engine DockerEngines connected: {handle!r}")
    return handle


@dataclass(frozen=True)
class _DockerShipping:
    """The run's Shipper, taking the run's engine handles."""

    shipper: Shipper

    def ship(self, target: EngineHandle, mode: str, push_to: str | None = None) -> ShipRecord:
        return self.shipper.ship(_engine(target), mode, push_to)


class DockerEngines:
    """Engines reached through the Docker SDK (Docker, Podman's compatible API; unix, tcp+TLS and ssh)."""

    def connect(self, spec: EngineSpec) -> EngineHandle:
        return connecting.connect(spec)

    def resolve_image(self, source: EngineHandle, image: ImageSpec, build: bool) -> ResolvedImage:
        return resolve(_engine(source), image, build=build)

    def shipper(self, source: EngineHandle, image: ResolvedImage, cancel: threading.Event) -> _DockerShipping:
        return _DockerShipping(Shipper(_engine(source), image, cancel=cancel))

    def create_network(self, engine: EngineHandle, env: Environment, run_id: str) -> networks.OwnNetwork:
        found = _engine(engine)
        name = containers.container_name(run_id, env.name)
        return networks.create(found, name, containers.labels_for(run_id, env.name))

    def create_service(self, engine: EngineHandle, env: Environment, name: str, image_id: str, run_id: str,
                       network: networks.OwnNetwork | None,
                       main: containers.Started | None = None) -> containers.Started:
        return services.create_service(_engine(engine), env.name, name, env.services[name], image_id, run_id,
                                       network, main)

    def service_address(self, engine: EngineHandle, started: containers.Started,
                        network: networks.OwnNetwork) -> str | None:
        return services.address_of(_engine(engine), started, network)

    def create(self, engine: EngineHandle, env: Environment, image_id: str, run_id: str,
               network: networks.OwnNetwork | None = None) -> containers.Started:
        return containers.create(_engine(engine), env, image_id, run_id, network)

    def verify_runtime(self, engine: EngineHandle, env: Environment, started: containers.Started) -> str:
        return containers.verify_runtime(_engine(engine), env, started)

    def start(self, engine: EngineHandle, started: containers.Started) -> None:
        containers.start(_engine(engine), started)

    def container_image(self, engine: EngineHandle, container_id: str) -> str:
        return str(_engine(engine).client.api.inspect_container(container_id)["Image"])

    def wait_ready(self, engine: EngineHandle, started: containers.Started, wait: WaitFor | None,
                   cancel: threading.Event) -> float:
        return containers.wait_ready(_engine(engine), started, wait, cancel)

    def handoff(self, engine: EngineHandle) -> dict[str, Any]:
        return connecting.handoff(_engine(engine))

    def facts(self, engine: EngineHandle, container_id: str, runtime: str, probe: ProbeOutput | None) -> dict[str, Any]:
        real = _engine(engine)
        if probe is not None and probe.error is None:
            return facts_from(probe, real, runtime)
        return probe_facts(real, container_id, runtime)

    def exit_state(self, engine: EngineHandle, container_id: str) -> containers.ExitState | None:
        return containers.exit_state(_engine(engine), container_id)

    def remove(self, engine: EngineHandle, container_id: str) -> None:
        containers.remove(_engine(engine), container_id)

    def remove_leftover(self, engine: EngineHandle, kind: str, name: str) -> None:
        (seeded.remove_volumes if kind == "volume" else networks.remove)(_engine(engine), [name])

    def find_leftovers(self, engine: EngineHandle) -> list[dict[str, Any]]:
        return containers.find_leftovers(_engine(engine))


if TYPE_CHECKING:  # mypy checks here that the real implementation keeps to the protocol
    _CONFORMS: Engines = DockerEngines()
