"""PURE: replace secret values with *** in text and in every string of a RunResult."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.results import RunResult

MASK = "***"


def redact_text(text: str, secrets: Iterable[str]) -> str:
    # Longest first, so that a secret containing another is masked whole.
    for value in sorted(secrets, key=len, reverse=True):
        if value:
            text = text.replace(value, MASK)
    return text


# Fields whose values are fixed vocabulary (schema name, verdict, status, outcomes): masking a secret that happens to
# be an ordinary word ("passed", "test") there would break the result, and they cannot hold a secret anyway.
_FIXED = frozenset({"schema", "verdict", "status", "outcome", "outcomes", "phase", "mode"})


def _walk(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {k: (v if k in _FIXED else _walk(v, secrets)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, secrets) for v in value]
    return value


def redact_result(result: RunResult, secrets: Iterable[str]) -> RunResult:
    """The same result with every secret value masked, in messages, details, errors, facts and names alike."""
    values = [s for s in secrets if s]
    if not values:
        return result
    return RunResult.model_validate(_walk(result.model_dump(mode="json", by_alias=True), values))
