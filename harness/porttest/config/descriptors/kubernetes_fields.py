"""PURE: the field-by-field parts of the Kubernetes translation: quantities, resources, environment and $(VAR)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from porttest.config.yaml_source import Located, Path_, dotted
from porttest.errors import ConfigIssue

# What the kubelet puts in every container for the API server's Service (kubeadm's default service address); it
# adds these even with enableServiceLinks: false. Nothing listens there: a client of the API fails to connect.
SERVICE_ENV = {
    "KUBERNETES_SERVICE_HOST": "10.96.0.1",
    "KUBERNETES_SERVICE_PORT": "443",
    "KUBERNETES_SERVICE_PORT_HTTPS": "443",
    "KUBERNETES_PORT": "tcp://10.96.0.1:443",
    "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443",
    "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
    "KUBERNETES_PORT_443_TCP_PORT": "443",
    "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1",
}

_TYPES: dict[str, type | tuple[type, ...]] = {"mapping": dict, "list": list, "string": str, "integer": int,
                                              "boolean": bool}


@dataclass(frozen=True)
class Context:
    """What one translation collects: the profile, its lines, warnings and issues (located in the manifest)."""

    doc: Located
    base: Path_  # where the workload sits in its document: () or ("items", N) in a List
    profile: dict[str, Any] = field(default_factory=dict)
    lines: dict[Path_, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    issues: list[ConfigIssue] = field(default_factory=list)
    secret_values: set[str] = field(default_factory=set)
    # Where put/add/get/mark write in the profile: () for the tested container, ("services", NAME) for another
    # container of the pod. A scoped() context shares everything else (profile, lines, warnings, issues).
    prefix: Path_ = ()

    def scoped(self, prefix: Path_) -> Context:
        """The same translation, writing below `prefix` (another container of the pod, as a service)."""
        return replace(self, prefix=prefix)

    @property
    def service(self) -> str | None:
        """The service this context writes (another container of the pod), or None for the tested container."""
        return str(self.prefix[1]) if self.prefix[:1] == ("services",) else None

    def line(self, path: Path_) -> int | None:
        return self.doc.deepest((*self.base, *path))[1]

    def where(self, path: Path_) -> str:
        return dotted((*self.base, *path))

    def skip(self, path: Path_, why: str) -> None:
        self.warnings.append(f"kubernetes: {self.where(path)} (line {self.line(path)}) is not translated: {why}")

    def note(self, path: Path_, text: str) -> None:
        self.warnings.append(f"kubernetes: {self.where(path)} (line {self.line(path)}): {text}")

    def fail(self, path: Path_, message: str, hint: str | None = None) -> None:
        self.issues.append(ConfigIssue(self.where(path), message, hint, self.doc.file, self.line(path)))

    def put(self, key: Path_, value: Any, path: Path_) -> None:
        """Set profile[prefix..., key...] = value, remembering the manifest line of `path` for it and its parents."""
        key = (*self.prefix, *key)
        target: Any = self.profile
        for depth, part in enumerate(key[:-1]):
            target = target.setdefault(part, {})
            self.lines.setdefault(key[: depth + 1], self.line(path) or 1)
        target[key[-1]] = value
        self.lines[key] = self.line(path) or 1

    def add(self, key: Path_, item: Any, path: Path_) -> None:
        """Append to the list at profile[prefix..., key...] unless it is there already."""
        items = self.get(key)
        if not isinstance(items, list):
            items = []
            self.put(key, items, path)
        if item not in items:
            items.append(item)
            self.put((*key, len(items) - 1), item, path)

    def get(self, key: Path_, default: Any = None) -> Any:
        """What profile[prefix..., key...] holds so far."""
        target: Any = self.profile
        for part in (*self.prefix, *key):
            if not isinstance(target, dict) or part not in target:
                return default
            target = target[part]
        return target

    def mark(self, key: Path_, path: Path_) -> None:
        """Remember the manifest line of `path` for profile[prefix..., key...] (a mapping filled in later)."""
        self.lines[(*self.prefix, *key)] = self.line(path) or 1

    def typed(self, value: Any, path: Path_, kind: str) -> Any:
        """`value` when it has the Kubernetes type `kind`, else None with an issue (None passes as absent)."""
        if value is None:
            return None
        if isinstance(value, _TYPES[kind]) and not (kind == "integer" and isinstance(value, bool)):
            return value
        shown = "a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list) else repr(value)
        self.fail(path, f"expected a {kind} here, not {shown}",
                  "quote the value to make it a string" if kind == "string" else None)
        return None

    def at(self, obj: Mapping[str, Any], key: str, path: Path_, kind: str) -> Any:
        return self.typed(obj.get(key), (*path, key), kind)

    def items(self, obj: Mapping[str, Any], key: str, path: Path_) -> list[tuple[dict[str, Any], Path_]]:
        """The mappings of a list field, each with its path (other entries become issues)."""
        out = []
        for i, item in enumerate(self.at(obj, key, path, "list") or []):
            if self.typed(item, (*path, key, i), "mapping") is not None:
                out.append((item, (*path, key, i)))
        return out


def is_empty(value: Any) -> bool:
    """A field set to false or to nothing changes nothing, so leaving it out drops nothing."""
    return value is None or value is False or value in ("", [], {})


_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]|[eE][+-]?\d+)?$")
_SUFFIXES: dict[str, int | Fraction] = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "m": Fraction(1, 1000),
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
PRIVILEGED_HINT = "set allow_privileged: true in the matrix"
QUANTITY_HINT = "Kubernetes quantities look like 512Mi, 1G, 500m, 1.5 or 1e3"


def quantity(value: Any) -> Fraction | None:
    """A Kubernetes quantity (512Mi, 0.5Gi, 500m, 1.5, 1e3, 2) as an exact number; None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return None
    number, suffix = Fraction(match.group(1)), match.group(2) or ""
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return number * Fraction(10) ** int(suffix[1:])
    return number * _SUFFIXES.get(suffix, 1)


