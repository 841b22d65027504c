"""The built-in facts probe as one exec of its own (when the child could not run it), and its output as facts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from porttest.results.facts import PROBE, parse_facts

if TYPE_CHECKING:  # the child reads ProbeOutput through the wire without loading the Docker SDK here
    from porttest.engine.connect import Engine


@dataclass(frozen=True)
class ProbeOutput:
    """What the built-in facts probe printed in the container, or why it could not run."""

    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None


def probe_facts(engine: Engine, container_id: str, runtime: str) -> dict[str, Any]:
    """Run the built-in probe in the container as one exec of its own (when the child could not) and parse it."""
    from porttest.engine.session import ExecSession
    from porttest.engine.toolbox import shell_of

    try:
        shell = shell_of(engine.client.api.inspect_container(container_id))  # a shell-less image's: the toolbox's
        result = ExecSession(engine.client.api, container_id, shell=shell).run(PROBE)
    except Exception as exc:  # noqa: BLE001 - facts are evidence, never a reason to fail the environment
        return facts_from(ProbeOutput(error=f"{type(exc).__name__}: {exc}"), engine, runtime)
    return facts_from(ProbeOutput(result.rc, result.stdout.decode("utf-8", "replace"),
                                  result.stderr.decode("utf-8", "replace")), engine, runtime)


def facts_from(probe: ProbeOutput, engine: Engine, runtime: str) -> dict[str, Any]:
    """The facts of what the probe printed, with the runtime the engine reports for the container."""
    if probe.error is not None:
        return {"probe_error": probe.error, "runtime": {"name": runtime}}
    facts = parse_facts(probe.stdout)
    facts["runtime"]["name"] = runtime or engine.info.default_runtime
    if probe.rc != 0 and not probe.stdout:
        facts["probe_error"] = probe.stderr[:300]
    return facts


