"""Turn matrix.yaml text into a validated Matrix: extends, relative paths, and errors with YAML path and line."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from porttest.config import builtin, image_ref
from porttest.config.descriptors import Translation
from porttest.config.descriptors.compose_values import normalise_run
from porttest.config.descriptors.sources import translate_source
from porttest.config.merge import deep_merge as deep_merge  # re-exported by porttest.config
from porttest.config.merge import find_tags, merge_layer, plain, resolve_env_paths, resolve_path, resolve_services
from porttest.config.models import (
    ENV_NAME,
    CISpec,
    ComposeSource,
    EngineSpec,
    Environment,
    ImageSpec,
    KubernetesSource,
    Matrix,
    RegistryPush,
    ServiceSpec,
    ShipViaRegistry,
    SSHSpec,
    TLSSpec,
    VerifyHook,
    WaitFor,
    dangerous_options,
)
from porttest.config.run_options import KNOWN_RUN_NAMES, MANAGED_KWARGS, RunOptions
from porttest.config.yaml_source import Located, Path_, Tagged, dotted, load_yaml
from porttest.errors import ConfigError, ConfigIssue
from porttest.results.redact import redact_text

_ENV_KEYS = set(Environment.model_fields) - {"name", "origins"}
_TOP_KEYS = {"version", "image", "suites", "environments", "secrets", "allow_privileged", "services",
             "allow_different_services"}
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|KEY|CREDENTIAL|AUTH", re.IGNORECASE)
_SIZE_KEYS = ("mem_limit", "mem_reservation", "memswap_limit", "shm_size")
_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "engine": EngineSpec, "tls": TLSSpec, "ssh": SSHSpec, "wait_for": WaitFor, "image": ImageSpec, "ci": CISpec,
    "registry": RegistryPush, "verify": VerifyHook, "ship": ShipViaRegistry,
}

_HINTS = {
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "int_from_float": "write a whole number",
    "float_parsing": "write a number",
    "list_type": "write a YAML list, e.g. [A, B]",
    "dict_type": "write a mapping of key: value",
    "model_type": "write a mapping of key: value",
    "string_type": "write a string (quote it)",
    "greater_than": "the value is too small",
    "greater_than_equal": "the value is too small",
    "less_than_equal": "the value is too large",
}


def read_matrix(path: str | os.PathLike[str], env: Mapping[str, str] | None = None, *,
                check_files: bool | Collection[str] = False) -> Matrix:
    """Load and validate a matrix file; every problem is collected into one ConfigError.

    `check_files` also checks the engine files (TLS certificates and key, SSH known_hosts and identity) of every
    environment (True) or of the environments named: `validate` checks them all, `run` those it runs."""
    source = Path(path)
    env = os.environ if env is None else env
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(ConfigIssue("", f"matrix file not found: {source}", "check the path", str(source))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(ConfigIssue("", f"cannot read matrix file: {exc}", None, str(source))) from None
    return parse_matrix(text, source, env, check_files=check_files)


def parse_matrix(text: str, source: Path, env: Mapping[str, str], *,
                 check_files: bool | Collection[str] = False) -> Matrix:
    """Validate matrix text as if it were the file `source` (relative paths resolve against its folder)."""
    source = source.absolute()
    base = source.parent
    doc = load_yaml(text, str(source), env, merge_tags=True)
    issues: list[ConfigIssue] = list(doc.issues)
    if not isinstance(doc.data, dict):
        raise ConfigError(ConfigIssue("", "the matrix must be a YAML mapping", "start with `version: 1`", doc.file, 1))
    misplaced = [p for p in find_tags(doc.data) if len(p) < 3 or p[0] != "environments" or p[2] == "extends"]
    issues.extend(_tag_issue(doc, p) for p in misplaced)
    data: dict[str, Any] = plain(doc.data) if misplaced else dict(doc.data)
    nul = [_issue(doc, where, "contains a NUL character", "remove the \\0 from the value")
           for where in _nul_paths(data)]
    if nul:
        raise ConfigError(nul)
    _unknown_keys(data, _TOP_KEYS, (), doc, issues, "top-level key")

    image = data.get("image")
    if isinstance(image, str):
        data["image"] = {"ref": image}
    elif isinstance(image, dict) and isinstance(image.get("build"), dict):
        build = dict(image["build"])
        if isinstance(build.get("context"), str):
            build["context"] = resolve_path(build["context"], base)
        data["image"] = {**image, "build": build}

    suites = data.get("suites")
    if isinstance(suites, str):
        suites = data["suites"] = [suites]
    if isinstance(suites, list):
        resolved = []
        for i, suite in enumerate(suites):
            if not isinstance(suite, str):
                resolved.append(suite)
                continue
            if builtin.is_builtin(suite):
                shipped = builtin.suite(suite)
                if shipped is None:
                    issues.append(_issue(doc, ("suites", i), f"no built-in suite {suite}",
                                         builtin.names_hint("suite", suite)))
                resolved.append(shipped or suite)
                continue
            path = resolve_path(suite, base)
            if not path.exists():
                issues.append(_issue(doc, ("suites", i), f"suite path does not exist: {path}",
                                     "give a test file or a folder of tests, relative to the matrix file"))
            resolved.append(path)
        data["suites"] = resolved

    top_services = data.get("services")
    if top_services is not None:
        top_services = data["services"] = plain(resolve_services(top_services, base))
        issues.extend(_normalise_services(top_services, (), doc, []))
    profiles: dict[str, list[Located]] = {}
    descriptor_notes: list[str] = []
    descriptor_secrets: set[str] = set()
    envs = data.get("environments")
    if isinstance(envs, dict):
        merged_envs: dict[str, Any] = {}
        for name, body in envs.items():
            where: Path_ = ("environments", name)
            if not ENV_NAME.match(name):
                issues.append(_issue(doc, where, f"environment name {name!r} is not allowed",
                                     "use letters, digits, '-', '_' or '.', starting with a letter or digit"))
                continue
            if body is None:
                body = {}
            if not isinstance(body, dict):
                issues.append(_issue(doc, where, "an environment must be a mapping", "write `name: {}` for defaults"))
                continue
            body = resolve_env_paths(body, base)
            _unknown_keys(body, _ENV_KEYS, where, doc, issues, "environment key")  # profiles check their own
            layers: list[Located] = []
            found = _Translated(name, data.get("allow_privileged") is True, base)
            # The matrix's services are the weakest layer: profiles and the environment add, change or remove them.
            below = {"services": plain(top_services)} if isinstance(top_services, dict) else {}
            merged = _apply_extends(body, base, env, where, doc, layers, issues, (str(source),), found, below)
            # An environment that extends nothing still has its tags, to act on the matrix's services.
            merged = deep_merge({} if body.get("extends") else below, merged)
            if isinstance(merged.get("services"), dict):  # `NAME: null` removes a service
                merged["services"] = {k: v for k, v in merged["services"].items() if v is not None}
                issues.extend(_normalise_services(merged["services"], where, doc, layers))
            descriptor_notes.extend(found.notes)
            descriptor_secrets.update(found.secrets)
            profiles[name] = layers
            run = merged.get("run")
            if isinstance(run, dict):
                # Compose's value formats ("30s", "8080:80", {nofile: 20000}, "512Mi") as the SDK's.
                run, problems = normalise_run(run)
                merged["run"] = run
                for problem in problems:
                    issues.append(_issue(doc, (*where, "run", *problem.path), problem.message, problem.hint, layers))
                for key in run:
                    if key in MANAGED_KWARGS:
                        issues.append(_issue(doc, (*where, "run", key), f"`{key}` is managed by porttest",
                                             "remove it: porttest names, detaches and removes its containers itself",
                                             layers))
                    elif key not in KNOWN_RUN_NAMES:
                        issues.append(_issue(doc, (*where, "run", key), f"unknown run option `{key}`",
                                             _suggest(key, KNOWN_RUN_NAMES,
                                                      "keys under run: are Docker SDK containers.run() keyword names"),
                                             layers))
            # Unknown keys were reported where they were written; do not report them again from the merge.
            merged_envs[name] = {**{k: v for k, v in merged.items() if k in _ENV_KEYS}, "name": name,
                                 "origins": _origins(merged, doc, where, layers, base)}
        data["environments"] = merged_envs

    data["source"] = source
    data["base_dir"] = base
    data["descriptor_warnings"] = tuple(descriptor_notes)
    try:
        matrix = Matrix.model_validate(data)
    except ValidationError as exc:
        issues.extend(_from_pydantic(exc, data, doc, profiles))
        matrix = None
    issues.extend(_after_validation(data, matrix, doc, profiles, check_files))
    variables = dict(doc.variables)
    for layers in profiles.values():
        for layer in layers:
            variables.update(layer.variables)
    secret_values = _secret_values(variables, data.get("secrets"), env) | descriptor_secrets
    if secret_values:
        issues = [_redact_issue(issue, secret_values) for issue in issues]
    if any(i.path.startswith("environments.") for i in issues):
        issues = [i for i in issues if not (i.path == "environments" and "at least one" in i.message)]
    if issues:
        raise ConfigError(_dedupe(issues))
    assert matrix is not None
    return matrix.model_copy(update={"secret_values": frozenset(secret_values)})


def _secret_values(variables: Mapping[str, str], listed: object, env: Mapping[str, str]) -> set[str]:
    """Values to redact: variables named under `secrets:`, and interpolated ones whose names look secret
    (with the value actually used, a default included)."""
    names = {v for v in variables if SECRET_NAME.search(v)}
    if isinstance(listed, list):
        names |= {str(n) for n in listed}
    values = {variables.get(n) or env.get(n) or "" for n in names} | {env.get(n) or "" for n in names}
    # Very short values would redact ordinary words everywhere; they are not worth hiding either.
    return {v for v in values if len(v) >= 4}


def _redact_issue(issue: ConfigIssue, values: set[str]) -> ConfigIssue:
    hint = redact_text(issue.hint, values) if issue.hint else issue.hint
    return ConfigIssue(issue.path, redact_text(issue.message, values), hint, issue.file, issue.line)


def _after_validation(data: dict[str, Any], matrix: Matrix | None, doc: Located,
                      profiles: dict[str, list[Located]], check_files: bool | Collection[str]) -> list[ConfigIssue]:
    """Checks that need the merged environments, made even when another part of the matrix is invalid, so that
    one pass lists every problem: dangerous options need the matrix's consent, and the engine files of the
    environments in `check_files` must be readable.

    Engine files are checked only where asked: `run -e local` must not fail on the certificates of an environment it
    does not run, and `plan` reads none.
    """
    allow = matrix.allow_privileged if matrix is not None else _lax_bool(data.get("allow_privileged"))
    envs = data.get("environments")
    issues = []
    for name, body in envs.items() if isinstance(envs, dict) else ():
        layers = profiles.get(name, [])
        run = matrix.environments[name].run if matrix is not None else _valid_run(body.get("run"))
        if not allow and run is not None:
            for key, what in dangerous_options(run):
                issues.append(_issue(doc, ("environments", name, "run", key), f"refused: {what}",
                                     "porttest never weakens isolation unless the matrix says `allow_privileged: "
                                     "true` at the top level", layers))
        if check_files is True or (check_files is not False and name in check_files):
            issues.extend(_engine_file_issues(body.get("engine"), ("environments", name), doc, layers))
    return issues


def _lax_bool(value: Any) -> bool:
    try:
        return bool(TypeAdapter(bool).validate_python(value))
    except ValidationError:
        return False


def _valid_run(run: Any) -> RunOptions | None:
    """The run options that validate on their own, when the whole environment does not: an invalid value elsewhere
    must not hide a refusal (leaving out the keys that fail, as many times as it takes)."""
    if not isinstance(run, dict):
        return None
    given = {k: v for k, v in run.items() if k in KNOWN_RUN_NAMES}
    while True:
        try:
            return RunOptions.model_validate(given)
        except ValidationError as exc:
            bad = {e["loc"][0] for e in exc.errors() if e["loc"] and e["loc"][0] in given}
            if not bad:
                return None
            given = {k: v for k, v in given.items() if k not in bad}


_ENGINE_FILES = {"tls": ("ca_cert", "client_cert", "client_key"), "ssh": ("known_hosts", "identity")}


def _engine_file_issues(engine: Any, where: Path_, doc: Located, layers: list[Located]) -> list[ConfigIssue]:
    """A certificate, key or known_hosts file that is missing or unreadable, at the line that names it."""
    issues = []
    for section, keys in _ENGINE_FILES.items():
        files = engine.get(section) if isinstance(engine, dict) else None
        if not isinstance(files, dict):
            continue
        for key in keys:
            value = files.get(key)
            if not isinstance(value, str | Path) or not str(value):
                continue
            path = Path(value)
            if not path.exists():
                problem = "file not found"
            elif path.is_dir():
                problem = "a folder, not a file"
            elif not os.access(path, os.R_OK):
                problem = "cannot read the file (permission denied)"
            else:
                continue
            issues.append(_issue(doc, (*where, "engine", section, key), f"{problem}: {path}",
                                 "a relative path starts at the file that wrote it (for a built-in porttest:NAME "
                                 "profile: at the matrix's folder); `porttest run -e ENV` runs only the "
                                 "environments it names", layers))
    return issues


def _nul_paths(node: Any, where: Path_ = ()) -> list[Path_]:
    """Where a string holds a NUL character (no path, name or command can, and the OS refuses them)."""
    if isinstance(node, Tagged):
        return _nul_paths(node.value, where)
    if isinstance(node, str):
        return [where] if "\x00" in node else []
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _nul_paths(v, (*where, str(k)))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _nul_paths(v, (*where, i))]
    return []


def _tag_issue(doc: Located, path: Path_) -> ConfigIssue:
    return _issue(doc, path, "`!override`/`!reset` act on an environment's keys, merged over its profiles",
                  "remove the tag here; write it on a key inside an environment or a profile (not on `extends`)")


@dataclass(frozen=True)
class _Translated:
    """What an environment's descriptors gave beyond their profiles: warnings to show and values to mask."""

    environment: str
    allow_privileged: bool
    root: Path = Path()  # the matrix's folder: profile files are named relative to it
    notes: list[str] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)


