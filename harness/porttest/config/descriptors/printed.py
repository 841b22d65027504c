"""PURE: a translation as a profile file a team can read, commit and load back with `extends:` unchanged."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from porttest.config.descriptors import Translation


def profile_document(translation: Translation, title: str, secrets: Iterable[str] = ()) -> str:
    """YAML of the profile, warnings as comments. Secret values never appear: an environment variable holding
    one becomes `${ITS_NAME}`, any other place `${PORTTEST_SECRET_N}`, to be set when the profile is used. Port
    bindings are written in Compose's strings ("127.0.0.1:9090:9090/udp"), which YAML keeps whole."""
    hidden = sorted({s for s in (*translation.secret_values, *secrets) if s}, key=len, reverse=True)
    placeholders: list[str] = []
    profile = _hide(_printable(translation.profile), hidden, placeholders, None)
    lines = [f"# porttest profile from {title}", "# use it with `extends: PATH` in an environment of matrix.yaml"]
    if placeholders:
        lines.append(f"# secrets are not written: export {', '.join(placeholders)} before using it")
    if translation.warnings:
        lines.append("# not translated (or only in part):")
        lines += [f"#   {warning}" for warning in translation.warnings]
    body = yaml.dump(profile, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)
    return "\n".join(lines) + "\n" + body


class _Dumper(yaml.SafeDumper):
    """Multi-line text (a certificate in `files:`) as a literal block, as a person would write it."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _text)


def _printable(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile as a person writes it: ports as Compose strings, a service's image as its ref when that is all
    it has, and paths (a service's build context) as text. (Translated services publish no ports.)"""
    out = _ports_as_strings(profile)
    services = out.get("services")
    if isinstance(services, dict):
        written = {}
        for name, service in services.items():
            image = service.get("image") if isinstance(service, dict) else None
            if isinstance(image, dict) and set(image) == {"ref"}:
                service = {**service, "image": image["ref"]}
            elif isinstance(image, dict) and isinstance(image.get("build"), dict):
                build = image["build"]
                service = {**service, "image": {**image, "build": {**build, "context": str(build.get("context"))}}}
            written[name] = service
        out = {**out, "services": written}
    return out


def _ports_as_strings(profile: dict[str, Any]) -> dict[str, Any]:
    run = profile.get("run")
    if not isinstance(run, dict) or not isinstance(run.get("ports"), dict):
        return profile
    written: list[str] = []
    for container_port, host in run["ports"].items():
        for one in host if isinstance(host, list) else [host]:
            if one is None:
                written.append(str(container_port))
            elif isinstance(one, tuple | list):
                written.append(":".join(str(part) for part in one) + f":{container_port}")
            else:
                written.append(f"{one}:{container_port}")
    return {**profile, "run": {**run, "ports": written}}


def _hide(value: Any, hidden: list[str], placeholders: list[str], name: str | None, parent: str = "") -> Any:
    if isinstance(value, dict):
        # A variable of run.environment that holds a secret is written as a reference to itself.
        return {k: _hide(v, hidden, placeholders, str(k) if parent == "environment" else None, str(k))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_hide(v, hidden, placeholders, None) for v in value]
    if isinstance(value, str) and any(secret in value for secret in hidden):
        numbered = sum(1 for p in placeholders if p.startswith("PORTTEST_SECRET_"))
        variable = name if name and name.isidentifier() else f"PORTTEST_SECRET_{numbered + 1}"
        if variable not in placeholders:
            placeholders.append(variable)
        return "${" + variable + "}"
    return value
