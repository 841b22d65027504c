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


@dataclass(frozen=True)
class OwnNetwork:
    """The environment's network and the address its container gets on it."""

    name: str
    address: str
    gateway: str
    # Services started so far (name, address): written into /etc/hosts of the containers that start after them, so
    # names resolve also where the engine's embedded DNS does not work (a dockerd with --iptables=false).
    hosts: tuple[tuple[str, str], ...] = ()

    def create_kwargs(self, api_version: str) -> dict[str, Any]:
        """containers.create() keywords that attach the tested container at its address."""
        endpoint = EndpointConfig(api_version, ipv4_address=self.address)
        return {"network": self.name, "networking_config": {self.name: endpoint}}

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
    probe = api.create_network(name, driver="bridge", labels=labels, check_duplicate=True)
    try:
        config = next(c for c in (api.inspect_network(probe["Id"]).get("IPAM") or {}).get("Config") or ()
                      if ":" not in c.get("Subnet", ":"))
    finally:
        remove(engine, [probe["Id"]])
    subnet = ipaddress.ip_network(config["Subnet"])
    hosts = subnet.hosts()
    gateway = config.get("Gateway") or str(next(hosts))
    address = next(str(h) for h in hosts if str(h) != gateway)
    # The engine hands out the upper half to the services; the tested container's address is below it, so a
    # service that starts first never takes it.
    upper = list(subnet.subnets(prefixlen_diff=1))[-1] if subnet.prefixlen < 30 else subnet
    ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet), gateway=gateway, iprange=str(upper))])
    api.create_network(name, driver="bridge", labels=labels, ipam=ipam, check_duplicate=True)
    return OwnNetwork(name, address, gateway)


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
