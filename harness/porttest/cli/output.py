"""The CLI's output: every line masked with the matrix's secrets, and streams that may be gone (a closed pipe, a
terminal that hung up, or closed from the start) never costing the run its clean-up or its exit code."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import Any

_STDOUT = object()
# The loaded matrix's secret values: everything the CLI prints or logs is masked with them.
_SECRETS: set[str] = set()


def hide(secrets: Iterable[str]) -> None:
    """Mask these values in everything printed through say() and logged by porttest from now on."""
    values = {value for value in secrets if value}
    if values and not _SECRETS:
        logging.getLogger("porttest").addFilter(_mask_record)
    _SECRETS.update(values)


def _masked(text: str) -> str:
    if not _SECRETS:
        return text
    from porttest.results.redact import redact_text

    return redact_text(text, _SECRETS)


def _mask_record(record: logging.LogRecord) -> bool:
    """A logging filter: the message and any traceback are rendered now, masked."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed call: let logging's own error handling report it
        return True
    record.msg, record.args = _masked(message), None
    if record.exc_info:
        record.exc_text = _masked(logging.Formatter().formatException(record.exc_info))
    return True


def say(*parts: object, file: Any = _STDOUT, end: str = "\n") -> None:
    """print() to a stream that may be gone (`| head`, a killed `tee`, a closed terminal, or closed from the start
    and so None): that stream then goes to /dev/null and the text is dropped, while the run goes on to its clean-up,
    its report files and its exit code."""
    stream = sys.stdout if file is _STDOUT else file
    if stream is None:
        return
    try:
        print(_masked(" ".join(map(str, parts))), file=stream, end=end, flush=True)
    except OSError:  # EPIPE from a closed pipe, EIO from a terminal that hung up
        _to_devnull(stream)


def _to_devnull(stream: Any) -> None:
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)


def flush_quietly() -> None:
    """Flush stdout and stderr at exit: a closed pipe must not turn the exit code into Python's 120."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            _to_devnull(stream)
