"""Run `image.verify` commands once against the resolved image (signature checks, scanners) and record each."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from porttest.config.models import VerifyHook
from porttest.results.model import VerifyRecord
from porttest.run.processes import kill_group

OUTPUT_LINES = 40
PLACEHOLDERS = ("ref", "id", "digest")


def expand(hook: VerifyHook, values: dict[str, str | None]) -> list[str]:
    """PURE: split the command like a shell would and fill {ref}, {id} and {digest} in each word (no shell runs,
    so a ref can never inject a command). A placeholder without a value is a ValueError naming it."""
    try:
        words = shlex.split(hook.command)
    except ValueError as exc:
        raise ValueError(f"cannot split the command: {exc}") from None
    out = []
    for word in words:
        for key in PLACEHOLDERS:
            token = "{" + key + "}"
            if token in word:
                value = values.get(key)
                if not value:
                    raise ValueError(f"{token} has no value for this image")
                word = word.replace(token, value)
        out.append(word)
    if not out:
        raise ValueError("the command is empty")
    return out


def run_hooks(hooks: Iterable[VerifyHook], values: dict[str, str | None], cwd: Path) -> tuple[VerifyRecord, ...]:
    """Run each hook in order, stopping at the first that fails (later ones are not run). Secrets in the records
    are masked with the rest of the result."""
    records = []
    for index, hook in enumerate(hooks):
        record = _run_one(hook, index, values, cwd)
        records.append(record)
        if not record.passed:
            break
    return tuple(records)


def _run_one(hook: VerifyHook, index: int, values: dict[str, str | None], cwd: Path) -> VerifyRecord:
    name = hook.name or f"verify[{index}]"
    try:
        argv = expand(hook, values)
    except ValueError as exc:
        return VerifyRecord(name=name, command=hook.command, exit_code=None, passed=False, error=str(exc))
    env = {**os.environ, "PORTTEST_IMAGE_REF": values.get("ref") or "", "PORTTEST_IMAGE_ID": values.get("id") or "",
           "PORTTEST_IMAGE_DIGEST": values.get("digest") or ""}
    shown = shlex.join(argv)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        return VerifyRecord(name=name, command=shown, exit_code=None, passed=False,
                            error=f"cannot start {argv[0]}: {exc.strerror or exc}")
    try:
        output, _ = proc.communicate(timeout=hook.timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid, leader_too=False)
        output = _drain(proc)
        return VerifyRecord(name=name, command=shown, exit_code=None, passed=False, seconds=_since(started),
                            output=_tail(output), error=f"did not finish within {hook.timeout:g}s")
    finally:
        # Whatever the hook left running in its process group goes with it (and with Ctrl-C, the hook too).
        kill_group(proc.pid, leader_too=False)
        if proc.returncode is None:
            proc.wait()
    return VerifyRecord(name=name, command=shown, exit_code=proc.returncode, passed=proc.returncode == 0,
                        seconds=_since(started), output=_tail(output))


def _drain(proc: subprocess.Popen[bytes]) -> bytes:
    """What the killed hook wrote; a descendant that left the group may still hold the pipe, so do not wait long."""
    try:
        output, _ = proc.communicate(timeout=5)
        return output or b""
    except subprocess.TimeoutExpired:
        return b""


def _tail(output: bytes) -> str:
    lines = output.decode("utf-8", "replace").rstrip().splitlines()
    return "\n".join(lines[-OUTPUT_LINES:])


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)

