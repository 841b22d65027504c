"""The JSON schemas of matrix.yaml and of profile files as users write them (for editors and `porttest schema`).

They come from the models, adjusted to what the loader reads before the models see it: the shorthands (an image as a
string, one `extends` or suite as a string, a run's Compose value formats), partial services in environments, and
`${VAR}` / `${VAR:-default}` in any scalar, since every string of a matrix or profile is interpolated first (an
unquoted `${RO:-true}` is a boolean once interpolated). The committed copies in docs/schema/ are regenerated with
`porttest schema --write docs/schema`, and a unit test keeps them in step with the models.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from porttest.config.models import Matrix
from porttest.config.run_options import KNOWN_RUN_NAMES

DRAFT = "https://json-schema.org/draft/2020-12/schema"
FILES = {"matrix": "matrix.schema.json", "profile": "profile.schema.json"}
# A string that holds at least one ${NAME} or ${NAME:-default}: it may become any scalar once interpolated.
INTERPOLATED = {"type": "string", "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}",
                "description": "interpolated from the environment: ${NAME} or ${NAME:-default}"}
_SCALAR_TYPES = {"string", "boolean", "integer", "number", "null"}
_CONSTRAINTS = ("pattern", "enum", "const", "minLength", "maxLength", "format")
_MEMORY_KEYS = ("mem_limit", "mem_reservation", "memswap_limit", "shm_size")


def matrix_schema() -> dict[str, Any]:
    """The schema of a matrix file (a fresh copy)."""
    schema = Matrix.model_json_schema()
    props = schema["properties"]
    for internal in ("source", "base_dir", "descriptor_warnings", "secret_values"):
        props.pop(internal, None)
    schema["required"] = [r for r in schema.get("required", []) if r not in ("source", "base_dir")]
    props["image"] = {"anyOf": [{"type": "string", "description": "an image ref"}, {"$ref": "#/$defs/ImageSpec"}]}
    suite = {"type": "string", "description": "a test file or folder, relative to the matrix; or porttest:baseline"}
    props["suites"] = {"anyOf": [suite, {"type": "array", "items": suite, "minItems": 1}]}
    props["environments"] = {"type": "object", "minProperties": 1,
                             "additionalProperties": {"anyOf": [{"$ref": "#/$defs/Environment"}, {"type": "null"}]}}
    _adjust_defs(schema["$defs"])
    return _finish(_interpolatable(schema), "porttest matrix.yaml (version 1)")


def profile_schema() -> dict[str, Any]:
    """The schema of a profile file (`extends: FILE`): an environment's keys, at the top level."""
    defs = matrix_schema()["$defs"]
    return _finish({"$defs": defs, "$ref": "#/$defs/Environment"},
                   "porttest profile (an environment's keys, for `extends:`)")


