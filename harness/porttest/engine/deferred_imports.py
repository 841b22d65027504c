"""Modules imported on first use: the Docker SDK imports paramiko (0.3 CPU-s here) that only ssh:// engines use.

For processes that run no user code (porttest itself, the fork server before it forks): a stand-in serves code that
imports the module by its top-level name, as the SDK does, but the first `import paramiko.sub` through it would run
that submodule twice. Forked pytest children therefore release the stand-in before running any suite."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

_LOCK = threading.RLock()
_MARK = "__porttest_deferred__"


class _Deferred(types.ModuleType):
    """Stands in sys.modules for a module until one of its attributes is read, then becomes a view of it.

    `import name` hands out whatever sys.modules holds after reading only its `__spec__`, so the SDK's
    `import paramiko` gets this stand-in without loading anything."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(_real(self), attr)


def _real(stub: _Deferred) -> types.ModuleType:
    """The module itself, imported now if the stand-in still holds its place (errors propagate)."""
    name = stub.__name__
    with _LOCK:
        if sys.modules.get(name) is stub:
            del sys.modules[name]
            try:
                real = importlib.import_module(name)
            except BaseException:
                sys.modules[name] = stub
                raise
            stub.__dict__.update(real.__dict__)
            stub.__dict__[_MARK] = False
    return importlib.import_module(name)


def _stand_in(name: str) -> bool:
    module = sys.modules.get(name)
    return module is not None and bool(vars(module).get(_MARK, False))


def defer(name: str) -> None:
    """Put a stand-in for the installed module `name` in sys.modules, unless something imported it already."""
    with _LOCK:
        if name in sys.modules:
            return
        spec = importlib.util.find_spec(name)
        if spec is None:  # not installed: `import name` must keep failing as it would
            return
        stub = _Deferred(name)
        stub.__spec__ = spec
        stub.__dict__[_MARK] = True
        sys.modules[name] = stub


def release(name: str) -> None:
    """Drop a stand-in from sys.modules: the next `import name` imports the module itself, and code that holds
    the stand-in reaches that module through it."""
    with _LOCK:
        if _stand_in(name):
            del sys.modules[name]


def loaded(name: str) -> bool:
    """Whether `name` has really been imported (so objects of its classes can exist); not when its import is
    blocked (None in sys.modules) or a stand-in still holds its place."""
    module = sys.modules.get(name)
    return module is not None and not vars(module).get(_MARK, False)


def load(name: str) -> None:
    """Import `name` now, stand-in or not (before threads may reach it at once); its import errors propagate, to
    every caller that finds it still not loaded."""
    with _LOCK:
        module = sys.modules.get(name)
        if isinstance(module, _Deferred):
            _real(module)
        else:
            importlib.import_module(name)
        if not loaded(name):
            raise ImportError(f"{name} could not be imported", name=name)
