"""How `extends` layers merge (Compose's merge rules, with `!override` and `!reset`), and which merges weaken a profile.

Rules, applied when a layer (a profile, a descriptor, then the environment's own keys) goes over what came before:

- A value tagged `!override` replaces the base value entirely (a mapping or a list included); `!reset` removes the key
  the base gave (its written value is ignored), as in Compose.
- Mappings merge key by key, at any depth. A scalar, or a value of another shape, replaces the base value.
- Under `run:`, sequences merge as Compose merges a service's sequences: the base's entries first, then the new
  ones, without duplicates (cap_add, cap_drop, security_opt, dns, dns_search, dns_opt, group_add, devices, ports,
  mounts, ...). Exceptions, as in Compose:
  - `command` and `entrypoint` are replaced (so is `healthcheck.test`: lists below `run.KEY` are replaced);
  - entries with a key are merged by that key, the later one winning in the earlier one's place: `volumes` by
    container path (`src:dst[:mode]`), `tmpfs` by mount path (`/tmp:opts`), `ulimits` by name, and the `KEY=VALUE`
    lists of `environment`, `labels`, `sysctls` (`HOST:IP` for `extra_hosts`). One of these written as a list over
    the other's mapping form is read as a mapping first.
- Lists outside `run:` are porttest's own and are replaced.

A tag acts against what the file's own `extends` gave (for the matrix: the environment's profiles); a profile that
extends nothing keeps its tags for the layer it is merged onto.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from porttest.config.builtin import is_builtin
from porttest.config.yaml_source import Located, Path_, Tagged

_ENGINE_PATHS = {"tls": ("ca_cert", "client_cert", "client_key"), "ssh": ("known_hosts", "identity")}
REPLACED = frozenset({"command", "entrypoint"})
_KEY_VALUE_SEP = {"environment": "=", "labels": "=", "sysctls": "=", "extra_hosts": ":"}


def plain(value: Any) -> Any:
    """The value without tags: `!override` gives its value, a key tagged `!reset` goes."""
    if isinstance(value, Tagged):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items() if not (isinstance(v, Tagged) and v.tag == "!reset")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any], tagged: set[Path_] | None = None,
               path: Path_ = ()) -> dict[str, Any]:
    """`over` on top of `base` by the rules above; neither is changed. `tagged` collects the paths written with
    `!override`/`!reset` (relative to the environment body)."""
    out = dict(base)
    for key, value in over.items():
        where = (*path, key)
        if isinstance(value, Tagged):
            if tagged is not None:
                tagged.add(where)
            if value.tag == "!reset":
                out.pop(key, None)
            else:
                out[key] = plain(value.value)
        elif key in out:
            out[key] = _merge_value(out[key], value, where, tagged)
        else:
            out[key] = plain(value)
    return out


def _merge_value(base: Any, over: Any, where: Path_, tagged: set[Path_] | None) -> Any:
    name = str(where[1]) if len(where) == 2 and where[0] == "run" else None
    if name in _KEY_VALUE_SEP and isinstance(base, list) != isinstance(over, list):
        base, over = _as_mapping(base, _KEY_VALUE_SEP[name]), _as_mapping(over, _KEY_VALUE_SEP[name])
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        return deep_merge(base, over, tagged, where)
    if name in ("cap_add", "cap_drop"):  # one capability may be written as a string
        base, over = [base] if isinstance(base, str) else base, [over] if isinstance(over, str) else over
    if name is None or name in REPLACED or not (isinstance(base, list) and isinstance(over, list)):
        return plain(over)
    return _union(base, plain(over), _ENTRY_KEYS.get(name, _whole))


def _as_mapping(value: Any, sep: str) -> Any:
    """`[A=1, B=2]` as `{A: "1", B: "2"}`; left as it is when an entry has no separator."""
    if not isinstance(value, list) or not all(isinstance(e, str) and sep in e for e in value):
        return value
    return dict(e.split(sep, 1) for e in value)


def _whole(entry: Any) -> Any:
    return entry


def _before(sep: str, index: int = 0) -> Callable[[Any], Any]:
    def key(entry: Any) -> Any:
        if not isinstance(entry, str):
            return entry
        parts = entry.split(sep)
        return parts[min(index, len(parts) - 1)]
    return key


def _ulimit_name(entry: Any) -> Any:
    return entry.get("name") if isinstance(entry, Mapping) else entry


_ENTRY_KEYS: dict[str, Callable[[Any], Any]] = {
    "volumes": _before(":", 1), "tmpfs": _before(":"), "ulimits": _ulimit_name,
    **{name: _before(sep) for name, sep in _KEY_VALUE_SEP.items()},
}


def _union(base: list[Any], over: list[Any], key: Callable[[Any], Any]) -> list[Any]:
    """Base entries, then new ones; an entry whose key is already there takes that place (no duplicates)."""
    out: list[Any] = []
    keys: list[Any] = []
    for entry in [*base, *over]:
        k = key(entry)
        if k in keys:
            out[keys.index(k)] = entry
        else:
            keys.append(k)
            out.append(entry)
    return out


def find_tags(node: Any, path: Path_ = ()) -> list[Path_]:
    """Where `!override`/`!reset` markers sit in loaded data."""
    if isinstance(node, Tagged):
        return [path, *find_tags(node.value, path)]
    if isinstance(node, Mapping):
        return [p for k, v in node.items() for p in find_tags(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in find_tags(v, (*path, i))]
    return []


# ---------------------------------------------------------------------------------------------------- a layer


def resolve_path(value: str, base: Path) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else (base / path).resolve()


def resolve_env_paths(body: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make an environment's file paths absolute against the folder of the file that wrote them."""
    body = dict(body)
    extends = body.get("extends")
    if isinstance(extends, str | dict):
        extends = [extends]
    if isinstance(extends, list):
        # `porttest:NAME` stays as written: the loader finds the built-in profile (or says which ones exist).
        body["extends"] = [e if is_builtin(e) else resolve_path(e, base) if isinstance(e, str)
                           else _resolve_source(e, base) for e in extends]
    if "engine" in body:
        body["engine"] = _inside(body["engine"], lambda engine: _resolve_engine(engine, base))
    if "services" in body:
        body["services"] = _inside(body["services"], lambda services: resolve_services(services, base))
    if "toolbox" in body:
        body["toolbox"] = _inside(body["toolbox"], lambda v: resolve_path(v, base) if isinstance(v, str) else v)
    return body


