"""The terminal report: environments, the tests x environments matrix, divergences, and the verdict line."""

from __future__ import annotations

from io import StringIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from porttest.config.profile_diff import render_value
from porttest.reporters.common import (
    engine_facts,
    image_facts,
    one_line,
    run_option_rows,
    ship_text,
    short_id,
    toolbox_text,
    verdict_summary,
)
from porttest.results.model import RunResult

LABELS = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP", "error": "ERROR", "xfailed": "XFAIL",
          "xpassed": "XPASS", "missing": "-"}
STYLES = {"passed": "green", "failed": "red", "skipped": "yellow", "error": "red bold", "xfailed": "yellow",
          "xpassed": "yellow", "missing": "dim"}
GAP = "   "  # between the grid's columns, as between the environments table's
MIN_TEST_WIDTH = 12
def render(result: RunResult, color: bool = False, width: int = 120) -> str:
    """The whole report as text; without colour, markers (PASS/FAIL, '!=') carry the meaning."""
    buf = StringIO()
    console = Console(file=buf, width=width, color_system="standard" if color else None, force_terminal=color,
                      no_color=not color, highlight=False, emoji=False, soft_wrap=False)
    image = result.image
    console.print(Text.assemble(("image ", "bold"), image.ref or "-", "  id ", short_id(image.id),
                                ("  digest " + image.digest) if image.digest else "", f"  run {result.run_id or '-'}"))
    facts = image_facts(image)
    if facts:
        console.print(Text("      " + facts, style="dim"))
    for check in image.verify:
        verdict = "ok" if check.passed else ("FAILED" + (f" (exit {check.exit_code})" if check.exit_code is not None
                                                         else f": {check.error}"))
        console.print(Text(f"verify {check.name}: {verdict}  $ {check.command}", style="" if check.passed else "red"))
        if check.output:
            console.print(Text(_indented(check.output, lines=10 if not check.passed else 3), style="dim"))
    for warning in result.warnings:
        console.print(Text("warning: " + warning, style="yellow"))
    console.print(_environments(result))
    for env in result.environments.values():
        if env.engine:
            console.print(Text(f"{env.name}: engine {engine_facts(env.engine)}", style="dim"))
        if toolbox_text(env):
            console.print(Text(f"{env.name}: {toolbox_text(env)}", style="dim"))
        for note in (env.ship.notes if env.ship else ()):
            console.print(Text(f"{env.name}: ship: {note}", style="dim"))
    for line in _run_option_lines(result):
        console.print(Text(line, style="dim"))
    for env in result.environments.values():
        for note in env.notes:
            console.print(Text(f"{env.name}: note: {note}", style="yellow"))
        if env.status == "error":
            console.print(Text(f"{env.name}: error during {env.phase or '?'}: {env.error}", style="red"))
            if env.hint:
                console.print(Text(f"{env.name}: hint: {env.hint}"))
    if result.tests:
        # Lines are laid out to `width` already; one that cannot fit stays whole rather than being re-wrapped.
        console.print(_matrix(result, width), no_wrap=True, overflow="ignore", crop=False)
    divergent = result.divergent
    if divergent:
        console.print(Text("Divergences", style="bold"))
        for row in divergent:
            console.print(Text("  != " + row.id, style="red bold"))
            for env_name, outcome in row.outcomes.items():
                message = row.messages.get(env_name, "")
                console.print(Text(f"     {env_name}: {outcome}" + (f": {_one_line(message)}" if message else "")))
            for line in row.explanation:
                console.print(Text(f"     why? {line}", style="cyan"))
    failing = [row for row in result.tests if row.same and set(row.outcomes.values()) & {"failed", "error"}]
    if failing:
        console.print(Text("Failures (the same in every environment)", style="bold"))
        for row in failing:
            message = next(iter(row.messages.values()), "")
            console.print(Text(f"  x  {row.id}" + (f": {_one_line(message)}" if message else ""), style="red"))
    console.print(Text(_verdict_line(result), style=_verdict_style(result.verdict)))
    return buf.getvalue()


MAX_RUN_OPTION_LINES = 12


