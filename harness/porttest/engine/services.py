"""An environment's services: each from its image ID, on the environment's own network under its name, or (a pod's
sidecar) in the tested container's network namespace."""

from __future__ import annotations

from typing import Any

from porttest.config import ServiceSpec
from porttest.engine.connect import Engine
from porttest.engine.container import LABEL_ENV, Started, container_name, labels_for
from porttest.engine.networks import OwnNetwork, with_hosts
from porttest.errors import ContainerError

LABEL_SERVICE = "io.porttest.service"


def service_container_name(run_id: str, environment: str, service: str) -> str:
    return f"{container_name(run_id, environment)}-svc-{service}"


def create_service(engine: Engine, environment: str, name: str, spec: ServiceSpec, image_id: str, run_id: str,
                   network: OwnNetwork | None, main: Started | None = None) -> Started:
    """Create (not start) a service's container; the caller registers it for removal first. With share_network,
    `main` is the tested container, whose network namespace it joins."""
    kwargs: dict[str, Any] = spec.run.sdk_kwargs()
    labels = {**kwargs.pop("labels", {}), **labels_for(run_id, environment), LABEL_SERVICE: name}
    labels[LABEL_ENV] = environment
    if spec.share_network:
        if main is None:
            raise ContainerError(f"service {name} shares the tested container's network, which is not there yet")
        kwargs["network_mode"] = f"container:{main.id}"
        kwargs.pop("hostname", None)  # the namespace's hostname is the tested container's, as in a pod
    else:
        if network is None:
            raise ContainerError(f"service {name} needs the environment's own network, which is not there")
        endpoint = engine.client.api.create_endpoint_config(aliases=[name], ipv4_address=network.next_address())
        kwargs.update(network=network.name, networking_config={network.name: endpoint})
        kwargs.setdefault("hostname", name)
        kwargs["extra_hosts"] = with_hosts(kwargs.get("extra_hosts"), network.hosts)
    full = service_container_name(run_id, environment, name)
    try:
        container = engine.client.containers.create(image_id, name=full, labels=labels, detach=True, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the SDK raises several kinds for a refused create
        raise ContainerError(f"service {name}: the engine refused to create its container: {exc}",
                             hint=f"check services.{name}.run (the keys docker.containers.run() takes)") from None
    return Started(id=str(container.id), name=full)


def address_of(engine: Engine, started: Started, network: OwnNetwork) -> str | None:
    """The service's address on the environment's network (None for a sidecar: it is reached on localhost)."""
    inspected = engine.client.api.inspect_container(started.id)
    attached = ((inspected.get("NetworkSettings") or {}).get("Networks") or {}).get(network.name) or {}
    return str(attached.get("IPAddress") or "") or None
