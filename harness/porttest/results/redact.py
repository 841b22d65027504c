"""PURE: replace secret values with *** in text and in every string of a RunResult."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

from porttest.results.model import RunResult

MASK = "***"


# In a test's failure text pytest shows values its own way: repr() escapes backslashes and quotes, long values are
# cut in the middle ('postgres://u...2222@db/x') and diffs show them in pieces. There, every run of this many
# characters that is part of a secret is masked too.
FRAGMENT = 8
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def _forms(secret: str) -> set[str]:
    """The secret as written, and as repr() and JSON would write it."""
    return {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]}


def redact_text(text: str, secrets: Iterable[str]) -> str:
    # Longest first, so that a secret containing another is masked whole.
    for value in sorted({form for secret in secrets if secret for form in _forms(secret)}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def _scheme_length(value: str) -> int:
    """A URL's scheme (`https://`) is no secret, and masking it would hide every URL in the text."""
    found = _SCHEME.match(value)
    return found.end() if found else 0


@functools.lru_cache(maxsize=8)
def _pieces(secrets: frozenset[str]) -> frozenset[str]:
    """Every FRAGMENT-long run of every form of every secret (built once per set of secrets, not once per text)."""
    return frozenset(form[i:i + FRAGMENT] for secret in secrets for form in _forms(secret)
                     for i in range(_scheme_length(form), len(form) - FRAGMENT + 1))


def redact_fragments(text: str, secrets: Iterable[str]) -> str:
    """redact_text, then every run of FRAGMENT or more characters that is also part of a secret."""
    text = redact_text(text, secrets)
    pieces = _pieces(frozenset(secrets))
    if not pieces or len(text) < FRAGMENT:
        return text
    hidden = [False] * len(text)
    for i in range(len(text) - FRAGMENT + 1):
        if text[i:i + FRAGMENT] in pieces:
            hidden[i:i + FRAGMENT] = [True] * FRAGMENT
    out: list[str] = []
    for i, char in enumerate(text):
        if not hidden[i]:
            out.append(char)
        elif i == 0 or not hidden[i - 1]:
            out.append(MASK)
    return "".join(out)


# Free text from the tests themselves, where pytest reformats values (see FRAGMENT).
_TEST_TEXT = frozenset({"message", "detail", "messages", "explanation"})
# Fields whose values are fixed vocabulary (schema name, verdict, status, outcomes): masking a secret that happens to
# be an ordinary word ("passed", "test") there would break the result, and they cannot hold a secret anyway.
_FIXED = frozenset({"schema", "verdict", "status", "outcome", "outcomes", "phase", "mode"})


def _walk(value: Any, secrets: list[str], test_text: bool = False) -> Any:
    if isinstance(value, str):
        return redact_fragments(value, secrets) if test_text else redact_text(value, secrets)
    if isinstance(value, dict):
        return {k: (v if k in _FIXED else _walk(v, secrets, test_text or k in _TEST_TEXT))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, secrets, test_text) for v in value]
    return value


def redact_result(result: RunResult, secrets: Iterable[str]) -> RunResult:
    """The same result with every secret value masked, in messages, details, errors, facts and names alike."""
    values = [s for s in secrets if s]
    if not values:
        return result
    return RunResult.model_validate(_walk(result.model_dump(mode="json", by_alias=True), values))
