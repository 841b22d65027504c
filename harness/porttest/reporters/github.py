"""GitHub Actions workflow commands (``::error ...::``) for divergences and environment errors.

One annotation per divergent test and one per environment in error. Escaping follows the runner's rules
(actions/toolkit ``command.ts``): in the message ``%``, ``\\r`` and ``\\n``; in property values also ``:`` and ``,``.
Annotations carry no ``file=``: node ids are relative to the pytest rootdir inside porttest's child, which need not
be the repository root, and a wrong path would hide the annotation.
"""

# No `from __future__ import annotations`: it would clash with the public function of that name.
from porttest.results.model import FAILING, RunResult, TestRow

DIVERGENCE_TITLE = "porttest divergence"
ENVIRONMENT_TITLE = "porttest environment error"
MAX_MESSAGE = 1000  # of a test's message; GitHub shows annotations in a small box


def escape_data(text: str) -> str:
    """A workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (title=, file=...)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: str) -> str:
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def annotations(result: RunResult) -> list[str]:
    """The workflow command lines, one per divergent test then one per environment in error."""
    lines = [command("error", _divergence(row), title=DIVERGENCE_TITLE) for row in result.divergent]
    for env in result.environments.values():
        if env.status != "error":
            continue
        message = f"{env.name}: error during {env.phase or 'setup'}: {env.error or 'unknown error'}"
        if env.hint:
            message += f"\nhint: {env.hint}"
        lines.append(command("error", message, title=ENVIRONMENT_TITLE))
    return lines


def _divergence(row: TestRow) -> str:
    groups: dict[str, list[str]] = {}
    for env, outcome in row.outcomes.items():
        groups.setdefault(outcome, []).append(env)
    # Failing outcomes first, passes last: "failed in staging; passed in local".
    order = sorted(groups, key=lambda o: (o not in FAILING, o == "passed"))
    summary = "; ".join(f"{outcome} in {', '.join(groups[outcome])}" for outcome in order)
    failed = [env for env, outcome in row.outcomes.items() if outcome in FAILING]
    first = next((env for env in failed if env in row.messages), next(iter(row.messages), None))
    message = f"{row.id}: {summary}"
    if first is not None:
        text = row.messages[first].strip()
        message += f"\n{first}: {text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + '...'}"
    if row.explanation:
        message += "\nfacts that differ:\n" + "\n".join(f"  {line}" for line in row.explanation)
    return message
