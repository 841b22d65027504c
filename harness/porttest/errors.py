"""Expected errors: each carries a one-line message, a hint and the exit code the CLI returns."""

from __future__ import annotations

import os
from dataclasses import dataclass

EXIT_PARITY = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_ENVIRONMENT = 4
EXIT_REJECTED = 5
EXIT_INTERNAL = 70
EXIT_HANGUP = 129
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class PorttestError(Exception):
    """Root of every error porttest expects; the CLI prints it without a traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a matrix file, located by YAML path and line."""

    path: str
    message: str
    hint: str | None = None
    file: str | None = None
    line: int | None = None

    def render(self) -> str:
        where = _shown(self.file) if self.file else "matrix"
        if self.line is not None:
            where += f":{self.line}"
        text = f"{where}: {self.path or '(top level)'}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


def _shown(file: str) -> str:
    """A path relative to the working directory when it lies below it, as users typed it."""
    try:
        relative = os.path.relpath(file)
    except ValueError:
        return file
    return file if relative.startswith("..") else relative


class ConfigError(PorttestError):
    """The matrix (or a profile it extends) is invalid; nothing ran."""

    exit_code = EXIT_USAGE

    def __init__(self, issues: list[ConfigIssue] | ConfigIssue, subject: str = "matrix") -> None:
        self.issues = [issues] if isinstance(issues, ConfigIssue) else list(issues)
        count = len(self.issues)
        head = f"invalid {subject}" if count == 1 else f"invalid {subject} ({count} problems)"
        super().__init__(head + ":\n" + "\n".join("  " + i.render() for i in self.issues))


class UsageError(PorttestError):
    """Bad command-line usage, such as an unknown environment name in --env."""

    exit_code = EXIT_USAGE


class EngineError(PorttestError):
    """An engine could not be reached or refused a request."""

    exit_code = EXIT_ENVIRONMENT


class ImageError(PorttestError):
    """The image could not be resolved, built, pinned or shipped."""

    exit_code = EXIT_ENVIRONMENT


class ContainerError(PorttestError):
    """The container could not start, never became ready, or died."""

    exit_code = EXIT_ENVIRONMENT


class SuiteError(PorttestError):
    """The pytest child for an environment crashed or collected nothing."""

    exit_code = EXIT_ENVIRONMENT


class ResultsError(PorttestError):
    """A results file could not be read or does not match the schema."""

    exit_code = EXIT_USAGE


class Interrupted(BaseException):
    """Raised in the main thread on SIGINT/SIGTERM/SIGHUP so that teardown runs; not an Exception on purpose."""

    def __init__(self, signal_name: str = "SIGINT") -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.exit_code = {"SIGTERM": EXIT_TERMINATED, "SIGHUP": EXIT_HANGUP}.get(signal_name, EXIT_INTERRUPTED)
