"""porttest.config.plan: a matrix becomes one cell per environment, in matrix order, narrowed by --env (no engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from porttest.config import Matrix, parse_matrix
from porttest.config.plan import Cell, Plan, make_plan
from porttest.errors import PorttestError, UsageError


@pytest.fixture
def matrix(tmp_path: Path) -> Matrix:
    for suite in ("suites/a", "suites/b"):
        (tmp_path / suite).mkdir(parents=True)
        (tmp_path / suite / "test_x.py").write_text("def test_x():\n    pass\n")
    text = (
        "version: 1\nimage: shop/api:1\nsuites: [suites/b, suites/a]\n"
        "environments:\n  zeta: {}\n  alpha: {ship: load}\n  mid:\n    run: {read_only: true}\n"
    )
    return parse_matrix(text, tmp_path / "matrix.yaml", {})


def test_one_cell_per_environment_in_matrix_order(matrix: Matrix) -> None:
    plan = make_plan(matrix)
    assert isinstance(plan, Plan)
    assert plan.names == ("zeta", "alpha", "mid")
    assert [c.id for c in plan.cells] == ["zeta", "alpha", "mid"]


def test_cells_carry_the_environment_and_every_suite(matrix: Matrix) -> None:
    plan = make_plan(matrix)
    for cell in plan.cells:
        assert isinstance(cell, Cell)
        assert cell.environment is matrix.environments[cell.id]
        assert cell.suites == matrix.suites
        assert [s.name for s in cell.suites] == ["b", "a"]  # suite order from the matrix
    assert plan.cells[1].environment.ship == "load"
    assert plan.cells[2].environment.run.read_only is True


def test_env_selection_keeps_matrix_order(matrix: Matrix) -> None:
    assert make_plan(matrix, ["mid", "zeta"]).names == ("zeta", "mid")
    assert make_plan(matrix, ("alpha",)).names == ("alpha",)


def test_env_selection_named_twice_gives_one_cell(matrix: Matrix) -> None:
    assert make_plan(matrix, ["alpha", "alpha"]).names == ("alpha",)


def test_empty_selection_means_all(matrix: Matrix) -> None:
    assert make_plan(matrix, []).names == ("zeta", "alpha", "mid")


def test_unknown_env_is_a_usage_error_with_the_defined_names(matrix: Matrix) -> None:
    with pytest.raises(UsageError) as caught:
        make_plan(matrix, ["alpha", "prod", "qa"])
    err = caught.value
    assert isinstance(err, PorttestError)
    assert err.exit_code == 2
    assert "prod" in err.message and "qa" in err.message
    assert "alpha" not in err.message  # only the unknown ones are named
    assert err.hint is not None
    for name in ("zeta", "alpha", "mid"):
        assert name in err.hint


def test_unknown_env_alone(matrix: Matrix) -> None:
    with pytest.raises(UsageError, match="staging"):
        make_plan(matrix, ["staging"])


def test_plan_and_cells_are_frozen(matrix: Matrix) -> None:
    plan = make_plan(matrix)
    with pytest.raises(AttributeError):
        plan.cells = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        plan.cells[0].suites = ()  # type: ignore[misc]
