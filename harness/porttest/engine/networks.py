"""A network of the environment's own: its services reach each other by name, and the tested container's address
is known before it starts (a pod's IP).

Docker gives a container on its default bridge an address only when it starts, too late for the environment
variables that Kubernetes fills with the pod's IP (`fieldRef: status.podIP`). On a user-defined bridge network the
address can be chosen: porttest creates one per environment that has services or `ip_variables` (Docker picks a
free subnet), gives the tested container the first address after the gateway, and removes the network after its
containers. The network carries porttest's labels, so `porttest clean` sweeps one that a killed run left.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import docker.errors
from docker.types import EndpointConfig, IPAMConfig, IPAMPool

from porttest.engine.connect import Engine
from porttest.errors import ContainerError


@dataclass(frozen=True)
class OwnNetwork:
    """The environment's network: the tested container's address on it, and the services' so far. Every address is
    chosen by porttest (some engines, podman's CNI among them, take a fixed address only inside an IP range they
    would also hand out themselves, so none is left to the engine)."""

    name: str
    address: str
    gateway: str
    subnet: str = ""
    # Services started so far (name, address): written into /etc/hosts of the containers that start after them, so
    # names resolve also where the engine's embedded DNS does not work (a dockerd with --iptables=false).
    hosts: tuple[tuple[str, str], ...] = ()

    def create_kwargs(self, api_version: str, address: str | None = None) -> dict[str, Any]:
        """containers.create() keywords that attach a container at its address (the tested container's unless
        another is given)."""
        endpoint = EndpointConfig(api_version, ipv4_address=address or self.address)
        return {"network": self.name, "networking_config": {self.name: endpoint}}

    def next_address(self) -> str:
        """The address for the next service: after the tested container's and the services' so far."""
        taken = {self.gateway, self.address, *(address for _, address in self.hosts)}
        return next(str(h) for h in ipaddress.ip_network(self.subnet).hosts() if str(h) not in taken)

    def with_host(self, name: str, address: str) -> OwnNetwork:
        return replace(self, hosts=(*self.hosts, (name, address)))


def with_hosts(extra_hosts: Any, hosts: tuple[tuple[str, str], ...]) -> Any:
    """run.extra_hosts (a mapping, a "name:ip" list, or none) with the services' names added; the run's win."""
    if not hosts:
        return extra_hosts
    given = extra_hosts if isinstance(extra_hosts, dict) else \
        dict(str(item).split(":", 1) for item in extra_hosts or () if ":" in str(item))
    return {**dict(hosts), **given}


def network_name(container_name: str) -> str:
    return f"{container_name}-net"


def create(engine: Engine, container_name: str, labels: dict[str, str]) -> OwnNetwork:
    """A labelled bridge network for the container, on a subnet the engine found free.

    The engine assigns a chosen address only on a subnet the user configured, so the network is made twice: once
    to learn which subnet the engine's own allocator picks, and again with that subnet written out."""
    name = network_name(container_name)
    api = engine.client.api
    for attempt in range(_ATTEMPTS):
        subnet, gateway = _free_subnet(engine, name, labels)
        address = next(str(h) for h in subnet.hosts() if str(h) != gateway)
        ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet), gateway=gateway)])
        try:
            api.create_network(name, driver="bridge", labels=labels, ipam=ipam, check_duplicate=True)
        except docker.errors.APIError as exc:
            # Another environment's network took the subnet between the probe and now (podman hands the same
            # free subnet to two probes): probe again.
            if attempt + 1 < _ATTEMPTS and any(w in str(exc).lower() for w in ("overlap", "already used", "in use")):
                continue
            raise
        return OwnNetwork(name, address, gateway, str(subnet))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


_ATTEMPTS = 5


def _free_subnet(engine: Engine, name: str, labels: dict[str, str]) -> tuple[ipaddress.IPv4Network, str]:
    """A subnet (and its gateway) that the engine's own allocator finds free: a network made and removed again."""
    api = engine.client.api
    probe = api.create_network(name, driver="bridge", labels=labels, check_duplicate=True)
    try:
        configs = (api.inspect_network(probe["Id"]).get("IPAM") or {}).get("Config") or ()
    finally:
        remove(engine, [probe["Id"]])
    for config in configs:
        found = ipaddress.ip_network(str(config.get("Subnet") or "::/0"), strict=False)
        if isinstance(found, ipaddress.IPv4Network) and found.num_addresses >= 8:
            return found, str(config.get("Gateway") or next(found.hosts()))
    raise ContainerError(f"engine {engine.endpoint} gave the network {name} no IPv4 subnet",
                         hint="the engine's default address pools must have IPv4 ranges")


def remove(engine: Engine, names: list[str], patience: float = 15.0) -> None:
    """Remove networks by name; already gone is fine. A network whose containers are still being removed (by the
    run's other thread, after a signal) is waited for, `patience` seconds at most."""
    for name in names:
        deadline = time.monotonic() + patience
        while True:
            try:
                engine.client.api.remove_network(name)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if "active endpoints" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                raise
            break


def labelled(engine: Engine, label: str) -> Iterator[dict[str, Any]]:
    """Networks carrying the label (any value), as the engine lists them."""
    for network in engine.client.api.networks(filters={"label": label}) or ():
        if label in (network.get("Labels") or {}):
            yield network
