"""The JSON schema of matrix.yaml as users write it (for editors and `porttest schema`)."""

from __future__ import annotations

from typing import Any

from porttest.config.models import Matrix
from porttest.config.run_options import KNOWN_RUN_NAMES


def matrix_schema() -> dict[str, Any]:
    """Matrix's model schema, adjusted to the file's shorthands (image as a string, extends as a string)."""
    schema = Matrix.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "porttest matrix.yaml (version 1)"
    props = schema["properties"]
    for internal in ("source", "base_dir", "descriptor_warnings"):
        props.pop(internal, None)
    schema["required"] = [r for r in schema.get("required", []) if r not in ("source", "base_dir")]
    props["image"] = {"anyOf": [{"type": "string", "description": "an image ref"}, {"$ref": "#/$defs/ImageSpec"}]}
    props["suites"] = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}
    props["environments"] = {"type": "object", "minProperties": 1,
                             "additionalProperties": {"anyOf": [{"$ref": "#/$defs/Environment"}, {"type": "null"}]}}
    run = schema["$defs"]["RunOptions"]
    run["additionalProperties"] = False
    run["propertyNames"] = {"enum": sorted(KNOWN_RUN_NAMES)}
    for name in sorted(KNOWN_RUN_NAMES - set(run["properties"])):
        run["properties"][name] = {"description": f"Docker SDK containers.run() keyword `{name}`"}
    env = schema["$defs"]["Environment"]
    env["properties"].pop("name", None)
    env["properties"].pop("origins", None)
    env["required"] = [r for r in env.get("required", []) if r != "name"]
    one = {"anyOf": [{"type": "string", "description": "a profile file"},
                     {"$ref": "#/$defs/KubernetesSource"}, {"$ref": "#/$defs/ComposeSource"}]}
    env["properties"]["extends"] = {"anyOf": [one, {"type": "array", "items": one}]}
    return schema
