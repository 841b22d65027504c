"""`docker-compose config` (the reference implementation) and porttest read the same Compose files the same way:
interpolation, fragments and `<<` merges, `extends`, env_file, durations, ports, ulimits and sizes.

Where Debian's docker-compose 1.29.2 departs from the Compose specification, porttest follows the specification
(as Compose v2 does), and the comparison leaves that value out, saying why:
- YAML 1.1: 1.29.2 reads an unquoted `2222:22` as the base-60 number 133342; Compose reads YAML 1.2.
- single-quoted values in an env_file are literal (spec: "Single-quoted values are used literally"); 1.29.2
  interpolates them.
- 1.29.2 merges `extends` into a mapping it shares with the extended service, so `api` shows the `worker`'s memory.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from porttest.config.descriptors.compose import compose_environment, load_compose, translate
from porttest.config.descriptors.compose_values import parse_bytes, parse_duration, ports_dict, tmpfs_dict, ulimits_list

FIXTURES = Path(__file__).parents[2] / "fixtures" / "descriptors" / "compose"
DOCKER_COMPOSE = shutil.which("docker-compose")
pytestmark = pytest.mark.skipif(DOCKER_COMPOSE is None, reason="docker-compose (the reference) is not installed")

# (fixture folder, variables in the shell, what to leave out: {service: {key or key.sub}})
CASES = {
    "formats": ({"HOST_NAME": "box", "EMPTY_VAR": ""}, {"app": {"ports.22/tcp"}}),
    "shop": ({}, {"api": {"environment.FEATURE_FLAGS", "deploy"}, "worker": {"environment.FEATURE_FLAGS"}}),
    "jobs": ({"REPORT_TOKEN": "tok-12345"}, {}),
}


def reference(folder: Path, variables: dict[str, str]) -> dict[str, Any]:
    """`docker-compose config` run in the project's folder, as a user would (it reads .env there itself)."""
    assert DOCKER_COMPOSE is not None
    done = subprocess.run([DOCKER_COMPOSE, "-f", "compose.yaml", "config"], cwd=folder, capture_output=True,
                          text=True, timeout=60, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **variables})
    assert done.returncode == 0, done.stderr
    services: dict[str, Any] = yaml.safe_load(done.stdout)["services"]
    return services


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], dict[str, dict[str, Any]], dict[str, set[str]]]:
    folder = FIXTURES / request.param
    variables, skip = CASES[request.param]
    doc = load_compose(folder / "compose.yaml")
    env = compose_environment(folder, variables)
    mine = {name: translate(doc, service=name, env=env, project_dir=folder).profile["run"]
            for name in doc.data["services"]}
    return request.param, reference(folder, variables), mine, skip


def literal(value: Any) -> Any:
    """A value as `docker-compose config` printed it, with its `$$` escapes undone."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [literal(v) for v in value]
    if isinstance(value, dict):
        return {k: literal(v) for k, v in value.items()}
    return value


def argv(value: Any) -> list[str]:
    return shlex.split(literal(value)) if isinstance(value, str) else [str(v) for v in literal(value)]


def test_every_service_reads_the_same(case: tuple[str, dict[str, Any], dict[str, Any], dict[str, set[str]]]) -> None:
    fixture, theirs, mine, skips = case
    assert set(theirs) == set(mine)
    checked = 0
    for name, service in theirs.items():
        skip, run = skips.get(name, set()), mine[name]
        for key, value in literal(service).items():
            if key in skip:
                continue
            checked += _compare(key, value, run, {s.split(".", 1)[1] for s in skip if s.startswith(key + ".")})
    assert checked >= 10, fixture


def _compare(key: str, value: Any, run: dict[str, Any], skip: set[str]) -> int:
    if key == "environment":
        expected = {k: "" if v is None else str(v) for k, v in value.items() if k not in skip}
        assert {k: v for k, v in run["environment"].items() if k not in skip} == expected
    elif key == "healthcheck":
        check = run["healthcheck"]
        test = value.get("test")
        assert check.get("test") == (["CMD-SHELL", test] if isinstance(test, str) else test)
        for field in ("interval", "timeout", "start_period"):
            assert check.get(field) == (parse_duration(value[field]) if field in value else None), field
        assert check.get("retries") == value.get("retries")
    elif key in ("command", "entrypoint"):
        assert run[key] == argv(value)
    elif key == "ports":
        readable = [v for v in value if not skip or _readable_port(v)]
        assert {k: v for k, v in run["ports"].items() if k not in skip} == ports_dict(readable)
    elif key == "ulimits":
        assert sorted(run["ulimits"], key=str) == sorted(ulimits_list(value), key=str)  # the reference sorts keys
    elif key == "tmpfs":
        assert tmpfs_dict(value).items() <= run["tmpfs"].items()
    elif key in ("cap_add", "cap_drop", "security_opt"):
        assert sorted(run[key]) == sorted(value)
    elif key in ("mem_limit", "memswap_limit", "shm_size"):
        assert parse_bytes(run[key]) == parse_bytes(value)
    elif key == "sysctls":
        assert run["sysctls"] == {k: str(v) for k, v in value.items()}
    elif key in ("user", "read_only", "init", "working_dir", "stop_signal", "pids_limit"):
        assert run[key] == value
    elif key == "volumes":
        _compare_volumes(value, run)
    elif key == "deploy":
        limits = value.get("resources", {}).get("limits", {})
        assert run["cpus"] == float(limits["cpus"])
        assert parse_bytes(run["mem_limit"]) == parse_bytes(limits["memory"])
    else:
        return 0  # not translated (image, networks, ...): the warnings tests cover these
    return 1


def _readable_port(entry: Any) -> bool:
    try:
        ports_dict([entry])
    except ValueError:
        return False
    return True


def _compare_volumes(value: list[Any], run: dict[str, Any]) -> None:
    for volume in value:
        if isinstance(volume, dict):
            assert run["tmpfs"][volume["target"]] == f"size={volume['tmpfs']['size']}"
        elif volume.startswith("/"):  # a bind, made absolute by both
            assert volume in run["volumes"]
        else:  # a named volume: a fresh anonymous volume at the same place
            assert volume.split(":")[1] in [m["Target"] for m in run["mounts"]]


def test_the_reference_and_porttest_part_where_the_specification_says_so() -> None:
    """The values left out above, checked against the specification instead."""
    formats = FIXTURES / "formats"
    app = reference(formats, {"HOST_NAME": "box"})["app"]
    assert {"target": 133342} in app["ports"]  # YAML 1.1's base-60 reading of 2222:22
    doc = load_compose(formats / "compose.yaml")
    run = translate(doc, service="app", env={"HOST_NAME": "box"}, project_dir=formats).profile["run"]
    assert run["ports"]["22/tcp"] == 2222
    shop = FIXTURES / "shop"
    assert reference(shop, {})["api"]["environment"]["FEATURE_FLAGS"] == "checkout,"
    api = translate(load_compose(shop / "compose.yaml"), service="api", env=compose_environment(shop, {}),
                    project_dir=shop).profile["run"]
    assert api["environment"]["FEATURE_FLAGS"] == "checkout,${NOT_INTERPOLATED}"
    assert api["mem_limit"] == "256M"  # its own limit, not the worker's
