"""JUnit XML: one <testsuite> per environment, so CI test viewers show each environment side by side.

Decisions (documented here because JUnit has no standard for them):

* Every environment's suite lists every test of the run, in the run's order. A test that ran elsewhere but not in
  this environment (outcome ``missing``) is a ``<skipped type="missing">``, so suites line up and nothing vanishes.
* ``xfailed`` is ``<skipped type="xfail">`` and ``xpassed`` a plain pass, as pytest's own junitxml does for
  non-strict xfail (a strict xpass reaches us as ``failed``).
* A test whose outcome differs between environments carries ``<system-out>`` naming every environment's outcome and
  the facts that explain the difference, in each environment's suite.
* An environment in error has a single ``<testcase>`` named after the phase that failed, holding ``<error>`` with the
  error and the hint.
* Classname and name follow pytest's junitxml: ``suites/baseline/test_os.py::TestUsers::test_uid[x]`` becomes
  classname ``suites.baseline.test_os.TestUsers`` and name ``test_uid[x]``; ``file`` keeps the path.
* Characters XML 1.0 cannot carry (ANSI escapes, NUL...) are written as ``\\xNN`` so the file always parses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from porttest.results.model import EnvironmentResult, RunResult, TestRecord, TestRow

# Anything outside XML 1.0's Char production.
_ILLEGAL_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_FAILURE_OUTCOMES = {"failed": "failure", "error": "error"}


def _clean(text: str | None) -> str:
    """Text XML 1.0 can carry: illegal characters become a visible \\xNN (ElementTree escapes the rest)."""
    if not text:
        return ""
    return _ILLEGAL_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def split_node_id(node_id: str) -> tuple[str, str, str]:
    """(classname, name, file) for a pytest node id, the way pytest's junitxml names test cases."""
    path, sep, rest = node_id.partition("::")
    if not sep:
        return "", node_id, ""
    bracket = rest.find("[")
    head, params = (rest, "") if bracket < 0 else (rest[:bracket], rest[bracket:])
    parts = head.split("::")
    module = path[:-3] if path.endswith(".py") else path
    module = module.replace("\\", "/").strip("/").replace("/", ".")
    classname = ".".join(p for p in (module, *parts[:-1]) if p)
    return classname, parts[-1] + params, path


def render(result: RunResult) -> str:
    """The whole run as a JUnit XML document (a string, with an XML declaration)."""
    root = ET.Element("testsuites", {"name": "porttest"})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for env in result.environments.values():
        suite = _suite(result, env)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        total_time += float(suite.get("time", "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(result: RunResult, env: EnvironmentResult) -> ET.Element:
    suite = ET.Element("testsuite", {"name": _clean(env.name)})
    if result.started_at:
        suite.set("timestamp", _clean(result.started_at))
    properties = ET.SubElement(suite, "properties")
    for name, value in _properties(result, env):
        ET.SubElement(properties, "property", {"name": name, "value": _clean(value)})
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    time = 0.0
    if env.status == "error":
        suite.append(_error_case(env))
        counts["tests"] = counts["errors"] = 1
        time = env.duration
    else:
        records = {record.id: record for record in env.tests}
        for row in result.tests:
            case, kind = _case(row, env.name, records.get(row.id), result)
            suite.append(case)
            counts["tests"] += 1
            if kind:
                counts[kind] += 1
            time += row.durations.get(env.name, 0.0)
    for key, count in counts.items():
        suite.set(key, str(count))
    suite.set("time", f"{time:.3f}")
    return suite


def _properties(result: RunResult, env: EnvironmentResult) -> Iterator[tuple[str, str]]:
    """The same property names in every suite; an unknown value is an empty string."""
    image = result.image
    engine = env.engine
    yield "porttest.verdict", result.verdict
    yield "porttest.run_id", result.run_id or ""
    yield "porttest.version", result.porttest_version or ""
    yield "image.ref", image.ref or ""
    yield "image.id", image.id or ""
    yield "image.digest", image.digest or ""
    yield "environment.image_id", env.image_id or ""
    same = "" if not (env.image_id and image.id) else str(env.image_id == image.id).lower()
    yield "environment.image_matches", same
    yield "environment.status", env.status
    yield "environment.phase", env.phase or ""
    yield "engine.kind", str(engine.get("kind") or "")
    yield "engine.version", str(engine.get("version") or "")
    yield "engine.endpoint", str(engine.get("endpoint") or "")
    yield "ship.mode", env.ship.mode if env.ship else ""


def _error_case(env: EnvironmentResult) -> ET.Element:
    phase = env.phase or "setup"
    case = ET.Element("testcase", {"classname": f"porttest.{_clean(env.name)}", "name": _clean(phase),
                                   "time": f"{env.duration:.3f}"})
    message = env.error or f"environment {env.name} failed during {phase}"
    text = message + (f"\nhint: {env.hint}" if env.hint else "")
    error = ET.SubElement(case, "error", {"type": _clean(phase), "message": _clean(message)})
    error.text = _clean(text)
    return case


def _case(row: TestRow, env_name: str, record: TestRecord | None,
          result: RunResult) -> tuple[ET.Element, str | None]:
    classname, name, path = split_node_id(row.id)
    case = ET.Element("testcase", {"classname": _clean(classname), "name": _clean(name),
                                   "time": f"{row.durations.get(env_name, 0.0):.3f}"})
    if path:
        case.set("file", _clean(path))
    outcome = row.outcomes.get(env_name, "missing")
    message = (record.message if record else None) or row.messages.get(env_name) or ""
    detail = record.detail if record else None
    kind: str | None = None
    if outcome in _FAILURE_OUTCOMES:
        kind = "failures" if outcome == "failed" else "errors"
        element = ET.SubElement(case, _FAILURE_OUTCOMES[outcome], {"message": _clean(message or outcome),
                                                                   "type": outcome})
        element.text = _clean(detail or message or outcome)
    elif outcome in ("skipped", "xfailed", "missing"):
        kind = "skipped"
        if outcome == "missing":
            ran = [name for name, o in row.outcomes.items() if o != "missing"]
            message = f"not run in {env_name} (ran in {', '.join(ran) or 'no environment'})"
        attrs = {"message": _clean(message or outcome), "type": "xfail" if outcome == "xfailed" else outcome}
        skipped = ET.SubElement(case, "skipped", attrs)
        if detail:
            skipped.text = _clean(detail)
    if not row.same:
        lines = ["porttest: this test behaves differently between environments"]
        lines += [f"  {name}: {o}" for name, o in row.outcomes.items()]
        errored = [name for name, env in result.environments.items() if env.status == "error"]
        if errored:
            lines.append(f"  (not run: {', '.join(errored)})")
        if row.explanation:
            lines.append("facts that differ:")
            lines += [f"  {line}" for line in row.explanation]
        ET.SubElement(case, "system-out").text = _clean("\n".join(lines))
    return case, kind
