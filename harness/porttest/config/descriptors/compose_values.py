"""PURE: Compose's value formats (durations, byte sizes, ports, ulimits, tmpfs) in the Docker SDK's forms."""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, NamedTuple

from porttest.config.yaml_source import Path_


class Problem(NamedTuple):
    """A value that cannot be normalised: its path below `run`, what is wrong, and how to write it."""

    path: Path_
    message: str
    hint: str | None


DURATION_HINT = "write a duration such as 30s, 1m30s, 500ms or 1h2m3.5s"
BYTES_HINT = "write a size like 256m, 1g, 512k, 1gb or a number of bytes"
PORT_HINT = 'write "8080:80", "127.0.0.1:8080:80/udp", "80" or {target: 80, published: 8080}'
ULIMIT_HINT = "write {nofile: 20000} or {nofile: {soft: 1024, hard: 4096}}"

# Go's time.ParseDuration units, which Compose uses; parts may repeat and combine: 1h2m3.5s.
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
# Compose (go-units RAMInBytes): binary units; `512m`, `1gb`, `512Mi`, `1.5g`, `2t`.
_BYTES = re.compile(r"^(\d+(?:\.\d+)?) ?(?:([kmgtp])(i?))?(b?)$", re.IGNORECASE)
# What the SDK's parse_bytes takes itself (the same binary units, but no t/p and no `i`).
_SDK_BYTES = re.compile(r"^\d+(\.\d+)?\s*[bkmg]?b?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}
_PROTOCOLS = ("tcp", "udp", "sctp")
_LONG_PORT_KEYS = {"target", "published", "host_ip", "protocol", "mode", "name", "app_protocol"}
_TRUE = {"true", "yes", "y", "on"}
_FALSE = {"false", "no", "n", "off"}
MEMORY_KEYS = ("mem_limit", "mem_reservation", "memswap_limit", "shm_size")
DURATION_KEYS = ("interval", "timeout", "start_period", "start_interval")


def parse_duration(value: Any) -> int:
    """A Compose duration ("30s", "1m30s", "1h2m3.5s", "500ms", "0") in nanoseconds; ValueError otherwise."""
    text = value.strip() if isinstance(value, str) else None
    if not text:
        raise ValueError(f"not a duration: {value!r}")
    if text == "0":
        return 0
    total, pos = Fraction(0), 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            raise ValueError(f"not a duration: {value!r}")
        total += Fraction(match.group(1)) * _NS[match.group(2)]
        pos = match.end()
    return int(total)


def parse_bytes(value: Any) -> int:
    """A Compose byte value (an integer, "512m", "1gb", "512Mi", "2b") in bytes; ValueError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _BYTES.match(value.strip()) if isinstance(value, str) else None
    if match is None or (match.group(3) and not match.group(2)):
        raise ValueError(f"not a byte size: {value!r}")
    return int(Fraction(match.group(1)) * _UNITS[(match.group(2) or "").lower()])


def sdk_bytes(value: Any) -> int | str:
    """A byte value in a form the SDK takes: its own strings ("512m", "1g") unchanged, others as bytes."""
    if isinstance(value, str) and _SDK_BYTES.match(value.strip()):
        return value.strip()
    return parse_bytes(value)


def as_bool(value: Any) -> bool:
    """A boolean, or a string Compose reads as one after interpolation ("true", "yes", "off")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, got {value!r}")


def as_int(value: Any) -> int:
    """An integer, or a string of one (interpolated values are strings)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        return int(value)
    raise ValueError(f"expected a whole number, got {value!r}")


def split_entry(item: str, hosts: bool = False) -> tuple[str, str | None]:
    """A list-form mapping entry: "KEY=VALUE" -> (KEY, VALUE); "KEY" alone -> (KEY, None). Host entries may
    also be written "HOST:IP" (the IP may itself hold colons: "myhostv6:::1")."""
    separator = "=" if "=" in item or not hosts else ":"
    key, found, value = item.partition(separator)
    return key, value if found else None


def _port_number(text: str, what: str, zero: bool = False) -> int:
    if not text.isdigit() or not (0 if zero else 1) <= int(text) <= 65535:
        raise ValueError(f"{what} {text!r} is not a port number (1-65535)")
    return int(text)


def _port_range(text: str, what: str, zero: bool = False) -> list[int]:
    first, dash, last = text.partition("-")
    start = _port_number(first, what, zero)
    end = _port_number(last, what, zero) if dash else start
    if end < start:
        raise ValueError(f"{what} range {text!r} runs backwards")
    return list(range(start, end + 1))


def _binding(ip: str | None, host: str | None) -> Any:
    """The SDK's form of one host binding: None (any port), 8080, "8000-9000", or (ip, port)."""
    port: int | str | None = None
    if host:
        port = int(host) if host.isdigit() else host
    return (ip, port) if ip else port


def parse_port(item: Any) -> list[tuple[str, Any]]:
    """One Compose `ports` entry (short or long syntax) as [(container "80/tcp", SDK host binding), ...]."""
    if isinstance(item, Mapping):
        return _parse_long_port(item)
    if isinstance(item, int) and not isinstance(item, bool):
        item = str(item)
    if not isinstance(item, str) or not item.strip():
        raise ValueError(f"not a port mapping: {item!r}")
    text, protocol = item.strip(), "tcp"
    if "/" in text:
        text, protocol = text.rsplit("/", 1)
        if protocol not in _PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r} in {item!r} (tcp, udp or sctp)")
    ip: str | None = None
    if text.startswith("["):  # [::1]:6001:6001
        ip, _, rest = text[1:].partition("]")
        parts = rest.removeprefix(":").split(":")
        if not rest.startswith(":") or len(parts) != 2:
            raise ValueError(f"not a port mapping: {item!r}")
        host, container = parts
    else:
        parts = text.rsplit(":", 2)
        if len(parts) == 3:
            ip, host, container = parts
        elif len(parts) == 2:
            host, container = parts
        else:
            host, container = "", parts[0]
    return _pairs(ip or None, host, container, protocol, item)