def resolve_services(services: Any, base: Path) -> Any:
    """Services as written (top level or in an environment): an image ref string as {ref}, build contexts absolute
    against the folder of the file that wrote them."""
    if not isinstance(services, dict):
        return services
    out: dict[str, Any] = {}
    for name, service in services.items():
        if isinstance(service, dict) and "image" in service:
            service = dict(service)
            service["image"] = _inside(service["image"], lambda image: _resolve_image(image, base))
        out[name] = service
    return out


def _resolve_image(image: Any, base: Path) -> Any:
    if isinstance(image, str):
        return {"ref": image}
    if isinstance(image, dict) and isinstance(image.get("build"), dict):
        build = dict(image["build"])
        if isinstance(build.get("context"), str):
            build["context"] = resolve_path(build["context"], base)
        return {**image, "build": build}
    return image


def _resolve_engine(engine: Any, base: Path) -> Any:
    if not isinstance(engine, dict):
        return engine
    engine = dict(engine)
    for section, keys in _ENGINE_PATHS.items():
        if isinstance(plain(engine.get(section)), dict):
            engine[section] = _inside(engine[section], lambda files, keys=keys: {
                k: _inside(v, lambda v: resolve_path(v, base) if isinstance(v, str) else v) if k in keys else v
                for k, v in files.items()})
    return engine


def _inside(value: Any, change: Any) -> Any:
    """`change` applied to a value, or to the value inside an `!override`/`!reset` marker (kept)."""
    return Tagged(value.tag, change(value.value)) if isinstance(value, Tagged) else change(value)


def _resolve_source(entry: Any, base: Path) -> Any:
    """A descriptor entry's file paths, relative to the file that names them."""
    if not isinstance(entry, dict):
        return entry
    out = dict(entry)
    for key in ("kubernetes", "compose"):
        if isinstance(out.get(key), str):
            out[key] = resolve_path(out[key], base)
    if isinstance(out.get("files"), dict):
        out["files"] = {k: resolve_path(v, base) if isinstance(v, str) else v for k, v in out["files"].items()}
    return out


def merge_layer(merged: dict[str, Any], over: dict[str, Any], file: str | None, below: list[Located],
                environment: str, root: Path, notes: list[str]) -> dict[str, Any]:
    """`over` (written in `file`; None: the matrix) on top of `merged` (what the layers `below` gave), with a note in
    `notes` for each hardening option it loses, naming the layer that set it."""
    tagged: set[Path_] = set()
    result = deep_merge(merged, over, tagged)
    base_run, run = merged.get("run"), result.get("run")
    if not isinstance(base_run, dict) or not below:
        return result
    for loss in hardening_losses(base_run, run if isinstance(run, dict) else {}, tagged):
        origin = next((layer.file for layer in reversed(below) if _wrote(layer, loss)), None)
        here = "here" if file is None else f"in {_shown(file, root)}"
        by = _shown(origin, root) if origin else "its profile"
        notes.append(f"{environment}: run.{loss.key} {loss.now} {here} but {by} {loss.before}; "
                           f"write `{loss.fix}` if that is meant")
    return result