def whole(value: Fraction) -> int:
    """Quantity.Value(): rounded up to a whole unit, as the kubelet does."""
    return math.ceil(value)


def milli(value: Fraction) -> int:
    """Quantity.MilliValue(): thousandths, rounded up."""
    return math.ceil(value * 1000)


@dataclass(frozen=True)
class PodFacts:
    """What the downward API can tell a container about its pod, as a cluster would fill it in."""

    name: str
    namespace: str
    uid: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    service_account: str
    container: str
    limits: Mapping[str, Fraction]
    requests: Mapping[str, Fraction]
    # Container name -> (limits, requests) of every container of the pod, for resourceFieldRef.containerName.
    containers: Mapping[str, tuple[Mapping[str, Fraction], Mapping[str, Fraction]]] = field(default_factory=dict)


def amounts(container: Mapping[str, Any]) -> tuple[dict[str, Fraction], dict[str, Fraction]]:
    """A container's limits and requests (a request defaults to its limit), read without a word: resources()
    reports the problems of each container's own."""
    spec = container.get("resources")
    found: dict[str, dict[str, Fraction]] = {"limits": {}, "requests": {}}
    for key, values in (spec.items() if isinstance(spec, dict) else ()):
        for name, amount in (values.items() if key in found and isinstance(values, dict) else ()):
            number = quantity(amount)
            if number is not None and number >= 0:
                found[key][str(name)] = number
    return found["limits"], {**found["limits"], **found["requests"]}


def resources(ctx: Context, container: dict[str, Any], cpath: Path_) -> tuple[dict[str, Fraction], dict[str, Fraction]]:
    """limits.memory -> mem_limit (bytes), limits.cpu -> cpus; requests are noted. Returns (limits, requests)."""
    path = (*cpath, "resources")
    spec = ctx.at(container, "resources", cpath, "mapping") or {}
    found: dict[str, dict[str, Fraction]] = {"limits": {}, "requests": {}}
    for key, value in spec.items():
        if key not in found:
            ctx.skip((*path, key), "resource claims are a cluster feature" if key == "claims" else "unknown field")
            continue
        for name, amount in (ctx.typed(value, (*path, key), "mapping") or {}).items():
            number = quantity(amount)
            if number is None or number < 0:
                ctx.fail((*path, key, name), f"{amount!r} is not a Kubernetes quantity", QUANTITY_HINT)
                continue
            found[key][name] = number
    limits, requests = found["limits"], found["requests"]
    if "memory" in limits:
        ctx.put(("run", "mem_limit"), whole(limits["memory"]), (*path, "limits", "memory"))
        # The kubelet gives containers no swap: memory+swap is the memory limit (Docker's default doubles it).
        ctx.put(("run", "memswap_limit"), whole(limits["memory"]), (*path, "limits", "memory"))
    if "cpu" in limits:
        # The kubelet's smallest CFS quota is 1 ms per 100 ms period: 0.01 CPU, which is also Docker's minimum.
        cpus = max(milli(limits["cpu"]), 10) / 1000
        ctx.put(("run", "cpus"), cpus, (*path, "limits", "cpu"))
        if milli(limits["cpu"]) < 10:
            ctx.note((*path, "limits", "cpu"), f"{cpus} CPU is the smallest limit the kubelet and Docker apply")
    for name in limits:
        if name not in ("memory", "cpu"):
            ctx.skip((*path, "limits", name), "only memory and cpu limits have a Docker equivalent here")
    if requests:
        shown = ", ".join(f"{k}={spec['requests'][k]}" for k in requests)
        ctx.note((*path, "requests"), f"requests are noted, not enforced: {shown}")
    for name, amount in limits.items():
        requests.setdefault(name, amount)  # the API server defaults a request to its limit
    return limits, requests


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Kubernetes' $(VAR) expansion: a known VAR is replaced, an unknown one is kept as written, $$ is one $."""
    out: list[str] = []
    i, size = 0, len(text)
    while i < size:
        if text[i] != "$" or i + 1 == size:
            out.append(text[i])
            i += 1
            continue
        following = text[i + 1]
        end = text.find(")", i + 2) if following == "(" else -1
        if following == "$":
            out.append("$")
        elif end != -1:
            name = text[i + 2 : end]
            value = lookup(name)
            out.append(f"$({name})" if value is None else value)
            i = end + 1
            continue
        else:
            out.append("$" + following)
        i += 2
    return "".join(out)


