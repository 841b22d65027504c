"""PURE: a Kubernetes container's volume mounts as tmpfs and binds, and its probes as porttest's wait_for.

emptyDir becomes a tmpfs (mode 1777, size from sizeLimit). On Docker a tmpfs lives in memory, so what a test writes
there counts toward the memory limit, as it does on a cluster only for `medium: Memory`; a disk-backed emptyDir gets
a warning that says so. configMap and secret volumes are read-only binds of local folders that the caller maps with
`files: {configmap/NAME: DIR, secret/NAME: DIR}`; without one they are refused. hostPath is refused: porttest never
mounts the engine host's own files. A persistentVolumeClaim (or a StatefulSet's volumeClaimTemplate) is a writable
bind when `files` maps `pvc/CLAIM` to a folder, and otherwise a warning: nothing is mounted, so writes there land in
the container's own filesystem (and fail when it is read-only). It is not made a tmpfs, because a data volume in
memory would move the memory limit's meaning. Other volume types are warnings.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping
from typing import Any

from porttest.config.descriptors.kubernetes_fields import Context, expand, is_empty, quantity, whole
from porttest.config.yaml_source import Path_

_NOT_MOUNTED = "volumes are not reproduced here; nothing is mounted at"


def mounts(ctx: Context, container: dict[str, Any], cpath: Path_, volumes: Mapping[str, tuple[dict[str, Any], Path_]],
           claims: Mapping[str, Path_], files: Mapping[str, str]) -> None:
    """Each volumeMount of the container, resolved through the pod's volumes (and volumeClaimTemplates)."""
    seen: set[str] = set()
    noted: set[str] = set()
    for mount, mpath in ctx.items(container, "volumeMounts", cpath):
        name = ctx.at(mount, "name", mpath, "string")
        target = ctx.at(mount, "mountPath", mpath, "string")
        sub = ctx.at(mount, "subPath", mpath, "string") or ""
        read_only = ctx.at(mount, "readOnly", mpath, "boolean") is True
        for key, value in mount.items():
            if key not in ("name", "mountPath", "subPath", "readOnly") and not is_empty(value):
                why = "unknown field" if key not in ("subPathExpr", "mountPropagation", "recursiveReadOnly") else (
                    "Docker binds here are private and not expanded")
                ctx.skip((*mpath, key), why)
        if not name or not target:
            continue
        if target in seen:
            ctx.fail((*mpath, "mountPath"), f"{target} is mounted twice", "each mountPath must be unique")
            continue
        seen.add(target)
        if name in volumes:
            volume, vpath = volumes[name]
        elif name in claims:
            volume, vpath = {"persistentVolumeClaim": {"claimName": name}}, claims[name]
        else:
            ctx.fail((*mpath, "name"), f"the pod has no volume named {name}",
                     "volumes of the pod: " + (", ".join(sorted({*volumes, *claims})) or "none"))
            continue
        kinds = [k for k in volume if k != "name"]
        if len(kinds) != 1:
            ctx.fail(vpath, f"volume {name} needs exactly one volume type", f"it has: {', '.join(kinds) or 'none'}")
            continue
        kind = kinds[0]
        spec = ctx.at(volume, kind, vpath, "mapping") or {}
        where = (*vpath, kind)
        if kind == "emptyDir":
            _empty_dir(ctx, spec, where, target, read_only, mpath, name in noted)
        elif kind in ("configMap", "secret"):
            _files(ctx, kind, spec, where, target, sub, mpath, files)
        elif kind == "persistentVolumeClaim":
            claim = spec.get("claimName") or name
            local = files.get(f"pvc/{claim}")
            if local is None:
                ctx.skip(mpath, f"persistentVolumeClaim {claim} is not mounted at {target}; writes there land in the "
                                f"container's own filesystem. Map a folder with files: {{pvc/{claim}: DIR}}")
                continue
            mode = "ro" if read_only or spec.get("readOnly") is True else "rw"
            ctx.add(("run", "volumes"), f"{posixpath.join(local, sub) if sub else local}:{target}:{mode}", mpath)
        elif kind == "hostPath":
            ctx.fail(where, f"hostPath volume {name} is refused: porttest does not mount the engine host's files",
                     "give the test its files through a configMap volume and `files:`, or drop the volume")
        else:
            ctx.skip(where, f"{kind} {_NOT_MOUNTED} {target}")
        noted.add(name)


def _empty_dir(ctx: Context, spec: dict[str, Any], where: Path_, target: str, read_only: bool, mpath: Path_,
               noted: bool) -> None:
    options = "mode=1777"
    medium = spec.get("medium") or ""
    size = spec.get("sizeLimit")
    if size is not None:
        amount = quantity(size)
        if amount is None or amount <= 0:
            ctx.fail((*where, "sizeLimit"), f"{size!r} is not a Kubernetes quantity", "e.g. sizeLimit: 64Mi")
        else:
            options += f",size={whole(amount)}"
    for key in spec:
        if key not in ("medium", "sizeLimit"):
            ctx.skip((*where, key), "unknown field")
    if medium not in ("", "Memory"):
        ctx.skip((*where, "medium"), f"medium {medium} has no Docker equivalent; the volume is a plain tmpfs")
    elif medium == "" and not noted:
        ctx.note(where, "a disk-backed emptyDir is a tmpfs here: what is written there counts toward the memory "
                        "limit, as it does on a cluster only for medium: Memory")
    ctx.put(("run", "tmpfs", target), options + (",ro" if read_only else ""), mpath)


