"""porttest's command line: parse argv, call the api, print, and exit with the documented code."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from harness import __version__
from harness.errors import EXIT_USAGE, Interrupted, PorttestError

EXIT_CODES_HELP = """exit codes:
  0  parity: every test passed in every environment
  1  failed: the suites failed, the same way everywhere
  2  usage or configuration error (nothing ran)
  3  diverged: some test's outcome differs between environments
  4  an environment could not be set up or was lost (engine, image, container)
  130/143  interrupted by SIGINT/SIGTERM (containers are removed first)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="porttest", description="Run one container image in several environments with the same testinfra "
        "suites, and show where its behaviour differs.", epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"porttest {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the matrix and print the verdict", epilog=EXIT_CODES_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("matrix", type=Path)
    run.add_argument("-e", "--env", action="append", default=[], metavar="ENV",
                     help="run only this environment (repeatable)")
    run.add_argument("--json", type=Path, metavar="FILE", help="write results JSON (schema porttest.results/1)")
    run.add_argument("--no-color", action="store_true", help="plain text output (also: NO_COLOR=1)")
    run.add_argument("--keep-workdir", action="store_true", help="keep the pytest logs of each environment")

    validate = sub.add_parser("validate", help="check a matrix file without running anything")
    validate.add_argument("matrix", type=Path)

    plan = sub.add_parser("plan", help="print the cells a run would execute")
    plan.add_argument("matrix", type=Path)
    plan.add_argument("-e", "--env", action="append", default=[], metavar="ENV")
    plan.add_argument("--format", choices=("text", "json", "github"), default="text")

    clean = sub.add_parser("clean", help="remove porttest-labelled containers from the matrix's engines")
    clean.add_argument("matrix", type=Path)
    clean.add_argument("--dry-run", action="store_true", help="list what would be removed")

    sub.add_parser("schema", help="print the JSON schema of matrix.yaml (for editors)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(_COMMANDS[args.command](args))
    except PorttestError as exc:
        print(f"porttest: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except Interrupted as exc:
        print(f"porttest: interrupted by {exc.signal_name}", file=sys.stderr)
        return exc.exit_code


def _color(args: argparse.Namespace) -> bool:
    return sys.stdout.isatty() and not getattr(args, "no_color", False) and not os.environ.get("NO_COLOR")


def _cmd_validate(args: argparse.Namespace) -> int:
    from harness import api

    matrix = api.validate(args.matrix)
    for warning in matrix.warnings():
        print(f"porttest: warning: {warning}", file=sys.stderr)
    print(f"{args.matrix}: ok ({len(matrix.environments)} environments: {', '.join(matrix.environments)}; "
          f"{len(matrix.suites)} suite paths)")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from harness import api

    plan = api.plan(api.validate(args.matrix), args.env)
    cells = [{"environment": c.id, "ship": c.environment.ship, "engine": c.environment.engine.host or "local"}
             for c in plan.cells]
    if args.format == "github":
        print(json.dumps({"include": cells}))
    elif args.format == "json":
        print(json.dumps(cells, indent=2))
    else:
        for cell in cells:
            print(f"{cell['environment']}: engine {cell['engine']}, ship {cell['ship']}")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from harness.config.schema import matrix_schema

    print(json.dumps(matrix_schema(), indent=2))
    return 0


def _cmd_clean(args: argparse.Namespace) -> int:
    from harness import api

    matrix = api.validate(args.matrix)
    def warn(message: str) -> None:
        print(f"porttest: warning: {message}", file=sys.stderr)

    found = api.clean(matrix, dry_run=args.dry_run, on_error=warn)
    verb = "would remove" if args.dry_run else "removed"
    for item in found:
        print(f"{verb} {item.name} ({item.id}) on {item.environment} [{item.engine}], run {item.run_id}")
    print(f"{len(found)} container(s) {verb}")
    return 0


class _Signals:
    """First SIGINT/SIGTERM raises Interrupted in the main thread (teardown runs); a second one forces exit."""

    def __init__(self) -> None:
        self.count = 0
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        raise Interrupted(signal.Signals(signum).name)


def _cmd_run(args: argparse.Namespace) -> int:
    from harness import api
    from harness.live import LiveStatus
    from harness.reporters import console

    matrix = api.validate(args.matrix)
    names = api.plan(matrix, args.env).names
    for warning in matrix.warnings():
        print(f"porttest: warning: {warning}", file=sys.stderr)
    color = _color(args)
    with _Signals() as signals, LiveStatus(names) as live:
        try:
            outcome = api.run(matrix, args.env, on_progress=live, keep_workdir=args.keep_workdir)
        except Interrupted as exc:
            # A second signal while the first was being handled: containers were already removed; leave now.
            print(f"porttest: interrupted again by {exc.signal_name}; exiting", file=sys.stderr)
            sys.stderr.flush()
            os._exit(exc.exit_code)
        del signals
    result = outcome.result
    if args.json:
        from harness.reporters import json_report

        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json_report.render(result), encoding="utf-8")
    print(console.render(result, color=color, width=_width()), end="")
    return outcome.exit_code


def _width() -> int:
    import shutil

    return max(100, shutil.get_terminal_size((140, 40)).columns)


_COMMANDS = {"run": _cmd_run, "validate": _cmd_validate, "plan": _cmd_plan, "schema": _cmd_schema,
             "clean": _cmd_clean}