def _normalise_services(services: Any, where: Path_, doc: Located, layers: list[Located]) -> list[ConfigIssue]:
    """Compose's value formats in each service's run: (in place), as for an environment's; the problems, located."""
    issues: list[ConfigIssue] = []
    for name, spec in (services.items() if isinstance(services, dict) else ()):
        if isinstance(spec, dict) and isinstance(spec.get("run"), dict):
            service_run, problems = normalise_run(spec["run"])
            services[name] = {**spec, "run": service_run}
            issues.extend(_issue(doc, (*where, "services", name, "run", *p.path), p.message, p.hint, layers)
                          for p in problems)
    return issues


def _apply_extends(body: dict[str, Any], base: Path, env: Mapping[str, str], where: Path_, doc: Located,
                   layers: list[Located], issues: list[ConfigIssue], seen: tuple[str, ...],
                   found: _Translated, below: dict[str, Any] | None = None) -> dict[str, Any]:
    extends = body.get("extends") or []
    if not isinstance(extends, list):
        issues.append(_issue(doc, (*where, "extends"), "`extends` must be a path or a list of paths"))
        return body
    merged: dict[str, Any] = dict(below or {})
    sources: list[Any] = []
    start = len(layers)  # layers[start:] are what this body extends
    for i, profile_path in enumerate(extends):
        if isinstance(profile_path, dict):
            translated = _translate(profile_path, (*where, "extends", i), doc, env, issues, found.allow_privileged)
            if translated is not None:
                source, translation = translated
                sources.append(source)
                if isinstance(source, KubernetesSource):  # every value the matrix maps in, used or not
                    found.secrets.update(value for value in source.secrets.values() if value)
                layer = translation.located()
                issues.extend(_unknown_keys_issues(translation.profile, layer))
                merged = merge_layer(merged, translation.profile, layer.file, layers[start:], found.environment,
                                     found.root, found.notes)
                layers.append(layer)
                found.notes.extend(f"{found.environment}: {source.describe()}: {w}" for w in translation.warnings)
                found.secrets.update(translation.secret_values)
            continue
        folder = None  # where the profile's relative paths start: its own folder, but see porttest.config.builtin
        if builtin.is_builtin(profile_path):
            shipped = builtin.profile(profile_path)
            if shipped is None:
                issues.append(_issue(doc, (*where, "extends", i), f"no built-in profile {profile_path}",
                                     builtin.names_hint("profile", profile_path)))
                continue
            profile_path, folder = shipped, base
        if not isinstance(profile_path, Path):
            issues.append(_issue(doc, (*where, "extends", i),
                                 "`extends` entries are profile paths, `porttest:NAME`, or "
                                 "{kubernetes: FILE, ...} / {compose: FILE, service: NAME}"))
            continue
        sources.append(profile_path)
        if str(profile_path) in seen:
            issues.append(_issue(doc, (*where, "extends", i), f"profile {profile_path} extends itself",
                                 "remove the cycle between profiles"))
            continue
        try:
            profile = load_yaml(profile_path.read_text(encoding="utf-8"), str(profile_path), env, merge_tags=True)
        except (OSError, UnicodeDecodeError) as exc:
            reason = "not found" if isinstance(exc, FileNotFoundError) else str(exc)
            issues.append(_issue(doc, (*where, "extends", i), f"cannot read profile {profile_path}: {reason}",
                                 "paths in extends are relative to the file that names them"))
            continue
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        if not isinstance(profile.data, dict):
            issues.append(ConfigIssue("", "a profile must be a mapping of environment keys", None, profile.file, 1))
            continue
        issues.extend(profile.issues)
        misplaced = [p for p in find_tags(profile.data) if p[0] == "extends"]
        if misplaced:
            issues.extend(_tag_issue(profile, p) for p in misplaced)
            continue
        nul = [_issue(profile, path, "contains a NUL character", "remove the \\0 from the value")
               for path in _nul_paths(profile.data)]
        if nul:
            issues.extend(nul)
            continue
        folder = folder or profile_path.parent
        profile_body = resolve_env_paths(profile.data, folder)
        _unknown_keys(profile_body, _ENV_KEYS, (), profile, issues, "environment key")
        nested = _apply_extends(profile_body, folder, env, (), profile, layers, issues,
                                (*seen, str(profile_path)), found)
        merged = merge_layer(merged, nested, profile.file, layers[start:], found.environment, found.root, found.notes)
        layers.append(profile)  # after its own parents: layers run from weakest to strongest
    own = {k: v for k, v in body.items() if k != "extends"}
    if not extends:  # its tags act on whatever it is merged onto
        return own
    result = merge_layer(merged, own, None if where else doc.file, layers[start:], found.environment, found.root,
                         found.notes)
    if extends:
        result["extends"] = sources
    return result


