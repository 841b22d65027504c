"""PURE: what a Compose service depends on (depends_on, links), recursively, as the environment's services."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from porttest.config.descriptors.compose_extends import Notes, Service, resolve_service
from porttest.config.descriptors.compose_keys import Out, scalar_text
from porttest.config.models import SERVICE_NAME
from porttest.config.yaml_source import Located, Path_

CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
_NAME_HINT = ("porttest reaches a service by its name, a DNS label: lower-case letters, digits and '-' (at most "
              "63); rename the Compose service")
_BUILD_KEYS = {"context", "dockerfile", "args", "target"}
# An image's HEALTHCHECK with Docker's default timing (30 s interval and timeout, 3 retries), waited for as
# compose_keys.healthcheck waits: until Docker would call it unhealthy, plus one interval.
_IMAGE_HEALTHCHECK_WAIT = 150.0


@dataclass(frozen=True)
class _Edge:
    """One dependency of one service: whom, on what condition, and where it is written."""

    name: str
    condition: str
    required: bool
    path: Path_  # in the depending service


Translate = Callable[[Service], Out]


def services(doc: Located, main: Service, notes: Notes, env: Mapping[str, str], translate: Translate
             ) -> tuple[dict[str, Any], dict[Path_, int]]:
    """The services `main` depends on, directly or not: ({NAME: {image, run, wait_for}}, profile path -> line).

    Each is translated by `translate`, the code that translates `main`, and gets an image: its `image` ref, its
    `build` (context, dockerfile, args, target; paths against the folder of the file that wrote them), or both
    (built and tagged with the ref, as Compose does). The graph is flattened: every service reached is a service of
    the environment, on its network under its name. Its healthcheck is its wait_for whatever the condition:
    porttest starts the image under test once its services are ready. `service_healthy` without a healthcheck in
    the file waits for the image's own HEALTHCHECK (an image without one fails the environment, as Compose fails);
    with the healthcheck disabled it is refused here. `service_completed_successfully` names a one-off job, which
    porttest does not run (a warning). A cycle, an unknown service and a name that is not a DNS label are located
    errors (all in `notes`)."""
    found: dict[str, Any] = {}
    lines: dict[Path_, int] = {}
    outs: dict[str, Out] = {}
    start = next((p for p in (("depends_on",), ("links",)) if p[0] in main.data), None)
    if start is not None:
        lines[("services",)] = _line(main, start)
    _visit(doc, main, (main.name,), notes, env, translate, found, lines, outs)
    return found, lines


def _visit(doc: Located, service: Service, chain: tuple[str, ...], notes: Notes, env: Mapping[str, str],
           translate: Translate, found: dict[str, Any], lines: dict[Path_, int], outs: dict[str, Out]) -> None:
    known = doc.data.get("services") if isinstance(doc.data, dict) else None
    for edge in _edges(service, notes):
        where = ("services", service.name, *edge.path)
        if edge.name in chain:
            cycle = " -> ".join((*chain[chain.index(edge.name):], edge.name))
            notes.issue(service.origin(edge.path), where, f"dependency cycle: {cycle}",
                        "Compose refuses a cycle too: remove one of these dependencies")
            continue
        if edge.condition == "service_completed_successfully":
            notes.warn(f"{notes.at(service.origin(edge.path), where)} is not translated: {edge.name} is a job that "
                       "must complete before the service starts; porttest runs long-lived services only, so it is "
                       "not run")
            continue
        if not isinstance(known, dict) or edge.name not in known:
            if edge.required:
                notes.issue(service.origin(edge.path), where, f"{service.name} depends on {edge.name}, which this "
                            "Compose file does not define", "services in this file: "
                            + ", ".join(sorted(map(str, known or ()))))
            else:
                notes.warn(f"{notes.at(service.origin(edge.path), where)}: {edge.name} is not in this file and not "
                           "required: it is not run")
            continue
        if not re.match(SERVICE_NAME, edge.name):
            notes.issue(service.origin(edge.path), where, f"the Compose service name {edge.name!r} cannot name a "
                        "porttest service", _NAME_HINT)
            continue
        if edge.name not in outs:
            resolved = resolve_service(doc, edge.name, env, notes)
            if resolved is None:
                continue
            outs[edge.name] = out = translate(resolved)
            found[edge.name] = _spec(out, lines)
            _visit(doc, resolved, (*chain, edge.name), notes, env, translate, found, lines, outs)
        if edge.condition == "service_healthy":
            _healthy(outs[edge.name], found[edge.name], service, edge, notes, lines)


def _edges(service: Service, notes: Notes) -> list[_Edge]:
    """depends_on (list or mapping form) and links ("NAME" or "NAME:ALIAS"), in the order written."""
    edges: list[_Edge] = []
    seen: set[str] = set()
    for key in ("depends_on", "links"):
        value = service.data.get(key)
        if value is None:
            continue
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            entries: list[tuple[Path_, str, Any]] = [((key, i), v, None) for i, v in enumerate(value)]
        elif isinstance(value, dict) and key == "depends_on":
            entries = [((key, str(k)), str(k), v) for k, v in value.items()]
        else:
            notes.issue(service.origin((key,)), ("services", service.name, key),
                        f"`{key}` is a list of service names" + (", or a mapping of them to {condition, required, "
                                                                  "restart}" if key == "depends_on" else ""))
            continue
        for path, name, options in entries:
            if key == "links":
                name, _, alias = name.partition(":")
                if alias and alias != name:
                    notes.warn(f"{notes.at(service.origin(path), ('services', service.name, *path))} is not "
                               f"translated in part: {name} is reached by its name, not by the alias {alias}")
            edge = _edge(service, notes, path, name, options)
            if edge is not None and edge.name not in seen:
                seen.add(edge.name)
                edges.append(edge)
    return edges


def _edge(service: Service, notes: Notes, path: Path_, name: str, options: Any) -> _Edge | None:
    where = ("services", service.name, *path)
    if options is None:
        return _Edge(name, "service_started", True, path)
    if not isinstance(options, dict):
        notes.issue(service.origin(path), where, "a depends_on entry is a mapping: condition, required, restart",
                    "e.g. db: {condition: service_healthy}")
        return None
    condition = options.get("condition", "service_started")
    if condition not in CONDITIONS:
        notes.issue(service.origin((*path, "condition")), (*where, "condition"),
                    f"unknown condition {condition!r}", "one of " + ", ".join(CONDITIONS))
        return None
    required = options.get("required", True)
    if not isinstance(required, bool):
        notes.issue(service.origin((*path, "required")), (*where, "required"), "`required` is true or false")
        return None
    for key, value in options.items():
        if key == "restart" and value is True:
            notes.warn(f"{notes.at(service.origin((*path, key)), (*where, key))} is not translated: porttest never "
                       f"restarts {service.name} when {name} restarts")
        elif key not in ("condition", "required", "restart"):
            notes.warn(f"{notes.at(service.origin((*path, key)), (*where, key))} is not translated: unknown "
                       "depends_on key")
    return _Edge(name, str(condition), required, path)


def _spec(out: Out, lines: dict[Path_, int]) -> dict[str, Any]:
    """The porttest service for a translated Compose service: its image, run options and wait_for."""
    root: Path_ = ("services", out.service.name)
    lines[root] = lines[(*root, "run")] = out.line(())
    spec: dict[str, Any] = {"image": _image(out, lines), "run": out.run}
    if out.wait_for:
        spec["wait_for"] = out.wait_for
    lines.update({(*root, *path): line for path, line in out.lines.items() if path != ("run",)})
    return spec


def _image(out: Out, lines: dict[Path_, int]) -> dict[str, Any]:
    data = out.service.data
    root: Path_ = ("services", out.service.name, "image")
    spec: dict[str, Any] = {}
    ref = data.get("image")
    if ref is not None:
        if isinstance(ref, str) and ref:
            spec["ref"] = ref
            lines[root] = out.line(("image",))
        else:
            out.fail(("image",), "`image` is an image reference", "e.g. postgres:16 or registry.example.com/db:1")
    if data.get("build") is not None:
        build = _build(out, data["build"], "ref" in spec)
        if build is not None:
            spec["build"] = build
            lines.setdefault(root, out.line(("build",)))
            lines[(*root, "build")] = out.line(("build",))
    if not spec and not out.notes.issues:
        out.fail((), f"service {out.service.name} has no image that porttest can run",
                 "give it `image:`, or `build:` with a local context folder")
    return spec or {"ref": "(none)"}


def _build(out: Out, value: Any, has_ref: bool) -> dict[str, Any] | None:
    """Compose's `build` as porttest's image.build; None (with a warning or an issue) when it cannot be built here."""
    given = {"context": value} if isinstance(value, str) else value
    if not isinstance(given, dict):
        out.fail(("build",), "`build` is a context path or a mapping: context, dockerfile, args, target")
        return None
    path: Path_ = ("build",) if isinstance(value, str) else ("build", "context")
    context = given.get("context", ".")
    for key in given:
        if key not in _BUILD_KEYS:
            out.skip(("build", key), "only context, dockerfile, args and target are passed to the build")
    if not isinstance(context, str) or re.match(r"^([a-z][a-z0-9+.-]*://|git@|github\.com/)", context):
        why = f"the build context {context!r} is not a local folder"
        if has_ref:
            out.skip(path, f"{why}: the image is used as it is")
        else:
            out.fail(path, why, "build the image first and give its `image:` ref, or a local context folder")
        return None
    folder = Path(os.path.expanduser(context))
    build: dict[str, Any] = {"context": folder if folder.is_absolute() else (out.folder(path) / folder).resolve()}
    for key in ("dockerfile", "target"):
        if given.get(key) is not None:
            if isinstance(given[key], str):
                build[key] = given[key]
            else:
                out.fail(("build", key), f"`build.{key}` is a string")
    args = given.get("args")
    if args is not None:
        pairs = list(args.items()) if isinstance(args, dict) else [
            tuple(str(a).partition("=")[::2]) if "=" in str(a) else (str(a), None) for a in args] \
            if isinstance(args, list) else None
        if pairs is None:
            out.fail(("build", "args"), "`build.args` is a mapping or a list of KEY=VALUE")
        else:
            # An argument without a value takes the shell's, or is left out, as Compose does.
            build["args"] = {str(k): scalar_text(v) if v is not None else out.env[str(k)]
                             for k, v in pairs if v is not None or str(k) in out.env}
    return build


def _healthy(out: Out, spec: dict[str, Any], service: Service, edge: _Edge, notes: Notes,
             lines: dict[Path_, int]) -> None:
    """condition: service_healthy: the dependency's wait_for is its healthcheck (the file's, else the image's)."""
    check = out.run.get("healthcheck")
    if isinstance(check, dict) and check.get("test") == ["NONE"]:
        notes.issue(service.origin((*edge.path, "condition")), ("services", service.name, *edge.path, "condition"),
                    f"{service.name} waits for {edge.name} to be healthy, and {edge.name}'s healthcheck is disabled",
                    f"enable the healthcheck of {edge.name}, or depend on it with condition: service_started")
        return
    if "wait_for" not in spec:
        # No healthcheck in the file: the image's own HEALTHCHECK, with Docker's default timing.
        spec["wait_for"] = {"healthcheck": True, "timeout": _IMAGE_HEALTHCHECK_WAIT}
        lines[("services", edge.name, "wait_for")] = _line(service, (*edge.path, "condition"))


def _line(service: Service, path: Path_) -> int:
    file, line = service.origin(path)
    return line if file == service.file else service.origin(("extends",))[1]
