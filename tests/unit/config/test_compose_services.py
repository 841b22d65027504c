"""A Compose service's depends_on and links as the environment's services, each problem located (no engine)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from porttest.config import parse_matrix
from porttest.config.descriptors import Translation
from porttest.config.descriptors.compose import compose_environment, load_compose, translate
from porttest.config.descriptors.printed import profile_document
from porttest.config.models import Environment, ServiceSpec
from porttest.errors import ConfigIssue
from tests.unit.config.test_compose import FIXTURES, S, compose, refused

STACK = FIXTURES / "stack"
TEXT = (STACK / "compose.yaml").read_text().splitlines()


def stack(service: str = "api", env: dict[str, str] | None = None) -> Translation:
    return translate(load_compose(STACK / "compose.yaml"), service=service,
                     env=compose_environment(STACK, env or {}), project_dir=STACK)


def at(line: int) -> str:
    return TEXT[line - 1].strip()


def warned(translation: Translation, fragment: str) -> list[str]:
    return [w for w in translation.warnings if fragment in w]


# ------------------------------------------------------------------------------------------- the stack, field by field


def test_the_services_an_api_depends_on_are_the_environments_services() -> None:
    api = stack()
    # depends_on in the order written, then links; the job (service_completed_successfully) is not run
    assert list(api.profile["services"]) == ["db", "cache", "search"]
    assert api.profile["run"]["ports"] == {"8000/tcp": 8000}  # the tested service keeps its own ports
    Environment.model_validate({"name": "stack", **api.profile})


def test_a_database_with_a_healthcheck() -> None:
    db = stack().profile["services"]["db"]
    assert db == {
        "image": {"ref": "postgres:16-alpine"},
        "run": {
            "environment": {"POSTGRES_USER": "shop", "POSTGRES_DB": "shop", "POSTGRES_PASSWORD": "change-me"},
            "mounts": [{"Type": "volume", "Target": "/var/lib/postgresql/data", "ReadOnly": False}],
            "healthcheck": {"test": ["CMD-SHELL", "pg_isready -U shop -d shop"], "interval": 2 * S,
                            "timeout": 5 * S, "retries": 10},
            "shm_size": "128mb",
        },
        # condition: service_healthy: its healthcheck is what the api waits for
        "wait_for": {"healthcheck": True, "timeout": 30.0},
    }
    ServiceSpec.model_validate(db)


def test_a_cache_waited_for_by_its_healthcheck_although_only_started_is_asked() -> None:
    cache = stack().profile["services"]["cache"]
    assert cache["image"] == {"ref": "redis:7-alpine"}
    assert cache["run"] == {"command": ["redis-server", "--save", "", "--appendonly", "no"], "read_only": True,
                            "mem_limit": "64m", "healthcheck": {"test": ["CMD", "redis-cli", "ping"],
                                                                "interval": S}}
    assert cache["wait_for"] == {"healthcheck": True, "timeout": 34.0}
    assert "share_network" not in cache  # reached by its name on the environment's network


def test_a_service_built_from_a_local_dockerfile() -> None:
    search = stack().profile["services"]["search"]
    assert search["image"] == {"ref": "shop/search:dev", "build": {
        "context": STACK / "search", "dockerfile": "Dockerfile.dev",
        "args": {"OPENSEARCH_VERSION": "2.15"}}}  # HTTP_PROXY has no value and is not set in the shell
    with_proxy = stack(env={"HTTP_PROXY": "http://proxy:3128"}).profile["services"]["search"]
    assert with_proxy["image"]["build"]["args"]["HTTP_PROXY"] == "http://proxy:3128"
    assert search["run"] == {"environment": {"discovery.type": "single-node"}}
    assert "wait_for" not in search


def test_every_service_key_points_at_its_compose_line() -> None:
    lines = stack().lines
    assert at(lines[("services",)]) == "depends_on:"
    assert at(lines[("services", "db")]) == "db:"
    assert at(lines[("services", "db", "image")]) == "image: postgres:16-alpine"
    assert at(lines[("services", "db", "run", "shm_size")]) == "shm_size: 128mb"
    assert at(lines[("services", "db", "run", "environment", "POSTGRES_PASSWORD")]).startswith("POSTGRES_PASSWORD:")
    assert at(lines[("services", "db", "wait_for")]) == "healthcheck:"
    assert at(lines[("services", "search", "image", "build")]) == "build:"
    assert at(lines[("services", "cache", "run", "read_only")]) == "read_only: true"
    assert lines[("run", "command")] == 9  # the tested service's own lines are unchanged


def test_what_the_dependencies_leave_out_is_a_warning_with_its_line() -> None:
    api = stack()
    expected = [
        ("services.api.depends_on.db.restart (line 17) is not translated: porttest never restarts api when db "
         "restarts"),
        "services.api.links[0] (line 23) is not translated in part: search is reached by its name, not by the alias es",
        ("services.api.depends_on.migrate (line 20) is not translated: migrate is a job that must complete before the "
         "service starts; porttest runs long-lived services only, so it is not run"),
        ("services.db.ports (line 32) is not translated: a service is reached by its name on the environment's "
         "network, so nothing is published"),
        "services.db.volumes[0] (line 34): the named volume 'db-data' becomes a fresh anonymous volume",
        "services.db.networks (line 41) is not translated: porttest puts the container and its services on one network",
        "services.db.restart (line 4) is not translated",  # from the x-restart fragment, where it is written
        "services.cache.restart (line 4) is not translated",
        "services.search.build.cache_from (line 61) is not translated: only context, dockerfile, args and target",
    ]
    for fragment in expected:
        assert warned(api, fragment), (fragment, api.warnings)
    assert not warned(api, "services.search.image")  # a service's image is used: nothing to warn about


# ----------------------------------------------------------------------------------- the graph: flattened, refused


def test_dependencies_of_dependencies_are_flattened_once_each(tmp_path: Path) -> None:
    t = compose(tmp_path, """\
        services:
          app:
            image: shop/app:1
            depends_on: [web, worker]
          web: {image: nginx:1, depends_on: [api]}
          worker: {image: shop/worker:1, depends_on: {api: {condition: service_started}, queue: null}}
          api: {image: shop/api:1, depends_on: [db]}
          queue: {image: rabbitmq:3}
          db: {image: postgres:16}
        """)
    assert list(t.profile["services"]) == ["web", "api", "db", "worker", "queue"]
    assert all(not s.get("share_network") for s in t.profile["services"].values())


def test_depends_on_merged_through_extends(tmp_path: Path) -> None:
    t = compose(tmp_path, """\
        services:
          base: {image: shop/app:1, depends_on: [db]}
          app:
            extends: {service: base}
            depends_on:
              cache: {condition: service_healthy}
          db: {image: postgres:16}
          cache: {image: redis:7}
        """)
    assert list(t.profile["services"]) == ["db", "cache"]
    # service_healthy and no healthcheck in the file: the image's own HEALTHCHECK, with Docker's default timing
    assert t.profile["services"]["cache"]["wait_for"] == {"healthcheck": True, "timeout": 150.0}
    assert t.lines[("services", "cache", "wait_for")] == 6


def test_a_build_context_is_resolved_against_the_file_that_wrote_it(tmp_path: Path) -> None:
    t = compose(tmp_path / "app", """\
        services:
          app: {image: shop/app:1, depends_on: [search]}
          search:
            extends: {file: ../common/search.yaml, service: search}
        """, files={"../common/search.yaml": "services:\n  search:\n    build: ./search\n"})
    assert t.profile["services"]["search"]["image"] == {"build": {"context": tmp_path / "common" / "search"}}


@pytest.mark.parametrize(("body", "path", "message", "hint"), [
    ("app: {image: a, depends_on: [db]}\ndb: {image: b, depends_on: [app]}", "services.db.depends_on[0]",
     "dependency cycle: app -> db -> app", "Compose refuses a cycle too: remove one of these dependencies"),
    ("app: {image: a, depends_on: [db]}\ndb: {image: b, depends_on: [cache]}\ncache: {image: c, depends_on: [db]}",
     "services.cache.depends_on[0]", "dependency cycle: db -> cache -> db", None),
    ("app: {image: a, depends_on: [db]}", "services.app.depends_on[0]",
     "app depends on db, which this Compose file does not define", "services in this file: app"),
    ("app: {image: a, depends_on: [My_DB]}\nMy_DB: {image: b}", "services.app.depends_on[0]",
     "the Compose service name 'My_DB' cannot name a porttest service",
     "porttest reaches a service by its name, a DNS label: lower-case letters, digits and '-' (at most 63); rename "
     "the Compose service"),
    ("app: {image: a, depends_on: {db: {condition: service_ready}}}\ndb: {image: b}",
     "services.app.depends_on.db.condition", "unknown condition 'service_ready'",
     "one of service_started, service_healthy, service_completed_successfully"),
    ("app: {image: a, depends_on: {db: {condition: service_healthy}}}\n"
     "db: {image: b, healthcheck: {disable: true}}", "services.app.depends_on.db.condition",
     "app waits for db to be healthy, and db's healthcheck is disabled",
     "enable the healthcheck of db, or depend on it with condition: service_started"),
    ("app: {image: a, depends_on: [db]}\ndb: {environment: {A: b}}", "services.db",
     "service db has no image that porttest can run", "give it `image:`, or `build:` with a local context folder"),
    ("app: {image: a, depends_on: [db]}\ndb: {build: 'https://github.com/shop/db.git#main'}", "services.db.build",
     "the build context 'https://github.com/shop/db.git#main' is not a local folder", None),
    ("app: {image: a, depends_on: db}\ndb: {image: b}", "services.app.depends_on",
     "`depends_on` is a list of service names, or a mapping of them to {condition, required, restart}", None),
    ("app: {image: a, depends_on: [db]}\ndb: {image: b, privileged: true}", "services.db.privileged",
     "refused: the container runs PRIVILEGED", None),
])
def test_refusals_are_located(tmp_path: Path, body: str, path: str, message: str, hint: str | None) -> None:
    text = "services:\n" + textwrap.indent(body, "  ") + "\n"
    issues: list[ConfigIssue] = refused(tmp_path, text)
    assert [(i.path, i.message) for i in issues] == [(path, message)]
    (issue,) = issues
    assert issue.file == str(tmp_path / "compose.yaml") and issue.line is not None and issue.line > 1
    assert hint is None or issue.hint == hint


def test_what_is_not_required_or_only_named_differently_is_a_warning(tmp_path: Path) -> None:
    t = compose(tmp_path, """\
        services:
          app:
            image: shop/app:1
            depends_on:
              metrics: {condition: service_started, required: false}
              db: {condition: service_started, x-note: why}
            links: ["db:database", cache]
          db: {image: postgres:16, build: {context: "git@github.com:shop/db.git"}}
          cache: {image: redis:7}
        """)
    assert list(t.profile["services"]) == ["db", "cache"]
    assert t.profile["services"]["db"]["image"] == {"ref": "postgres:16"}  # the remote build is left to its ref
    assert t.warnings[1:] == (
        "services.app.depends_on.db.x-note (line 6) is not translated: unknown depends_on key",
        "services.app.links[0] (line 7) is not translated in part: db is reached by its name, not by the alias "
        "database",
        "services.app.depends_on.metrics (line 5): metrics is not in this file and not required: it is not run",
        "services.db.build.context (line 8) is not translated: the build context 'git@github.com:shop/db.git' is not "
        "a local folder: the image is used as it is",
    )


# ------------------------------------------------------------------------------------ printed and loaded back


def test_the_printed_profile_loads_back_with_the_same_services(tmp_path: Path) -> None:
    api = stack()
    text = profile_document(api, "compose stack api")
    assert "    image: postgres:16-alpine\n" in text  # a ref alone is written as one
    assert f"        context: {STACK / 'search'}\n" in text
    assert "change-me" not in text and "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}" in text  # a secret, by its name
    (tmp_path / "profile.yaml").write_text(text)
    (tmp_path / "suite").mkdir()
    loaded = parse_matrix("version: 1\nimage: x/y:1\nsuites: [suite]\nenvironments:\n  e: {extends: profile.yaml}\n",
                          tmp_path / "matrix.yaml", {"POSTGRES_PASSWORD": "change-me", "DATABASE_URL":
                                                     api.profile["run"]["environment"]["DATABASE_URL"]}
                          ).environments["e"]
    direct = Environment.model_validate({"name": "e", **api.profile})
    assert loaded.services == direct.services and list(loaded.services) == ["db", "cache", "search"]


def test_an_environment_removes_or_changes_a_translated_service(tmp_path: Path) -> None:
    (tmp_path / "suite").mkdir()
    matrix = parse_matrix(f"""
        version: 1
        image: x/y:1
        suites: [suite]
        environments:
          e:
            extends: {{compose: {STACK / 'compose.yaml'}, service: api}}
            services:
              search: null
              cache: {{image: porttest-lab/redis:latest}}
    """, tmp_path / "matrix.yaml", {})
    services = matrix.environments["e"].services
    assert list(services) == ["db", "cache"]
    assert services["cache"].image.ref == "porttest-lab/redis:latest"
    assert services["cache"].run.read_only is True  # the rest of the translated service stays
    origins = matrix.environments["e"].origins
    assert origins["services.db.run.shm_size"].endswith("compose.yaml:40")


def test_a_dependency_that_cannot_be_translated_fails_the_translation_where_it_is_wrong(tmp_path: Path) -> None:
    (issue,) = refused(tmp_path, """\
        services:
          app: {image: a, depends_on: [db]}
          db: {image: b, mem_limit: lots}
        """)
    assert issue.path == "services.db.mem_limit" and issue.line == 3
