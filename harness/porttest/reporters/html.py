"""One self-contained HTML report: inline CSS and JS, nothing fetched from anywhere.

The page shows the verdict and the image identity (ref, image id, digest, and the image id each environment ran),
the environments and their errors, the tests x environments grid (``#grid``; every cell is
``<td class="cell outcome-OUTCOME" data-test=... data-env=...>``, divergent rows have class ``divergent``), a detail
panel (``#detail``) that shows the clicked cell's message, and the facts side by side (``#facts``; rows whose values
differ have class ``differs``, facts that can explain a behaviour difference also ``explanatory``).

Opening the page with ``#click=<test id>|<environment>`` (URL-encoded or not) selects that cell, so a link can point
at one result; clicking a cell updates the address the same way. A Content-Security-Policy forbids every external
load, so even a hostile message cannot make the page reach the network. Every value is escaped with html.escape.
"""

from __future__ import annotations

from html import escape

from porttest.config.profile_diff import render_value
from porttest.reporters.common import (
    counts,
    engine_facts,
    image_facts,
    run_option_rows,
    ship_text,
    short_id,
    toolbox_text,
    verdict_summary,
)
from porttest.reporters.console import LABELS
from porttest.reporters.markdown import fact_value
from porttest.results.facts import EXPLANATORY, flatten
from porttest.results.model import RunResult, TestRecord, TestRow, VerifyRecord

CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'")

CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --panel: #f6f8fa;
  --pass: #1a7f37; --pass-bg: #dafbe1; --fail: #cf222e; --fail-bg: #ffebe9; --skip: #9a6700; --skip-bg: #fff8c5;
  --miss: #59636e; --miss-bg: #eaeef2; --div: #bc4c00; --div-bg: #fff1e5; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 24px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--fg); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 22px 0 8px; }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12.5px; }
table { border-collapse: collapse; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: var(--panel); position: sticky; top: 0; z-index: 1; }
.verdict { border-radius: 8px; padding: 12px 16px; border: 1px solid var(--line); }
.verdict-parity { background: var(--pass-bg); border-color: var(--pass); }
.verdict-failed, .verdict-error, .verdict-rejected { background: var(--fail-bg); border-color: var(--fail); }
.verdict-diverged { background: var(--div-bg); border-color: var(--div); }
.verdict p { margin: 2px 0; } .meta { color: var(--muted); font-size: 12.5px; }
.warning { color: var(--skip); }
.kv th { background: var(--panel); width: 9em; } .kv td { word-break: break-all; }
.ids { word-break: break-all; }
.env-error { border-left: 4px solid var(--fail); background: var(--fail-bg); padding: 8px 12px; margin: 8px 0;
  border-radius: 4px; } .env-error pre { white-space: pre-wrap; margin: 4px 0; }
.status-ok { color: var(--pass); font-weight: 600; } .status-error { color: var(--fail); font-weight: 600; }
.mismatch { color: var(--fail); font-weight: 600; } .match { color: var(--pass); }
.split { display: flex; gap: 16px; align-items: flex-start; }
.grid-wrap { flex: 1 1 auto; min-width: 0; overflow-x: auto; }
#grid th.test { font-weight: 400; max-width: 560px; word-break: break-all; }
#grid td.mark { width: 1.6em; text-align: center; color: var(--div); font-weight: 700; border-right: 0; }
#grid tr.divergent th.test { font-weight: 600; } #grid tr.divergent td.mark { background: var(--div-bg); }
#grid.only-divergent tr.same { display: none; }
td.cell { cursor: pointer; text-align: center; font-weight: 600; min-width: 5.5em; user-select: none; }
td.cell:hover { outline: 2px solid var(--muted); outline-offset: -2px; }
td.cell.selected { outline: 3px solid var(--fg); outline-offset: -3px; }
.outcome-passed, .outcome-xpassed { color: var(--pass); background: var(--pass-bg); }
.outcome-failed, .outcome-error { color: var(--fail); background: var(--fail-bg); }
.outcome-skipped, .outcome-xfailed { color: var(--skip); background: var(--skip-bg); }
.outcome-missing { color: var(--miss); background: var(--miss-bg); }
#detail { flex: 0 0 400px; position: sticky; top: 8px; border: 1px solid var(--line); border-radius: 8px;
  background: var(--panel); padding: 10px 14px; max-height: 90vh; overflow: auto; }
