"""Pure results: per-environment records, the tests x environments rows, the verdict and its JSON form."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from porttest.errors import (
    EXIT_DIVERGED,
    EXIT_ENVIRONMENT,
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_PARITY,
    EXIT_REJECTED,
    ResultsError,
)
from porttest.results.facts import EXPLANATORY, SETTINGS, clue_keys, describe, fact_of, flatten, quoted_keys

SCHEMA = "porttest.results/1"
Verdict = Literal["parity", "failed", "diverged", "error", "rejected"]
Outcome = Literal["passed", "failed", "skipped", "error", "xfailed", "xpassed", "missing"]
FAILING = frozenset({"failed", "error"})
EXIT_CODES: Mapping[str, int] = {
    "parity": EXIT_PARITY, "failed": EXIT_FAILED, "diverged": EXIT_DIVERGED, "error": EXIT_ENVIRONMENT,
    "rejected": EXIT_REJECTED,
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class TestRecord(_Frozen):
    """One test's outcome in one environment, as the pytest child reports it."""

    __test__ = False  # not a pytest test class
    id: str
    outcome: Outcome
    duration: float = 0.0
    message: str | None = None
    detail: str | None = None


class VerifyRecord(_Frozen):
    """One `image.verify` hook: the command as run, its exit code and the tail of its output."""

    name: str
    command: str
    exit_code: int | None
    passed: bool
    seconds: float = 0.0
    output: str = ""
    error: str | None = None


class ImageIdentity(_Frozen):
    """The image the run was about: the ref the user gave, its image ID (config digest), digests and make-up."""

    ref: str | None
    id: str | None
    digest: str | None = None
    repo_digests: tuple[str, ...] = ()
    architecture: str | None = None
    os: str | None = None
    size: int | None = None
    layers: tuple[str, ...] = ()
    verify: tuple[VerifyRecord, ...] = ()


class ShipRecord(_Frozen):
    """How the image reached one engine: the path taken (present, load, pull or registry) and what it cost."""

    mode: str
    seconds: float = 0.0
    bytes: int = 0
    asked: str | None = None
    image_id: str | None = None
    digest: str | None = None
    pulled: str | None = None
    notes: tuple[str, ...] = ()


class ServiceRecord(_Frozen):
    """One service of an environment: the image it ran (by ID), its container, and where the tests reached it."""

    image: str | None = None  # the ref (or build) as the matrix named it
    image_id: str | None = None
    container: str | None = None
    address: str | None = None  # on the environment's network; None for a sidecar (localhost)
    share_network: bool = False
    ship: ShipRecord | None = None


class EnvironmentResult(_Frozen):
    """What happened in one environment: ok with test records, or error with the reason."""

    name: str
    status: Literal["ok", "error"]
    image_id: str | None = None
    error: str | None = None
    hint: str | None = None
    phase: str | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    platform: str | None = None  # os/arch[/variant] of the image the environment ran (linux/arm64)
    engine: dict[str, Any] = Field(default_factory=dict)
    ship: ShipRecord | None = None
    container: str | None = None
    run: dict[str, Any] = Field(default_factory=dict)  # the effective run options, after extends and translation
    origins: dict[str, str] = Field(default_factory=dict)  # run option -> "file:line" that set it
    files: tuple[str, ...] = ()  # the paths of the environment's `files:` (never their text)
    services: dict[str, ServiceRecord] = Field(default_factory=dict)
    duration: float = 0.0
    tests: tuple[TestRecord, ...] = ()
    notes: tuple[str, ...] = ()
    internal: bool = False  # the error is a porttest bug, not the environment's fault


class TestRow(_Frozen):
    """One test lined up across environments."""

    __test__ = False
    id: str
    outcomes: dict[str, Outcome]
    same: bool
    messages: dict[str, str] = Field(default_factory=dict)
    durations: dict[str, float] = Field(default_factory=dict)
    explanation: tuple[str, ...] = ()


class RunResult(_Frozen):
    """The whole answer: verdict, image identity, environments and the test matrix."""

    schema_: Literal["porttest.results/1"] = Field("porttest.results/1", alias="schema")
    verdict: Verdict
    image: ImageIdentity
    environments: dict[str, EnvironmentResult]
    tests: tuple[TestRow, ...]
    run_id: str | None = None
    porttest_version: str | None = None
    started_at: str | None = None
    duration: float = 0.0
    interrupted: bool = False
    warnings: tuple[str, ...] = ()

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @property
    def exit_code(self) -> int:
        if any(env.internal for env in self.environments.values()):
            return EXIT_INTERNAL
        return EXIT_CODES[self.verdict]

    @property
    def divergent(self) -> tuple[TestRow, ...]:
        return tuple(row for row in self.tests if not row.same)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=2, sort_keys=False) + "\n"


def line_up(environments: Mapping[str, EnvironmentResult]) -> tuple[TestRow, ...]:
    """Rows of tests in first-seen order; environments in error have no outcomes and do not break sameness."""
    ran = [env for env in environments.values() if env.status == "ok"]
    order: dict[str, None] = {}
    by_env: dict[str, dict[str, TestRecord]] = {}
    for env in ran:
        by_env[env.name] = {t.id: t for t in env.tests}
        for test in env.tests:
            order.setdefault(test.id, None)
    rows = []
    for test_id in order:
        outcomes: dict[str, Outcome] = {}
        messages: dict[str, str] = {}
        durations: dict[str, float] = {}
        for env in ran:
            record = by_env[env.name].get(test_id)
            outcomes[env.name] = record.outcome if record else "missing"
            if record is not None:
                durations[env.name] = record.duration
                if record.message and record.outcome != "passed":
                    messages[env.name] = record.message
        same = len(set(outcomes.values())) <= 1
        rows.append(TestRow(id=test_id, outcomes=outcomes, same=same, messages=messages, durations=durations,
                            explanation=() if same else explain(outcomes, environments, messages)))
    return tuple(rows)