def _translate(entry: dict[str, Any], where: Path_, doc: Located, env: Mapping[str, str],
               issues: list[ConfigIssue], allow_privileged: bool) -> tuple[Any, Translation] | None:
    """A descriptor entry, validated and translated; its problems go to `issues` (located where they are)."""
    kind = KubernetesSource if "kubernetes" in entry else ComposeSource if "compose" in entry else None
    if kind is None:
        issues.append(_issue(doc, where, "an `extends` mapping names `kubernetes: FILE` or `compose: FILE`",
                             "e.g. {kubernetes: deploy/prod.yaml, workload: deployment/api, container: api}"))
        return None
    try:
        source = kind.model_validate(entry)
    except ValidationError as exc:
        for error in exc.errors():
            at = (*where, *[part for part in error["loc"] if isinstance(part, str | int)])
            hint = f"known keys: {', '.join(kind.model_fields)}" if error["type"] == "extra_forbidden" else None
            issues.append(_issue(doc, at, error["msg"], hint))
        return None
    try:
        return source, translate_source(source, env=env, allow_privileged=allow_privileged)
    except ConfigError as exc:
        issues.extend(exc.issues)
        return None


def _unknown_keys_issues(profile: dict[str, Any], layer: Located) -> list[ConfigIssue]:
    found: list[ConfigIssue] = []
    _unknown_keys(profile, _ENV_KEYS, (), layer, found, "environment key")
    return found


