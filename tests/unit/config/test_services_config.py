"""`services:` in matrix.yaml: the matrix's services as the weakest layer of every environment, changed or removed
per environment and by profiles, with located errors (no engine)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from porttest.config import read_matrix
from porttest.config.models import ServiceSpec
from tests.unit.config.test_config import issues_of, line_no, load, matrix_file, only, write

SERVICES = """\
services:
  cache: {image: redis:7, wait_for: {port: 6379}}
  db:
    image: {build: {context: deploy/db}}
    run: {environment: {POSTGRES_PASSWORD: x}, cap_drop: [ALL]}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "suites" / "baseline" / "test_os.py", "def test_ok():\n    pass\n")
    return tmp_path


def test_every_environment_gets_the_matrixs_services(project: Path) -> None:
    m = load(project, SERVICES + "environments: {local: {}, staging: {}}\n")
    assert set(m.services) == {"cache", "db"}
    for env in m.environments.values():
        assert set(env.services) == {"cache", "db"}
        assert env.services["cache"].image.ref == "redis:7" and env.services["cache"].wait_for is not None
        build = env.services["db"].image.build
        assert build is not None and build.context == project / "deploy" / "db"  # relative to the matrix


def test_an_environment_changes_removes_and_adds_services(project: Path) -> None:
    m = load(project, SERVICES + textwrap.dedent("""\
        environments:
          tight:
            services:
              cache: {run: {mem_limit: 64m}}
              db: null
              proxy: {image: envoy:1, share_network: true}
          reset:
            services: {db: !reset null}
          none:
            services: !reset
        """))
    tight = m.environments["tight"].services
    assert set(tight) == {"cache", "proxy"}
    assert tight["cache"].run.mem_limit == "64m" and tight["cache"].image.ref == "redis:7"  # merged, not replaced
    assert tight["proxy"].share_network is True
    assert set(m.environments["reset"].services) == {"cache"}
    assert m.environments["none"].services == {}


def test_a_profile_changes_services_and_the_environment_wins(project: Path) -> None:
    write(project / "profiles" / "hardened.yaml", """\
        services:
          cache: {run: {read_only: true, cap_drop: [ALL]}}
          db: !reset
        """)
    m = load(project, SERVICES + textwrap.dedent("""\
        environments:
          staging:
            extends: profiles/hardened.yaml
            services:
              cache: {run: {cap_drop: [NET_RAW]}}
        """))
    cache = m.environments["staging"].services["cache"]
    assert set(m.environments["staging"].services) == {"cache"}
    assert cache.run.read_only is True
    assert cache.run.cap_drop == ["NET_RAW"]  # lists under a service's run: are replaced, not merged


def test_service_settings_have_origins_for_the_why_lines(project: Path) -> None:
    tight = "environments:\n  tight:\n    services:\n      cache: {run: {mem_limit: 64m}}\n"
    path = matrix_file(project, SERVICES + tight)
    env = read_matrix(path, env={}).environments["tight"]
    assert env.origins["services.cache.run.mem_limit"] == f"matrix.yaml:{line_no(path, 'mem_limit: 64m')}"


@pytest.mark.parametrize(("body", "where", "words"), [
    ("services:\n  Cache_1: {image: redis:7}\nenvironments: {local: {}}\n", "services.Cache_1", "should match"),
    ("services:\n  cache: {wait_for: {port: 6379}}\nenvironments: {local: {}}\n", "services.cache.image",
     "`image` is required"),
    ("services:\n  cache: {image: redis:7, runn: {}}\nenvironments: {local: {}}\n", "services.cache.runn",
     "unknown key `runn`"),
    ("services:\n  side: {image: x, share_network: true, run: {network_mode: host}}\nenvironments: {local: {}}\n",
     "services.side", "share_network puts the service in the tested container's network"),
])
def test_bad_services_are_located_errors(project: Path, body: str, where: str, words: str) -> None:
    path = matrix_file(project, body)
    found = issues_of(path)
    assert not [i for i in found if ".services." in i.path], found  # said once, where it was written
    issue = next((i for i in found if i.path.startswith(where)), None)
    assert issue is not None, [(i.path, i.message) for i in found]
    assert words in issue.message and issue.line is not None
    if "runn" in where:
        assert issue.hint == "did you mean `run`?"


def test_ip_variables_refuse_a_network_mode_with_its_line(project: Path) -> None:
    path = matrix_file(project, "environments:\n  pod:\n    ip_variables: [POD_IP]\n    run: {network_mode: none}\n")
    issue = only(issues_of(path), "environments.pod")
    assert "ip_variables need a network of the environment's own" in issue.message


def test_service_spec_takes_a_ref_only_through_the_loader() -> None:
    assert ServiceSpec.model_validate({"image": {"ref": "redis:7"}}).image.ref == "redis:7"


def test_a_services_run_takes_composes_value_formats(project: Path) -> None:
    m = load(project, "services:\n  cache:\n    image: redis:7\n"
                      "    run: {ports: ['6379'], ulimits: {nofile: 20000}, mem_limit: 64Mi}\n"
                      "environments: {local: {}}\n")
    run = m.environments["local"].services["cache"].run
    assert run.ulimits is not None and run.ulimits[0].name == "nofile" and run.ulimits[0].soft == 20000
    assert run.mem_limit == 64 * 2**20


@pytest.mark.parametrize(("env", "words"), [
    ("run: {network_mode: none}", "services need a network of the environment's own, and run.network_mode"),
    ("services: {cache: {run: {network_mode: host}}}", "a service runs on the environment's own network"),
])
def test_a_network_of_ones_own_is_not_silently_replaced(project: Path, env: str, words: str) -> None:
    # docker-py's containers.create() would drop network_mode for the network, and the results would still say it.
    path = matrix_file(project, SERVICES + f"environments:\n  local:\n    {env}\n")
    assert any(words in i.message for i in issues_of(path)), issues_of(path)