def _pairs(ip: str | None, host: str, container: str, protocol: str, item: Any) -> list[tuple[str, Any]]:
    targets = _port_range(container, "container port")
    if not host:
        return [(f"{port}/{protocol}", _binding(ip, None)) for port in targets]
    hosts = _port_range(host, "host port", zero=True)
    if len(targets) == 1:  # one container port, published on the first free port of a host range
        return [(f"{targets[0]}/{protocol}", _binding(ip, host))]
    if len(hosts) != len(targets):
        raise ValueError(f"host and container ranges differ in length in {item!r}")
    return [(f"{port}/{protocol}", _binding(ip, str(published))) for port, published in zip(targets, hosts,
                                                                                         strict=True)]


def _parse_long_port(item: Mapping[str, Any]) -> list[tuple[str, Any]]:
    unknown = sorted(str(k) for k in item if k not in _LONG_PORT_KEYS and not str(k).startswith("x-"))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} in a long-syntax port")
    if item.get("target") is None:
        raise ValueError("a long-syntax port needs `target` (the container port)")
    protocol = str(item.get("protocol") or "tcp")
    if protocol not in _PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (tcp, udp or sctp)")
    published = item.get("published")
    host = "" if published is None else str(published)
    return _pairs(str(item["host_ip"]) if item.get("host_ip") else None, host, str(item["target"]), protocol, item)


def ports_dict(items: Any) -> dict[str, Any]:
    """Compose `ports` (a list, or one entry) as the SDK's {"80/tcp": binding or [bindings]}; equal entries merge."""
    entries = items if isinstance(items, list) else [items]
    out: dict[str, Any] = {}
    for item in entries:
        for key, binding in parse_port(item):
            if key not in out:
                out[key] = binding
                continue
            have = out[key] if isinstance(out[key], list) else [out[key]]
            if binding not in have:
                out[key] = [*have, binding]
    return out


def ulimits_list(value: Any) -> list[dict[str, Any]]:
    """Compose `ulimits` ({nofile: 20000} or {nofile: {soft, hard}}) as the SDK's [{name, soft, hard}]."""
    if not isinstance(value, Mapping):
        raise ValueError("`ulimits` is a mapping of limit name to a number or {soft, hard}")
    out = []
    for name, limit in value.items():
        if isinstance(limit, Mapping):
            missing = [k for k in ("soft", "hard") if limit.get(k) is None]
            extra = sorted(str(k) for k in limit if k not in ("soft", "hard"))
            if missing or extra:
                raise ValueError(f"ulimit {name}: give both `soft` and `hard`" if missing
                                 else f"ulimit {name}: unknown key(s) {', '.join(extra)}")
            soft, hard = as_int(limit["soft"]), as_int(limit["hard"])
            if 0 <= hard < soft:
                raise ValueError(f"ulimit {name}: soft limit {soft} is above hard limit {hard}")
        else:
            try:
                soft = hard = as_int(limit)
            except ValueError:
                raise ValueError(f"ulimit {name}: {limit!r} is not a number or {{soft, hard}}") from None
        out.append({"name": str(name), "soft": soft, "hard": hard})
    return out


def tmpfs_dict(value: Any) -> dict[str, str]:
    """Compose `tmpfs` ("/run" or ["/run", "/tmp:size=64m,mode=1777"]) as the SDK's {path: options}."""
    entries = value if isinstance(value, list) else [value]
    out: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, str) or not entry.startswith("/"):
            raise ValueError(f"a tmpfs entry is an absolute path, optionally with :options; got {entry!r}")
        path, _, options = entry.partition(":")
        out[path] = options
    return out


def normalise_run(run: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """porttest's `run:` with Compose's value formats turned into the SDK's: healthcheck durations into
    nanoseconds, ports into {"80/tcp": 8080}, ulimits into [{name, soft, hard}], memory sizes the SDK does not
    parse itself ("512Mi", "2t") into bytes. The SDK's own forms pass unchanged; `run` itself is not modified."""
    out = dict(run)
    problems: list[Problem] = []
    healthcheck = run.get("healthcheck")
    if isinstance(healthcheck, Mapping):
        check = dict(healthcheck)
        for key in DURATION_KEYS:
            if isinstance(check.get(key), str):
                try:
                    check[key] = parse_duration(check[key])
                except ValueError as exc:
                    problems.append(Problem(("healthcheck", key), str(exc), DURATION_HINT))
        out["healthcheck"] = check
    ports = run.get("ports")
    if ports is not None and not isinstance(ports, Mapping):
        try:
            out["ports"] = ports_dict(ports)
        except ValueError as exc:
            problems.append(Problem(("ports",), str(exc), PORT_HINT))
    ulimits = run.get("ulimits")
    if isinstance(ulimits, Mapping):
        try:
            out["ulimits"] = ulimits_list(ulimits)
        except ValueError as exc:
            problems.append(Problem(("ulimits",), str(exc), ULIMIT_HINT))
    for key in MEMORY_KEYS:
        if isinstance(run.get(key), str):
            try:
                out[key] = sdk_bytes(run[key])
            except ValueError as exc:
                problems.append(Problem((key,), str(exc), BYTES_HINT))
    return out, problems
