"""Podman's own (libpod) endpoints, for what its Docker-compatible API leaves out: the runtime, healthchecks."""

from __future__ import annotations

from typing import Any

import docker

# Podman serves its libpod API under any /v{version}/ prefix, so the SDK's URL builder reaches it.
_INSPECT = "/libpod/containers/{0}/json"
_HEALTHCHECK = "/libpod/containers/{0}/healthcheck"


def oci_runtime(api: docker.APIClient, container_id: str) -> str:
    """The OCI runtime podman really runs the container with (its compat inspect always says "oci")."""
    attrs: dict[str, Any] = api._result(api._get(api._url(_INSPECT, container_id)), json=True)
    return str(attrs.get("OCIRuntime") or "")


def run_healthcheck(api: docker.APIClient, container_id: str) -> None:
    """Run the container's healthcheck once; its result lands in State.Health as with a scheduled check.

    Podman schedules healthchecks with systemd timers, so without systemd (containers, CI runners) they never run
    and the status stays "starting"."""
    api._result(api._get(api._url(_HEALTHCHECK, container_id)))
