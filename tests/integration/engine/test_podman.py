"""Podman's Docker-compatible API (a `podman system service` the fixture starts) next to the local engine."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.conftest import LABEL, REPO, SESSION_ID, SESSION_LABEL, SLEEPER, porttest, write
from tests.lab.podman_service import PodmanService

SESSION_FALLBACK = "exec_mode session unavailable"
SHELL_SUITE = "def test_shell(host):\n    assert host.run('true').rc == 0\n"


def _matrix(folder: Path, lab: PodmanService, image: str, ship: str, suites: str = "suites",
            podman_run: str = f"{{command: {SLEEPER}}}", podman_extra: str = "") -> Path:
    return write(folder, "matrix.yaml", f"""
        version: 1
        image: {image}
        suites: [{suites}]
        environments:
          local: {{run: {{command: {SLEEPER}}}}}
          podman:
            engine: {{host: "{lab.host}"}}
            ship: {ship}
            run: {podman_run}
            {podman_extra}
    """)


@pytest.fixture
def fresh_image(engine: docker.DockerClient, base_images: dict[str, str],
                podman_client: docker.DockerClient) -> Iterator[tuple[str, str]]:
    """An image built for this test only: no engine but the local one holds its ID until porttest ships it."""
    tag = f"porttest-test/podman:{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM {base_images['debian']}\nLABEL porttest.test.nonce={uuid.uuid4().hex}\n"
    image, _ = engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, forcerm=True)
    try:
        yield tag, str(image.id)
    finally:
        engine.images.remove(tag, force=True)
        # Podman answers "image not known", which the SDK maps to NotFound rather than ImageNotFound.
        with contextlib.suppress(docker.errors.NotFound):
            podman_client.images.remove(str(image.id), force=True)


def _podman_containers(client: docker.DockerClient) -> list[str]:
    mine = {"label": [LABEL, f"{SESSION_LABEL}={SESSION_ID}"]}
    return [c["Names"][0].lstrip("/") for c in client.api.containers(all=True, filters=mine)]


def test_baseline_suite_gives_parity_with_podman(tmp_path: Path, fresh_image: tuple[str, str],
                                                  podman_service: PodmanService,
                                                  podman_client: docker.DockerClient) -> None:
    tag, image_id = fresh_image
    shutil.copytree(REPO / "suites" / "baseline", tmp_path / "baseline")
    _matrix(tmp_path, podman_service, tag, "load", suites="baseline")
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    res = ran.results
    assert res and res["verdict"] == "parity"
    local, pod = res["environments"]["local"], res["environments"]["podman"]
    assert pod["status"] == "ok" and pod["engine"]["kind"] == "podman" and local["engine"]["kind"] == "docker"
    # Proof by image ID: podman loaded the very image (same config digest) and ran the container from it.
    assert res["image"]["id"] == local["image_id"] == pod["image_id"] == image_id
    assert podman_client.images.get(image_id).id == image_id
    assert pod["ship"]["mode"] == "load" and pod["ship"]["bytes"] > 1_000_000
    assert len(res["tests"]) >= 13 and all(t["outcomes"] == {"local": "passed", "podman": "passed"}
                                           for t in res["tests"])
    # The persistent shell worked on podman (no fallback note), and the runtime is podman's real one, not "oci".
    assert not any(SESSION_FALLBACK in note for note in pod["notes"]), pod["notes"]
    assert pod["facts"]["runtime"]["name"] == "runc"
    assert "/run/.containerenv" not in pod["facts"]["filesystem"]["writable_mounts"]


def test_missing_image_with_ship_present_is_podmans_error_only(tmp_path: Path, fresh_image: tuple[str, str],
                                                               podman_service: PodmanService) -> None:
    tag, image_id = fresh_image
    write(tmp_path, "suites/test_it.py", SHELL_SUITE)
    _matrix(tmp_path, podman_service, tag, "present")
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    pod = ran.results["environments"]["podman"]  # type: ignore[index]
    assert pod["status"] == "error" and pod["phase"] == "ship"
    assert f"does not hold image {image_id[:19]}" in pod["error"] and "ship: load" in pod["hint"]
    assert pod["image_id"] is None
    assert ran.results["environments"]["local"]["status"] == "ok"  # type: ignore[index]
    assert ran.outcomes("test_shell") == {"local": "passed"}
    assert "Traceback" not in ran.stderr


def test_nothing_is_left_on_podman(tmp_path: Path, podman_service: PodmanService,
                                   podman_client: docker.DockerClient, base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_it.py", """
        def test_many_commands(host):
            for i in range(20):
                assert host.run(f"echo {i}").stdout == f"{i}\\n"

        def test_background_process(host):
            assert host.run("sleep 600 & echo started").rc == 0
    """)
    _matrix(tmp_path, podman_service, base_images["busybox"], "auto")
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    name = ran.results["environments"]["podman"]["container"]  # type: ignore[index]
    assert name and name.startswith("porttest-")
    assert _podman_containers(podman_client) == []
    with pytest.raises(docker.errors.NotFound):
        podman_client.containers.get(name)
    # conmon keeps each exec session's exit code for exit_command_delay seconds, then ends with it; nothing of the
    # run's container may still run after that.
    waited = podman_service.exit_command_delay + 5.0
    assert podman_service.wait_for_leftovers(waited) == [], "conmon/container processes outlived the run"


def test_runtime_podman_ignores_is_refused(tmp_path: Path, podman_service: PodmanService,
                                           podman_client: docker.DockerClient, base_images: dict[str, str]) -> None:
    # Podman's compat API drops HostConfig.Runtime and would run a gVisor profile under runc without a word.
    write(tmp_path, "suites/test_it.py", SHELL_SUITE)
    _matrix(tmp_path, podman_service, base_images["busybox"], "auto",
            podman_run=f"{{command: {SLEEPER}, runtime: runsc}}")
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    pod = ran.results["environments"]["podman"]  # type: ignore[index]
    assert pod["status"] == "error" and pod["phase"] == "start"
    assert "run.runtime asks for runsc, but the engine runs the container under runc" in pod["error"]
    assert "containers.conf" in pod["hint"]
    assert ran.results["environments"]["local"]["status"] == "ok"  # type: ignore[index]
    assert _podman_containers(podman_client) == []


def test_wait_for_healthcheck_on_podman(tmp_path: Path, podman_service: PodmanService,
                                        base_images: dict[str, str]) -> None:
    # Podman schedules healthchecks with systemd timers; there is no systemd here, so porttest runs them.
    write(tmp_path, "suites/test_it.py", "def test_healthy(host):\n    assert host.file('/tmp/healthy').exists\n")
    write(tmp_path, "healthy.yaml", """
        run:
          command: ["sh", "-c", "sleep 1; touch /tmp/healthy; sleep 3600"]
          healthcheck: {test: ["CMD", "test", "-e", "/tmp/healthy"], interval: 300000000, retries: 50}
        wait_for: {healthcheck: true, timeout: 20}
    """)
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          local: {{extends: healthy.yaml}}
          podman: {{extends: healthy.yaml, engine: {{host: "{podman_service.host}"}}}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    assert ran.outcomes("test_healthy") == {"local": "passed", "podman": "passed"}


def test_wait_for_healthcheck_without_one_is_a_clear_error_on_podman(
        tmp_path: Path, podman_service: PodmanService, podman_client: docker.DockerClient,
        base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_it.py", SHELL_SUITE)
    _matrix(tmp_path, podman_service, base_images["busybox"], "auto",
            podman_extra="wait_for: {healthcheck: true, timeout: 20}")
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    pod = ran.results["environments"]["podman"]  # type: ignore[index]
    assert pod["phase"] == "ready" and "defines no HEALTHCHECK" in pod["error"]
    assert pod["duration"] < 15  # told at once, not after the readiness timeout


def test_read_only_profile_diverges_on_podman(tmp_path: Path, podman_service: PodmanService,
                                              podman_client: docker.DockerClient, base_images: dict[str, str]) -> None:
    # A real portability difference: with read_only, podman (read_only_tmpfs, on by default) mounts writable tmpfs on
    # /run, /tmp and /var/tmp; Docker leaves them read-only. The same profile lets a program write /var/tmp only there.
    write(tmp_path, "suites/test_it.py", """
        def test_can_write_var_tmp(host):
            assert host.run("echo x > /var/tmp/cache").rc == 0

        def test_root_is_read_only(host):
            assert host.run("touch /porttest-probe").rc != 0
    """)
    write(tmp_path, "read-only.yaml", f"run: {{command: {SLEEPER}, read_only: true}}\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          docker: {{extends: read-only.yaml}}
          podman: {{extends: read-only.yaml, engine: {{host: "{podman_service.host}"}}}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 3, ran.explain()
    assert ran.outcomes("test_can_write_var_tmp") == {"docker": "failed", "podman": "passed"}
    assert ran.outcomes("test_root_is_read_only") == {"docker": "passed", "podman": "passed"}
    mounts = {name: env["facts"]["filesystem"]["writable_mounts"]
              for name, env in ran.results["environments"].items()}  # type: ignore[index]
    assert "/var/tmp" in mounts["podman"] and "/var/tmp" not in mounts["docker"]
    assert "/var/tmp" in ran.stdout  # the divergence's "why?" names the mount


def test_ctrl_c_during_the_suites_removes_the_podman_container(tmp_path: Path, podman_service: PodmanService,
                                                               podman_client: docker.DockerClient,
                                                               base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_it.py", """
        import time

        def test_quick(host):
            assert host.run("true").rc == 0

        def test_slow(host):
            time.sleep(60)
    """)
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          podman: {{engine: {{host: "{podman_service.host}"}}, run: {{command: {SLEEPER}}}}}
    """)
    proc = subprocess.Popen([sys.executable, "-m", "porttest", "run", "matrix.yaml", "--json", "r.json"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO / "harness")})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _podman_containers(podman_client):
            time.sleep(0.1)
        assert _podman_containers(podman_client), "the run never started its container"
        time.sleep(2.0)  # into the suites
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert _podman_containers(podman_client) == []
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["environments"]["podman"]["status"] == "error"
    assert "interrupted" in results["environments"]["podman"]["error"]
    assert b"Traceback" not in err
    assert podman_service.wait_for_leftovers(podman_service.exit_command_delay + 5.0) == []


