"""The wheel ships the repository's built-in profiles and suites (porttest:NAME), each file named in pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _shipped_sources() -> set[str]:
    """The files under environments/ and suites/baseline/ that ship, as the repository holds them."""
    found = [*(REPO / "environments").glob("*.yaml"), *(REPO / "suites" / "baseline").rglob("*")]
    return {p.relative_to(REPO).as_posix() for p in found
            if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")}


def test_every_profile_and_baseline_file_is_force_included_into_porttest_data() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    forced = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    # One copy in the repository, copied into the wheel at build time: the two cannot drift, and a new file that is
    # not listed would be missing from the wheel.
    assert set(forced) == _shipped_sources()
    assert all(target == f"porttest/data/{source}" for source, target in forced.items())


def test_the_sdist_carries_what_the_wheel_and_the_tests_need() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    assert {"environments", "suites", "docs/schema"} <= set(include)
