"""PURE: one Compose service as Compose sees it: the file read as YAML 1.2, values interpolated, `extends` merged."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from porttest.config.descriptors.compose_env import INTERPOLATION_HINT, InterpolationError, interpolate, secret_values
from porttest.config.descriptors.compose_values import split_entry
from porttest.config.yaml_source import Located, Path_, Tagged, dotted, load_yaml_documents
from porttest.errors import ConfigError, ConfigIssue

Origin = tuple[str, int]  # (file, line)


class ComposeLoader(yaml.SafeLoader):
    """YAML 1.2 plain scalars, as Compose (go-yaml v3) reads them: `22:22` is a string (YAML 1.1 made it the
    base-60 number 1342) and only true/false are booleans (`yes`, `on` stay strings)."""


ComposeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":bool", ":int", ":float"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ComposeLoader.add_implicit_resolver(  # type: ignore[no-untyped-call]
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
ComposeLoader.add_implicit_resolver(  # type: ignore[no-untyped-call]
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"))
ComposeLoader.add_implicit_resolver(  # type: ignore[no-untyped-call]
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def load_compose(path: str | Path) -> Located:
    """Read a Compose file: YAML 1.2 scalars, anchors and `<<` merges, one document, lines kept.

    `!reset` and `!override` become Tagged markers, which resolve_service settles as Compose does."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not found" if isinstance(exc, FileNotFoundError) else str(exc)
        raise ConfigError(ConfigIssue("", f"cannot read Compose file {file}: {reason}", "check the path", file)) \
            from None
    docs = load_yaml_documents(text, file, merge_keys=True, loader=ComposeLoader, merge_tags=True)
    if len(docs) != 1:
        raise ConfigError(ConfigIssue("", "a Compose file holds exactly one YAML document", None, file, 1))
    doc = docs[0]
    if not isinstance(doc.data, dict):
        return doc
    # Services settle after their `extends` merge; everything else at once.
    return replace(doc, data={k: v if k == "services" else settle(v) for k, v in doc.data.items()})


_RESET = object()  # what `!reset` leaves behind until settle() removes the key


def settle(value: Any) -> Any:
    """A service's data with the merge tags applied: `!override X` is X, a key under `!reset` is gone."""
    if isinstance(value, Tagged):
        return _RESET if value.tag == "!reset" else settle(value.value)
    if isinstance(value, dict):
        settled = {k: settle(v) for k, v in value.items()}
        return {k: v for k, v in settled.items() if v is not _RESET}
    if isinstance(value, list):
        return [settle(v) for v in value]
    return value


@dataclass(frozen=True)
class Notes:
    """What resolving and translating collect: problems (located) and warnings, each said once."""

    main: str  # the Compose file the translation started from
    issues: list[ConfigIssue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    secret_values: set[str] = field(default_factory=set)
    unset: set[str] = field(default_factory=set)  # variables already warned about

    def at(self, origin: Origin, path: Path_) -> str:
        """A path as a warning names it: services.web.read_only (line 7), or (common.yaml line 3) elsewhere."""
        shown = f"line {origin[1]}" if origin[0] == self.main else f"{Path(origin[0]).name} line {origin[1]}"
        return f"{dotted(path)} ({shown})"

    def issue(self, origin: Origin, path: Path_, message: str, hint: str | None = None) -> None:
        self.issues.append(ConfigIssue(dotted(path), message, hint, origin[0], origin[1]))

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)


@dataclass(frozen=True)
class Service:
    """A service's definition, with the (file, line) of every path in it (relative to the service)."""

    name: str
    data: dict[str, Any]
    where: Mapping[Path_, Origin]
    file: str  # the file that names the service (the main Compose file)

    def origin(self, path: Path_) -> Origin:
        for end in range(len(path), -1, -1):
            found = self.where.get(tuple(path[:end]))
            if found is not None:
                return found
        return (self.file, 1)


