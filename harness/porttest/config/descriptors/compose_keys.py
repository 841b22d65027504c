"""PURE: the Compose service keys that need more than a rename: environment, healthcheck, volumes, deploy, ..."""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from porttest.config.descriptors.compose_env import SECRET_NAME, read_dotenv
from porttest.config.descriptors.compose_extends import Notes, Service
from porttest.config.descriptors.compose_values import (
    BYTES_HINT,
    DURATION_HINT,
    as_bool,
    as_int,
    parse_bytes,
    parse_duration,
    sdk_bytes,
    split_entry,
)
from porttest.config.yaml_source import Path_, dotted
from porttest.errors import ConfigError

_SECONDS = 10**9
_DOCKER_HEALTHCHECK = {"interval": 30 * _SECONDS, "timeout": 30 * _SECONDS, "retries": 3, "start_period": 0}


@dataclass(frozen=True)
class Out:
    """One translation under way: the profile, the Compose line of each key, and what was left out."""

    service: Service
    notes: Notes
    env: Mapping[str, str]
    project_dir: Path
    run: dict[str, Any] = field(default_factory=dict)
    wait_for: dict[str, Any] = field(default_factory=dict)
    lines: dict[Path_, int] = field(default_factory=dict)
    sources: dict[str, Path_] = field(default_factory=dict)  # run key -> the service path that set it

    def line(self, path: Path_) -> int:
        """The line in the main Compose file: a key inherited from another file points at `extends:`."""
        file, line = self.service.origin(path)
        return line if file == self.service.file else self.service.origin(("extends",))[1]

    def where(self, path: Path_) -> str:
        return self.notes.at(self.service.origin(path), ("services", self.service.name, *path))

    def set(self, key: str, value: Any, path: Path_) -> None:
        """Set run.KEY from the service's `path`; a key set again (volumes, tmpfs, mounts) keeps its first line."""
        self.run[key] = value
        self.lines.setdefault(("run", key), self.line(path))
        self.sources.setdefault(key, path)

    def skip(self, path: Path_, why: str) -> None:
        self.notes.warn(f"{self.where(path)} is not translated: {why}")

    def note(self, path: Path_, text: str) -> None:
        self.notes.warn(f"{self.where(path)}: {text}")

    def fail(self, path: Path_, message: str, hint: str | None = None) -> None:
        self.notes.issue(self.service.origin(path), ("services", self.service.name, *path), message, hint)

    def folder(self, path: Path_) -> Path:
        """Where relative paths written at `path` start: the folder of the file that wrote them."""
        file = self.service.origin(path)[0]
        return self.project_dir if file == self.service.file else Path(file).parent


