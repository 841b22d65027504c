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
        assert env["facts"]["services"] == {"cache": redis_id.removeprefix("sha256:")[:12]}
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


def test_sigint_while_services_start_leaves_nothing(tmp_path: Path, engine: docker.DockerClient,
                                                   base_images: dict[str, str],
                                                   lab_services: dict[str, str]) -> None:
    _matrix(tmp_path, base_images["busybox"], """
          only: {run: {command: [sleep, "3600"]}}
    """)
    proc = subprocess.Popen([sys.executable, "-m", "porttest", "run", "matrix.yaml", "--json", "r.json"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO / "harness"),
                                 "PORTTEST_FAULT_DELAY": "ready=30"})
    label = [LABEL, f"{SESSION_LABEL}={SESSION_ID}"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the service runs and the network is there: the run is past "services"
        if [c for c in engine.containers.list(filters={"label": label}) if c.name.endswith("-svc-cache")]:
            break
        time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError("the service never started")
    assert engine.networks.list(filters={"label": label})
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    run_id = json.loads((tmp_path / "r.json").read_text())["run_id"]
    assert _left_behind(engine, run_id) == []