def resolve_service(doc: Located, name: str, env: Mapping[str, str], notes: Notes,
                    chain: tuple[tuple[str, str], ...] = ()) -> Service | None:
    """The service `name` of `doc`, interpolated and with its `extends` chain merged; None after an issue."""
    services = doc.data.get("services") if isinstance(doc.data, dict) else None
    if not isinstance(services, dict):
        notes.issue((doc.file, doc.lines.get(("services",), 1)), ("services",),
                    "not a Compose file: it has no `services:` mapping",
                    "a Compose file lists its services under a top-level `services:` key")
        return None
    if name not in services:
        known = ", ".join(sorted(map(str, services))) or "none"
        included = " (services of `include:` files are not read)" if "include" in doc.data else ""
        notes.issue((doc.file, doc.lines.get(("services",), 1)), ("services",),
                    f"no service {name!r} in this Compose file", f"services in this file: {known}{included}")
        return None
    root: Path_ = ("services", name)
    if not isinstance(services[name], dict):
        notes.issue((doc.file, doc.lines.get(root, 1)), root, "a service is a mapping of its settings")
        return None
    where = {path[2:]: (doc.file, line) for path, line in doc.lines.items() if path[:2] == root}
    data = _interpolate(services[name], (), where, env, notes, name)
    service = Service(name, data, where, doc.file)
    extends = data.get("extends")
    if extends is None:
        return Service(name, settle(data), where, doc.file)
    base = _base(service, doc, env, notes, (*chain, (doc.file, name)))
    if base is None:
        return None
    own = {k: v for k, v in data.items() if k != "extends"}
    merged_where: dict[Path_, Origin] = {p: o for p, o in base.where.items() if p}
    merged_where[()] = where.get((), (doc.file, 1))
    merged_where[("extends",)] = service.origin(("extends",))
    merged = dict(base.data)
    for key, value in own.items():
        mine = _sub(where, (key,))
        if key in merged:
            merged[key], grafted = merge_key(key, merged[key], _sub(base.where, (key,)), value, mine)
        else:
            merged[key], grafted = value, mine
        merged_where = {p: o for p, o in merged_where.items() if p[:1] != (key,)}
        merged_where.update({(key, *p): o for p, o in grafted.items()})
    return Service(name, settle(merged), merged_where, doc.file)


def _base(service: Service, doc: Located, env: Mapping[str, str], notes: Notes,
          chain: tuple[tuple[str, str], ...]) -> Service | None:
    extends = service.data["extends"]
    at = service.origin(("extends",))
    if isinstance(extends, str):
        extends = {"service": extends}
    if not isinstance(extends, dict) or not isinstance(extends.get("service"), str):
        notes.issue(at, ("services", service.name, "extends"), "`extends` names a `service` (and optionally a `file`)",
                    "extends: {service: base} or extends: {file: common.yaml, service: base}")
        return None
    base_doc = doc
    if extends.get("file") is not None:
        path = Path(os.path.normpath(Path(doc.file).parent / os.path.expanduser(str(extends["file"]))))
        try:
            base_doc = load_compose(path)
        except ConfigError as exc:
            notes.issues.extend(exc.issues if path.exists() else [
                ConfigIssue(dotted(("services", service.name, "extends", "file")),
                            f"the Compose file {extends['file']} does not exist",
                            "`extends.file` is relative to the file that names it", *service.origin(
                                ("extends", "file")))])
            return None
    if (base_doc.file, extends["service"]) in chain:
        notes.issue(at, ("services", service.name, "extends"),
                    f"`extends` goes round in a circle: {' -> '.join(n for _, n in chain)} -> {extends['service']}",
                    "remove the cycle")
        return None
    return resolve_service(base_doc, extends["service"], env, notes, chain)


def _interpolate(value: Any, path: Path_, where: Mapping[Path_, Origin], env: Mapping[str, str], notes: Notes,
                 service: str) -> Any:
    """Interpolate every string value (never a key), as Compose does before it reads the service."""
    if isinstance(value, Tagged):
        return Tagged(value.tag, _interpolate(value.value, path, where, env, notes, service))
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, k), where, env, notes, service) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), where, env, notes, service) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value
    origin = next((where[path[:end]] for end in range(len(path), -1, -1) if path[:end] in where), ("", 1))
    notes.secret_values.update(secret_values(value, env))
    try:
        done = interpolate(value, env)
    except InterpolationError as exc:
        notes.issue(origin, ("services", service, *path), str(exc), INTERPOLATION_HINT)
        return value
    for variable in sorted(set(done.unset) - notes.unset):
        notes.unset.add(variable)
        notes.warn(f"{notes.at(origin, ('services', service, *path))}: variable {variable} is not set; Compose uses "
                   "a blank string")
    return done.text


