"""porttest.config.schema: the JSON Schema of matrix.yaml as users write it (no engine)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from porttest.config.schema import matrix_schema
from porttest.config.yaml_source import load_yaml

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return matrix_schema()


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    return yaml.safe_load((REPO / "matrix.yaml").read_text())


def errors(validator: jsonschema.Draft202012Validator, doc: Any) -> list[str]:
    return [e.message for e in validator.iter_errors(doc)]


def minimal(**over: Any) -> dict[str, Any]:
    return {"version": 1, "image": "shop/api:1", "suites": ["suites/baseline"], "environments": {"local": {}}, **over}


def test_schema_is_valid_json_schema(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "porttest" in schema["title"]
    json.dumps(schema)  # serialisable for `porttest schema` and editors


def test_internal_fields_are_not_in_the_schema(schema: dict[str, Any]) -> None:
    assert "source" not in schema["properties"] and "base_dir" not in schema["properties"]
    assert set(schema["required"]) == {"version", "image", "suites", "environments"}
    env = schema["$defs"]["Environment"]
    assert "name" not in env["properties"] and "name" not in env.get("required", [])


def test_matrix_schema_is_a_fresh_copy() -> None:
    first = matrix_schema()
    first["properties"].clear()
    assert matrix_schema()["properties"]


def test_validates_the_repo_demo_matrix(validator: jsonschema.Draft202012Validator, demo: dict[str, Any]) -> None:
    assert errors(validator, demo) == []


def test_rejects_an_unknown_top_level_key(validator: jsonschema.Draft202012Validator, demo: dict[str, Any]) -> None:
    doc = copy.deepcopy(demo)
    doc["suits"] = ["x"]
    found = errors(validator, doc)
    assert len(found) == 1 and "suits" in found[0]


@pytest.mark.parametrize(
    "doc",
    [
        minimal(),
        minimal(suites="suites/baseline"),
        minimal(image={"ref": "a:1", "build": {"context": ".", "args": {"A": "b"}},
                       "digest": "sha256:" + "0" * 64}),
        minimal(environments={"local": None}),
        minimal(environments={"s": {"extends": "p.yaml"}, "t": {"extends": ["a.yaml", "b.yaml"]}}),
        minimal(environments={"c": {"engine": {"host": "tcp://h:2376", "tls": False}, "ship": "load",
                                    "wait_for": {"port": 8080, "timeout": 30}}}),
        minimal(environments={"s": {"run": {"read_only": True, "mem_limit": "256m", "cpus": 0.5,
                                            "cap_drop": ["ALL"], "tmpfs": {"/tmp": ""}}}}),
    ],
)
def test_accepts_the_documented_shapes(validator: jsonschema.Draft202012Validator, doc: dict[str, Any]) -> None:
    assert errors(validator, doc) == []


@pytest.mark.parametrize(
    "doc",
    [
        minimal(version=2),
        minimal(suites=[]),
        minimal(environments={}),
        minimal(environments={"s": {"wiat_for": {"port": 1}}}),
        minimal(environments={"s": {"ship": "teleport"}}),
        minimal(environments={"s": {"run": {"read_only": "yes please"}}}),
        minimal(environments={"s": {"extends": 5}}),
        minimal(image={"ref": "a", "digest": "sha256:abc"}),
        {k: v for k, v in minimal().items() if k != "image"},
    ],
)
def test_rejects_invalid_documents(validator: jsonschema.Draft202012Validator, doc: dict[str, Any]) -> None:
    assert errors(validator, doc)


@pytest.mark.parametrize("name", ["local", "staging", "cloud"])
def test_repo_profiles_validate_as_environments(schema: dict[str, Any], name: str) -> None:
    path = REPO / "environments" / f"{name}.yaml"
    data = load_yaml(path.read_text(), str(path), {}).data  # interpolated with their defaults
    env_validator = jsonschema.Draft202012Validator({"$defs": schema["$defs"], "$ref": "#/$defs/Environment"})
    assert errors(env_validator, data) == []
    assert errors(env_validator, {**data, "bogus": 1})


@pytest.mark.parametrize("key", ["mem_limt", "detach"])
def test_rejects_unknown_or_managed_run_options(validator: jsonschema.Draft202012Validator, key: str) -> None:
    assert errors(validator, minimal(environments={"s": {"run": {key: 1}}}))
