"""porttest's command line: parse argv, call the api, print, and exit with the documented code."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from porttest import __version__
from porttest.cli import profile
from porttest.cli.output import flush_quietly, hide
from porttest.cli.output import say as _print
from porttest.errors import EXIT_INTERNAL, EXIT_USAGE, Interrupted, PorttestError

EXIT_CODES_HELP = """exit codes:
  0  parity: every test passed in every environment
  1  failed: the suites failed, the same way everywhere
  2  usage or configuration error (nothing ran), or a report file could not be written
  3  diverged: some test's outcome differs between environments
  4  an environment could not be set up or was lost (engine, image, container)
  5  rejected: an image.verify hook failed (nothing ran)
  70  internal error: a porttest bug (the traceback is printed)
  129/130/143  interrupted by SIGHUP/SIGINT/SIGTERM (containers are removed first)
"""


DEFAULT_JOBS = 16  # each running environment holds a container and a pytest child (about 60 MB) at once


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return value


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 30m, 2h or 1d")
    return int(text[:-1]) * units[text[-1]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="porttest", description="Run one container image in several environments with the same testinfra "
        "suites, and show where its behaviour differs.", epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"porttest {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the matrix and print the verdict", epilog=EXIT_CODES_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _matrix_arg(run)
    run.add_argument("-e", "--env", action="append", default=[], metavar="ENV",
                     help="run only this environment (repeatable)")
    _report_flags(run)
    run.add_argument("--no-build", action="store_true",
                     help="use the image already on the local engine under image.ref instead of building it "
                          "(CI fan-out: build once, load the same image in every job)")
    run.add_argument("--keep-workdir", action="store_true", help="keep the pytest logs of each environment")
    run.add_argument("-j", "--jobs", type=_positive_int, default=None, metavar="N",
                     help=f"run at most N environments at once (default {DEFAULT_JOBS}); the others wait their turn")

    validate = sub.add_parser("validate", help="check a matrix file without running anything (also that the "
                              "engines' certificate and key files are there)")
    _matrix_arg(validate)

    plan = sub.add_parser("plan", help="print the cells a run would execute")
    _matrix_arg(plan)
    plan.add_argument("-e", "--env", action="append", default=[], metavar="ENV")
    plan.add_argument("--format", choices=("text", "json", "github"), default="text")

    clean = sub.add_parser("clean", help="remove porttest-labelled containers from the matrix's engines")
    _matrix_arg(clean)
    clean.add_argument("--dry-run", action="store_true", help="list what would be removed")
    clean.add_argument("--older-than", type=_duration, metavar="AGE",
                       help="only containers created longer ago than AGE (e.g. 30m, 2h, 1d)")

    schema = sub.add_parser("schema", help="print the JSON schema of matrix.yaml (for editors), of profiles, or of "
                                           "results")
    which = schema.add_mutually_exclusive_group()
    which.add_argument("--results", action="store_true", help="the schema of results JSON (porttest.results/1)")
    which.add_argument("--profile", action="store_true", help="the schema of a profile file (for `extends:`)")
    which.add_argument("--write", type=Path, metavar="DIR",
                       help="write matrix.schema.json and profile.schema.json into DIR (the repository's: docs/schema)")

    merge = sub.add_parser("merge", help="join results of one run split by environment (e.g. CI fan-out jobs)",
                           epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    merge.add_argument("results", type=Path, nargs="+", metavar="RESULTS.json")
    _report_flags(merge)

    compare = sub.add_parser("compare", help="parity verdict across results recorded apart (e.g. CI vs staging)",
                             epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    compare.add_argument("results", type=Path, nargs="+", metavar="RESULTS.json")
    compare.add_argument("--allow-different-image", action="store_true",
                         help="compare even when the results ran different image IDs (with a warning)")
    _report_flags(compare)

    report = sub.add_parser("report", help="render a saved results file (console, --html, --markdown, --junit)")
    report.add_argument("results", type=Path, metavar="RESULTS.json")
    _report_flags(report, with_json=False)
    profile.add_parser(sub)
    return parser


def _matrix_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("matrix", type=Path, nargs="?", default=None,
                        help="the matrix file (default: ./matrix.yaml)")


def _report_flags(parser: argparse.ArgumentParser, with_json: bool = True) -> None:
    if with_json:
        parser.add_argument("--json", type=Path, metavar="FILE", help="write results JSON (porttest.results/1)")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML (one testsuite per environment)")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write Markdown (fit for GITHUB_STEP_SUMMARY)")
    parser.add_argument("--html", type=Path, metavar="FILE", help="write one self-contained HTML report")
    parser.add_argument("--no-color", action="store_true", help="plain text output (also: NO_COLOR=1)")


def _load(args: argparse.Namespace, check_files: bool | Sequence[str] = False) -> Any:
    """Read the matrix (api.validate; ./matrix.yaml when no path was given) and mask its secrets in all output from
    here on. `check_files`: whose engine files to check (see api.validate)."""
    from porttest import api

    if args.matrix is None:
        args.matrix = Path("matrix.yaml")
        if not args.matrix.is_file():
            from porttest.errors import UsageError

            raise UsageError("no matrix file given, and there is no matrix.yaml in this folder",
                             hint="give the matrix's path, or write a matrix.yaml here: see the README's quick start")
    matrix = api.validate(args.matrix, check_files=check_files)
    hide(matrix.secret_values)
    return matrix


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    finally:
        flush_quietly()


def entry() -> None:
    """The `porttest` command: main(), then exit at once. By then every container, child and server porttest started
    is gone and its output is flushed; Python's own teardown of the heap would add a quarter second to every run."""
    from porttest.engine import deferred_imports

    # Before any harness module imports the Docker SDK, which imports paramiko for ssh:// engines whether or not
    # an environment uses one; porttest.engine.ssh loads it when one does. This process runs no user code.
    deferred_imports.defer("paramiko")
    code = main()
    logging = sys.modules.get("logging")  # flush log handlers, if anything logged (--help never imports logging)
    if logging is not None:
        logging.shutdown()
    os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(_COMMANDS[args.command](args))
    except PorttestError as exc:
        _say_error(exc)
        return exc.exit_code
    except Interrupted as exc:
        _print(f"porttest: interrupted by {exc.signal_name}", file=sys.stderr)
        return exc.exit_code
    except Exception:  # noqa: BLE001 - a bug: keep the traceback, never pass for a verdict code
        import traceback

        _print(traceback.format_exc(), file=sys.stderr, end="")
        _print("porttest: internal error (a bug); please report it with the traceback above", file=sys.stderr)
        return EXIT_INTERNAL


