"""Environments taken from a Kubernetes manifest and a Compose file, run on the real engine: each diverges from a
plain local environment exactly where the descriptor's constraints bite, as a cluster would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import docker
import pytest

from tests.integration.conftest import porttest, write

# A Deployment in the style of widely used charts (metrics-server, ingress-nginx): non-root, read-only root with an
# emptyDir for scratch, all capabilities dropped, no privilege escalation, RuntimeDefault seccomp, small limits.
DEPLOYMENT = """
    # Source: web/templates/deployment.yaml
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      labels:
        app.kubernetes.io/name: web
        app.kubernetes.io/instance: shop
    spec:
      replicas: 2
      selector:
        matchLabels:
          app.kubernetes.io/name: web
      template:
        metadata:
          labels:
            app.kubernetes.io/name: web
        spec:
          securityContext:
            runAsUser: 65534
            runAsGroup: 65534
            runAsNonRoot: true
            fsGroup: 65534
            seccompProfile:
              type: RuntimeDefault
          containers:
            - name: web
              image: "registry.example.com/shop/web:1.4.2"
              imagePullPolicy: IfNotPresent
              command: ["/bin/sleep"]
              args: ["3600"]
              env:
                - name: POD_NAME
                  valueFrom:
                    fieldRef:
                      fieldPath: metadata.name
                - name: POD_NAMESPACE
                  valueFrom:
                    fieldRef:
                      fieldPath: metadata.namespace
              securityContext:
                allowPrivilegeEscalation: false
                readOnlyRootFilesystem: true
                capabilities:
                  drop: ["ALL"]
              resources:
                limits:
                  cpu: 500m
                  memory: 32Mi
                requests:
                  cpu: 100m
                  memory: 16Mi
              volumeMounts:
                - name: cache
                  mountPath: /cache
          volumes:
            - name: cache
              emptyDir: {}
    ---
    # Source: web/templates/service.yaml
    apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      ports:
        - port: 80
          targetPort: 8080
"""

SUITE = """
    def test_pid1_runs_the_command_and_args(host):
        # command replaces the image's ENTRYPOINT and args its CMD: the busybox image alone would run `sh` and exit.
        assert host.file("/proc/1/cmdline").content_string.split("\\0")[:2] == ["/bin/sleep", "3600"]

    def test_scratch_space_is_writable(host):
        assert host.run("mkdir -p /cache && touch /cache/x").rc == 0

    def test_root_filesystem_is_writable(host):
        assert host.run("touch /x").rc == 0

    def test_runs_as_root(host):
        assert host.check_output("id -u") == "0"

    def test_a_48_mib_buffer_fits(host):
        # dd allocates its block size at once: 48 MiB is more than the pod's 32Mi limit
        assert host.run("dd if=/dev/zero of=/dev/null bs=48M count=1").rc == 0

    def test_pod_name_and_namespace_are_where_the_manifest_asks(host, environment):
        env = host.environment()
        if environment.name == "cluster":
            assert env["POD_NAMESPACE"] == "default" and env["POD_NAME"].startswith("web-")
            assert host.check_output("hostname") == env["POD_NAME"]
            assert env["KUBERNETES_SERVICE_HOST"] and env["KUBERNETES_SERVICE_PORT"] == "443"
        else:
            assert "POD_NAME" not in env

    def test_no_service_account_token_is_mounted(host):
        # A hardening check that a cluster fails unless the pod sets automountServiceAccountToken: false.
        assert not host.file("/var/run/secrets/kubernetes.io/serviceaccount/token").exists

    def test_the_service_account_files_are_read_only_where_mounted(host, environment):
        folder = "/var/run/secrets/kubernetes.io/serviceaccount"
        if environment.name == "cluster":
            assert host.file(folder + "/namespace").content_string == "default"
            assert host.file(folder + "/token").mode == 0o644 and host.file(folder + "/ca.crt").user == "root"
            assert "-----BEGIN CERTIFICATE-----" in host.file(folder + "/ca.crt").content_string
            assert "Read-only file system" in host.run("echo x > " + folder + "/token").stderr
            assert folder in host.mount_point(folder).path and "ro" in host.mount_point(folder).options
        else:
            assert not host.file(folder).exists
