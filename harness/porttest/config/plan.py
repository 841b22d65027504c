"""Pure planning: a matrix becomes cells (one environment with its suites), optionally narrowed by --env."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from porttest.config import Environment, Matrix
from porttest.errors import UsageError


@dataclass(frozen=True)
class Cell:
    """One unit of work: run every suite in one environment."""

    environment: Environment
    suites: tuple[Path, ...]

    @property
    def id(self) -> str:
        return self.environment.name

    def describe(self) -> dict[str, object]:
        """The cell as CI needs it: `porttest plan --format github` prints a list of these."""
        env = self.environment
        return {"environment": env.name, "runs-on": env.ci.runs_on, "engine": env.engine.host or "local",
                "ship": env.ship_mode if env.push_to is None else f"registry {env.push_to}"}


@dataclass(frozen=True)
class Plan:
    """The cells of one run, in matrix order."""

    cells: tuple[Cell, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.cells)


def make_plan(matrix: Matrix, only: Sequence[str] = ()) -> Plan:
    """One cell per environment; `only` (from --env) keeps the named ones and refuses unknown names."""
    unknown = [name for name in only if name not in matrix.environments]
    if unknown:
        raise UsageError(
            f"unknown environment(s): {', '.join(unknown)}",
            hint="the matrix defines: " + ", ".join(matrix.environments),
        )
    keep = set(only)
    cells = tuple(
        Cell(env, matrix.suites) for name, env in matrix.environments.items() if not keep or name in keep
    )
    return Plan(cells)