def _unknown_keys(data: dict[str, Any], allowed: set[str], where: Path_, doc: Located,
                  issues: list[ConfigIssue], what: str) -> None:
    for key in data:
        if key not in allowed:
            issues.append(_issue(doc, (*where, key), f"unknown {what} `{key}`", _suggest(key, allowed)))


def _suggest(key: str, allowed: set[str] | frozenset[str], fallback: str | None = None) -> str:
    close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    return fallback or "allowed: " + ", ".join(sorted(allowed))


def _issue(doc: Located, path: Path_, message: str, hint: str | None = None,
           layers: list[Located] | None = None) -> ConfigIssue:
    file, line = _locate(doc, path, layers or [])
    return ConfigIssue(dotted(path), message, hint, file, line)


def _origins(merged: dict[str, Any], doc: Located, where: Path_, layers: list[Located], base: Path) -> dict[str, str]:
    """Where each effective run option (and `files`, `ip_variables`) was written ("deploy/web.yaml:47"), for the
    "why?" lines of a result."""
    run = merged.get("run")
    paths: list[tuple[str, ...]] = [("run", str(key)) for key in (run if isinstance(run, dict) else ())]
    paths += [(key,) for key in ("files", "ip_variables") if merged.get(key)]
    services = merged.get("services")
    for name, service in (services.items() if isinstance(services, dict) else ()):
        service_run = service.get("run") if isinstance(service, dict) else None
        paths += [("services", name, "run", key) for key in (service_run if isinstance(service_run, dict) else ())]
    out: dict[str, str] = {}
    for path in paths:
        file, line = _locate(doc, (*where, *path), layers)
        shown = os.path.relpath(file, base) if file.startswith(str(base) + os.sep) else builtin.shown(file)
        out[".".join(path)] = f"{shown}:{line}" if line is not None else shown
    return out


