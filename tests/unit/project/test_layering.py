"""The package's shape is a contract: no import cycle between its modules, one folder per layer, and `harness/`
holds nothing but the package (it is the source root, not an importable name)."""

from __future__ import annotations

import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[3]
SOURCE_ROOT = REPO / "harness"
LAYERS = ("cli", "api", "run", "reporters", "child", "engine", "config", "results", "errors")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    if str(SOURCE_ROOT) not in sys.path:
        sys.path.insert(0, str(SOURCE_ROOT))
    return grimp.build_graph("porttest")


def test_no_module_imports_its_way_back_to_itself(graph: grimp.ImportGraph) -> None:
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                cycles.append(" -> ".join((module, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_every_module_lives_in_a_layer(graph: grimp.ImportGraph) -> None:
    top = {m.split(".")[1] for m in graph.modules if m.count(".") >= 1}
    assert top <= {*LAYERS, "__main__"}, f"modules outside the layers: {sorted(top - {*LAYERS, '__main__'})}"


def test_the_source_root_holds_only_the_package() -> None:
    entries = sorted(p.name for p in SOURCE_ROOT.iterdir()
                     if not p.name.startswith((".", "__pycache__")) and (p.is_file() or any(p.iterdir())))
    assert entries == ["porttest"]


def test_layers_import_only_downward(graph: grimp.ImportGraph) -> None:
    # The lint env checks this too (import-linter, pyproject.toml); here it also runs with the unit tests.
    illegal = graph.find_illegal_dependencies_for_layers(
        layers=("porttest.cli", "porttest.api", {"porttest.run", "porttest.reporters"}, "porttest.child",
                "porttest.engine", "porttest.config", "porttest.results", "porttest.errors"))
    assert not illegal, [f"{d.importer} -> {d.imported}" for d in illegal]
