"""The results JSON (schema porttest.results/1)."""

from __future__ import annotations

from porttest.results.model import RunResult


def render(result: RunResult) -> str:
    return result.to_json()