def _locate(doc: Located, path: Path_, layers: list[Located]) -> tuple[str, int | None]:
    """The file and line that wrote `path`: the matrix, unless a profile wrote more of it."""
    best_file = doc.file
    best_depth, best_line = doc.deepest(path)
    if len(path) >= 2 and path[0] == "environments":
        for layer in reversed(layers):  # a profile writes an environment's keys without `environments.NAME`
            depth, line = layer.deepest(path[2:], shortest=1)
            if line is not None and depth + 2 > best_depth:
                best_file, best_depth, best_line = layer.file, depth + 2, line
    return best_file, best_line


def _data_path(loc: tuple[Any, ...], data: Any) -> Path_:
    """Keep only the parts of a pydantic location that exist in the data (drops union branch names)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list | tuple) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part in _known_fields(loc, out):
            out.append(part)  # a missing required key: point at its parent's line but name it
            node = None
    return tuple(out)


def _known_fields(loc: tuple[Any, ...], out: list[str | int]) -> set[str]:
    last = next((p for p in reversed(out) if isinstance(p, str)), None)
    model = _SECTION_MODELS.get(last or "")
    if model is not None:
        return set(model.model_fields)
    if len(out) == 2 and out[0] == "environments":
        return set(Environment.model_fields)
    if len(out) >= 2 and out[-2] == "services":
        return set(ServiceSpec.model_fields)
    if not out:
        return set(Matrix.model_fields)
    if last == "run":
        return set(RunOptions.model_fields)
    return set()


def _from_pydantic(exc: ValidationError, data: dict[str, Any], doc: Located,
                   profiles: dict[str, list[Located]]) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors():
        path = _data_path(tuple(err["loc"]), data)
        message = err["msg"].removeprefix("Value error, ")
        kind = err["type"]
        hint = _HINTS.get(kind)
        if kind == "missing":
            key = str(err["loc"][-1])
            if path[-1:] != (key,):  # the key is not in the data, so the path stops at its parent: name it
                path = (*path, key)
            message, hint = f"`{key}` is required", f"add `{key}:`"
        elif kind == "extra_forbidden" and path:
            hint = _suggest(str(path[-1]), _known_fields(tuple(err["loc"]), list(path[:-1])))
            message = f"unknown key `{path[-1]}`"
        elif path and path[-1] in _SIZE_KEYS and path[:1] == ("environments",):
            message, hint = "not a size", "write a size like 256m, 1g, 512k or a number of bytes"
        elif kind == "string_pattern_mismatch" and path[-2:] == ("engine", "host"):
            hint = "write unix:///var/run/docker.sock, tcp://HOST:2376 or ssh://user@host"
        elif kind == "literal_error" and path and path[-1] == "ship":
            if isinstance(err.get("input"), dict):
                continue  # the mapping form was meant; its own errors say what is wrong inside it
            message = "unknown ship mode"
            hint = "write auto, present, load, pull, or {registry: {push: REGISTRY/REPO}}"
        elif kind == "string_pattern_mismatch" and path[-2:] == ("registry", "push"):
            message = "not a repository name"
            hint = "write a repository without tag or digest, e.g. 127.0.0.1:5000/shop/api"
        elif kind == "string_pattern_mismatch" and len(path) >= 2 and path[-2] == "files":
            message = "not an absolute file path below a folder"
            hint = "write /FOLDER/FILE, e.g. /etc/app/mode; the folder is what a volume mounts"
        elif kind == "string_pattern_mismatch" and path and path[-1] == "digest":
            hint = "write sha256: followed by 64 lowercase hex digits"
        elif kind == "value_error" and path[-2:] == ("image", "ref"):
            hint = image_ref.HINT
        if "input" in err and kind not in ("missing", "extra_forbidden") and not isinstance(err["input"], dict | list):
            message += f" (got {err['input']!r})"
        layers = profiles.get(str(path[1])) if len(path) > 1 and path[0] == "environments" else None
        issues.append(_issue(doc, path, message, hint, layers))
    # A matrix service is in every environment: its problem is said once, where it was written.
    said = {(i.path, i.message) for i in issues if i.path.startswith("services.")}
    return [i for i in issues if not (i.path.startswith("environments.") and ".services." in i.path
                                      and ("services." + i.path.split(".services.", 1)[1], i.message) in said)]


def _dedupe(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """Union types report one error per branch; keep the first per path, plus distinct messages elsewhere."""
    seen: set[str] = set()
    out = []
    for issue in issues:
        if issue.path in seen and issue.path:
            continue
        seen.add(issue.path)
        out.append(issue)
    return out