def _say_error(exc: PorttestError) -> None:
    _print(f"porttest: error: {exc.message}", file=sys.stderr)
    if exc.hint:
        _print(f"  hint: {exc.hint}", file=sys.stderr)


def _color(args: argparse.Namespace) -> bool:
    tty = sys.stdout is not None and sys.stdout.isatty()
    return tty and not getattr(args, "no_color", False) and not os.environ.get("NO_COLOR")


def _cmd_validate(args: argparse.Namespace) -> int:

    matrix = _load(args, check_files=True)
    for warning in matrix.warnings():
        _print(f"porttest: warning: {warning}", file=sys.stderr)
    _print(f"{args.matrix}: ok ({len(matrix.environments)} environments: {', '.join(matrix.environments)}; "
          f"{len(matrix.suites)} suite paths)")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from porttest import api

    plan = api.plan(_load(args), args.env)
    cells = [c.describe() for c in plan.cells]
    if args.format == "github":
        _print(json.dumps({"include": cells}))
    elif args.format == "json":
        _print(json.dumps(cells, indent=2))
    else:
        for cell in cells:
            _print(f"{cell['environment']}: engine {cell['engine']}, ship {cell['ship']}, runs-on {cell['runs-on']}")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    if args.results:
        from porttest.results.model import results_schema

        _print(json.dumps(results_schema(), indent=2))
        return 0
    from porttest.config.schema import matrix_schema, profile_schema, render, write_schemas

    if args.write is not None:
        try:
            written = write_schemas(args.write)
        except OSError as exc:
            from porttest.errors import UsageError

            raise UsageError(f"cannot write the schemas into {args.write}: {exc.strerror or exc}",
                             hint="give a writable folder") from None
        for path in written:
            _print(f"wrote {path}")
        return 0
    _print(render(profile_schema() if args.profile else matrix_schema()), end="")
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from porttest import api

    result = api.merge(args.results)
    _emit(result, args)
    return result.exit_code


def _cmd_compare(args: argparse.Namespace) -> int:
    from porttest import api

    result = api.compare(args.results, allow_different_image=args.allow_different_image)
    for warning in result.warnings:
        _print(f"porttest: warning: {warning}", file=sys.stderr)
    _emit(result, args)
    return result.exit_code


def _cmd_report(args: argparse.Namespace) -> int:
    from porttest import api

    (item,) = api.load_results([args.results])
    _emit(item.result, args)
    return 0


def _emit(result: Any, args: argparse.Namespace) -> None:
    """Write every report the flags ask for, print the console report, and GitHub annotations in Actions."""
    from porttest.errors import UsageError
    from porttest.reporters import console

    renderers: dict[str, Any] = {}
    if getattr(args, "json", None):
        from porttest.reporters import json_report

        renderers["json"] = json_report.render
    if args.junit:
        from porttest.reporters import junit

        renderers["junit"] = junit.render
    if args.markdown:
        from porttest.reporters import markdown

        renderers["markdown"] = markdown.render
    if args.html:
        from porttest.reporters import html

        renderers["html"] = html.render
    failed: list[str] = []
    for flag, render in renderers.items():  # one report that cannot be written never costs the others
        target: Path = getattr(args, flag)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(render(result), encoding="utf-8")
        except OSError as exc:
            failed.append(f"--{flag} {target}: {exc.strerror or exc}")
    _print(console.render(result, color=_color(args), width=_width()), end="")
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from porttest.reporters import github

        for line in github.annotations(result):
            _print(line)
    if failed:
        raise UsageError(f"cannot write {'; '.join(failed)}",
                         hint="the verdict above stands, but a pipeline that reads these files must not go on: "
                              "check that the folder is writable and the disk not full")