_FIELD_KEY = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def _field_ref(ctx: Context, ref: dict[str, Any], path: Path_, pod: PodFacts) -> str | None:
    field_path = ctx.at(ref, "fieldPath", path, "string")
    simple = {"metadata.name": pod.name, "metadata.namespace": pod.namespace, "metadata.uid": pod.uid,
              "spec.nodeName": "porttest", "spec.serviceAccountName": pod.service_account}
    if field_path in simple:
        return simple[field_path]
    if field_path in ("metadata.labels", "metadata.annotations"):
        values = pod.labels if field_path == "metadata.labels" else pod.annotations
        return "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted(values.items()))
    keyed = _FIELD_KEY.match(field_path or "")
    if keyed:
        return (pod.labels if keyed.group(1) == "labels" else pod.annotations).get(keyed.group(2), "")
    if field_path in ("status.hostIP", "status.hostIPs"):
        ctx.skip(path, f"{field_path} is only known once the container runs; the variable is left unset")
    elif field_path is not None:
        ctx.fail((*path, "fieldPath"), f"{field_path!r} is not a field the downward API gives to env",
                 "e.g. metadata.name, metadata.namespace, metadata.labels['app'], spec.nodeName, status.podIP")
    return None


def _resource_ref(ctx: Context, ref: dict[str, Any], path: Path_, pod: PodFacts) -> str | None:
    resource = ctx.at(ref, "resource", path, "string") or ""
    other = ref.get("containerName")
    limits, requests = pod.limits, pod.requests
    if other not in (None, "", pod.container):
        if other not in pod.containers:
            ctx.fail((*path, "containerName"), f"the pod has no container named {other}",
                     "containers of the pod: " + (", ".join(pod.containers) or pod.container))
            return None
        limits, requests = pod.containers[other]
    divisor = quantity(ref.get("divisor", 1))
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or not name or not divisor:
        ctx.fail(path, f"cannot read resourceFieldRef {resource!r} with divisor {ref.get('divisor')!r}",
                 "resource is limits.cpu, limits.memory, requests.cpu or requests.memory; divisor a quantity")
        return None
    known = limits if kind == "limits" else requests
    if name not in known and kind == "limits":
        ctx.skip(path, f"no {resource} is set, so a cluster would give the node's allocatable amount")
        return None
    amount = known.get(name, Fraction(0))
    if name == "cpu":
        return str(math.ceil(Fraction(milli(amount), milli(divisor))))
    return str(math.ceil(Fraction(whole(amount), whole(divisor))))


def _keyed(ctx: Context, ref: dict[str, Any], path: Path_, secret: bool,
           values: Mapping[str, str], manifest: Mapping[str, str]) -> str | None:
    what, store = ("secret", "secrets") if secret else ("configMap", "config_maps")
    name, key = ctx.at(ref, "name", path, "string"), ctx.at(ref, "key", path, "string")
    if name is None or key is None:
        return None
    value = values.get(f"{name}/{key}", manifest.get(f"{name}/{key}"))
    if value is None:
        if ref.get("optional") is True:
            ctx.skip(path, f"{what} key {name}/{key} is not given (optional): the variable is left unset")
        else:
            ctx.fail(path, f"{what} key {name}/{key} has no value here",
                     f"give it in the kubernetes extends entry: {store}: {{{name}/{key}: ...}}")
        return None
    if secret:
        ctx.secret_values.add(value)
    return value