def scalar_text(value: Any) -> str:
    """A scalar as Compose passes it to the container: booleans lower-case, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"expected a string or number, got {type(value).__name__}")


def environment(out: Out) -> None:
    """`env_file` (later files win) under `environment` (which wins, and unsets a bare KEY with no value)."""
    data = out.service.data
    values: dict[str, str] = {}
    files = data.get("env_file")
    entries = files if isinstance(files, list) else [] if files is None else [files]
    for i, entry in enumerate(entries):
        path: Path_ = ("env_file", i) if isinstance(files, list) else ("env_file",)
        spec = entry if isinstance(entry, dict) else {"path": entry}
        if not isinstance(spec.get("path"), str):
            out.fail(path, "an env_file entry is a path or {path, required, format}")
            continue
        file = out.folder(path) / os.path.expanduser(spec["path"])
        if not file.is_file():
            if spec.get("required", True) not in (False, "false"):
                out.fail(path, f"env_file {spec['path']} does not exist ({file})",
                         "env_file paths are relative to the Compose file's folder; `required: false` skips it")
            continue
        try:
            found = read_dotenv(file, out.env, raw=spec.get("format") == "raw")
        except ConfigError as exc:
            out.notes.issues.extend(exc.issues)
            continue
        values.update(found)
        out.lines.update({("run", "environment", k): out.line(path) for k in found})
    given = data.get("environment")
    if isinstance(given, list):
        pairs = [(i, *split_entry(str(item))) for i, item in enumerate(given)]
    elif isinstance(given, dict):
        pairs = [(k, str(k), v) for k, v in given.items()]
    else:
        pairs = []
        if given is not None:
            out.fail(("environment",), "`environment` is a mapping or a list of KEY=VALUE")
    for at, name, value in pairs:
        if value is None:
            value = out.env.get(name)  # a bare KEY takes its value from the shell, or is unset
            if value is None:
                values.pop(name, None)
                continue
        try:
            values[name] = scalar_text(value)
        except ValueError as exc:
            out.fail(("environment", at), f"{name}: {exc}")
            continue
        out.lines[("run", "environment", name)] = out.line(("environment", at))
    if files is not None or given is not None:
        out.set("environment", values, ("environment",) if given is not None else ("env_file",))
    out.notes.secret_values.update(v for k, v in values.items() if SECRET_NAME.search(k) and len(v) >= 4)


def command(out: Out, key: str, value: Any) -> None:
    """`entrypoint` / `command`: a string is split as a shell would (no shell runs), a list is taken as it is."""
    if value is None:
        return
    try:
        if isinstance(value, str):
            argv = shlex.split(value)
        elif isinstance(value, list):
            argv = [scalar_text(item) for item in value]
        else:
            raise ValueError("write a string or a list of strings")
    except ValueError as exc:
        out.fail((key,), f"cannot read `{key}`: {exc}", "quote arguments as a shell would, or write a list")
        return
    out.set(key, argv, (key,))


def healthcheck(out: Out, value: Any) -> None:
    """The SDK's healthcheck (durations in nanoseconds), and `wait_for: {healthcheck: true}` when it is enabled."""
    if not isinstance(value, dict):
        out.fail(("healthcheck",), "`healthcheck` is a mapping: test, interval, timeout, retries, start_period")
        return
    try:
        disabled = as_bool(value.get("disable", False))
    except ValueError as exc:
        out.fail(("healthcheck", "disable"), str(exc))
        return
    test = value.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if test is not None and (not isinstance(test, list) or not test or test[0] not in ("CMD", "CMD-SHELL", "NONE")
                             or not all(isinstance(t, str | int | float) for t in test)):
        out.fail(("healthcheck", "test"), "`test` is a string, or a list that starts with CMD, CMD-SHELL or NONE",
                 'e.g. ["CMD", "curl", "-f", "http://localhost"] or "curl -f http://localhost || exit 1"')
        return
    if disabled or (test and test[0] == "NONE"):
        out.set("healthcheck", {"test": ["NONE"]}, ("healthcheck",))
        return
    check: dict[str, Any] = {} if test is None else {"test": [scalar_text(t) for t in test]}
    for key, item in value.items():
        path = ("healthcheck", key)
        if key in ("test", "disable"):
            continue
        if key in ("interval", "timeout", "start_period", "start_interval"):
            try:
                check[key] = parse_duration(item)
            except ValueError as exc:
                out.fail(path, str(exc), DURATION_HINT)
            if key == "start_interval":
                check.pop(key, None)
                out.skip(path, "the Docker SDK does not pass start_interval to the engine")
        elif key == "retries":
            try:
                check[key] = as_int(item)
            except ValueError as exc:
                out.fail(path, str(exc))
        else:
            out.skip(path, "unknown healthcheck key")
    out.set("healthcheck", check, ("healthcheck",))
    for key in check:
        out.lines[("run", "healthcheck", key)] = out.line(("healthcheck", key))
    # Long enough for Docker to call the container unhealthy, plus one interval: a slow start must not time out.
    timing = {**_DOCKER_HEALTHCHECK, **check}
    seconds = (timing["start_period"] + (timing["retries"] + 1) * timing["interval"] + timing["timeout"]) / _SECONDS
    out.wait_for.update(healthcheck=True, timeout=float(min(3600, max(30, math.ceil(seconds)))))
    out.lines[("wait_for",)] = out.lines[("wait_for", "healthcheck")] = out.line(("healthcheck",))


