"""GitHub-flavoured Markdown, fit for $GITHUB_STEP_SUMMARY and pull-request comments.

Sections: the verdict with its exit code, the image identity, the environments, the tests x environments matrix
(divergent rows marked), the divergences with each environment's message and the facts that explain them, the facts
that differ between environments, each environment's effective run options (after ``extends`` and translation, the
ones that differ first, in a collapsed block), and the tests that failed the same way everywhere.

Decisions: table cells escape ``|`` and HTML (``<``, ``>``, ``&``) and turn newlines into ``<br>``; full messages go
into collapsed ``<details>`` blocks with a fence longer than any backtick run in them. GitHub caps a step summary at
1 MiB, so with more than ``max_rows`` tests the matrix keeps the rows that did not pass everywhere and counts the rest,
and messages are cut at ``max_message`` characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from porttest.config.profile_diff import render_value
from porttest.reporters.common import (
    counts,
    engine_facts,
    image_facts,
    one_line,
    run_option_rows,
    ship_text,
    short_id,
    toolbox_text,
    verdict_summary,
)
from porttest.results.facts import EXPLANATORY, flatten
from porttest.results.model import FAILING, EnvironmentResult, RunResult, TestRow

ICONS = {"passed": "✅ passed", "failed": "❌ failed", "error": "💥 error", "skipped": "⏭️ skipped",
         "xfailed": "⏭️ xfailed", "xpassed": "⚠️ xpassed", "missing": "⬜ missing"}
VERDICT_ICONS = {"parity": "✅", "failed": "❌", "diverged": "⚠️", "error": "💥", "rejected": "⛔"}
DIVERGENT_MARK = "**≠**"


def cell(text: object) -> str:
    """A value made safe for one GFM table cell: HTML escaped, `|` escaped, newlines as <br>."""
    value = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = value.replace("|", "\\|").replace("\r\n", "\n").replace("\r", "\n")
    return value.replace("\n", "<br>")


def code(text: str, in_table: bool = False) -> str:
    """An inline code span that survives backticks in the text (and `|` when it sits in a table cell)."""
    text = " ".join(text.splitlines())
    runs = [len(m) for m in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or runs else ""
    if in_table:  # GFM splits cells before parsing code spans; `\|` is its escape even inside one
        text = text.replace("|", "\\|")
    return f"{fence}{pad}{text}{pad}{fence}"


def fenced(text: str) -> str:
    """A fenced code block longer than any backtick run in the text."""
    runs = [len(m) for m in re.findall(r"`{3,}", text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def render(result: RunResult, max_rows: int = 300, max_message: int = 4000) -> str:
    """The whole report as Markdown."""
    out: list[str] = []
    out += _verdict(result)
    out += _identity(result)
    out += _environments(result)
    if result.tests:
        out += _matrix(result, max_rows)
    if result.divergent:
        out += _divergences(result, max_message)
    out += _facts(result)
    out += _run_options(result)
    out += _same_failures(result, max_message)
    return "\n".join(out).rstrip() + "\n"


def _verdict(result: RunResult) -> list[str]:
    summary = verdict_summary(result)
    title = f"## {VERDICT_ICONS[result.verdict]} porttest: {summary.name}"
    detail = f" {summary.detail}" if summary.detail else ""
    interrupted = "**interrupted**; " if summary.interrupted else ""
    lines = [title, "", f"**verdict: {result.verdict}**: {interrupted}{cell(summary.meaning)}{cell(detail)}; "
                        f"exit code **{summary.exit_code}**", ""]
    if summary.meta:
        lines += [" · ".join(cell(m) for m in summary.meta), ""]
    for warning in result.warnings:
        lines.append(f"> ⚠️ **warning:** {cell(warning)}")
    if result.warnings:
        lines.append("")
    return lines


def _identity(result: RunResult) -> list[str]:
    image = result.image
    lines = ["### Image", "",
             f"- ref: {code(image.ref) if image.ref else '—'}",
             f"- image id: {code(image.id) if image.id else '—'}",
             f"- digest: {code(image.digest) if image.digest else '— (none: the image was not pushed to a registry)'}"]
    if image_facts(image):
        lines.append(f"- made of: {cell(image_facts(image))}")
    if len(image.repo_digests) > 1 or (image.repo_digests and not image.digest):
        lines.append("- repo digests: " + ", ".join(code(d) for d in image.repo_digests))
    if image.layers:
        lines += ["", "<details><summary>layers (diff IDs)</summary>", "",
                  *(f"{i}. {code(layer)}" for i, layer in enumerate(image.layers, 1)), "", "</details>", ""]
    for check in image.verify:
        outcome = "✅ passed" if check.passed else "⛔ **failed** " + (
            f"(exit {check.exit_code})" if check.exit_code is not None else f"({cell(check.error or '')})")
        lines.append(f"- verify {cell(check.name)}: {outcome}: {code(check.command)}")
        if check.output:
            lines += ["", "  ```", *(f"  {line}" for line in check.output.splitlines()[-20:]), "  ```", ""]
    ids = {env.image_id for env in result.environments.values() if env.image_id}
    if image.id and ids and ids == {image.id}:
        lines.append("- every environment that ran used this very image (same image id)")
    elif len(ids) > 1 or (image.id and ids and ids != {image.id}):
        lines.append("- ⚠️ **the environments did not all run the same image id** (see below)")
    return [*lines, ""]


def _short(image_id: str | None) -> str:
    return short_id(image_id, missing="—")


def _counts(env: EnvironmentResult) -> str:
    return counts(env, missing="—")


def _environments(result: RunResult) -> list[str]:
    lines = ["### Environments", "",
             "| environment | status | engine | image id | ship | tests | time | error |",
             "|---|---|---|---|---|---|---|---|"]
    for env in result.environments.values():
        engine = env.engine
        engine_text = engine_facts(engine) if engine else ""
        if engine.get("endpoint"):
            engine_text = f"{engine_text} ({engine['endpoint']})".strip()
        status = "✅ ok" if env.status == "ok" else f"💥 **error** ({env.phase or '?'})"
        image_id = _short(env.image_id)
        if env.image_id and result.image.id and env.image_id != result.image.id:
            image_id += " ⚠️ differs"
        ship = ship_text(env.ship, missing="—")
        error = ""
        if env.status == "error":
            error = f"during {env.phase or '?'}: {env.error or 'unknown error'}"
            if env.hint:
                error += f"\nhint: {env.hint}"
        notes = "\n".join(f"note: {n}" for n in (*env.notes, *(env.ship.notes if env.ship else ())))
        problems = "\n".join(x for x in (error, notes) if x)
        lines.append(f"| **{cell(env.name)}** | {status} | {cell(engine_text or '—')} | {cell(image_id)} | "
                     f"{cell(ship)} | {cell(_counts(env))} | {env.duration:.1f}s | {cell(problems)} |")
    toolboxes = [f"- **{cell(env.name)}**: {cell(toolbox_text(env))}" for env in result.environments.values()
                 if toolbox_text(env)]
    return [*lines, "", *([*toolboxes, ""] if toolboxes else [])]


def _ran(result: RunResult) -> list[str]:
    return [name for name, env in result.environments.items() if env.status == "ok"]


def _matrix(result: RunResult, max_rows: int) -> list[str]:
    names = _ran(result)
    rows: Sequence[TestRow] = result.tests
    omitted = 0
    if len(rows) > max_rows:
        kept = [row for row in rows if set(row.outcomes.values()) != {"passed"}]
        omitted = len(rows) - len(kept)
        rows = kept
    lines = ["### Tests x environments", "",
             "| | test | " + " | ".join(cell(n) for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    for row in rows:
        mark = DIVERGENT_MARK if not row.same else ""
        outcomes = " | ".join(ICONS[row.outcomes.get(n, "missing")] for n in names)
        test = code(row.id, in_table=True) if row.same else f"**{code(row.id, in_table=True)}**"
        lines.append(f"| {mark} | {test} | {outcomes} |")
    lines.append("")
    legend = f"{DIVERGENT_MARK} = the outcome differs between environments."
    if omitted:
        legend += f" {omitted} tests that passed in every environment are not listed."
    return [*lines, legend, ""]


def _one_line(message: str, limit: int = 200) -> str:
    return one_line(message, limit, ellipsis="…")


def _cut(message: str, limit: int) -> str:
    return message if len(message) <= limit else message[:limit] + f"\n… ({len(message) - limit} more characters)"


def _divergences(result: RunResult, max_message: int) -> list[str]:
    lines = ["### Divergences", ""]
    for row in result.divergent:
        lines += [f"#### ≠ {code(row.id)}", "", "| environment | outcome | message |", "|---|---|---|"]
        for name, outcome in row.outcomes.items():
            message = row.messages.get(name, "")
            lines.append(f"| {cell(name)} | {ICONS[outcome]} | {cell(_one_line(message)) if message else ''} |")
        lines.append("")
        if row.explanation:
            lines += ["Facts that may explain it:", ""]
            lines += [f"- {cell(line)}" for line in row.explanation]
            lines.append("")
        for name, message in row.messages.items():
            if "\n" in message.strip() or len(message) > 200:
                lines += [f"<details><summary>{cell(name)}: full message</summary>", "",
                          fenced(_cut(message, max_message)), "", "</details>", ""]
    return lines


def fact_value(key: str, value: Any) -> str:
    """A flattened fact as a short human value."""
    if value is None:
        return "unlimited" if key.startswith("limits.") and key != "limits.cgroup_version" else "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "limits.memory_bytes" and isinstance(value, int):
        return f"{value / 2**20:g} MiB"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)


def differing_facts(environments: Iterable[EnvironmentResult]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(environment names, [(key, values per environment)]) for the explanatory facts whose values differ."""
    flat = {env.name: flatten(env.facts) for env in environments if env.facts}
    names = list(flat)
    rows = []
    if len(names) < 2:
        return names, []
    for key in EXPLANATORY:
        values = [fact_value(key, flat[n].get(key)) for n in names]
        if all(key not in flat[n] for n in names) or len(set(values)) <= 1:
            continue
        rows.append((key, values))
    return names, rows


