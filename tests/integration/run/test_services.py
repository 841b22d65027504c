"""Services on real engines: a Redis built from Debian's packages beside the image under test, reached by name,
proven the same image in every environment, and removed with its network whatever happens."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker

from tests.integration.conftest import LABEL, REPO, SESSION_ID, SESSION_LABEL, porttest, write
from tests.lab.tls_engine import TLSEngine

SUITE = """
    def test_the_cache_answers_by_its_name(host, services):
        assert "+PONG" in host.check_output("printf 'PING\\\\r\\\\n' | nc -w 2 cache 6379")

    def test_a_write_through_the_network_is_seen_inside_the_service(host, services, environment):
        host.check_output(f"printf 'SET written-by {environment.name}\\\\r\\\\n' | nc -w 2 cache 6379")
        assert services["cache"].host.check_output("redis-cli GET written-by") == environment.name

    def test_the_services_fixture_names_container_and_address(services):
        cache = services["cache"]
        assert cache.container_name.endswith("-svc-cache") and cache.address and not cache.share_network
"""


def _matrix(folder: Path, busybox: str, environments: str, services: str = "", top: str = "") -> None:
    write(folder, "tests/test_cache.py", SUITE)
    write(folder, "matrix.yaml", f"""
        version: 1
        image: {busybox}
        suites: [tests]
        {top}
        services:
          cache:
            image: porttest-lab/redis:latest
            wait_for: {{port: 6379, timeout: 60}}
{services}
        environments:
{environments}
    """)


def _left_behind(client: docker.DockerClient, run_id: str) -> list[str]:
    label = f"{LABEL}={run_id}"
    return ([c.name for c in client.containers.list(all=True, filters={"label": label})]
            + [n.name for n in client.networks.list(filters={"label": label})])


def test_parity_with_the_same_service_on_two_engines(tmp_path: Path, engine: docker.DockerClient,
                                                     tls_engine: TLSEngine, tls_client: docker.DockerClient,
                                                     base_images: dict[str, str], lab_services: dict[str, str]) -> None:
    _matrix(tmp_path, base_images["busybox"], """
          local: {run: {command: [sleep, "3600"]}}
          hardened:
            run: {command: [sleep, "3600"], read_only: true, cap_drop: [ALL], user: "65534"}
          cloud:
            extends: ../../environments/cloud.yaml
            run: {command: [sleep, "3600"]}
            wait_for: !reset
            ship: load
    """.replace("../../environments/cloud.yaml", str(REPO / "environments" / "cloud.yaml")))
    ran = porttest("run", "matrix.yaml", cwd=tmp_path, env=tls_engine.env())
    assert ran.rc == 0 and ran.results is not None, ran.explain()
    assert ran.results["verdict"] == "parity" and len(ran.results["tests"]) == 3
    redis_id = engine.images.get(lab_services["redis"]).id
    for name, env in ran.results["environments"].items():
        cache = env["services"]["cache"]
        assert cache["image_id"] == redis_id, name  # proven the same image, by the ID its container ran
        assert cache["address"] and cache["container"].endswith("-svc-cache")
        assert env["facts"]["services"]["cache"]["image"] == redis_id.removeprefix("sha256:")[:12]
    assert ran.results["environments"]["cloud"]["services"]["cache"]["ship"]["mode"] in ("load", "present")
    run_id = ran.results["run_id"]
    assert _left_behind(engine, run_id) == [] and _left_behind(tls_client, run_id) == []


def test_a_service_that_never_becomes_ready_is_that_environments_error(
        tmp_path: Path, engine: docker.DockerClient, base_images: dict[str, str],
        lab_services: dict[str, str]) -> None:
    _matrix(tmp_path, base_images["busybox"], """
          local: {run: {command: [sleep, "3600"]}}
          broken:
            run: {command: [sleep, "3600"]}
            services:
              cache:
                run: {command: [sh, -c, "echo cannot open /data/appendonly.aof; exit 3"], entrypoint: []}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4 and ran.results is not None, ran.explain()
    broken = ran.results["environments"]["broken"]
    assert broken["status"] == "error" and broken["phase"] == "services", broken
    assert broken["error"].startswith("service cache: ") and "exit code 3" in broken["error"]
    assert "cannot open /data/appendonly.aof" in broken["error"]  # its last log lines
    assert ran.results["environments"]["local"]["status"] == "ok"
    assert _left_behind(engine, ran.results["run_id"]) == []