def test_clean_removes_porttest_containers_from_podman(tmp_path: Path, podman_service: PodmanService,
                                                      podman_client: docker.DockerClient,
                                                      base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_it.py", SHELL_SUITE)
    _matrix(tmp_path, podman_service, base_images["busybox"], "auto")
    busybox = base_images["busybox"]
    mine = podman_client.containers.create(busybox, ["sleep", "60"], labels={"team": "not-porttest"})
    leftover = podman_client.containers.create(busybox, ["sleep", "60"],
                                               labels={LABEL: "20200101000000-abcdef", "io.porttest.environment": "x"})
    try:
        done = porttest("clean", "matrix.yaml", cwd=tmp_path)
        # Which, not how many: the matrix's local engine may hold other runs' leftovers, swept as well.
        assert done.rc == 0 and f"({leftover.id[:12]}) on podman" in done.stdout, done.explain()
        assert mine.id[:12] not in done.stdout
        with pytest.raises(docker.errors.NotFound):
            podman_client.containers.get(leftover.id)
        assert podman_client.containers.get(mine.id).labels == {"team": "not-porttest"}
    finally:
        mine.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            leftover.remove(force=True)


def test_services_and_the_pod_ip_on_podman(tmp_path: Path, podman_service: PodmanService,
                                           podman_client: docker.DockerClient, base_images: dict[str, str]) -> None:
    # Podman's CNI takes a fixed address only where it would hand one out itself: every address is porttest's.
    write(tmp_path, "suites/test_it.py", """
        def test_the_service_answers_by_name(host, services):
            assert host.check_output("echo ping | nc -w 2 echo 7000") == "pong"
            assert services["echo"].address

        def test_the_ip_variable_is_the_containers_address(host):
            address = host.check_output("ip -4 -o addr show eth0").split()[3].split("/")[0]
            assert host.environment()["POD_IP"] == address
    """)
    busybox = base_images["busybox"]
    echo = f'{{image: {busybox}, run: {{command: [nc, -ll, -p, "7000", -e, echo, pong]}}, wait_for: {{port: 7000}}}}'
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {busybox}
        suites: [suites]
        services: {{echo: {echo}}}
        environments:
          local: {{run: {{command: {SLEEPER}}}, ip_variables: [POD_IP]}}
          podman:
            engine: {{host: "{podman_service.host}"}}
            run: {{command: {SLEEPER}}}
            ip_variables: [POD_IP]
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0 and ran.results is not None, ran.explain()
    assert {e["services"]["echo"]["image_id"] for e in ran.results["environments"].values()} == {
        ran.results["image"]["id"]}
    run_id = ran.results["run_id"]
    assert not podman_client.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"})
    assert not podman_client.networks.list(filters={"label": f"{LABEL}={run_id}"})