def _sub(where: Mapping[Path_, Origin], prefix: Path_) -> dict[Path_, Origin]:
    return {p[len(prefix):]: o for p, o in where.items() if p[: len(prefix)] == prefix}


# Compose's `extends` merge (compose-spec, services: extends): these lists are mappings in list form ...
_AS_MAPPING = {"environment", "labels", "sysctls", "annotations", "extra_hosts", "depends_on"}
# ... these are keyed by their target ...
_BY_TARGET = {"volumes", "devices"}
# ... these append without duplicates, and the rest of the lists append as they are.
_UNIQUE = {"cap_add", "cap_drop", "configs", "device_cgroup_rules", "expose", "external_links", "ports", "secrets",
           "security_opt", "constraints", "preferences", "generic_resources"}
_REPLACE = {"command", "entrypoint", "test"}


def merge_key(key: str, base: Any, base_where: Mapping[Path_, Origin], main: Any,
              main_where: Mapping[Path_, Origin]) -> tuple[Any, dict[Path_, Origin]]:
    """Merge one key of an extended service (`base`) with the extending one (`main`): (value, where)."""
    value, where = _merge(key, base, base_where, main, main_where)
    own = main_where.get(()) or base_where.get(())
    if own is not None:
        where[()] = own  # the key itself is where the extending service wrote it
    return value, where


def _merge(key: str, base: Any, base_where: Mapping[Path_, Origin], main: Any,
           main_where: Mapping[Path_, Origin]) -> tuple[Any, dict[Path_, Origin]]:
    if isinstance(main, Tagged):  # the extending service replaces (!override) or removes (!reset) the base's value
        return main, dict(main_where)
    if key in _REPLACE or main is None:
        return main, dict(main_where)
    if key in _AS_MAPPING:
        base, base_where = _as_mapping(key, base, base_where)
        main, main_where = _as_mapping(key, main, main_where)
    if key in ("dns", "dns_search", "env_file", "tmpfs"):
        base, base_where = _as_list(base, base_where)
        main, main_where = _as_list(main, main_where)
    if isinstance(base, dict) and isinstance(main, dict):
        out, where = dict(base), {p: o for p, o in base_where.items() if p}
        for sub, value in main.items():
            mine = _sub(main_where, (sub,))
            if sub in out:
                out[sub], grafted = merge_key(str(sub), out[sub], _sub(base_where, (sub,)), value, mine)
            else:
                out[sub], grafted = value, mine
            where = {p: o for p, o in where.items() if p[:1] != (sub,)}
            where.update({(sub, *p): o for p, o in grafted.items()})
        return out, where
    if isinstance(base, list) and isinstance(main, list):
        keep = list(range(len(base)))
        if key in _BY_TARGET:
            targets = {_target(item) for item in main}
            keep = [i for i in keep if _target(base[i]) not in targets]
        items = [(base[i], _sub(base_where, (i,))) for i in keep]
        for i, item in enumerate(main):
            if key in _UNIQUE and any(item == have for have, _ in items):
                continue
            items.append((item, _sub(main_where, (i,))))
        where = {(i, *p): o for i, (_, sub) in enumerate(items) for p, o in sub.items()}
        return [item for item, _ in items], where
    return main, dict(main_where)


def _as_mapping(key: str, value: Any, where: Mapping[Path_, Origin]) -> tuple[Any, Mapping[Path_, Origin]]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return value, where
    out: dict[str, Any] = {}
    moved: dict[Path_, Origin] = {}
    for i, item in enumerate(value):
        name, entry = split_entry(item, hosts=key == "extra_hosts")
        out[name] = entry
        moved.update({(name, *p): o for p, o in _sub(where, (i,)).items()})
    return out, moved


def _as_list(value: Any, where: Mapping[Path_, Origin]) -> tuple[Any, Mapping[Path_, Origin]]:
    if isinstance(value, list | dict) or value is None:
        return value, where
    return [value], {(0, *p): o for p, o in where.items()}


def _target(item: Any) -> Any:
    """A volume's or device's container path: the key by which `extends` merges them."""
    if isinstance(item, dict):
        return item.get("target")
    parts = str(item).split(":")
    return parts[1] if len(parts) > 1 else parts[0]

