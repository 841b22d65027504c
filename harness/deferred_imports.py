"""Modules imported on first use: the Docker SDK imports paramiko (0.3 CPU-s here) that only ssh:// engines use."""

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
        name = self.__name__
        with _LOCK:
            if sys.modules.get(name) is self:
                del sys.modules[name]
                try:
                    real = importlib.import_module(name)
                except BaseException:
                    sys.modules[name] = self
                    raise
                self.__dict__.update(real.__dict__)
                self.__dict__[_MARK] = False
        return getattr(importlib.import_module(name), attr)


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


def loaded(name: str) -> bool:
    """Whether `name` has really been imported (so objects of its classes can exist)."""
    module = sys.modules.get(name)
    return module is not None and not vars(module).get(_MARK, False)


def load(name: str) -> None:
    """Import `name` now, stand-in or not (before threads may reach it at once)."""
    if not loaded(name):
        getattr(sys.modules.get(name) or importlib.import_module(name), "__file__", None)