def test_a_service_image_that_differs_is_refused_unless_allowed(
        tmp_path: Path, engine: docker.DockerClient, base_images: dict[str, str],
        lab_services: dict[str, str]) -> None:
    environments = """
          local: {run: {command: [sleep, "3600"]}}
          other:
            run: {command: [sleep, "3600"]}
            services:
              cache: {image: porttest-base/busybox:latest, run: {command: [nc, -ll, -p, "6379", -e, echo, "+PONG"]}}
    """
    _matrix(tmp_path, base_images["busybox"], environments)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4 and ran.results is not None, ran.explain()
    other = ran.results["environments"]["other"]
    assert other["status"] == "error" and "service cache would run image" in other["error"]
    assert "allow_different_services: true" in other["hint"]
    _matrix(tmp_path, base_images["busybox"], environments, top="allow_different_services: true")
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 3 and ran.results is not None, ran.explain()  # the fake cache cannot hold a value
    row = ran.row("test_a_write_through_the_network_is_seen_inside_the_service")
    assert row["outcomes"] == {"local": "passed", "other": "failed"}
    assert row["explanation"][0].startswith("other: service cache image "), row["explanation"]
    assert _left_behind(engine, ran.results["run_id"]) == []


def test_sigint_while_services_start_leaves_nothing_on_either_engine(
        tmp_path: Path, engine: docker.DockerClient, tls_engine: TLSEngine, tls_client: docker.DockerClient,
        base_images: dict[str, str], lab_services: dict[str, str]) -> None:
    # The cache runs, but its readiness (a port nobody opens) never comes: the run is inside "services" on both
    # engines when the signal arrives.
    _matrix(tmp_path, base_images["busybox"], """
          local: {run: {command: [sleep, "3600"]}}
          cloud:
            extends: CLOUD
            run: {command: [sleep, "3600"]}
            wait_for: !reset
    """.replace("CLOUD", str(REPO / "environments" / "cloud.yaml")),
            services="          stuck: {image: porttest-lab/redis:latest, wait_for: {port: 7777, timeout: 120}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "porttest", "run", "matrix.yaml", "--json", "r.json"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO / "harness"), **tls_engine.env()})
    label = [LABEL, f"{SESSION_LABEL}={SESSION_ID}"]

    def stuck_on(client: docker.DockerClient) -> bool:
        return any(c.name.endswith("-svc-stuck") for c in client.containers.list(filters={"label": label}))

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (stuck_on(engine) and stuck_on(tls_client)):
        time.sleep(0.1)
    if not (stuck_on(engine) and stuck_on(tls_client)):
        proc.kill()
        proc.communicate()
        raise AssertionError("the services never started on both engines")
    assert engine.networks.list(filters={"label": label}) and tls_client.networks.list(filters={"label": label})
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["interrupted"] is True
    assert _left_behind(engine, results["run_id"]) == [] and _left_behind(tls_client, results["run_id"]) == []


def test_a_database_service_both_sides_and_a_read_only_root_that_breaks_it(
        tmp_path: Path, engine: docker.DockerClient, base_images: dict[str, str],
        lab_services: dict[str, str]) -> None:
    # PostgreSQL from Debian's packages. The suite writes through the network from the tested container and reads
    # the row back inside the service. Under a read-only root the database cannot create its socket's lock file:
    # the service never becomes ready, and that is the environment's error, with the server's own words.
    write(tmp_path, "tests/test_db.py", """
        def test_a_row_written_over_the_network_is_in_the_database(host, services):
            db = services["db"]
            assert db.host.run("psql -U postgres -h 127.0.0.1 -c 'create table t (n int)'").rc == 0
            # busybox has no psql: the service's own client, reached over the environment's network by name
            sql = "insert into t values (7)"
            assert db.host.run(f"psql -U postgres -h db -c '{sql}'").rc == 0
            assert db.host.check_output("psql -U postgres -tAc 'select sum(n) from t'") == "7"
            assert host.run("echo | nc -w 2 db 5432").rc == 0  # and the tested container reaches it by name
    """)
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [tests]
        services:
          db:
            image: {lab_services["postgres"]}
            wait_for: {{command: "pg_isready -q -h 127.0.0.1 -p 5432", timeout: 90}}
        environments:
          local: {{run: {{command: [sleep, "3600"]}}}}
          readonly:
            run: {{command: [sleep, "3600"]}}
            services:
              db: {{run: {{read_only: true, tmpfs: {{/var/lib/postgresql/data: "uid=100,gid=102,mode=700"}}}}}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path, timeout=400)
    assert ran.rc == 4 and ran.results is not None, ran.explain()
    local, readonly = ran.results["environments"]["local"], ran.results["environments"]["readonly"]
    assert local["status"] == "ok" and [t["outcome"] for t in local["tests"]] == ["passed"], local
    assert readonly["status"] == "error" and readonly["phase"] == "services", readonly
    assert readonly["error"].startswith("service db: ") and "Read-only file system" in readonly["error"]
    assert _left_behind(engine, ran.results["run_id"]) == []
