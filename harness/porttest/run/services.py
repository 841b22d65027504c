"""One environment's services through a cell: shipped by image ID, started and ready before the tested container
(sidecars right after it), watched during the suites, and removed after it, with their network last."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from porttest.config import Environment
from porttest.engine.protocol import EngineHandle
from porttest.errors import ContainerError, PorttestError
from porttest.results.model import ServiceRecord, ShipRecord
from porttest.run.context import RunContext, image_key

if TYPE_CHECKING:
    from porttest.engine.container import Started
    from porttest.engine.networks import OwnNetwork


@dataclass
class EnvironmentServices:
    """What a cell started for its services, in order, and what the results say of each."""

    env: Environment
    ctx: RunContext
    engine: EngineHandle
    network: OwnNetwork | None = None
    started: dict[str, Started] = field(default_factory=dict)
    records: dict[str, ServiceRecord] = field(default_factory=dict)

    def ship(self) -> None:
        """Every service's image onto this engine, by image ID; one that could not be resolved is this
        environment's error."""
        mode = self.env.ship_mode if self.env.push_to is None else "auto"  # a registry push is the tested image's
        for name, spec in self.env.services.items():
            image = self.ctx.service_images[image_key(spec)]
            if image.error is not None:  # e.g. a pod's sidecar whose image this machine cannot get
                hint = "; ".join(filter(None, (image.error.hint, f"or leave it out of this environment: "
                                                                  f"services: {{{name}: null}}")))
                raise ContainerError(f"service {name}: {image.error.message}", hint=hint)
            assert image.image is not None and image.shipper is not None
            first, first_id = self.ctx.service_reference.get(name, (self.env.name, image.image.id))
            if first_id != image.image.id and not self.ctx.allow_different_services:
                raise ContainerError(
                    f"service {name} would run image {_short(image.image.id)} here, but {_short(first_id)} in "
                    f"{first}", hint="a parity verdict compares like with like: give every environment the same "
                                     f"image for {name}, or set allow_different_services: true at the top level to "
                                     "compare anyway (the difference is then reported)")
            shipped: ShipRecord = image.shipper.ship(self.engine, mode)
            self.records[name] = ServiceRecord(image=spec.image.ref or "(build)", image_id=image.image.id,
                                               share_network=spec.share_network, ship=shipped)

    def open_network(self) -> OwnNetwork | None:
        """The environment's own network, when services (other than sidecars) or ip_variables need one."""
        if any(not s.share_network for s in self.env.services.values()) or self.env.ip_variables:
            self.network = self.ctx.engines.create_network(self.engine, self.env, self.ctx.run_id)
            self.ctx.tracker.add_network(self.env.name, self.engine, self.network.name)
        return self.network

    def start(self, sidecars: bool, main: Started | None = None) -> None:
        """Start the services (or, after the tested container, the sidecars) and wait until each is ready."""
        chosen = [(n, s) for n, s in self.env.services.items() if s.share_network == sidecars]
        for name, spec in chosen:
            image_id = self.records[name].image_id or ""
            try:
                started = self.ctx.engines.create_service(self.engine, self.env, name, image_id, self.ctx.run_id,
                                                          self.network, main)
                self.ctx.tracker.add_container(f"{self.env.name}/{name}", self.engine, started.id)
                self.started[name] = started
                self.ctx.engines.start(self.engine, started)
            except PorttestError as exc:
                raise _about(name, exc) from None
            address = None
            if self.network is not None and not spec.share_network:
                address = self.ctx.engines.service_address(self.engine, started, self.network)
            if self.network is not None and address:  # the containers that start later find it by name, DNS or not
                self.network = self.network.with_host(name, address)
            self.records[name] = self.records[name].model_copy(
                update={"container": started.name, "address": address,
                        "image_id": self.ctx.engines.container_image(self.engine, started.id)})
        for name, spec in chosen:
            try:
                self.ctx.engines.wait_ready(self.engine, self.started[name], spec.wait_for, self.ctx.tracker.cancel)
            except PorttestError as exc:
                raise _about(name, exc) from None

    def check(self) -> None:
        """After the suites: a service that stopped makes the tests' results untrustworthy."""
        for name, started in self.started.items():
            state = self.ctx.engines.exit_state(self.engine, started.id)
            if state is not None:
                raise ContainerError(f"service {name} stopped during the suites: {state.describe()}",
                                     hint="the tests' own results are not trusted after this")

    def facts(self) -> dict[str, Any]:
        """What the facts say of each service: the image it ran, and its run options (variables by name only)."""
        out: dict[str, Any] = {}
        for name, spec in self.env.services.items():
            run: dict[str, Any] = spec.run.model_dump(mode="json", exclude_none=True)
            variables = run.get("environment")
            if isinstance(variables, dict | list):
                run["environment"] = sorted(str(v).split("=", 1)[0] for v in variables)
            image_id = self.records[name].image_id if name in self.records else None
            out[name] = {"image": (image_id or "").removeprefix("sha256:")[:12] or None, "run": run}
        return out

    def handoff(self) -> dict[str, Any]:
        """What the child's `services` fixture needs: each service's container and address."""
        return {name: {"container_id": self.started[name].id, "container_name": self.started[name].name,
                       "address": self.records[name].address, "share_network": self.records[name].share_network,
                       "image_id": self.records[name].image_id}
                for name in self.started}


def remove_services(ctx: RunContext, env: str, notes: list[str]) -> None:
    """Remove an environment's service containers, then its network; what cannot be removed becomes a note."""
    for key in ctx.tracker.services_of(env):
        owned = ctx.tracker.drop_container(key)
        if owned is None:
            continue
        try:
            ctx.engines.remove(*owned)
        except Exception as exc:  # noqa: BLE001
            notes.append(f"service container {owned[1][:12]} could not be removed: {exc}")
    network = ctx.tracker.drop_network(env)
    if network is not None:
        engine, name = network
        with contextlib.suppress(Exception):
            ctx.engines.remove_leftover(engine, "network", name)
            return
        notes.append(f"network {name} could not be removed; `porttest clean` will")


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _about(name: str, exc: PorttestError) -> ContainerError:
    return ContainerError(f"service {name}: {exc.message}", hint=exc.hint)