def _run_option_lines(result: RunResult) -> list[str]:
    """The effective run options that differ between environments, one line each: `run.read_only: staging true;
    local -` (`-`: not set); the full table is in the Markdown and HTML reports."""
    names, rows = run_option_rows(result)
    differing = [row for row in rows if row.differs]
    if not differing:
        return []
    lines = ["run options that differ:"]
    for row in differing[:MAX_RUN_OPTION_LINES]:
        values = "; ".join(f"{name} {render_value(v)}" for name, v in zip(names, row.values, strict=True))
        lines.append("  " + one_line(f"{row.key}: {values}", 160))
    if len(differing) > MAX_RUN_OPTION_LINES:
        lines.append(f"  ... and {len(differing) - MAX_RUN_OPTION_LINES} more (see the Markdown or HTML report)")
    return lines


def _environments(result: RunResult) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=None, show_edge=False, pad_edge=False)
    for heading in ("environment", "status", "engine", "image id", "ship", "tests", "time"):
        table.add_column(heading, overflow="fold")
    for env in result.environments.values():
        engine = env.engine
        engine_text = f"{engine.get('kind', '')} {engine.get('version', '')}".strip() or "-"
        counts = _counts(env.tests) if env.status == "ok" else "-"
        ship = ship_text(env.ship)
        table.add_row(env.name, Text(env.status.upper() if env.status == "error" else env.status,
                                     style="red" if env.status == "error" else "green"),
                      engine_text, short_id(env.image_id), ship, counts, f"{env.duration:.1f}s")
    return table


def _counts(tests: tuple[object, ...]) -> str:
    outcomes = [getattr(t, "outcome", "") for t in tests]
    passed = outcomes.count("passed")
    return f"{passed}/{len(outcomes)} passed"


def _matrix(result: RunResult, width: int) -> Text:
    """The tests x environments grid, laid out by hand: a rich Table measures every cell, 0.3 s for 300 tests in
    three environments here, all of it after the last environment has finished."""
    names = [n for n, e in result.environments.items() if e.status == "ok"]
    widths = [max(len(name), *map(len, LABELS.values())) for name in names]
    columns = sum(len(GAP) + w for w in widths)
    longest = max([4, *(len(row.id) for row in result.tests)])
    # The test column takes what the environments leave, folding ids longer than that; never under MIN_TEST_WIDTH,
    # so that many wide environment columns make a line wider than the console rather than an unreadable column.
    test_width = min(longest, max(width - 2 - len(GAP) - columns, MIN_TEST_WIDTH))
    heads = "".join(GAP + name.ljust(w) for name, w in zip(names, widths, strict=True))
    header = "  " + GAP + "test".ljust(test_width) + heads
    grid = Text()
    grid.append(header.rstrip() + "\n", style="bold")
    grid.append("\u2500" * min(width, len(header.rstrip())) + "\n")
    for row in result.tests:
        style = "" if row.same else "bold"
        pieces = [row.id[i:i + test_width] for i in range(0, len(row.id), test_width)] or [""]
        cells = [("  " if row.same else "!=", "" if row.same else "red bold"), (GAP + pieces[0], style)]
        for name, w in zip(names, widths, strict=True):
            outcome = row.outcomes.get(name, "missing")
            cells.append((GAP, ""))
            cells.append((LABELS[outcome].ljust(w), STYLES[outcome]))
        if names:  # columns are padded to their width, the line itself is not
            cells[1] = (cells[1][0].ljust(len(GAP) + test_width), style)
        cells[-1] = (cells[-1][0].rstrip() + "\n", cells[-1][1])
        cells += [("  " + GAP + piece + "\n", style) for piece in pieces[1:]]  # a long id folds, as rich's did
        grid.append_tokens(cells)
    grid.right_crop(1)  # the last newline: console.print ends the grid's line itself
    return grid


_one_line = one_line


def _indented(text: str, lines: int = 10) -> str:
    return "\n".join("    | " + line for line in text.splitlines()[-lines:])


def _verdict_line(result: RunResult) -> str:
    summary = verdict_summary(result)
    prefix = "INTERRUPTED; " if summary.interrupted else ""
    return f"verdict: {prefix}{summary.text} [exit {summary.exit_code}]"


def _verdict_style(verdict: str) -> str:
    return "green bold" if verdict == "parity" else "red bold"