def volumes(out: Out, value: Any) -> None:
    """Binds become run.volumes "ABS:TARGET:MODE"; named and anonymous volumes a fresh anonymous volume (run.mounts,
    removed with the container); tmpfs mounts join run.tmpfs; other mount types are warned about."""
    if not isinstance(value, list):
        out.fail(("volumes",), "`volumes` is a list of mounts")
        return
    for i, item in enumerate(value):
        path: Path_ = ("volumes", i)
        try:
            mount = _mount(item)
        except ValueError as exc:
            out.fail(path, str(exc), 'e.g. "./conf:/etc/app:ro", "data:/var/lib/data" or {type: tmpfs, target: /tmp}')
            continue
        kind, source, target, options = mount
        if kind == "bind":
            host = Path(os.path.expanduser(source))
            host = host if host.is_absolute() else (out.folder(path) / host).resolve()
            binds = out.run.setdefault("volumes", [])
            binds.append(f"{host}:{target}:{','.join(options) or 'rw'}")
            out.set("volumes", binds, path)
        elif kind == "volume":
            spec: dict[str, Any] = {"Type": "volume", "Target": target, "ReadOnly": "ro" in options}
            if "nocopy" in options:
                spec["VolumeOptions"] = {"NoCopy": True}
            out.set("mounts", [*out.run.get("mounts", []), spec], path)
            if source:
                out.note(path, f"the named volume {source!r} becomes a fresh anonymous volume at {target} "
                               "(Compose's data in it is not shared; it is removed with the container)")
        elif kind == "tmpfs":
            out.set("tmpfs", {**out.run.get("tmpfs", {}), target: ",".join(options)}, path)
        else:
            out.skip(path, f"{kind} mounts are not supported")


def _mount(item: Any) -> tuple[str, str, str, list[str]]:
    """(type, source, target, options) of a short- or long-syntax volume."""
    if isinstance(item, str):
        parts = item.split(":")
        if len(parts) > 3 or not all(parts):
            raise ValueError(f"not a volume: {item!r}")
        if len(parts) == 1:
            return "volume", "", parts[0], []
        source, target, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
        kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
        return kind, source, target, [m for m in mode.split(",") if m]
    if not isinstance(item, dict) or not isinstance(item.get("target"), str):
        raise ValueError("a long-syntax volume needs `type` and `target`")
    kind = str(item.get("type") or "volume")
    options = ["ro"] if as_bool(item.get("read_only", False)) else []
    if kind == "tmpfs":
        tmpfs = _options(item, "tmpfs")
        if tmpfs.get("size") is not None:
            options.append(f"size={parse_bytes(tmpfs['size'])}")
        if tmpfs.get("mode") is not None:
            options.append(f"mode={_octal(tmpfs['mode'])}")
    elif kind == "bind":
        bind = _options(item, "bind")
        options += [str(bind[k]) for k in ("propagation", "selinux") if bind.get(k)]
    elif kind == "volume" and _options(item, "volume").get("nocopy"):
        options.append("nocopy")
    return kind, str(item.get("source") or ""), item["target"], options


def _octal(mode: Any) -> str:
    """A tmpfs mode as the engine takes it: YAML reads 01777 or 0o1777 as a number, written back in octal."""
    if isinstance(mode, int) and not isinstance(mode, bool):
        return f"{mode:o}"
    text = str(mode).removeprefix("0o")
    if not isinstance(mode, str) or not text or set(text) - set("01234567"):
        raise ValueError(f"tmpfs mode {mode!r} is not an octal number")
    return text


def _options(item: dict[str, Any], key: str) -> dict[str, Any]:
    options = item.get(key) or {}
    if not isinstance(options, dict):
        raise ValueError(f"`{key}` options are a mapping")
    return options


