"""PURE: one container of a Kubernetes workload (a pod template) as a porttest profile, its pod's others as services."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from porttest.config.descriptors import Translation
from porttest.config.descriptors.kubernetes_account import account_files
from porttest.config.descriptors.kubernetes_container import SCHEDULING, Pod, sidecars, translate_container
from porttest.config.descriptors.kubernetes_fields import (
    PRIVILEGED_HINT,
    Context,
    PodFacts,
    amounts,
    is_empty,
    resources,
)
from porttest.config.yaml_source import Located, Path_, dotted
from porttest.errors import ConfigError, ConfigIssue

KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
_ALIASES = {"deploy": "deployment", "sts": "statefulset", "ds": "daemonset", "rs": "replicaset", "cj": "cronjob",
            "po": "pod", **{k.lower() + "s": k.lower() for k in KINDS}}
_POD_SPEC = {"pod": ("spec",), "cronjob": ("spec", "jobTemplate", "spec", "template", "spec")}
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the apiserver's name alphabet: no vowels, no look-alike digits

_POD_NOTES = {**dict.fromkeys(("affinity", "tolerations", "nodeSelector", "nodeName", "priorityClassName", "priority",
                               "preemptionPolicy", "schedulerName", "topologySpreadConstraints", "serviceAccountName",
                               "serviceAccount", "imagePullSecrets", "overhead", "readinessGates", "schedulingGates",
                               "resourceClaims", "os", "dnsPolicy"), SCHEDULING),
              "resources": "pod-level resources are not translated: only the container's limits are",
              "ephemeralContainers": "ephemeral (debugging) containers are not run",
              "shareProcessNamespace": "each container has a process namespace of its own here",
              "restartPolicy": "porttest runs the container once and never restarts it",
              "activeDeadlineSeconds": "deadlines are not enforced",
              "terminationGracePeriodSeconds": "Docker's stop timeout is not a containers.run() option",
              "dnsConfig": "the container uses the engine's DNS", "subdomain": "the pod gets no cluster DNS name",
              "setHostnameAsFQDN": "the pod gets no cluster DNS name",
              "hostUsers": "a user namespace per container is not reproduced"}


@dataclass(frozen=True)
class _Object:
    doc: Located
    base: Path_
    data: dict[str, Any]
    kind: str  # lower case
    name: str
    namespace: str | None

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


def translate(docs: Sequence[Located], *, workload: str | None, container: str | None, namespace: str = "default",
              runtime_classes: Mapping[str, str] = {}, secrets: Mapping[str, str] = {},
              config_maps: Mapping[str, str] = {}, files: Mapping[str, str] = {},
              allow_privileged: bool = False) -> Translation:
    """The profile for one container of one workload in a (multi-document) manifest; the pod's other containers
    (and native sidecars) are its `services`, in its network namespace (kubernetes_container.sidecars).

    Raises ConfigError, located in the manifest, for what cannot be translated (all problems at once); every field
    translated only in part or not at all is a warning. `workload` is KIND/NAME as kubectl takes it (deploy/api,
    statefulsets.apps/db); `container` may be None when the pod has one. `secrets` and `config_maps` give values
    keyed NAME/KEY; a key they lack is taken from a Secret/ConfigMap the manifest itself defines, if any. `files`
    maps configmap/NAME, secret/NAME and pvc/CLAIM to local folders (absolute paths). The manifest's own
    metadata.namespace wins over `namespace`. The pod's name (hostname, metadata.name) is synthesised in the
    controller's shape from a hash of the manifest, so it is stable across runs.
    """
    file = docs[0].file if docs else "manifest"
    objects = _objects(docs)
    chosen = _select(objects, workload, file)
    ctx = Context(chosen.doc, chosen.base)
    spec_path = _POD_SPEC.get(chosen.kind, ("spec", "template", "spec"))
    meta_path: Path_ = (*spec_path[:-1], "metadata") if chosen.kind != "pod" else ("metadata",)
    spec = _walk(chosen.data, spec_path)
    if not isinstance(spec, dict):
        ctx.fail(spec_path[:-1] if chosen.kind != "pod" else (), f"{chosen.label} has no {dotted(spec_path[:-1])}",
                 f"a {chosen.kind} holds its pod in {dotted(spec_path)}")
        raise ConfigError(ctx.issues)
    main, cpath = _container(ctx, chosen, spec, spec_path, container)
    _controller_level(ctx, chosen)
    ctx.lines[("run",)] = ctx.line(cpath) or 1
    if chosen.namespace and namespace not in ("default", chosen.namespace):
        ctx.note(("metadata", "namespace"), f"the manifest's namespace {chosen.namespace} is used, not {namespace}")
    namespace = chosen.namespace or namespace
    meta = _walk(chosen.data, meta_path) if isinstance(_walk(chosen.data, meta_path), dict) else {}
    facts = _facts(ctx, chosen, spec, meta, namespace, main, cpath)
    shared, account = _pod_level(ctx, spec, spec_path, facts.name, namespace, runtime_classes, objects,
                                 allow_privileged)
    templates = _walk(chosen.data, ("spec", "volumeClaimTemplates")) if chosen.kind == "statefulset" else None
    claims: dict[str, Path_] = {_walk(t, ("metadata", "name")): ("spec", "volumeClaimTemplates", i)
                                for i, t in enumerate(templates if isinstance(templates, list) else [])
                                if isinstance(_walk(t, ("metadata", "name")), str)}
    pod = Pod(spec, spec_path, facts, {"secrets": secrets, "config_maps": config_maps,
                                       **_manifest_data(objects, namespace)},
              {v["name"]: (v, p) for v, p in ctx.items(spec, "volumes", spec_path) if isinstance(v.get("name"), str)},
              claims, files, allow_privileged, shared)
    translate_container(ctx, pod, main, cpath, facts)
    others = [(c, p) for c, p in ctx.items(spec, "containers", spec_path) if p != cpath]
    sidecars(ctx, pod, others, ctx.items(spec, "initContainers", spec_path), (main, cpath), account)
    if ctx.issues:
        raise ConfigError(list(dict.fromkeys(ctx.issues)))  # a field read twice reports its problem once
    # A pod-level note read for each container is said once.
    return Translation(ctx.profile, file, dict(ctx.lines), tuple(dict.fromkeys(ctx.warnings)),
                       frozenset(ctx.secret_values))


def _walk(data: Any, path: Path_) -> Any:
    for part in path:
        if isinstance(part, str) and isinstance(data, dict):
            data = data.get(part)
        elif isinstance(part, int) and isinstance(data, list) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _objects(docs: Sequence[Located]) -> list[_Object]:
    """Every object of every document (a kind: List contributes its items); malformed ones are refused."""
    found: list[_Object] = []
    issues: list[ConfigIssue] = []
    for doc in docs:
        if doc.data is None:
            continue  # a template that rendered nothing: `helm template` prints `---` and maybe a comment
        entries: list[tuple[Path_, Any]] = [((), doc.data)]
        if isinstance(doc.data, dict) and doc.data.get("kind") == "List" and isinstance(doc.data.get("items"), list):
            entries = [(("items", i), item) for i, item in enumerate(doc.data["items"])]
        for base, data in entries:
            line = doc.deepest(base)[1]
            kind, name = _walk(data, ("kind",)), _walk(data, ("metadata", "name"))
            if not isinstance(data, dict) or not isinstance(kind, str):
                issues.append(ConfigIssue(dotted(base), "a Kubernetes object is a mapping with `kind:`",
                                          "check the document's indentation; `helm template` output works", doc.file,
                                          line))
                continue
            if not isinstance(name, str) and kind.lower() in _ALIASES.values():
                name = _walk(data, ("metadata", "generateName"))
                if not isinstance(name, str):
                    issues.append(ConfigIssue(dotted((*base, "metadata")), f"this {kind} has no metadata.name",
                                              None, doc.file, doc.deepest((*base, "metadata"))[1] or line))
                    continue
            namespace = _walk(data, ("metadata", "namespace"))
            found.append(_Object(doc, base, data, kind.lower(), str(name),
                                 namespace if isinstance(namespace, str) else None))
    if issues:
        raise ConfigError(issues)
    return found


def _select(objects: list[_Object], workload: str | None, file: str) -> _Object:
    workloads = [o for o in objects if o.kind in _ALIASES.values()]
    listed = "the file defines: " + (", ".join(o.label for o in workloads) or "no workload (kinds read: "
                                     + ", ".join(KINDS) + ")")
    first = workloads[0].doc.deepest((*workloads[0].base, "kind"))[1] if workloads else 1
    if workload is None:
        if len(workloads) == 1:
            return workloads[0]
        message = "no workload in this file" if not workloads else (
            f"the file defines {len(workloads)} workloads: name one with workload: KIND/NAME")
        raise ConfigError(ConfigIssue("workload", message, listed, file, first))
    kind, _, name = workload.partition("/")
    kind = kind.lower().split(".")[0]  # deployments.apps/api, as kubectl takes it
    kind = _ALIASES.get(kind, kind)
    if not name or kind not in _ALIASES.values():
        raise ConfigError(ConfigIssue("workload", f"{workload!r} is not KIND/NAME of a workload",
                                      "e.g. deployment/api; " + listed, file, first))
    matches = [o for o in workloads if o.kind == kind and o.name == name]
    if len(matches) != 1:
        same = [o for o in workloads if o.kind == kind] or workloads
        line = same[0].doc.deepest((*same[0].base, "kind"))[1] if same else 1
        message = f"{kind}/{name} is defined {len(matches)} times" if matches else f"no {kind}/{name} in this file"
        raise ConfigError(ConfigIssue("workload", message, listed, file, line))
    return matches[0]


def _container(ctx: Context, chosen: _Object, spec: dict[str, Any], spec_path: Path_, wanted: str | None
               ) -> tuple[dict[str, Any], Path_]:
    listed = ctx.items(spec, "containers", spec_path)
    names = [str(c.get("name")) for c, _ in listed]
    hint = f"containers of {chosen.label}: {', '.join(names) or 'none'}"
    pick = [i for i, n in enumerate(names) if n == wanted] if wanted is not None else list(range(len(listed)))
    if len(pick) == 1:
        return listed[pick[0]]
    inits = [c.get("name") for c in spec.get("initContainers") or () if isinstance(c, dict)] if isinstance(
        spec.get("initContainers"), list) else []
    if not listed:
        message = f"{chosen.label} has no containers"
    elif wanted is None:
        message = f"the pod of {chosen.label} has {len(listed)} containers: name one with container: NAME"
    elif wanted in inits:
        message = f"{wanted} is an init container of {chosen.label}; porttest runs one of the pod's containers"
    else:
        message = f"{chosen.label} has no container named {wanted}"
    ctx.fail((*spec_path, "containers"), message, hint)
    raise ConfigError(ctx.issues)


def _facts(ctx: Context, chosen: _Object, spec: dict[str, Any], meta: dict[str, Any], namespace: str,
           main: dict[str, Any], cpath: Path_) -> PodFacts:
    """The pod's name, labels and identity, as the controller would make them (stable across runs)."""
    digest = hashlib.sha256(json.dumps(chosen.data, sort_keys=True, default=str).encode()).digest()
    suffix = "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:5])
    given = meta.get("labels")
    labels = {str(k): str(v) for k, v in given.items()} if isinstance(given, dict) else {}
    name = chosen.name
    if chosen.kind == "pod":
        if not isinstance(_walk(chosen.data, ("metadata", "name")), str):
            name = chosen.name[:58] + suffix  # generateName
    elif chosen.kind == "statefulset":
        name = f"{chosen.name}-0"
        labels |= {"statefulset.kubernetes.io/pod-name": name, "apps.kubernetes.io/pod-index": "0"}
    else:
        base = chosen.name
        if chosen.kind == "deployment":
            # the ReplicaSet's pod-template-hash: FNV-32a of the template, spelt in the name alphabet
            hashed = 0x811C9DC5
            for byte in json.dumps(_walk(chosen.data, ("spec", "template")), sort_keys=True, default=str).encode():
                hashed = ((hashed ^ byte) * 0x01000193) & 0xFFFFFFFF
            template_hash = "".join(_ALPHABET[ord(c) % len(_ALPHABET)] for c in str(hashed))
            base, labels = f"{base}-{template_hash}", labels | {"pod-template-hash": template_hash}
        elif chosen.kind == "cronjob":
            base = f"{base}-{29_000_000 + int.from_bytes(digest[5:9], 'big') % 1_000_000}"  # minutes since 1970
        if chosen.kind in ("job", "cronjob"):
            labels |= {"job-name": base, "batch.kubernetes.io/job-name": base}
        name = f"{base}-"[:58] + suffix
    annotations: dict[str, Any] = meta["annotations"] if isinstance(meta.get("annotations"), dict) else {}
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    limits, requests = resources(ctx, main, cpath)
    every = [c for key in ("containers", "initContainers") if isinstance(spec.get(key), list) for c in spec[key]
             if isinstance(c, dict) and isinstance(c.get("name"), str)]
    return PodFacts(name, namespace, str(uuid.UUID(bytes=digest[:16], version=4)), labels,
                    {str(k): str(v) for k, v in annotations.items()}, str(account), str(main.get("name")),
                    limits, requests, {c["name"]: amounts(c) for c in every})