def _check_reports(args: argparse.Namespace) -> None:
    """Before anything runs: every report path must be a writable file in a folder that exists or can be made."""
    from porttest.errors import UsageError

    for flag in ("json", "junit", "markdown", "html"):
        target: Path | None = getattr(args, flag, None)
        if target is None:
            continue
        folder = next((p for p in [target.parent, *target.parent.parents] if p.exists()), Path("."))
        if target.is_dir():
            why = "it is a folder"
        elif target.exists() and not os.access(target, os.W_OK):
            why = "the file is not writable"
        elif not target.exists() and not os.access(folder, os.W_OK | os.X_OK):
            why = f"{folder} is not writable"
        else:
            continue
        raise UsageError(f"cannot write --{flag} {target}: {why}", hint="give a file path in a writable folder")


def _cmd_clean(args: argparse.Namespace) -> int:
    from porttest import api

    matrix = _load(args)
    def warn(message: str) -> None:
        _print(f"porttest: warning: {message}", file=sys.stderr)

    found = api.clean(matrix, dry_run=args.dry_run, on_error=warn, older_than=args.older_than)
    verb = "would remove" if args.dry_run else "removed"
    for item in found:
        what = f"{item.name} ({item.id})" if item.kind == "container" else f"{item.kind} {item.name}"
        _print(f"{verb} {what} on {item.environment} [{item.engine}], run {item.run_id}")
    others = [f"{n} {kind}(s)" for kind in ("network", "volume") if (n := sum(i.kind == kind for i in found))]
    _print(f"{sum(i.kind == 'container' for i in found)} container(s) {verb}"
           + (f", and {' and '.join(others)}" if others else ""))
    return 0


class _Signals:
    """First SIGINT/SIGTERM/SIGHUP raises Interrupted in the main thread (teardown runs); a second SIGINT/SIGTERM
    forces exit. SIGHUP is a closed terminal or a dropped ssh session: without a handler it would end porttest before
    its containers are removed; a hang-up often comes twice (the shell's, then the kernel's), so only the first
    counts. A signal the caller ignores (`nohup`, a background job's SIGINT) stays ignored."""

    def __init__(self) -> None:
        self.count = 0
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is not signal.SIG_IGN:
                self.saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.count and signum == signal.SIGHUP:
            return
        self.count += 1
        if self.count == 1:
            raise Interrupted(signal.Signals(signum).name)
        # Never raise again: the first signal's clean-up (removing containers) must not be cut short.
        from porttest.run.tracker import force_quit

        force_quit()
        with contextlib.suppress(OSError):  # stderr may be a closed pipe or a terminal that hung up
            os.write(2, b"porttest: second signal: removing containers and exiting without waiting\n")


def _cmd_run(args: argparse.Namespace) -> int:
    from porttest import api
    from porttest.cli.live import LiveStatus

    _check_reports(args)
    matrix = _load(args, check_files=args.env or True)  # the engine files of the environments this run runs
    names = api.plan(matrix, args.env).names
    for warning in matrix.warnings():
        _print(f"porttest: warning: {warning}", file=sys.stderr)
    with _Signals() as signals:
        try:
            with LiveStatus(names, secrets=matrix.secret_values) as live:
                outcome = api.run(matrix, args.env, on_progress=live, keep_workdir=args.keep_workdir,
                                  jobs=args.jobs or DEFAULT_JOBS,
                                  build=not args.no_build)
        except Interrupted as exc:
            # Only when the signal lands outside the environments' run (their clean-up had already finished).
            _print(f"porttest: interrupted by {exc.signal_name}", file=sys.stderr)
            return exc.exit_code
        # Reports are written with the handlers still in place: a late Ctrl-C must not cut the JSON short.
        signals.count = max(signals.count, 1)
        code = outcome.exit_code
        try:
            _emit(outcome.result, args)
        except PorttestError as exc:  # a report file that could not be written
            _say_error(exc)
            code = exc.exit_code
        if outcome.forced:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError):
                    stream.flush()
            os._exit(code)  # do not join environment threads still blocked in engine calls
    return code


def _width() -> int:
    import shutil

    return max(100, shutil.get_terminal_size((140, 40)).columns)


_COMMANDS = {"run": _cmd_run, "validate": _cmd_validate, "plan": _cmd_plan, "schema": _cmd_schema,
             "clean": _cmd_clean, "merge": _cmd_merge, "compare": _cmd_compare, "report": _cmd_report,
             "profile": profile.cmd_profile}
