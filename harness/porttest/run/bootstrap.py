"""The first moments of every pytest child, forked or plain: become `python -m pytest ARGS`, safely.

The child runs in the user's matrix folder, which `python -m pytest` puts first on sys.path. A user's own
`porttest.py` or `porttest/` there must not replace porttest's modules: children start as
`python -P -m porttest.run.…` (-P: the folder is not on the path while `porttest` is imported), and the folder
joins the path only here, once `porttest` is bound to this installation.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn

EXIT_CRASH = 70


def run_pytest(args: list[str]) -> NoReturn:
    """Run pytest with `args` in the current folder and exit with its code; never return, never raise."""
    code = EXIT_CRASH
    try:
        import pytest  # before the folder joins the path: a module there never stands in for pytest

        cwd = os.getcwd()
        # First on the path, as `python -m pytest` puts it: suites may import helpers from there.
        sys.path[:] = [cwd, *(entry for entry in sys.path if entry != cwd)]
        sys.argv = [os.path.join(os.path.dirname(pytest.__file__), "__main__.py"), *args]

        code = int(pytest.main(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child's own crash ends up in its log and exit code
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # exiting anyway
                stream.flush()
        os._exit(code)


def _die_with_parent() -> None:
    """Killed outright (SIGKILL, the OOM killer), porttest takes a plain child with it (PR_SET_PDEATHSIG), as the
    fork server's closing stdin takes forked ones."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, ctypes.c_ulong(signal.SIGKILL))
    except (ImportError, AttributeError, OSError):
        pass  # not Linux (or no ctypes): the child may outlive a porttest killed outright


def main() -> NoReturn:
    """`python -P -m porttest.run.bootstrap PARENT_PID ARGS...`: a plain (not forked) pytest child."""
    _die_with_parent()
    if os.getppid() != int(sys.argv[1]):  # porttest died before the prctl took hold
        os._exit(EXIT_CRASH)
    run_pytest(sys.argv[2:])


if __name__ == "__main__":
    main()
