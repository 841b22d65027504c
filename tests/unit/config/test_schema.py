"""porttest.config.schema: the JSON Schema of matrix.yaml as users write it (no engine)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from porttest.config.schema import matrix_schema, profile_schema, render, write_schemas
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


# ---------------------------------------------------------------------------------------------------- committed files


SCHEMAS = REPO / "docs" / "schema"
SHIPPED_MATRICES = sorted([REPO / "matrix.yaml", *REPO.glob("examples/*/matrix.yaml")])
SHIPPED_PROFILES = sorted(REPO.glob("environments/*.yaml"))


def test_the_committed_schemas_are_what_the_models_give(tmp_path: Path) -> None:
    """Regenerate with `porttest schema --write docs/schema` when the models change."""
    written = write_schemas(tmp_path)
    assert [p.name for p in written] == ["matrix.schema.json", "profile.schema.json"]
    for path in written:
        committed = SCHEMAS / path.name
        assert committed.is_file(), f"{committed} is missing: run porttest schema --write docs/schema"
        assert committed.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), (
            f"{committed} is out of date: run porttest schema --write docs/schema")


def test_schema_write_from_the_command_line(tmp_path: Path) -> None:
    from porttest.cli.main import main

    assert main(["schema", "--write", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "matrix.schema.json").read_text() == render(matrix_schema())
    assert (tmp_path / "out" / "profile.schema.json").read_text() == render(profile_schema())


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", SHIPPED_MATRICES + SHIPPED_PROFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_file_validates_against_its_committed_schema_as_an_editor_reads_it(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    kind = "profile" if path.parent.name == "environments" else "matrix"
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix), f"{path} does not start with the schema line"
    target = (path.parent / first.removeprefix(prefix)).resolve()
    assert target == SCHEMAS / f"{kind}.schema.json"
    # Not interpolated: an editor sees ${VAR:-default} as written.
    found = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
             for e in _validator(target.name).iter_errors(yaml.safe_load(path.read_text()))]
    assert found == []


@pytest.mark.parametrize("doc", [
    minimal(version="${VERSION:-1}", allow_privileged="${PRIV:-false}"),
    minimal(environments={"s": {"run": {"read_only": "${RO:-true}", "pids_limit": "${PIDS}", "cpus": "${CPUS:-1}",
                                        "mem_limit": "${MEM:-256m}", "privileged": "${P}"},
                                "ship": "${SHIP:-load}", "wait_for": {"port": "${PORT:-8080}", "timeout": "${T}"},
                                "engine": {"host": "${HOST:-tcp://h:2376}", "tls": {"verify": "${V:-true}"}},
                                "timeout": "${TIMEOUT}", "exec_mode": "${MODE}"}}),
    minimal(environments={"r": {"ship": {"registry": {"push": "${REG:-127.0.0.1:5000}/shop/api"}}}}),
    minimal(image={"ref": "shop/api:${TAG:-1}", "digest": "${DIGEST}"}, secrets=["${NAME}"]),
], ids=["top", "environment", "registry", "image"])
def test_interpolated_values_are_accepted_wherever_the_loader_interpolates(
        validator: jsonschema.Draft202012Validator, doc: dict[str, Any]) -> None:
    assert errors(validator, doc) == []


@pytest.mark.parametrize("doc", [
    minimal(environments={"s": {"run": {"read_only": "$RO"}}}),  # not ${...}: no interpolation here
    minimal(environments={"s": {"ship": "teleport"}}),
    minimal(environments={"s": {"wait_for": {"port": "eighty"}}}),
    minimal(environments={"s": {"run": "${RUN}"}}),  # a variable gives a string, never a mapping
])
def test_strings_without_interpolation_are_still_checked(validator: jsonschema.Draft202012Validator,
                                                         doc: dict[str, Any]) -> None:
    assert errors(validator, doc)


@pytest.mark.parametrize("doc", [
    minimal(services={"db": {"image": "postgres:16", "wait_for": {"port": 5432}}},
            environments={"t": {"services": {"db": {"run": {"mem_limit": "64m"}}, "cache": None}}}),
    minimal(environments={"s": {"extends": "porttest:staging",
                                "run": {"cap_drop": "ALL", "ports": ["8080:80", 9000], "mem_limit": "512Mi",
                                        "ulimits": {"nofile": 20000, "nproc": {"soft": 1, "hard": 2}}}}}),
    minimal(image={"ref": "a:1", "verify": ["cosign verify {ref}", {"command": "true", "name": "ok"}]}),
], ids=["services", "compose-formats", "verify"])
def test_accepts_what_the_loader_reads_before_the_models(validator: jsonschema.Draft202012Validator,
                                                        doc: dict[str, Any]) -> None:
    assert errors(validator, doc) == []


def test_the_profile_schema_is_an_environment_at_the_top() -> None:
    validator = jsonschema.Draft202012Validator(profile_schema())
    assert errors(validator, {"extends": "porttest:staging", "run": {"read_only": True}}) == []
    assert errors(validator, {"environments": {}})
    assert "secret_values" not in json.dumps(matrix_schema()["properties"])
