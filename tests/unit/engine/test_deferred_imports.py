"""porttest.engine.deferred_imports: a deferred module loads on its first attribute, and only then."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from porttest.engine import deferred_imports

COUNTER = "PORTTEST_DEFERRED_LOADS"
COUNT = f"""
import os
LOADS = int(os.environ["{COUNTER}"]) + 1
os.environ["{COUNTER}"] = str(LOADS)
"""


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for throwaway modules; what they import is forgotten afterwards."""
    monkeypatch.setenv(COUNTER, "0")  # set (not just deleted) so that monkeypatch removes it again
    monkeypatch.setenv("PORTTEST_DEFERRED_FAIL", "0")
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("porttest_deferred_")]:
            del sys.modules[name]


def _module(folder: Path, name: str, body: str = "") -> str:
    (folder / f"{name}.py").write_text(COUNT + textwrap.dedent(body))
    return name


def test_import_statement_gets_the_stand_in_and_the_first_attribute_loads_it(on_path: Path) -> None:
    name = _module(on_path, "porttest_deferred_mod", "class Boom(Exception):\n    pass\n")
    deferred_imports.defer(name)
    module = __import__(name)
    assert not deferred_imports.loaded(name)
    assert os.environ[COUNTER] == "0"  # its body has not run
    assert module.LOADS == 1
    assert deferred_imports.loaded(name)
    assert module.Boom is sys.modules[name].Boom  # the stand-in and the module share their objects
    assert os.environ[COUNTER] == "1"


def test_load_imports_a_deferred_module_once(on_path: Path) -> None:
    name = _module(on_path, "porttest_deferred_mod")
    deferred_imports.defer(name)
    deferred_imports.load(name)
    deferred_imports.load(name)
    assert deferred_imports.loaded(name) and sys.modules[name].LOADS == 1


def test_a_module_that_fails_to_import_says_so_and_keeps_its_stand_in(on_path: Path) -> None:
    name = _module(on_path, "porttest_deferred_mod", """
        if os.environ["PORTTEST_DEFERRED_FAIL"] == "1":
            raise ImportError("broken install")
    """)
    deferred_imports.defer(name)
    stand_in = sys.modules[name]
    os.environ["PORTTEST_DEFERRED_FAIL"] = "1"
    with pytest.raises(ImportError, match="broken install"):
        deferred_imports.load(name)
    assert sys.modules[name] is stand_in and not deferred_imports.loaded(name)
    os.environ["PORTTEST_DEFERRED_FAIL"] = "0"
    assert stand_in.LOADS == 2  # the failed attempt ran the body too


def test_released_stand_in_lets_a_submodule_import_first_and_run_once(on_path: Path) -> None:
    package = on_path / "porttest_deferred_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(COUNT + "from porttest_deferred_pkg.sub import Sub\n")
    (package / "sub.py").write_text("import os\nos.environ['PORTTEST_DEFERRED_SUB'] = "
                                    "str(int(os.environ.get('PORTTEST_DEFERRED_SUB', '0')) + 1)\n"
                                    "class Sub:\n    pass\n")
    deferred_imports.defer("porttest_deferred_pkg")
    held = __import__("porttest_deferred_pkg")  # as the Docker SDK holds paramiko
    deferred_imports.release("porttest_deferred_pkg")
    try:
        from porttest_deferred_pkg.sub import Sub  # a suite importing a submodule first

        assert os.environ["PORTTEST_DEFERRED_SUB"] == "1"
        assert held.Sub is Sub  # the held stand-in reaches the one real module
    finally:
        os.environ.pop("PORTTEST_DEFERRED_SUB", None)


def test_a_module_that_is_not_installed_still_fails_to_import() -> None:
    deferred_imports.defer("porttest_no_such_module")
    assert "porttest_no_such_module" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        __import__("porttest_no_such_module")


def test_porttest_loads_the_docker_sdk_without_paramiko_until_an_ssh_engine_needs_it() -> None:
    # What `porttest` (porttest.cli.main.entry) does before anything imports the Docker SDK.
    script = ("import sys; from porttest.engine import deferred_imports; deferred_imports.defer('paramiko'); "
              "import porttest.engine.connect, porttest.run.cells; "
              "print('paramiko.transport' in sys.modules, 'cryptography' in sys.modules); "
              "deferred_imports.load('paramiko'); "
              "print('paramiko.transport' in sys.modules, sys.modules['paramiko'].RejectPolicy.__name__)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3]).stdout.split()
    assert out == ["False", "False", "True", "RejectPolicy"]


def test_a_pytest_child_imports_paramiko_only_for_an_ssh_engine() -> None:
    # As a forked child has it: the fork server imported the Docker SDK behind a stand-in, released before pytest.
    script = ("import sys; from porttest.engine import deferred_imports; deferred_imports.defer('paramiko'); "
              "import docker; deferred_imports.release('paramiko'); "
              "import porttest.child.fixtures, porttest.engine.connect, porttest.engine.session, porttest.engine.ssh; "
              "print('paramiko' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3]).stdout.split()
    assert out == ["False"]


def test_an_ssh_engine_names_a_paramiko_that_cannot_be_imported() -> None:
    script = ("import sys; from porttest.engine import deferred_imports; deferred_imports.defer('paramiko'); "
              "sys.modules['cryptography'] = None; "  # a broken install: paramiko's own imports fail
              "from porttest.engine import connect as engines; from porttest.errors import EngineError\n"
              "try:\n    engines.reopen({'host': 'ssh://nobody@127.0.0.1:1', 'api_version': '1.41'}, timeout=1)\n"
              "except EngineError as exc:\n    print(exc.message)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3]).stdout
    assert out.startswith("ssh:// engines need paramiko, which cannot be imported:"), out


def test_a_blocked_module_is_not_loaded_and_load_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "porttest_deferred_blocked", None)  # how Python marks an import as blocked
    assert not deferred_imports.loaded("porttest_deferred_blocked")
    with pytest.raises(ImportError):
        deferred_imports.load("porttest_deferred_blocked")
