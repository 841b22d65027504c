"""Small text helpers that every reporter shares (pure)."""

from __future__ import annotations

from harness.results import EnvironmentResult


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