"""


def _run(folder: Path) -> tuple[int, dict[str, dict[str, str]], dict]:
    ran = porttest("run", "matrix.yaml", cwd=folder)
    assert ran.results is not None, ran.explain()
    rows = {t["id"].split("::")[-1]: t["outcomes"] for t in ran.results["tests"]}
    return ran.rc, rows, ran.results


def test_a_deployment_diverges_exactly_where_its_constraints_bite(tmp_path: Path,
                                                                   base_images: dict[str, str]) -> None:
    write(tmp_path, "deploy/web.yaml", DEPLOYMENT)
    write(tmp_path, "tests/test_web.py", SUITE)
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [tests]
        environments:
          local: {{run: {{command: ["/bin/sleep", "3600"]}}}}
          cluster:
            extends: {{kubernetes: deploy/web.yaml, workload: deployment/web}}
    """)
    rc, rows, results = _run(tmp_path)
    same = {"passed": "passed"}
    assert rows["test_pid1_runs_the_command_and_args"] == {"local": "passed", "cluster": "passed"}
    assert rows["test_scratch_space_is_writable"] == {"local": "passed", "cluster": "passed"}  # emptyDir
    assert rows["test_pod_name_and_namespace_are_where_the_manifest_asks"] == {"local": "passed",
                                                                               "cluster": "passed"}
    assert rows["test_the_service_account_files_are_read_only_where_mounted"] == {"local": "passed",
                                                                                   "cluster": "passed"}
    # Where the manifest's constraints bite: read-only root, runAsUser, the memory limit (OOM kill), and the
    # service-account token the kubelet mounts.
    for test in ("test_root_filesystem_is_writable", "test_runs_as_root", "test_a_48_mib_buffer_fits",
                 "test_no_service_account_token_is_mounted"):
        assert rows[test] == {"local": "passed", "cluster": "failed"}, (test, rows[test], same)
    assert rc == 3 and results["verdict"] == "diverged"
    cluster = results["environments"]["cluster"]
    assert cluster["run"]["read_only"] is True and cluster["run"]["user"] == "65534:65534"
    assert cluster["run"]["cap_drop"] == ["ALL"] and cluster["run"]["mem_limit"] == 32 * 1024 * 1024
    assert cluster["run"]["memswap_limit"] == 32 * 1024 * 1024  # no swap on a kubelet
    assert "no-new-privileges:true" in cluster["run"]["security_opt"]
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert cluster["files"] == [f"{sa}/ca.crt", f"{sa}/namespace", f"{sa}/token"]  # by path, never the token
    assert "eyJ" not in json.dumps(results)
    # The "why?" names the manifest's setting and its line.
    why = next(t["explanation"] for t in results["tests"] if t["id"].endswith("test_root_filesystem_is_writable"))
    assert any("run.read_only" in line and "deploy/web.yaml:" in line for line in why), why
    # What was not translated is said, not dropped.
    assert any("requests" in w for w in results["warnings"]), results["warnings"]
    # The token's volume went with its container.
    listed = subprocess.run(["docker", "volume", "ls", "-q", "--filter", "label=io.porttest.run"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert not [v for v in listed if results["run_id"] in v], listed


def test_run_as_non_root_refuses_an_image_that_runs_as_root(tmp_path: Path, base_images: dict[str, str]) -> None:
    write(tmp_path, "pod.yaml", """
        apiVersion: v1
        kind: Pod
        metadata:
          name: job-runner
        spec:
          securityContext:
            runAsNonRoot: true
          containers:
            - name: runner
              image: registry.example.com/tools/runner:2
              command: ["/bin/sleep", "3600"]
    """)
    write(tmp_path, "tests/test_ok.py", "def test_ok(host):\n    assert host.run('true').rc == 0\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [tests]
        environments:
          local: {{run: {{command: ["/bin/sleep", "3600"]}}}}
          pod: {{extends: {{kubernetes: pod.yaml}}}}
    """)
    rc, _rows, results = _run(tmp_path)
    pod = results["environments"]["pod"]
    assert rc == 4 and pod["status"] == "error" and pod["phase"] == "start"
    assert "container has runAsNonRoot and image will run as root" in pod["error"]
    assert results["environments"]["local"]["status"] == "ok"


def test_a_compose_service_diverges_where_its_settings_bite(tmp_path: Path, base_images: dict[str, str]) -> None:
    write(tmp_path, "compose.yaml", """
        x-hardening: &hardening
          read_only: true
          cap_drop: [ALL]
          security_opt: ["no-new-privileges:true"]
          tmpfs: [/tmp]

        services:
          app:
            <<: *hardening
            image: shop/app:${APP_TAG:-1.4.2}
            user: "65534:65534"
            command: ["/bin/sleep", "3600"]
            environment:
              APP_ENV: staging
            deploy:
              resources:
                limits: {memory: 64m, pids: 64}
            restart: unless-stopped
    """)
    write(tmp_path, "tests/test_app.py", """
        def test_tmp_is_writable(host):
            assert host.run("touch /tmp/x").rc == 0

        def test_root_is_writable(host):
            assert host.run("touch /x").rc == 0

        def test_app_env(host):
            assert host.environment().get("APP_ENV", "staging") == "staging"
    """)
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [tests]
        environments:
          local: {{run: {{command: ["/bin/sleep", "3600"]}}}}
          staging: {{extends: {{compose: compose.yaml, service: app}}}}
    """)
    rc, rows, results = _run(tmp_path)
    assert rows["test_tmp_is_writable"] == {"local": "passed", "staging": "passed"}
    assert rows["test_app_env"] == {"local": "passed", "staging": "passed"}
    assert rows["test_root_is_writable"] == {"local": "passed", "staging": "failed"}
    assert rc == 3
    staging = results["environments"]["staging"]["run"]
    assert staging["pids_limit"] == 64 and staging["mem_limit"] == "64m" and staging["read_only"] is True
    assert any("restart" in w and "compose.yaml" in w for w in results["warnings"]), results["warnings"]


def test_a_compose_dependency_is_a_service_reached_by_its_name(tmp_path: Path, engine: docker.DockerClient,
                                                               base_images: dict[str, str],
                                                               lab_services: dict[str, str]) -> None:
    write(tmp_path, "compose.yaml", f"""
        services:
          api:
            image: shop/api:1.4.2
            command: ["/bin/sleep", "3600"]
            environment:
              REDIS_URL: redis://cache:6379/0
            depends_on:
              cache:
                condition: service_healthy
          cache:
            image: {lab_services["redis"]}
            read_only: true
            healthcheck:
              test: ["CMD-SHELL", "redis-cli ping"]
              interval: 1s
              retries: 30
    """)
    write(tmp_path, "tests/test_api.py", """
        def test_the_cache_answers_by_its_name(host):
            assert "+PONG" in host.check_output("printf 'PING\\\\r\\\\n' | nc -w 2 cache 6379")

        def test_the_cache_runs_as_the_compose_file_says(services):
            cache = services["cache"]
            assert cache.address and not cache.share_network
            assert "Read-only file system" in cache.host.run("touch /x").stderr
    """)
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [tests]
        environments:
          staging: {{extends: {{compose: compose.yaml, service: api}}}}
    """)
    rc, rows, results = _run(tmp_path)
    assert rows == {"test_the_cache_answers_by_its_name": {"staging": "passed"},
                    "test_the_cache_runs_as_the_compose_file_says": {"staging": "passed"}}, results
    assert rc == 0 and results["verdict"] == "parity"
    cache = results["environments"]["staging"]["services"]["cache"]
    assert cache["image_id"] == engine.images.get(lab_services["redis"]).id
    assert not engine.containers.list(all=True, filters={"label": f"io.porttest.run={results['run_id']}"})


def test_a_pods_other_container_is_reached_on_localhost(tmp_path: Path, engine: docker.DockerClient,
                                                        base_images: dict[str, str]) -> None:
    write(tmp_path, "pod.yaml", f"""
        apiVersion: v1
        kind: Pod
        metadata:
          name: greeter-pod
        spec:
          automountServiceAccountToken: false
          containers:
            - name: app
              image: registry.example.com/shop/app:1
              command: ["/bin/sleep", "3600"]
            - name: greeter
              image: {base_images["busybox"]}
              command: ["nc", "-ll", "-p", "9000", "-e", "echo", "hi"]
              readinessProbe:
                tcpSocket:
                  port: 9000
                periodSeconds: 1
    """)
    write(tmp_path, "tests/test_pod.py", """
        def test_the_sidecar_answers_on_localhost(host):
            assert host.check_output("nc -w 2 127.0.0.1 9000 </dev/null") == "hi"

        def test_the_sidecar_shares_the_pods_hostname(host, services):
            greeter = services["greeter"]
            assert greeter.share_network and not greeter.address
            assert greeter.host.check_output("hostname") == host.check_output("hostname") == "greeter-pod"
    """)
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [tests]
        environments:
          pod: {{extends: {{kubernetes: pod.yaml, container: app}}}}
    """)
    rc, rows, results = _run(tmp_path)
    assert rows == {"test_the_sidecar_answers_on_localhost": {"pod": "passed"},
                    "test_the_sidecar_shares_the_pods_hostname": {"pod": "passed"}}, results
    assert rc == 0
    greeter = results["environments"]["pod"]["services"]["greeter"]
    assert greeter["share_network"] is True and greeter["image_id"] == engine.images.get(base_images["busybox"]).id
    assert not engine.containers.list(all=True, filters={"label": f"io.porttest.run={results['run_id']}"})


@pytest.mark.parametrize(("extends", "manifest", "expected"), [
    ("{kubernetes: k.yaml, workload: deployment/nope}", DEPLOYMENT, ("k.yaml", "deployment/web")),
    ("{kubernetes: k.yaml}", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
     "    - {name: a, image: x}\n    - {name: b, image: y}\n", ("k.yaml", "a, b")),
    ("{kubernetes: k.yaml}", "apiVersion: v1\nkind: Pod\nspec: [oops\n", ("k.yaml", "not valid YAML")),
    ("{compose: k.yaml, service: api}", "services:\n  web: {image: x}\n", ("k.yaml", "web")),
])
def test_a_bad_descriptor_is_a_located_error(tmp_path: Path, base_images: dict[str, str], extends: str,
                                             manifest: str, expected: tuple[str, str]) -> None:
    write(tmp_path, "k.yaml", manifest)
    write(tmp_path, "tests/test_ok.py", "def test_ok():\n    pass\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [tests]
        environments:
          cluster: {{extends: {extends}}}
    """)
    ran = porttest("validate", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 2, ran.explain()
    assert "Traceback" not in ran.stderr
    for part in expected:
        assert part in ran.stderr, ran.explain()
    assert "k.yaml:" in ran.stderr  # file:line


def test_profile_import_prints_a_profile_that_validates(tmp_path: Path, base_images: dict[str, str]) -> None:
    write(tmp_path, "deploy/web.yaml", DEPLOYMENT)
    ran = porttest("profile", "import", "kubernetes", "deploy/web.yaml", "--workload", "deployment/web",
                   cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    assert "read_only: true" in ran.stdout and "# not translated" in ran.stdout
    (tmp_path / "staging.yaml").write_text(ran.stdout)
    write(tmp_path, "tests/test_ok.py", "def test_ok():\n    pass\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [tests]
        environments:
          staging: {{extends: staging.yaml}}
    """)
    assert porttest("validate", "matrix.yaml", cwd=tmp_path).rc == 0
