"""Effective settings side by side (`porttest profile diff`, and the reports' run options): pure.

An environment's settings after `extends` and translation are flattened to dotted keys (``run.read_only``,
``run.cap_drop``, ``wait_for.port``, ``engine.host``): mappings are walked, lists and scalars are values, and a key
that is not set (or an empty mapping) is ``None``, shown as ``-``. Rows whose values differ come first, each group
sorted by key. Values compare by their JSON text, so ``true`` and ``1`` differ while ``1800`` and ``1800.0`` do not.
TLS and SSH key files are never read: only whether TLS is on and verified is shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from porttest.config.models import Environment, ShipViaRegistry
from porttest.errors import UsageError
from porttest.results.facts import flatten as dotted_keys

MISSING = "-"
DESCRIPTOR_HINT = ("write kubernetes:FILE[#KIND/NAME[/CONTAINER]], compose:FILE#SERVICE, a profile file, or an "
                   "environment of the matrix")


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"run": {"read_only": True, "cap_drop": ["ALL"]}} -> {"run.read_only": True, "run.cap_drop": ["ALL"]}.

    None values and empty mappings are left out (not set); lists are values of their own."""
    return {key: item for key, item in dotted_keys(dict(value), prefix).items() if item is not None}


def effective_settings(env: Environment) -> dict[str, Any]:
    """An environment's effective settings (after extends and translation), flattened to dotted keys."""
    tls = env.engine.tls
    settings: dict[str, Any] = {
        "run": env.run.model_dump(mode="json", exclude_none=True),
        "wait_for": env.wait_for.model_dump(mode="json", exclude_none=True) if env.wait_for else None,
        "run_as_non_root": env.run_as_non_root,
        "files": sorted(env.files) or None,  # by path: a token's text is noise beside the settings
        "ship": env.ship.model_dump(mode="json") if isinstance(env.ship, ShipViaRegistry) else env.ship,
        "timeout": env.timeout,
        "command_timeout": env.command_timeout,
        "test_timeout": env.test_timeout,
        "exec_mode": env.exec_mode,
        "engine": {
            "host": env.engine.host,
            "tls": None if tls is None else "off" if tls is False else "verify" if tls.verify else "no-verify",
            "timeout": env.engine.timeout,
        },
    }
    return flatten(settings)


@dataclass(frozen=True)
class SettingRow:
    """One setting across columns: its value in each (None: not set)."""

    key: str
    values: tuple[Any, ...]

    @property
    def differs(self) -> bool:
        return len({_canonical(v) for v in self.values}) > 1


def side_by_side(columns: Sequence[Mapping[str, Any]]) -> list[SettingRow]:
    """Rows for every key of any column: those that differ first, then the equal ones, each group sorted by key."""
    keys = sorted({key for column in columns for key in column})
    rows = [SettingRow(key, tuple(column.get(key) for column in columns)) for key in keys]
    return [r for r in rows if r.differs] + [r for r in rows if not r.differs]


def _canonical(value: Any) -> str:
    return json.dumps(_whole(value), sort_keys=True, default=str)


def _whole(value: Any) -> Any:
    """1800.0 as 1800 (a timeout written either way is the same setting); bools stay bools."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list | tuple):
        return [_whole(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _whole(v) for k, v in value.items()}
    return value


def render_value(value: Any) -> str:
    """A value as one short line: `-` for not set, true/false, 1800 rather than 1800.0, JSON for lists and maps."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value if value and value.strip() == value and value != MISSING else json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str, separators=(", ", ": "))


def format_table(headers: Sequence[str], rows: Sequence[SettingRow], mark: str = "!=") -> str:
    """A plain-text table, readable without colour: `mark` before each row that differs, columns padded."""
    cells = [[row.key, *(render_value(v) for v in row.values)] for row in rows]
    widths = [max(len(str(h)), *(len(c[i]) for c in cells)) if cells else len(str(h))
              for i, h in enumerate(headers)]
    pad = " " * len(mark)

    def line(prefix: str, values: Sequence[str]) -> str:
        return (prefix + "  " + "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))).rstrip()

    out = [line(pad, list(headers)), line(pad, ["-" * w for w in widths])]
    out += [line(mark if row.differs else pad, c) for row, c in zip(rows, cells, strict=True)]
    return "\n".join(out)


@dataclass(frozen=True)
class ProfileDiff:
    """Two environments' effective settings, differences first (`porttest profile diff A B`)."""

    a: str
    b: str
    rows: tuple[SettingRow, ...]
    warnings: tuple[str, ...] = ()
    secret_values: frozenset[str] = frozenset()

    @property
    def differences(self) -> list[SettingRow]:
        return [r for r in self.rows if r.differs]

    @property
    def same(self) -> list[SettingRow]:
        return [r for r in self.rows if not r.differs]

    @property
    def exit_code(self) -> int:
        """0 when the settings are equal, 1 when they differ (as diff(1) does)."""
        return 1 if self.differences else 0

    def to_json(self) -> dict[str, Any]:
        def entries(rows: list[SettingRow]) -> list[dict[str, Any]]:
            return [{"key": r.key, "a": r.values[0], "b": r.values[1]} for r in rows]

        return {"a": self.a, "b": self.b, "differences": entries(self.differences), "same": entries(self.same),
                "warnings": list(self.warnings)}

    def to_text(self) -> str:
        summary = (f"{len(self.differences)} setting{'s' if len(self.differences) != 1 else ''} differ"
                   if self.differences else "no setting differs")
        return format_table(("setting", self.a, self.b), self.rows) + f"\n\n{summary}; {len(self.same)} the same"


def parse_side(text: str) -> dict[str, Any] | None:
    """`kubernetes:FILE[#KIND/NAME[/CONTAINER]]` or `compose:FILE#SERVICE` as an `extends:` entry; None otherwise."""
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("kubernetes", "compose"):
        return None
    file, hashed, fragment = rest.rpartition("#") if "#" in rest else (rest, "", "")
    if not file:
        raise UsageError(f"{text!r} names no file", hint=DESCRIPTOR_HINT)
    if kind == "compose":
        if not hashed or not fragment or "/" in fragment:
            raise UsageError(f"{text!r} names no service",
                             hint="write compose:FILE#SERVICE, e.g. compose:compose.yaml#api")
        return {"compose": file, "service": fragment}
    entry: dict[str, Any] = {"kubernetes": file}
    if hashed:
        parts = fragment.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(f"{text!r}: the workload is KIND/NAME or KIND/NAME/CONTAINER, not {fragment!r}",
                             hint="e.g. kubernetes:deploy/prod.yaml#deployment/api/app")
        entry["workload"] = "/".join(parts[:2])
        if len(parts) == 3:
            entry["container"] = parts[2]
    return entry
