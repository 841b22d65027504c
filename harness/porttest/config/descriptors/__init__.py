"""PURE: environments taken from descriptors that teams already have (Kubernetes manifests, Compose files).

A translator reads a descriptor and returns a Translation: a porttest environment profile (the keys an environment
takes: run, wait_for, ...), the descriptor line of every key it wrote, and a warning for every field it did not
translate. Problems in the descriptor are ConfigErrors located in the descriptor's own file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from porttest.config.yaml_source import Located, Path_


@dataclass(frozen=True)
class Translation:
    """An environment profile taken from a descriptor."""

    profile: dict[str, Any]
    file: str  # the descriptor's path
    # Profile path (e.g. ("run", "read_only")) -> the descriptor line that set it: errors in translated values
    # point into the descriptor, where the user can fix them.
    lines: Mapping[Path_, int] = field(default_factory=dict)
    # One per field not translated (or translated only in part), naming it and its line: nothing is dropped silently.
    warnings: tuple[str, ...] = ()
    # Values that must be masked in every output (secrets the matrix mapped in).
    secret_values: frozenset[str] = frozenset()

    def located(self) -> Located:
        """As a profile layer for the loader: its data and where each key came from."""
        return Located(self.profile, self.file, {(): 1, **self.lines})