def environment(ctx: Context, container: dict[str, Any], cpath: Path_, pod: PodFacts, maps: Mapping[str, Any]
                ) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom, then env in order (a value's $(VAR) sees
    only what came before), then the kubernetes Service variables. `maps` holds secrets, config_maps and the
    manifest's own Secret/ConfigMap data (manifest_secrets, manifest_config_maps), all keyed NAME/KEY."""
    env: dict[str, str] = {}
    paths: dict[str, Path_] = {}
    for source, path in ctx.items(container, "envFrom", cpath):
        prefix = ctx.at(source, "prefix", path, "string") or ""
        for key in source:
            if key not in ("configMapRef", "secretRef", "prefix"):
                ctx.skip((*path, key), "unknown field")
        for key, secret in (("configMapRef", False), ("secretRef", True)):
            ref = ctx.at(source, key, path, "mapping")
            if ref is None or ctx.at(ref, "name", (*path, key), "string") is None:
                continue
            given = maps["secrets" if secret else "config_maps"]
            own = maps["manifest_secrets" if secret else "manifest_config_maps"]
            head = f"{ref['name']}/"
            found = {k[len(head):]: v for k, v in {**own, **given}.items() if k.startswith(head)}
            if not found:
                what, store = ("secret", "secrets") if secret else ("configMap", "config_maps")
                if ref.get("optional") is True:
                    ctx.skip((*path, key), f"{what} {ref['name']} is not given (optional)")
                else:
                    ctx.fail((*path, key), f"{what} {ref['name']} has no keys here",
                             f"give its keys in the kubernetes extends entry: {store}: {{{head}KEY: ...}}")
            for name, value in found.items():
                if "=" not in prefix + name:
                    env[prefix + name], paths[prefix + name] = value, (*path, key)
                    if secret:
                        ctx.secret_values.add(value)

    def lookup(name: str) -> str | None:
        return env.get(name, SERVICE_ENV.get(name))

    for var, path in ctx.items(container, "env", cpath):
        name = ctx.at(var, "name", path, "string")
        value, source = ctx.at(var, "value", path, "string"), ctx.at(var, "valueFrom", path, "mapping")
        if not name:
            continue
        if value and source:
            ctx.fail(path, f"env {name} has both value and valueFrom", "keep one of the two")
            continue
        field_ref = source.get("fieldRef") if isinstance(source, dict) else None
        if isinstance(field_ref, dict) and field_ref.get("fieldPath") in ("status.podIP", "status.podIPs"):
            env.pop(name, None)
            if ctx.service is not None:
                ctx.skip(path, f"{field_ref['fieldPath']} is set for the tested container only (ip_variables); "
                               f"{ctx.service} shares its network, and the variable is left unset")
                continue
            # Known only once the container has its address: the engine sets it (see ip_variables).
            ctx.add(("ip_variables",), name, path)
            continue
        if source is not None:
            value = _value_from(ctx, source, (*path, "valueFrom"), pod, maps)
            if value is None:
                continue  # as the kubelet does: an earlier value of the same name (from envFrom) stays
        else:
            value = expand(value or "", lookup)
        env[name], paths[name] = value, path
    for name, value in env.items():
        ctx.put(("run", "environment", name), value, paths[name])
    for name, value in SERVICE_ENV.items():
        if name not in env:
            env[name] = value
            ctx.put(("run", "environment", name), value, cpath)
    return env


def _value_from(ctx: Context, source: dict[str, Any], path: Path_, pod: PodFacts, maps: Mapping[str, Any]
                ) -> str | None:
    kinds = [k for k in source if k in ("fieldRef", "resourceFieldRef", "secretKeyRef", "configMapKeyRef")]
    for key in source:
        if key not in kinds:
            ctx.skip((*path, key), "unknown valueFrom source")
    if len(kinds) != 1:
        if kinds:
            ctx.fail(path, "valueFrom names more than one source", "keep one of " + ", ".join(kinds))
        return None
    ref = ctx.at(source, kinds[0], path, "mapping")
    where = (*path, kinds[0])
    if ref is None:
        return None
    if kinds[0] == "fieldRef":
        return _field_ref(ctx, ref, where, pod)
    if kinds[0] == "resourceFieldRef":
        return _resource_ref(ctx, ref, where, pod)
    secret = kinds[0] == "secretKeyRef"
    values = maps["secrets" if secret else "config_maps"]
    return _keyed(ctx, ref, where, secret, values, maps["manifest_secrets" if secret else "manifest_config_maps"])
