"""Small text helpers that every reporter shares (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from porttest.config.profile_diff import SettingRow, flatten, side_by_side
from porttest.results.model import EnvironmentResult, ImageIdentity, RunResult, ShipRecord

VERDICT_TEXT = {
    "parity": "PARITY: every test behaved the same in every environment",
    "failed": "FAILED: the suites failed, the same way in every environment",
    "diverged": "DIVERGED: some tests behave differently between environments",
    "error": "ERROR: an environment could not be set up or was lost",
    "rejected": "REJECTED: the image failed an image.verify hook; nothing ran",
}


@dataclass(frozen=True)
class VerdictSummary:
    """The verdict as every reporter words it: `PARITY`, what that means, the figures behind it, and the run."""

    name: str  # PARITY
    meaning: str  # every test behaved the same in every environment
    detail: str  # (1 of 18 tests differ) / (local, cloud) / (18 tests x 3 environments)
    interrupted: bool
    exit_code: int
    meta: tuple[str, ...]  # run id, start time, duration, porttest version: those known

    @property
    def text(self) -> str:
        return f"{self.name}: {self.meaning}{' ' + self.detail if self.detail else ''}"


def verdict_summary(result: RunResult) -> VerdictSummary:
    name, _, meaning = VERDICT_TEXT[result.verdict].partition(": ")
    total = len(result.tests)
    detail = ""
    if result.verdict == "diverged":
        detail = f"({len(result.divergent)} of {total} tests differ)"
    elif result.verdict == "error":
        detail = f"({', '.join(n for n, env in result.environments.items() if env.status == 'error')})"
    elif total:
        detail = f"({total} tests x {len(result.environments)} environments)"
    meta = (f"run {result.run_id}" if result.run_id else "",
            f"started {result.started_at}" if result.started_at else "",
            f"{result.duration:.1f}s" if result.duration else "",
            f"porttest {result.porttest_version}" if result.porttest_version else "")
    return VerdictSummary(name, meaning, detail, result.interrupted, result.exit_code, tuple(m for m in meta if m))


def short_id(image_id: str | None, missing: str = "-") -> str:
    """sha256:3f5a1c9e0b7d... -> 3f5a1c9e0b7d"""
    return image_id.split(":", 1)[-1][:12] if image_id else missing


def counts(env: EnvironmentResult, missing: str = "-") -> str:
    """'7 passed, 1 skipped' for an environment that ran; `missing` for one in error."""
    if env.status != "ok":
        return missing
    tally: dict[str, int] = {}
    for record in env.tests:
        tally[record.outcome] = tally.get(record.outcome, 0) + 1
    return ", ".join(f"{n} {o}" for o, n in tally.items()) or "no tests"


def one_line(message: str, limit: int = 200, ellipsis: str = "...") -> str:
    """Whitespace collapsed to single spaces, cut at `limit` characters."""
    text = " ".join(message.split())
    return text if len(text) <= limit else text[: limit - len(ellipsis)] + ellipsis


def size_text(size: int | None) -> str:
    """1234567 -> '1.2 MB' (decimal units, as docker prints image sizes)."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def image_facts(image: ImageIdentity) -> str:
    """'linux/amd64, 3 layers, 117.2 MB' (what the run's image is made of)."""
    parts = []
    if image.os or image.architecture:
        parts.append(f"{image.os or '?'}/{image.architecture or '?'}")
    if image.layers:
        parts.append(f"{len(image.layers)} layer" + ("s" if len(image.layers) != 1 else ""))
    if image.size:
        parts.append(size_text(image.size))
    return ", ".join(parts)


def engine_facts(engine: Mapping[str, Any]) -> str:
    """'docker 20.10.24, Debian GNU/Linux 12, x86_64, kernel 6.1.0, cgroup v1, runtimes runc/runsc (default runc)'."""
    if not engine:
        return "-"
    parts = [f"{engine.get('kind', '?')} {engine.get('version', '')}".strip()]
    for key, label in (("os", ""), ("arch", ""), ("kernel", "kernel "), ("cgroup_version", "cgroup v")):
        if engine.get(key):
            parts.append(f"{label}{engine[key]}")
    # containerd's shim names (io.containerd.runc.v2, ...) are aliases of runc, not runtimes a matrix would name.
    runtimes = [r for r in engine.get("runtimes") or [] if not str(r).startswith("io.containerd.")]
    if runtimes:
        default = engine.get("default_runtime")
        parts.append("runtimes " + "/".join(str(r) for r in runtimes) + (f" (default {default})" if default else ""))
    return ", ".join(parts)


def toolbox_text(env: EnvironmentResult) -> str:
    """'no /bin/sh in the image: commands ran with porttest's toolbox, busybox 1.35.0 (static, amd64)', or ''."""
    toolbox = env.facts.get("toolbox") if env.facts else None
    return f"no /bin/sh in the image: commands ran with porttest's toolbox, {toolbox}" if toolbox else ""


def ship_text(ship: ShipRecord | None, missing: str = "-") -> str:
    """'load 48.0 MB in 2.4s', 'pull 1.2 MB in 0.3s' or 'present'."""
    if ship is None:
        return missing
    text = ship.mode
    if ship.bytes:
        text += f" {size_text(ship.bytes)}"
    if ship.seconds >= 0.05 and ship.mode != "present":
        text += f" in {ship.seconds:.1f}s"
    return text


def run_option_rows(result: RunResult) -> tuple[list[str], list[SettingRow]]:
    """(environment names, rows of `run.*` keys) for the effective run options recorded per environment (after
    extends and translation), the rows that differ between environments first; no rows when none were recorded."""
    names = list(result.environments)
    if not any(env.run for env in result.environments.values()):
        return names, []
    return names, side_by_side([flatten({"run": env.run}) for env in result.environments.values()])