def _manifest_data(objects: list[_Object], namespace: str) -> dict[str, dict[str, str]]:
    """NAME/KEY -> value of the ConfigMaps and Secrets the manifest itself defines in the pod's namespace."""
    out: dict[str, dict[str, str]] = {"manifest_config_maps": {}, "manifest_secrets": {}}
    for obj in objects:
        if obj.kind not in ("configmap", "secret") or (obj.namespace or namespace) != namespace:
            continue
        target = out["manifest_secrets" if obj.kind == "secret" else "manifest_config_maps"]
        for section in ("data", "stringData"):
            values = obj.data.get(section)
            for key, value in (values if isinstance(values, dict) else {}).items():
                text = str(value)
                if obj.kind == "secret" and section == "data":
                    try:
                        text = base64.b64decode(text, validate=True).decode("utf-8")
                    except (binascii.Error, UnicodeDecodeError):
                        continue
                target[f"{obj.name}/{key}"] = text
    return out


def _pod_level(ctx: Context, spec: dict[str, Any], path: Path_, pod_name: str, namespace: str,
               runtime_classes: Mapping[str, str], objects: list[_Object], allow_privileged: bool
               ) -> tuple[tuple[tuple[Path_, Any, Path_], ...], bool]:
    """The pod's own settings: the tested container's hostname, /etc/hosts, network and service-account files;
    returns the run options every container of the pod gets (key, value, path), and whether the service-account
    files are mounted."""
    host_network = False
    own_name = pod_name
    shared: list[tuple[Path_, Any, Path_]] = []
    for key, value in spec.items():
        where = (*path, key)
        if key in ("hostNetwork", "hostPID", "hostIPC") and value is True:
            option = {"hostNetwork": "network_mode", "hostPID": "pid_mode", "hostIPC": "ipc_mode"}[key]
            host_network |= key == "hostNetwork"
            if not allow_privileged:
                ctx.fail(where, f"{key} shares the host's namespace with the container", PRIVILEGED_HINT)
            elif key == "hostNetwork":  # the other containers join the tested one's network, the host's
                ctx.put(("run", option), "host", where)
            else:
                shared.append((("run", option), "host", where))
        elif key == "runtimeClassName" and ctx.typed(value, where, "string"):
            if value in runtime_classes:
                shared.append((("run", "runtime"), runtime_classes[value], where))
            else:
                ctx.fail(where, f"runtimeClassName {value} has no runtime here",
                         f"map it: runtime_classes: {{{value}: runsc}}")
        elif key == "hostAliases":
            for alias, apath in ctx.items(spec, key, path):
                ip = ctx.at(alias, "ip", apath, "string")
                for host in ctx.at(alias, "hostnames", apath, "list") or []:
                    if ip:
                        ctx.put(("run", "extra_hosts", str(host)), ip, apath)
        elif key == "hostname" and ctx.typed(value, where, "string"):
            pod_name = value
        elif key == "hostUsers":
            if value is False:
                ctx.skip(where, _POD_NOTES[key])
        elif key in _POD_NOTES and not is_empty(value):
            ctx.skip(where, _POD_NOTES[key])
        elif key not in _POD_NOTES and key not in ("containers", "initContainers", "volumes", "securityContext",
                                                   "hostNetwork", "hostPID", "hostIPC", "automountServiceAccountToken",
                                                   "enableServiceLinks"):
            ctx.skip(where, "unknown field")
    if not host_network:  # with the host's network the pod has the node's hostname, and Docker refuses both
        where = (*path, "hostname") if "hostname" in spec else ("metadata", "name")
        ctx.put(("run", "hostname"), pod_name[:63].rstrip("-."), where)
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = next((o.data.get("automountServiceAccountToken") for o in objects
                          if o.kind == "serviceaccount" and o.name == account), None)
    if automount is not False:
        where = (*path, "automountServiceAccountToken") if "automountServiceAccountToken" in spec else path
        for file, text in account_files(namespace, str(account), own_name).items():
            ctx.put(("files", file), text, where)
    services = [o.name for o in objects if o.kind == "service" and o.name != "kubernetes"
                and (o.namespace or namespace) == namespace and _walk(o.data, ("spec", "clusterIP")) != "None"
                and _walk(o.data, ("spec", "type")) != "ExternalName"]
    if services and spec.get("enableServiceLinks") is not False:
        ctx.note(path, "only the kubernetes Service's variables are set, not those of " + ", ".join(services))
    return tuple(shared), automount is not False


_CONTROLLER_DONE = {"template", "selector", "jobTemplate", "volumeClaimTemplates"}
_CONTROLLER_NOTES = {"activeDeadlineSeconds": "not enforced: the environment's `timeout` bounds the suites",
                     "schedule": "the suites run the pod once, now"}


def _controller_level(ctx: Context, chosen: Any) -> None:
    """What the controller (Deployment, Job, CronJob, ...) sets beside its pod template: listed, never dropped."""
    if chosen.kind == "pod":
        return
    levels: list[Path_] = [("spec",)] + ([("spec", "jobTemplate", "spec")] if chosen.kind == "cronjob" else [])
    for level in levels:
        node = _walk(chosen.data, level)
        for key in node if isinstance(node, dict) else ():
            if key not in _CONTROLLER_DONE:
                ctx.skip((*level, key), _CONTROLLER_NOTES.get(key, f"a {chosen.kind} setting: one pod runs here, once"))
