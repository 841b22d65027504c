"""harness.deferred_imports: a deferred module loads on its first attribute, and only then."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import deferred_imports


@pytest.fixture
def module_on_path(tmp_path: Path) -> Iterator[str]:
    name = "porttest_deferred_probe_mod"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent("""
        import os
        LOADS = int(os.environ.get("PORTTEST_DEFERRED_LOADS", "0")) + 1
        os.environ["PORTTEST_DEFERRED_LOADS"] = str(LOADS)

        class Boom(Exception):
            pass
    """))
    sys.path.insert(0, str(tmp_path))
    try:
        yield name
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)


def test_import_statement_gets_the_stand_in_and_the_first_attribute_loads_it(
        module_on_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTTEST_DEFERRED_LOADS", raising=False)
    deferred_imports.defer(module_on_path)
    module = __import__(module_on_path)
    assert not deferred_imports.loaded(module_on_path)
    assert "PORTTEST_DEFERRED_LOADS" not in __import__("os").environ  # its body has not run
    assert module.LOADS == 1
    assert deferred_imports.loaded(module_on_path)
    real = sys.modules[module_on_path]
    assert module.Boom is real.Boom  # the stand-in and the module share their objects
    assert __import__("os").environ["PORTTEST_DEFERRED_LOADS"] == "1"


def test_load_imports_a_deferred_module_and_is_idempotent(module_on_path: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTTEST_DEFERRED_LOADS", raising=False)
    deferred_imports.defer(module_on_path)
    deferred_imports.load(module_on_path)
    deferred_imports.load(module_on_path)
    assert deferred_imports.loaded(module_on_path)
    assert sys.modules[module_on_path].LOADS == 1


def test_a_module_that_is_not_installed_still_fails_to_import() -> None:
    deferred_imports.defer("porttest_no_such_module")
    assert "porttest_no_such_module" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        __import__("porttest_no_such_module")


def test_the_docker_sdk_loads_without_paramiko_until_an_ssh_engine_needs_it() -> None:
    script = ("import sys, harness.engines, harness.runner; "
              "print('paramiko.transport' in sys.modules, 'cryptography' in sys.modules); "
              "from harness import ssh_transport, deferred_imports; deferred_imports.load('paramiko'); "
              "print('paramiko.transport' in sys.modules, ssh_transport.paramiko.RejectPolicy.__name__)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout.split()
    assert out == ["False", "False", "True", "RejectPolicy"]