def _files(ctx: Context, kind: str, spec: dict[str, Any], where: Path_, target: str, sub: str, mpath: Path_,
           files: Mapping[str, str]) -> None:
    name = spec.get("name") if kind == "configMap" else spec.get("secretName")
    local = files.get(f"{kind.lower()}/{name}")
    for key, value in spec.items():
        if key in ("items", "defaultMode") and not is_empty(value):
            ctx.skip((*where, key), f"the local folder for {kind.lower()}/{name} is mounted as it is")
        elif key not in ("name", "secretName", "optional", "items", "defaultMode"):
            ctx.skip((*where, key), "unknown field")
    if local is None:
        if spec.get("optional") is True:
            ctx.skip(where, f"{kind} {name} is optional and not given: nothing is mounted at {target}")
            return
        ctx.fail(where, f"{kind} volume {name} needs local files",
                 f"map it to a folder in the kubernetes extends entry: files: {{{kind.lower()}/{name}: ./folder}}")
        return
    # Kubernetes has mounted configMap and secret volumes read-only since 1.9.
    ctx.add(("run", "volumes"), f"{posixpath.join(local, sub) if sub else local}:{target}:ro", mpath)


_DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 1,
             "successThreshold": 1}
_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


def wait_for(ctx: Context, container: dict[str, Any], cpath: Path_, static_env: Mapping[str, str]) -> None:
    """readinessProbe, else startupProbe, as wait_for: tcpSocket and httpGet wait for the port, exec runs the
    command (its $(VAR) expanded from literal env values, as the prober does). timeout = initialDelaySeconds +
    periodSeconds * failureThreshold (1..3600 s), polling every periodSeconds (at most 60 s)."""
    chosen = None
    for key in ("readinessProbe", "startupProbe"):
        probe = ctx.at(container, key, cpath, "mapping")
        if probe is None:
            continue
        if chosen is not None:
            # Readiness is not checked until the startup probe succeeds: its time comes first.
            startup = _seconds(probe)
            total = min(max(ctx.get(("wait_for", "timeout"), 0) + startup, 1), 3600)
            ctx.put(("wait_for", "timeout"), total, (*cpath, key))
            ctx.note((*cpath, key), f"checked through {chosen}; its {startup:g} s come before readiness, "
                                    "and are added to wait_for.timeout")
            continue
        if _probe(ctx, probe, (*cpath, key), container, cpath, static_env):
            chosen = key
    if container.get("livenessProbe") is not None:
        ctx.skip((*cpath, "livenessProbe"), "liveness probes are not run: porttest never restarts the container")


def _seconds(probe: dict[str, Any]) -> float:
    """How long a probe may take to succeed: initialDelaySeconds + periodSeconds * failureThreshold."""
    def number(key: str) -> float:
        value = probe.get(key)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else _DEFAULTS[key]

    return number("initialDelaySeconds") + number("periodSeconds") * number("failureThreshold")


def _probe(ctx: Context, probe: dict[str, Any], path: Path_, container: dict[str, Any], cpath: Path_,
           static_env: Mapping[str, str]) -> bool:
    numbers = {}
    for key, default in _DEFAULTS.items():
        value = ctx.at(probe, key, path, "integer")
        numbers[key] = default if value is None else value
        if key in ("timeoutSeconds", "successThreshold") and numbers[key] != default:
            ctx.skip((*path, key), "wait_for has no per-attempt timeout or success count")
    handlers = [k for k in probe if k in _HANDLERS]
    for key in probe:
        if key not in (*_DEFAULTS, *_HANDLERS):
            ctx.skip((*path, key), "unknown field" if key != "terminationGracePeriodSeconds" else "no stop timeout")
    if len(handlers) != 1:
        ctx.fail(path, "a probe needs exactly one of exec, httpGet, tcpSocket or grpc",
                 f"it has: {', '.join(handlers) or 'none'}")
        return False
    kind = handlers[0]
    spec = ctx.at(probe, kind, path, "mapping") or {}
    where = (*path, kind)
    found: dict[str, Any] = {}
    if kind == "grpc":
        ctx.skip(where, "gRPC health checks have no wait_for equivalent")
        return False
    if kind == "exec":
        argv = ctx.at(spec, "command", where, "list") or []
        if not argv or not all(isinstance(a, str) for a in argv):
            ctx.fail((*where, "command"), "an exec probe needs a command: a list of strings")
            return False
        found["command"] = shlex.join(expand(a, static_env.get) for a in argv)
    else:
        port = _port(ctx, spec.get("port"), (*where, "port"), container, cpath)
        if port is None:
            return False
        found["port"] = port
        ignored = [k for k in spec if k != "port" and not (k == "scheme" and spec[k] == "HTTP")]
        if ignored:
            ctx.skip(where, f"only the port is checked, not {', '.join(ignored)}")
    timeout = numbers["initialDelaySeconds"] + numbers["periodSeconds"] * numbers["failureThreshold"]
    found["timeout"] = min(max(timeout, 1), 3600)
    found["interval"] = min(max(numbers["periodSeconds"], 1), 60)
    for key, value in found.items():
        ctx.put(("wait_for", key), value, (*where, key) if key in ("port", "command") else path)
    ctx.mark(("wait_for",), path)
    return True


def _port(ctx: Context, port: Any, path: Path_, container: dict[str, Any], cpath: Path_) -> int | None:
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if isinstance(port, str):
        named = {str(p.get("name")): p.get("containerPort") for p, _ in ctx.items(container, "ports", cpath)}
        if port not in named:
            ctx.fail(path, f"the container has no port named {port}",
                     "named ports of the container: " + (", ".join(n for n in named if n != "None") or "none"))
            return None
        port = named[port]
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        ctx.fail(path, f"{port!r} is not a port", "a number from 1 to 65535, or the name of a container port")
        return None
    return port