def explain(outcomes: Mapping[str, str], environments: Mapping[str, EnvironmentResult],
            messages: Mapping[str, str] | None = None, limit: int = 6) -> tuple[str, ...]:
    """Facts that tell the environments where a test passed from those where it did not.

    Facts that separate the two groups cleanly come first; when none does, any explanatory fact that differs.
    """
    groups: dict[str, list[str]] = {}
    for env, outcome in outcomes.items():
        groups.setdefault(outcome, []).append(env)
    good = groups.get("passed") or max(groups.values(), key=len)
    bad = [env for env in outcomes if env not in good]
    flat = {name: flatten(environments[name].facts) for name in outcomes if name in environments}
    if not bad or not all(flat.get(n) for n in outcomes):
        return ()
    separating: list[str] = []
    differing: list[str] = []
    quoted = quoted_keys({n: m for n, m in (messages or {}).items() if n in flat}, flat)
    clues = list(dict.fromkeys([*quoted, *clue_keys(list((messages or {}).values()))]))
    # A service that ran another image (or was not there) is rare and telling: right after the message's clues.
    services = sorted({k for facts in flat.values() for k in facts if k.startswith("services.")})
    for key in [*clues, *services, *(k for k in EXPLANATORY if k not in clues)]:
        values = {name: _hashable(fact_of(key, flat[name])) for name in outcomes}
        good_values = {values[n] for n in good}
        bad_values = {values[n] for n in bad}
        if len(good_values | bad_values) <= 1 or all(values[n] is None for n in outcomes):
            continue
        line = "; ".join(
            f"{', '.join(names)}: {describe(key, fact_of(key, flat[names[0]]))}"
            for names in _by_value(values, bad) + _by_value(values, good)
        )
        line += _settings_behind(key, [n for n in outcomes if n in environments], environments)
        (separating if not good_values & bad_values else differing).append(line)
    return tuple((separating or differing)[:limit])


def _settings_behind(key: str, names: list[str], environments: Mapping[str, EnvironmentResult]) -> str:
    """The run options behind a fact, where they differ between the environments: the setting, each value, and the
    file and line that wrote it (a profile, a Kubernetes manifest, a Compose file)."""
    parts = []
    if key.startswith("services.") and ".run." in key:  # a service's own setting: where each one wrote it
        written = {n: environments[n].origins.get(key) for n in names}
        if any(written.values()):
            parts.append(f"{key}: " + ", ".join(f"{n} {w}" for n, w in written.items() if w))
    for option in SETTINGS.get(key, ()):
        # `files` is an environment key of its own, kept by path; the rest are run options.
        setting = option if option == "files" else f"run.{option}"
        values = {name: (list(environments[name].files) or None) if option == "files"
                  else environments[name].run.get(option) for name in names}
        if len({json.dumps(v, sort_keys=True) for v in values.values()}) <= 1:
            continue
        shown = []
        for name in names:
            value = values[name]
            where = environments[name].origins.get(setting)
            text = "-" if value is None else json.dumps(value) if not isinstance(value, str) else value
            shown.append(f"{name} {text}" + (f" ({where})" if where and value is not None else ""))
        parts.append(f"{setting}: {', '.join(shown)}")
    return f" [{'; '.join(parts)}]" if parts else ""


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _by_value(values: Mapping[str, Any], names: list[str]) -> list[list[str]]:
    grouped: dict[Any, list[str]] = {}
    for name in names:
        grouped.setdefault(values[name], []).append(name)
    return list(grouped.values())


def decide(environments: Mapping[str, EnvironmentResult], rows: Iterable[TestRow]) -> Verdict:
    """rejected if nothing ran because an image.verify hook failed; error if any environment could not run; else
    diverged if any row differs; else failed or parity."""
    if environments and all(env.phase == "verify" for env in environments.values()):
        return "rejected"
    if any(env.status == "error" for env in environments.values()):
        return "error"
    rows = list(rows)
    if any(not row.same for row in rows):
        return "diverged"
    if any(set(row.outcomes.values()) & FAILING for row in rows):
        return "failed"
    return "parity"


def assemble(image: ImageIdentity, environments: Mapping[str, EnvironmentResult], **extra: Any) -> RunResult:
    """Line up the tests, decide the verdict and freeze it all into a RunResult."""
    rows = line_up(environments)
    return RunResult(verdict=decide(environments, rows), image=image, environments=dict(environments),
                     tests=rows, **extra)


def results_schema() -> dict[str, Any]:
    """The JSON schema of porttest.results/1, as published by `porttest schema --results`."""
    schema = RunResult.model_json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "porttest results (porttest.results/1)"
    schema["required"] = sorted({"schema", *schema.get("required", [])})
    return schema


def from_json(text: str, source: str = "results") -> RunResult:
    """Read a results JSON document, refusing other schemas with a clear error."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{source}: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ResultsError(f"{source}: not a porttest results file (schema {found!r})",
                           hint=f"porttest reads files written with --json, schema {SCHEMA}")
    try:
        return RunResult.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ResultsError(f"{source}: {where}: {first['msg']}") from None
