"""`porttest profile import`: print the porttest profile that a Kubernetes workload or a Compose service describes;
`porttest profile diff A B`: two environments' effective settings side by side, differences first."""

from __future__ import annotations

import argparse
import re
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from porttest.cli.output import hide
from porttest.cli.output import say as _print
from porttest.errors import ConfigError, UsageError


def add_parser(sub: Any) -> None:
    profile = sub.add_parser("profile", help="profiles from descriptors teams already have")
    verbs = profile.add_subparsers(dest="profile_command", metavar="VERB", required=True)
    imported = verbs.add_parser(
        "import", help="print the profile a Kubernetes workload or a Compose service describes, to read and commit",
        description="Translate a descriptor into porttest's environment keys (run:, wait_for:, ...). Fields that are "
                    "not translated are listed as comments. The same translation runs for `extends: {kubernetes: "
                    "...}` and `extends: {compose: ...}` in a matrix.")
    kinds = imported.add_subparsers(dest="kind", metavar="KIND", required=True)
    kube = kinds.add_parser("kubernetes", help="a workload of a Kubernetes manifest (multi-document as helm prints)")
    kube.add_argument("file", type=Path)
    kube.add_argument("--workload", metavar="KIND/NAME", help="e.g. deployment/api (when the file has several)")
    kube.add_argument("--container", metavar="NAME", help="the container (when the pod has several)")
    _kubernetes_flags(kube)
    kube.add_argument("--allow-privileged", action="store_true")
    compose = kinds.add_parser("compose", help="a service of a Compose file")
    compose.add_argument("file", type=Path)
    compose.add_argument("--service", required=True)
    compose.add_argument("--allow-privileged", action="store_true")
    diff = verbs.add_parser(
        "diff", help="two environments' effective settings side by side, differences first",
        description="Compare the effective settings (after extends and translation: run options, wait_for, "
                    "run_as_non_root, ship, timeouts, engine host) of two environments. A and B are environments of "
                    "the matrix, kubernetes:FILE[#KIND/NAME[/CONTAINER]], compose:FILE#SERVICE or a profile file, "
                    "in any mix. Rows that differ come first, marked '!='; '-' means not set. "
                    "Exit code: 0 when the settings are the same, 1 when they differ, 2 on an error.",
        epilog="e.g. porttest profile diff staging kubernetes:deploy/prod.yaml#deployment/api/api")
    diff.add_argument("a", metavar="A")
    diff.add_argument("b", metavar="B")
    diff.add_argument("--matrix", type=Path, default=Path("matrix.yaml"),
                      help="the matrix whose environments A and B may name (default ./matrix.yaml)")
    diff.add_argument("--json", action="store_true", help='print {"a", "b", "differences", "same", "warnings"}')
    diff.add_argument("--allow-privileged", action="store_true")
    _kubernetes_flags(diff.add_argument_group("for kubernetes: sides"))


def _kubernetes_flags(parser: Any) -> None:
    """What a kubernetes extends entry gives beside the file, as flags."""
    parser.add_argument("--namespace", default="default")
    for flag, dest, what in (("--runtime-class", "runtime_classes", "runtimeClassName=RUNTIME, e.g. gvisor=runsc"),
                             ("--secret", "secrets", "SECRET/KEY=VALUE (masked in the output)"),
                             ("--config-map", "config_maps", "CONFIGMAP/KEY=VALUE"),
                             ("--files", "files", "configmap/NAME=FOLDER or secret/NAME=FOLDER")):
        parser.add_argument(flag, dest=dest, action="append", default=[], metavar="K=V", help=what)


def _kubernetes_entry(args: argparse.Namespace) -> dict[str, Any]:
    """The flags of _kubernetes_flags as the keys of a kubernetes extends entry; secret values hidden from output."""
    secrets = _pairs(args.secrets, "--secret")
    hide(frozenset(v for v in secrets.values() if v))
    return {"namespace": args.namespace, "runtime_classes": _pairs(args.runtime_classes, "--runtime-class"),
            "secrets": secrets, "config_maps": _pairs(args.config_maps, "--config-map"),
            "files": {k: Path(v).absolute() for k, v in _pairs(args.files, "--files").items()}}


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} takes KEY=VALUE, not {item!r}")
        out[key] = value
    return out


# The translators' hints name the matrix's keys; on this command the same things are given as flags.
_FLAG_HINTS = (
    (re.compile(r"runtime_classes: \{(?P<k>[^:{}]+): (?P<v>[^{}]+)\}"), "--runtime-class {k}={v}"),
    (re.compile(r"in the kubernetes extends entry: secrets: \{(?P<k>[^{}]+?): \.\.\.\}"), "with --secret {k}=VALUE"),
    (re.compile(r"in the kubernetes extends entry: config_maps: \{(?P<k>[^{}]+?): \.\.\.\}"),
     "with --config-map {k}=VALUE"),
    (re.compile(r"in the kubernetes extends entry: files: \{(?P<k>[^:{}]+): (?P<v>[^{}]+)\}"), "with --files {k}={v}"),
    (re.compile(r"^set allow_privileged: true in the matrix$"), "add --allow-privileged"),
    (re.compile(r"unless the matrix says `allow_privileged: true` at the top level"),
     "unless told: add --allow-privileged"),
)


def as_flags(hint: str | None) -> str | None:
    """A translator's hint as this command's flags: `runtime_classes: {gvisor: runsc}` -> `--runtime-class
    gvisor=runsc`, `allow_privileged: true` -> `--allow-privileged`."""
    if hint is None:
        return None
    for pattern, flags in _FLAG_HINTS:
        hint = pattern.sub(partial(_fill, flags), hint)
    return hint


def _fill(flags: str, match: re.Match[str]) -> str:
    return flags.format(**match.groupdict())


def cmd_profile(args: argparse.Namespace) -> int:
    if args.profile_command == "diff":
        return _cmd_diff(args)
    from porttest import api
    from porttest.config.descriptors.printed import profile_document
    from porttest.config.models import ComposeSource, KubernetesSource

    source: KubernetesSource | ComposeSource
    if args.kind == "kubernetes":
        source = KubernetesSource(kubernetes=args.file.absolute(), workload=args.workload, container=args.container,
                                  **_kubernetes_entry(args))
    else:
        source = ComposeSource(compose=args.file.absolute(), service=args.service)
    try:
        translation = api.import_profile(source, allow_privileged=args.allow_privileged)
    except ConfigError as exc:
        raise ConfigError([replace(i, hint=as_flags(i.hint)) for i in exc.issues], subject="descriptor") from None
    hide(translation.secret_values)
    extra = source.secrets.values() if isinstance(source, KubernetesSource) else ()
    _print(profile_document(translation, source.describe(), extra).rstrip())
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    import json
    import sys

    from porttest import api

    kubernetes = _kubernetes_entry(args)
    try:
        result = api.profile_diff(args.a, args.b, matrix=args.matrix, allow_privileged=args.allow_privileged,
                                  kubernetes={k: {n: str(v) for n, v in value.items()} if isinstance(value, dict)
                                              else value for k, value in kubernetes.items() if value})
    except ConfigError as exc:
        raise ConfigError([replace(i, hint=as_flags(i.hint)) for i in exc.issues]) from None
    hide(result.secret_values)
    if args.json:
        _print(json.dumps(result.to_json(), indent=2))
    else:
        for warning in result.warnings:
            _print(f"warning: {warning}", file=sys.stderr)
        _print(result.to_text())
    return result.exit_code