def write_schemas(folder: Path) -> list[Path]:
    """Write both schemas into `folder` (docs/schema in the repository); the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, schema in (("matrix", matrix_schema()), ("profile", profile_schema())):
        path = folder / FILES[kind]
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _finish(schema: dict[str, Any], title: str) -> dict[str, Any]:
    return {"$schema": DRAFT, "title": title, **{k: v for k, v in schema.items() if k not in ("$schema", "title")}}


def _adjust_defs(defs: dict[str, Any]) -> None:
    image = {"anyOf": [{"type": "string", "description": "an image ref"}, {"$ref": "#/$defs/ImageSpec"}]}
    defs["ImageSpec"]["properties"]["verify"]["items"] = {
        "anyOf": [{"type": "string", "description": "a command"}, {"$ref": "#/$defs/VerifyHook"}]}
    defs["ServiceSpec"]["properties"]["image"] = {**image, "description":
                                                  defs["ServiceSpec"]["properties"]["image"].get("description", "")}
    # In an environment or a profile, a service changes the matrix's one of that name: every key is optional.
    change = copy.deepcopy(defs["ServiceSpec"])
    change.pop("required", None)
    change["title"] = "ServiceChange"
    defs["ServiceChange"] = change

    run = defs["RunOptions"]
    run["additionalProperties"] = False
    run["propertyNames"] = {"enum": sorted(KNOWN_RUN_NAMES)}
    for name in sorted(KNOWN_RUN_NAMES - set(run["properties"])):
        run["properties"][name] = {"description": f"Docker SDK containers.run() keyword `{name}`"}
    props = run["properties"]
    # The loader takes Compose's value formats too (porttest.config.descriptors.compose_values.normalise_run).
    for caps in ("cap_add", "cap_drop"):
        props[caps]["anyOf"].insert(0, {"type": "string"})
    props["ports"]["anyOf"][1:1] = [{"type": "array", "items": {"type": ["string", "integer", "object"]}},
                                    {"type": ["string", "integer"]}]
    soft_hard = {"type": "object", "additionalProperties": False, "required": ["soft", "hard"],
                 "properties": {"soft": {"type": "integer"}, "hard": {"type": "integer"}}}
    limit = {"anyOf": [{"type": "integer"}, soft_hard]}
    props["ulimits"]["anyOf"].insert(1, {"type": "object", "additionalProperties": limit,
                                         "description": "Compose's form: {nofile: 20000} or {nofile: {soft, hard}}"})
    for key in _MEMORY_KEYS:
        props[key]["anyOf"] = [{"type": "integer", "minimum": 0},
                               {"type": "string", "description": "a size: 512m, 1g, 512Mi, 1.5GB"}, {"type": "null"}]

    env = defs["Environment"]
    env["properties"].pop("name", None)
    env["properties"].pop("origins", None)
    env["required"] = [r for r in env.get("required", []) if r != "name"]
    if not env["required"]:
        env.pop("required")
    one = {"anyOf": [{"type": "string", "description": "a profile file (relative to this file), or porttest:NAME "
                                                      "for a built-in profile: local, staging, cloud, gvisor, podman, "
                                                      "ssh"},
                     {"$ref": "#/$defs/KubernetesSource"}, {"$ref": "#/$defs/ComposeSource"}]}
    env["properties"]["extends"] = {"anyOf": [one, {"type": "array", "items": one}]}
    services = env["properties"]["services"]
    for pattern in services.get("patternProperties", {}):
        services["patternProperties"][pattern] = {"anyOf": [{"$ref": "#/$defs/ServiceChange"}, {"type": "null"}]}


def _interpolatable(node: Any, in_union: bool = False) -> Any:
    """`node` with ${...} strings accepted wherever a value is a constrained scalar (a number, a boolean, an enum,
    a pattern), the way the loader reads them: interpolation comes before validation."""
    if isinstance(node, list):
        return [_interpolatable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "$defs"):
            out[key] = {name: _interpolatable(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _interpolatable(value)
        elif key in ("anyOf", "oneOf"):
            branches = [_interpolatable(branch, in_union=True) for branch in value]
            if any(_constrained_scalar(b) for b in branches) and INTERPOLATED not in branches:
                branches.append(INTERPOLATED)
            out[key] = branches
        else:
            out[key] = value
    if not in_union and _constrained_scalar(out):
        annotations = {k: out.pop(k) for k in ("title", "description", "default") if k in out}
        return {**annotations, "anyOf": [out, INTERPOLATED]}
    return out


def _constrained_scalar(node: Any) -> bool:
    """A schema of scalars that a ${...} string would fail: not a plain, unconstrained string."""
    if not isinstance(node, dict) or "$ref" in node or "anyOf" in node or "oneOf" in node:
        return False
    kind = node.get("type")
    types = set(kind) if isinstance(kind, list) else {kind} if kind else set()
    if not types and not any(k in node for k in ("enum", "const")):
        return False
    if not types <= _SCALAR_TYPES or types == {"null"}:
        return False
    return types != {"string"} or any(k in node for k in _CONSTRAINTS if k != "format")