def _wrote(layer: Located, loss: Loss) -> bool:
    """Whether this layer set the option `loss` is about (for a capability: dropped that one)."""
    if ("run", loss.origin_key) not in layer.lines:
        return False
    run = plain(layer.data).get("run") if isinstance(layer.data, Mapping) else None
    return loss.capability is None or (isinstance(run, Mapping) and loss.capability in _caps(run.get("cap_drop")))


def _shown(file: str, root: Path) -> str:
    """A file as the user would name it: relative to the matrix's folder when it is inside it."""
    try:
        return Path(file).relative_to(root).as_posix()
    except ValueError:
        return file



# ---------------------------------------------------------------------------------------------------- hardening


@dataclass(frozen=True)
class Loss:
    """A hardening option a merge took away: `run.KEY NOW here but FILE BEFORE; write `FIX` if that is meant`."""

    key: str
    origin_key: str  # the run key the profile wrote (cap_add re-adding a capability cap_drop dropped: cap_drop)
    now: str
    before: str
    fix: str
    capability: str | None = None  # for cap_drop/cap_add: the capability the profile dropped


def hardening_losses(base: Mapping[str, Any], run: Mapping[str, Any], tagged: set[Path_]) -> list[Loss]:
    """What `run` (the merged run options) lost of `base`'s (the profiles') hardening.

    Checked: read_only true; no-new-privileges in security_opt (any spelling; the last one written counts);
    each capability cap_drop dropped (still dropped, and not given back by cap_add); privileged false; a non-root
    user becoming root; pids_limit removed or raised. A loss is silent when the layer wrote `!override`/`!reset` on
    that key (or on `run`). Memory and CPU limits, host namespaces and the rest are not checked here (dangerous
    options need `allow_privileged` anyway).
    """
    def silent(*keys: str) -> bool:
        return ("run",) in tagged or any(("run", k) in tagged for k in keys)

    out: list[Loss] = []
    if _true(base.get("read_only")) and not _true(run.get("read_only")) and not silent("read_only"):
        out.append(Loss("read_only", "read_only", f"is {_yaml(run.get('read_only'))}", "set it true",
                        f"read_only: !override {_yaml(run.get('read_only'))}"))
    if _no_new_privileges(base.get("security_opt")) and not _no_new_privileges(run.get("security_opt")) \
            and not silent("security_opt"):
        out.append(Loss("security_opt", "security_opt", "does not keep no-new-privileges", "set it",
                        "security_opt: !override [...]"))
    dropped, now_dropped = _caps(base.get("cap_drop")), _caps(run.get("cap_drop"))
    for cap in [c for c in dropped if c not in now_dropped]:
        if not silent("cap_drop"):
            out.append(Loss("cap_drop", "cap_drop", f"no longer drops {cap}", f"dropped {cap}",
                            "cap_drop: !override [...]", cap))
    added_before = _caps(base.get("cap_add"))
    for cap in [c for c in _caps(run.get("cap_add")) if c not in added_before]:
        if ("ALL" in dropped or cap in dropped) and not silent("cap_add", "cap_drop"):
            gone = cap if cap in dropped else "ALL"
            out.append(Loss("cap_add", "cap_drop", f"adds {cap}", "dropped it" if cap in dropped else "dropped ALL",
                            "cap_add: !override [...]", gone))
    if base.get("privileged") is False and _true(run.get("privileged")) and not silent("privileged"):
        out.append(Loss("privileged", "privileged", "is true", "set it false", "privileged: !override true"))
    if base.get("user") is not None and not _root(base["user"]) and _root(run.get("user")) and not silent("user"):
        out.append(Loss("user", "user", f"is {run.get('user')} (root)", f"set it to {base['user']}",
                        f"user: !override {run.get('user')}"))
    if _limited(base.get("pids_limit")) and not silent("pids_limit"):
        limit, now = base["pids_limit"], run.get("pids_limit")
        if not _limited(now) or now > limit:
            out.append(Loss("pids_limit", "pids_limit", f"is {_yaml(now)}", f"set it to {limit}",
                            f"pids_limit: !override {_yaml(now)}"))
    return out


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _yaml(value: Any) -> str:
    return "null" if value is None else "true" if value is True else "false" if value is False else str(value)


def _caps(value: Any) -> list[str]:
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [str(v).upper().removeprefix("CAP_") for v in values]


def _no_new_privileges(value: Any) -> bool:
    """Whether security_opt ends up with no-new-privileges on: `no-new-privileges`, `...:true` or `...=true`; the
    last one written decides (`no-new-privileges:false` after it switches it off)."""
    on = False
    for opt in value if isinstance(value, list) else []:
        name, _, setting = str(opt).replace("=", ":").partition(":")
        if name.strip().lower() == "no-new-privileges":
            on = setting.strip().lower() in ("", "true")
    return on


def _root(user: Any) -> bool:
    return user is not None and str(user).split(":", 1)[0].strip() in ("0", "root")


def _limited(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