def deploy(out: Out, value: Any) -> None:
    """deploy.resources.limits are limits; reservations are noted; the rest is swarm's and is warned about."""
    if not isinstance(value, dict):
        out.fail(("deploy",), "`deploy` is a mapping")
        return
    for key, item in value.items():
        if key != "resources":
            out.skip(("deploy", key), "porttest runs one container on one engine (no swarm placement or policy)")
            continue
        if not isinstance(item, dict | None):
            out.fail(("deploy", key), "`deploy.resources` is a mapping: limits, reservations")
            continue
        for part, body in (item or {}).items():
            if part not in ("limits", "reservations"):
                out.skip(("deploy", "resources", part), "unknown deploy.resources key")
            elif not isinstance(body, dict | None):
                out.fail(("deploy", "resources", part), f"`{part}` is a mapping: cpus, memory, pids")
            else:
                for name, amount in (body or {}).items():
                    _resource(out, ("deploy", "resources", part, name), part, name, amount)


_LIMITS = {"memory": "mem_limit", "cpus": "cpus", "pids": "pids_limit"}


def _resource(out: Out, path: Path_, part: str, name: str, amount: Any) -> None:
    key = {"limits": _LIMITS, "reservations": {"memory": "mem_reservation"}}.get(part, {}).get(name)
    if key is None:
        if part == "reservations" and name in ("cpus", "devices", "generic_resources"):
            out.note(path, "reservations are noted, not enforced: Docker reserves nothing for one container")
        else:
            out.skip(path, f"unknown deploy.resources.{part} key")
        return
    try:
        value: Any = sdk_bytes(amount) if name == "memory" else as_int(amount) if name == "pids" else float(amount)
    except (TypeError, ValueError) as exc:
        out.fail(path, f"cannot read {name}: {exc}", BYTES_HINT if name == "memory" else None)
        return
    if key == "cpus" and value == 0:
        return  # 0 is Compose's "no limit"
    if key not in out.run:
        out.set(key, value, path)
    elif _amount(out.run[key]) != _amount(value):
        out.fail(path, f"{dotted(path)} ({amount}) disagrees with `{key}` ({out.run[key]})",
                 "set the limit once, or make both say the same")
        return
    if part == "reservations":
        out.note(path, "reservations noted: memory becomes mem_reservation, a soft limit (nothing is reserved)")


def _amount(value: Any) -> float:
    return float(parse_bytes(value)) if isinstance(value, str) else float(value)


def blkio(out: Out, value: Any) -> None:
    """blkio_config: weight and per-device limits in the SDK's {Path, Weight|Rate} form."""
    if not isinstance(value, dict):
        out.fail(("blkio_config",), "`blkio_config` is a mapping")
        return
    for key, item in value.items():
        path = ("blkio_config", key)
        try:
            if key == "weight":
                out.set("blkio_weight", as_int(item), path)
            elif key in ("weight_device", "device_read_bps", "device_write_bps", "device_read_iops",
                         "device_write_iops"):
                field_name, parse = ("Weight", as_int) if key == "weight_device" else \
                    ("Rate", parse_bytes if key.endswith("bps") else as_int)
                entries = [{"Path": str(e["path"]), field_name: parse(e["weight" if key == "weight_device"
                                                                           else "rate"])} for e in item]
                out.set("blkio_weight_device" if key == "weight_device" else key, entries, path)
            else:
                out.skip(path, "unknown blkio_config key")
        except (KeyError, TypeError, ValueError) as exc:
            out.fail(path, f"cannot read blkio_config.{key}: {exc}", "entries are {path: /dev/sda, rate: 12mb}")


def mapping_list(value: Any, what: str, hosts: bool = False) -> list[tuple[str, Any]]:
    """A Compose mapping written either way: {k: v} or ["k=v", "k"] -> [(k, v or None)]."""
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, list):
        return [split_entry(str(item), hosts) for item in value]
    raise ValueError(f"`{what}` is a mapping or a list of KEY=VALUE")