#detail h3 { margin: 0 0 6px; font-size: 14px; } #detail .test { word-break: break-all; }
#detail .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600; }
#detail-message { white-space: pre-wrap; word-break: break-word; background: var(--bg); border: 1px solid var(--line);
  padding: 8px; border-radius: 4px; margin: 8px 0; }
#detail-explanation li { margin: 2px 0; }
#detail-full pre { white-space: pre-wrap; word-break: break-word; }
.hidden { display: none; }
#facts td, #facts th { font-size: 12.5px; max-width: 420px; word-break: break-word; }
#facts tr.differs td, #facts tr.differs th { background: var(--div-bg); }
#facts tr.differs.explanatory th { font-weight: 700; }
#facts.only-differs tr.same { display: none; }
#run-options td, #run-options th { font-size: 12.5px; max-width: 420px; word-break: break-word; }
#run-options tr.differs td, #run-options tr.differs th { background: var(--div-bg); font-weight: 700; }
label.toggle { font-weight: 400; font-size: 13px; margin-left: 12px; color: var(--muted); }
.legend { color: var(--muted); font-size: 12.5px; margin: 6px 0; }
"""

JS = r"""
(function () {
  "use strict";
  var grid = document.getElementById("grid");
  var panel = document.getElementById("detail");
  var selected = null;
  function byId(id) { return document.getElementById(id); }
  function select(cell, updateAddress) {
    if (selected) { selected.classList.remove("selected"); }
    selected = cell;
    cell.classList.add("selected");
    var row = cell.parentNode;
    byId("detail-test").textContent = cell.getAttribute("data-test");
    byId("detail-env").textContent = cell.getAttribute("data-env");
    var badge = byId("detail-outcome");
    badge.textContent = cell.getAttribute("data-outcome");
    badge.className = "badge outcome-" + cell.getAttribute("data-outcome");
    byId("detail-duration").textContent = cell.getAttribute("data-duration") || "";
    byId("detail-message").textContent = cell.getAttribute("data-message");
    var full = cell.getAttribute("data-detail") || "";
    byId("detail-full").classList.toggle("hidden", !full);
    byId("detail-full-text").textContent = full;
    var list = byId("detail-explanation");
    while (list.firstChild) { list.removeChild(list.firstChild); }
    var lines = (row.getAttribute("data-explanation") || "").split("\n").filter(Boolean);
    lines.forEach(function (line) {
      var item = document.createElement("li");
      item.textContent = line;
      list.appendChild(item);
    });
    byId("detail-why").classList.toggle("hidden", lines.length === 0);
    byId("detail-empty").classList.add("hidden");
    byId("detail-body").classList.remove("hidden");
    panel.setAttribute("data-test", cell.getAttribute("data-test"));
    panel.setAttribute("data-env", cell.getAttribute("data-env"));
    if (updateAddress && window.history && history.replaceState) {
      var hash = "#click=" + encodeURIComponent(cell.getAttribute("data-test")) + "|" +
        encodeURIComponent(cell.getAttribute("data-env"));
      try { history.replaceState(null, "", hash); } catch (e) { /* some file:// contexts refuse */ }
    }
  }
  function fromHash() {
    var hash = window.location.hash || "";
    if (hash.indexOf("#click=") !== 0) { return; }
    var raw = hash.slice(7), text = raw;
    try { text = decodeURIComponent(raw); } catch (e) { text = raw; }
    var bar = text.lastIndexOf("|");
    if (bar < 0) { return; }
    var test = text.slice(0, bar), env = text.slice(bar + 1);
    var cells = grid ? grid.querySelectorAll("td.cell") : [];
    for (var i = 0; i < cells.length; i++) {
      if (cells[i].getAttribute("data-test") === test && cells[i].getAttribute("data-env") === env) {
        cells[i].click();
        if (cells[i].scrollIntoView) { cells[i].scrollIntoView({block: "nearest"}); }
        return;
      }
    }
  }
  if (grid) {
    grid.addEventListener("click", function (event) {
      var cell = event.target.closest ? event.target.closest("td.cell") : null;
      if (cell) { select(cell, event.isTrusted); }
    });
    grid.addEventListener("keydown", function (event) {
      var cell = event.target.closest ? event.target.closest("td.cell") : null;
      if (cell && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); select(cell, true); }
    });
  }
  function toggle(boxId, tableId, cls) {
    var box = byId(boxId), table = byId(tableId);
    if (!box || !table) { return; }
    box.addEventListener("change", function () { table.classList.toggle(cls, box.checked); });
  }
  toggle("only-divergent", "grid", "only-divergent");
  toggle("only-differs", "facts", "only-differs");
  window.addEventListener("hashchange", fromHash);
  fromHash();
}());
"""


def e(value: object) -> str:
    """html.escape for text and attribute values alike."""
    return escape("" if value is None else str(value), quote=True)


_short = short_id


def render(result: RunResult, title: str | None = None) -> str:
    """The whole report as one HTML document."""
    ran = [name for name, env in result.environments.items() if env.status == "ok"]
    heading = title or f"porttest: {result.image.ref or result.image.id or 'image'}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{e(heading)} ({e(result.verdict)})</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        _verdict(result),
        _identity(result),
        _errors(result),
        _grid(result, ran),
        _facts(result),
        _run_options(result),
        f"<script>{JS}</script>",
        "</body>",
        "</html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _verdict(result: RunResult) -> str:
    summary = verdict_summary(result)
    text = f"{summary.meaning} {summary.detail}" if summary.detail else summary.meaning
    out = [f'<header id="verdict" class="verdict verdict-{e(result.verdict)}" data-verdict="{e(result.verdict)}" '
           f'data-exit-code="{summary.exit_code}">',
           f"<h1>{e(summary.name)}: {e(result.image.ref or 'image')}</h1>",
           f"<p>{'<strong>interrupted</strong>; ' if summary.interrupted else ''}{e(text)}; "
           f"exit code <strong>{summary.exit_code}</strong></p>"]
    if summary.meta:
        out.append(f'<p class="meta">{e(" · ".join(summary.meta))}</p>')
    out += [f'<p class="warning">warning: {e(w)}</p>' for w in result.warnings]
    out.append("</header>")
    return "\n".join(out)


_counts = counts


def _verify_outcome(check: VerifyRecord) -> str:
    if check.passed:
        return "passed"
    return f"FAILED (exit {check.exit_code})" if check.exit_code is not None else f"FAILED ({check.error})"


def _identity(result: RunResult) -> str:
    image = result.image
    out = ['<section id="identity">', "<h2>Image</h2>", '<table class="kv">',
           f'<tr><th>ref</th><td class="mono" id="image-ref">{e(image.ref or "-")}</td></tr>',
           f'<tr><th>image id</th><td class="mono" id="image-id">{e(image.id or "-")}</td></tr>',
           f'<tr><th>digest</th><td class="mono" id="image-digest">'
           f'{e(image.digest or "- (none: not pushed to a registry)")}</td></tr>',
           f'<tr><th>made of</th><td id="image-facts">{e(image_facts(image) or "-")}</td></tr>',
           f'<tr><th>repo digests</th><td class="mono" id="image-repo-digests">'
           f'{"<br>".join(e(d) for d in image.repo_digests) or "-"}</td></tr>',
           f'<tr><th>layers</th><td class="mono" id="image-layers">'
           f'{"<br>".join(e(layer) for layer in image.layers) or "-"}</td></tr>',
           *(f'<tr class="verify verify-{"passed" if c.passed else "failed"}"><th>verify {e(c.name)}</th>'
             f'<td class="mono">{e(_verify_outcome(c))}: {e(c.command)}'
             f'{f"<pre>{e(c.output)}</pre>" if c.output else ""}</td></tr>' for c in image.verify),
           "</table>",
           "<h2>Environments</h2>",
           '<table id="environments"><thead><tr><th>environment</th><th>status</th><th>engine</th><th>endpoint</th>'
           "<th>image id</th><th>ship</th><th>tests</th><th>time</th></tr></thead><tbody>"]
    for env in result.environments.values():
        engine = engine_facts(env.engine)
        mismatch = bool(env.image_id and image.id and env.image_id != image.id)
        image_cell = e(env.image_id or "-")
        if mismatch:
            image_cell += ' <span class="mismatch">(differs from the image)</span>'
        elif env.image_id and env.image_id == image.id:
            image_cell += ' <span class="match">(the image)</span>'
        ship = ship_text(env.ship)
        status = env.status if env.status == "ok" else f"error ({env.phase or '?'})"
        out.append(f'<tr data-env="{e(env.name)}"><th>{e(env.name)}</th>'
                   f'<td class="status-{e(env.status)}">{e(status)}</td><td>{e(engine)}'
                   + (f'<br><span class="toolbox">{e(toolbox_text(env))}</span>' if toolbox_text(env) else "")
                   + "</td>"
                   f'<td class="mono">{e(env.engine.get("endpoint") or "-")}</td>'
                   f'<td class="mono ids env-image-id">{image_cell}</td><td>{e(ship)}</td><td>{e(_counts(env))}</td>'
                   f"<td>{env.duration:.1f}s</td></tr>")
    out += ["</tbody></table>", "</section>"]
    return "\n".join(out)


def _errors(result: RunResult) -> str:
    errored = [env for env in result.environments.values() if env.status == "error" or env.notes]
    if not errored:
        return ""
    out = ['<section id="errors">']
    for env in errored:
        if env.status == "error":
            out.append(f'<div class="env-error" data-env="{e(env.name)}" data-phase="{e(env.phase or "")}">'
                       f"<strong>{e(env.name)}</strong>: error during {e(env.phase or '?')}"
                       f"<pre>{e(env.error or 'unknown error')}</pre>"
                       + (f'<div class="hint">hint: {e(env.hint)}</div>' if env.hint else "") + "</div>")
        out += [f'<p class="warning">{e(env.name)}: note: {e(note)}</p>' for note in env.notes]
    out.append("</section>")
    return "\n".join(out)


def _grid(result: RunResult, ran: list[str]) -> str:
    if not result.tests:
        return '<section id="results"><h2>Tests</h2><p>No tests ran.</p></section>'
    records = {name: {r.id: r for r in result.environments[name].tests} for name in ran}
    divergent = len(result.divergent)
    out = ['<section id="results">',
           f"<h2>Tests x environments"
           f'<label class="toggle"><input type="checkbox" id="only-divergent"> only the {divergent} divergent</label>'
           "</h2>",
           '<p class="legend">≠ marks a test whose outcome differs between environments. Click a cell for its '
           "message.</p>"]
    not_run = [env for env in result.environments.values() if env.status == "error"]
    if not_run:
        out.append('<p class="legend">Not in the grid (no tests ran): '
                   + ", ".join(f"{e(env.name)} (error during {e(env.phase or '?')})" for env in not_run) + "</p>")
    out += ['<div class="split"><div class="grid-wrap">', '<table id="grid">', "<thead><tr><th></th><th>test</th>"]
    out += [f'<th class="env" data-env="{e(name)}">{e(name)}</th>' for name in ran]
    out.append("</tr></thead><tbody>")
    for row in result.tests:
        out.append(_grid_row(row, ran, records))
    out += ["</tbody></table></div>", _detail(), "</div>", "</section>"]
    return "\n".join(out)


def _grid_row(row: TestRow, ran: list[str], records: dict[str, dict[str, TestRecord]]) -> str:
    cls = "divergent" if not row.same else "same"
    cells = []
    for name in ran:
        outcome = row.outcomes.get(name, "missing")
        record = records[name].get(row.id)
        message = row.messages.get(name) or (record.message if record else None) or ""
        if not message:
            message = f"not run in {name}" if outcome == "missing" else outcome
        detail = (record.detail if record else None) or ""
        duration = f"{row.durations[name]:.3f}s" if name in row.durations else ""
        first = message.strip().splitlines()[0] if message.strip() else outcome
        cells.append(f'<td class="cell outcome-{e(outcome)}" tabindex="0" data-test="{e(row.id)}" '
                     f'data-env="{e(name)}" data-outcome="{e(outcome)}" data-message="{e(message)}" '
                     f'data-detail="{e(detail)}" data-duration="{e(duration)}" title="{e(first[:300])}">'
                     f"{e(LABELS.get(outcome, outcome))}</td>")
    mark = "≠" if not row.same else ""
    return (f'<tr class="{cls}" data-test="{e(row.id)}" data-explanation="{e(chr(10).join(row.explanation))}">'
            f'<td class="mark">{mark}</td><th class="test mono" scope="row">{e(row.id)}</th>{"".join(cells)}</tr>')


def _detail() -> str:
    return "\n".join([
        '<aside id="detail" aria-live="polite">',
        '<p id="detail-empty">Click a cell to see its message.</p>',
        '<div id="detail-body" class="hidden">',
        '<h3><span id="detail-env"></span>: <span id="detail-outcome" class="badge"></span> '
        '<span id="detail-duration" class="meta"></span></h3>',
        '<div id="detail-test" class="test mono"></div>',
        '<pre id="detail-message"></pre>',
        '<div id="detail-why" class="hidden"><strong>Facts that may explain it</strong>'
        '<ul id="detail-explanation"></ul></div>',
        '<details id="detail-full" class="hidden"><summary>full report</summary><pre id="detail-full-text"></pre>'
        "</details>",
        "</div>",
        "</aside>",
    ])


def _facts(result: RunResult) -> str:
    envs = [env for env in result.environments.values() if env.facts]
    if not envs:
        return ""
    flat = {env.name: flatten(env.facts) for env in envs}
    keys: dict[str, None] = {}
    for facts in flat.values():
        for key in facts:
            keys.setdefault(key, None)
    rows = []
    differing = 0
    for key in keys:
        values = [fact_value(key, flat[name].get(key)) if key in flat[name] else "-" for name in flat]
        differs = len(envs) > 1 and len(set(values)) > 1
        differing += differs
        classes = ["differs" if differs else "same"] + (["explanatory"] if key in EXPLANATORY else [])
        rows.append(f'<tr class="{" ".join(classes)}" data-fact="{e(key)}"><th class="mono">{e(key)}</th>'
                    + "".join(f'<td data-env="{e(name)}">{e(v)}</td>' for name, v in zip(flat, values, strict=True))
                    + "</tr>")
    out = ['<section id="facts-section">',
           f"<h2>Facts, side by side"
           f'<label class="toggle"><input type="checkbox" id="only-differs" checked> only the {differing} that '
           "differ</label></h2>",
           '<p class="legend">What each container saw from inside (the probe). Highlighted rows differ between '
           "environments; bold ones can explain a behaviour difference.</p>",
           '<table id="facts" class="only-differs"><thead><tr><th>fact</th>'
           + "".join(f'<th data-env="{e(name)}">{e(name)}</th>' for name in flat) + "</tr></thead><tbody>",
           *rows, "</tbody></table>", "</section>"]
    return "\n".join(out)


def _run_options(result: RunResult) -> str:
    """Each environment's effective run options (after extends and translation), the ones that differ first."""
    names, rows = run_option_rows(result)
    if not rows:
        return ""
    differing = sum(row.differs for row in rows)
    body = [f'<tr class="{"differs" if row.differs else "same"}" data-setting="{e(row.key)}">'
            f'<th class="mono">{"!= " if row.differs else ""}{e(row.key)}</th>'
            + "".join(f'<td data-env="{e(name)}">{e(render_value(v))}</td>'
                      for name, v in zip(names, row.values, strict=True)) + "</tr>" for row in rows]
    out = ['<section id="run-options-section">',
           f"<h2>Effective run options ({differing} differ)</h2>",
           '<p class="legend">The run options each environment ran with, after extends and translation. '
           "Highlighted rows (!=) differ between environments; - means not set.</p>",
           '<table id="run-options"><thead><tr><th>setting</th>'
           + "".join(f'<th data-env="{e(name)}">{e(name)}</th>' for name in names) + "</tr></thead><tbody>",
           *body, "</tbody></table>", "</section>"]
    return "\n".join(out)
