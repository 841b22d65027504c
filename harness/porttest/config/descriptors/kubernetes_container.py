"""PURE: one container of a pod as run options: the tested one, and each of the pod's others as a sidecar service."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from porttest.config.descriptors.kubernetes_fields import Context, PodFacts, environment, expand, is_empty, resources
from porttest.config.descriptors.kubernetes_security import security
from porttest.config.descriptors.kubernetes_volumes import mounts, wait_for
from porttest.config.models import SERVICE_NAME
from porttest.config.yaml_source import Path_

SCHEDULING = "scheduling/cluster-only, no effect on one container"
_CONTAINER_NOTES = {**dict.fromkeys(("imagePullPolicy", "resizePolicy", "restartPolicy"), SCHEDULING),
                    "terminationMessagePath": "no termination message file is mounted",
                    "terminationMessagePolicy": "no termination message file is mounted",
                    "lifecycle": "postStart and preStop hooks are not run",
                    "volumeDevices": "block devices are not passed in",
                    **dict.fromkeys(("stdin", "stdinOnce", "tty"), "porttest runs the container detached")}
_CONTAINER_DONE = {"name", "image", "command", "args", "workingDir", "ports", "env", "envFrom", "resources",
                   "volumeMounts", "livenessProbe", "readinessProbe", "startupProbe", "securityContext"}


@dataclass(frozen=True)
class Pod:
    """What every container of the pod shares."""

    spec: dict[str, Any]
    spec_path: Path_
    facts: PodFacts  # as the tested container sees them; each other container gets its own name and limits
    maps: Mapping[str, Any]  # secrets, config_maps and the manifest's own data, keyed NAME/KEY
    volumes: Mapping[str, tuple[dict[str, Any], Path_]]
    claims: Mapping[str, Path_]  # a StatefulSet's volumeClaimTemplates
    files: Mapping[str, str]
    allow_privileged: bool
    shared: tuple[tuple[Path_, Any, Path_], ...] = ()  # (run key, value, manifest path) set in every container


def translate_container(ctx: Context, pod: Pod, container: dict[str, Any], cpath: Path_, facts: PodFacts) -> None:
    """Everything one container sets: security context, environment, command, mounts, probes, its other fields."""
    for option, value, where in pod.shared:
        ctx.put(option, value, where)
    security(ctx, pod.spec, pod.spec_path, container, cpath, pod.allow_privileged)
    env = environment(ctx, container, cpath, facts, pod.maps)
    # command -> ENTRYPOINT, args -> CMD. An engine given an entrypoint drops the image's CMD, as Kubernetes does.
    for key, profile_key in (("command", "entrypoint"), ("args", "command")):
        argv = ctx.at(container, key, cpath, "list")
        if argv is not None:
            if not all(isinstance(a, str) for a in argv):
                ctx.fail((*cpath, key), f"{key} is a list of strings", "quote numbers and booleans")
            else:
                ctx.put(("run", profile_key), [expand(a, env.get) for a in argv], (*cpath, key))
    if ctx.at(container, "workingDir", cpath, "string"):
        ctx.put(("run", "working_dir"), container["workingDir"], (*cpath, "workingDir"))
    mounts(ctx, container, cpath, pod.volumes, pod.claims, pod.files)
    static = {v["name"]: v["value"] for v, _ in ctx.items(container, "env", cpath)
              if isinstance(v.get("name"), str) and isinstance(v.get("value"), str) and v["value"]}
    wait_for(ctx, container, cpath, static)
    _container_level(ctx, container, cpath)


def sidecars(ctx: Context, pod: Pod, others: Sequence[tuple[dict[str, Any], Path_]],
             inits: Sequence[tuple[dict[str, Any], Path_]], tested: tuple[dict[str, Any], Path_],
             account_files: bool) -> None:
    """The pod's other containers as `services.NAME` with `share_network: true` (a pod's containers share one
    network namespace: they reach each other on localhost), each translated by translate_container, so what the
    pod sets for all its containers (security context, hostPID, hostIPC, runtimeClassName, volumes) applies to
    each. A sidecar has no hostname, /etc/hosts or ports of its own: the engine gives it the tested container's,
    as in a pod. Init containers are not run (a warning); Kubernetes 1.28+ native sidecars (`restartPolicy:
    Always`) are services too, started after the tested container (whose namespace they join), not before it."""
    run: list[tuple[dict[str, Any], Path_, bool]] = [(c, p, False) for c, p in others]
    for container, cpath in inits:
        policy = container.get("restartPolicy")
        if policy == "Always":
            run.append((container, cpath, True))
        elif policy is not None:
            ctx.fail((*cpath, "restartPolicy"), f"an init container's restartPolicy is Always or unset, not {policy!r}",
                     "restartPolicy: Always makes it a sidecar (Kubernetes 1.28+)")
        else:
            ctx.skip(cpath, f"init container {container.get('name')} is not run: porttest starts the pod's "
                            "containers (and native sidecars) only")
    if run:
        ctx.lines.setdefault(("services",), ctx.line((*pod.spec_path, "containers")) or 1)
    names = []
    for container, cpath, native in run:
        name = _sidecar(ctx, pod, container, cpath, native)
        if name is not None:
            names.append(name)
    if names and account_files:
        ctx.note((*pod.spec_path, "containers"), "the service-account files are mounted in the tested container "
                                                 f"only, not in {', '.join(names)}")
    _shared_volumes(ctx, pod, [tested, *((c, p) for c, p, _ in run)])


def _sidecar(ctx: Context, pod: Pod, container: dict[str, Any], cpath: Path_, native: bool) -> str | None:
    name = container.get("name")
    image = ctx.at(container, "image", cpath, "string")
    if not isinstance(name, str) or not re.match(SERVICE_NAME, name):
        ctx.fail((*cpath, "name"), f"container name {name!r} cannot name a service",
                 "a service is reached by its name, a DNS label: lower-case letters, digits and '-', at most 63")
        return None
    if not image:
        ctx.fail(cpath, f"container {name} has no image", "a container needs `image:`")
        return None
    scoped = ctx.scoped(("services", name))
    scoped.mark((), cpath)
    scoped.put(("image",), {"ref": image}, (*cpath, "image"))
    scoped.put(("share_network",), True, cpath)
    scoped.mark(("run",), cpath)
    limits, requests = resources(scoped, container, cpath)
    translate_container(scoped, pod, container, cpath, replace(pod.facts, container=name, limits=limits,
                                                                requests=requests))
    if native:
        ctx.note(cpath, f"native sidecar {name} starts right after the tested container here (it joins that "
                        "container's network namespace), not before it as on a cluster")
    return name


def _container_level(ctx: Context, container: dict[str, Any], cpath: Path_) -> None:
    for key, value in container.items():
        if key == "image":
            if ctx.service is None:
                ctx.note((*cpath, key), f"the manifest's image {value} is not used: porttest runs the matrix's image")
        elif key == "ports":
            for port, ppath in ctx.items(container, key, cpath):
                if port.get("hostPort"):
                    ctx.skip((*ppath, "hostPort"), "no port of the engine's host is published")
            ctx.note((*cpath, key), "container ports are informational here (named ones serve the probes); "
                                    "nothing is published")
        elif key == "restartPolicy" and value == "Always" and "initContainers" in cpath:
            continue  # what makes an init container a native sidecar
        elif key in _CONTAINER_NOTES and not is_empty(value):
            ctx.skip((*cpath, key), _CONTAINER_NOTES[key])
        elif key not in _CONTAINER_DONE and key not in _CONTAINER_NOTES:
            ctx.skip((*cpath, key), "unknown field")


def _shared_volumes(ctx: Context, pod: Pod, containers: Sequence[tuple[dict[str, Any], Path_]]) -> None:
    """An emptyDir that several containers mount is one folder in a pod, but a tmpfs of each container's own here."""
    users: dict[str, list[str]] = {}
    for container, _ in containers:
        mounted = container.get("volumeMounts")
        for mount in mounted if isinstance(mounted, list) else ():
            name = mount.get("name") if isinstance(mount, dict) else None
            volume = pod.volumes.get(name, ({}, ()))[0] if isinstance(name, str) else {}
            if "emptyDir" in volume and str(container.get("name")) not in users.setdefault(str(name), []):
                users[str(name)].append(str(container.get("name")))
    for name, mounted_by in users.items():
        if len(mounted_by) > 1:
            ctx.skip(pod.volumes[name][1], f"emptyDir {name} is shared by {', '.join(mounted_by)} in a pod; here each "
                                           "container has a tmpfs of its own, and what one writes the others do not "
                                           "see")