def _facts(result: RunResult) -> list[str]:
    names, rows = differing_facts(result.environments.values())
    if not rows:
        return []
    lines = ["### Facts that differ", "",
             "| fact | " + " | ".join(cell(n) for n in names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {code(key, in_table=True)} | " + " | ".join(cell(v) for v in values) + " |" for key, values in rows]
    return [*lines, ""]


def _run_options(result: RunResult) -> list[str]:
    names, rows = run_option_rows(result)
    if not rows:
        return []
    differing = sum(row.differs for row in rows)
    summary = (f"{differing} differ between environments" if differing else "the same in every environment") \
        if len(names) > 1 else f"{len(rows)} set"
    lines = ["### Effective run options", "",
             f"<details><summary>run options after extends and translation: {cell(summary)}</summary>", "",
             "| | setting | " + " | ".join(cell(n) for n in names) + " |", "|---|---|" + "---|" * len(names)]
    for row in rows:
        mark = DIVERGENT_MARK if row.differs else ""
        values = " | ".join(cell(render_value(v)) for v in row.values)
        lines.append(f"| {mark} | {code(row.key, in_table=True)} | {values} |")
    return [*lines, "", f"{DIVERGENT_MARK} = the setting differs; - = not set.", "", "</details>", ""]


def _same_failures(result: RunResult, max_message: int) -> list[str]:
    failing = [row for row in result.tests if row.same and set(row.outcomes.values()) & FAILING]
    if not failing:
        return []
    lines = ["### Failed the same way in every environment", ""]
    for row in failing:
        message = next(iter(row.messages.values()), "")
        lines.append(f"- {code(row.id)}" + (f": {cell(_one_line(message))}" if message else ""))
    return [*lines, ""]
