"""A pod's other containers as sidecar services (share_network), translated like the tested one (no engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from porttest.config import parse_matrix
from porttest.config.descriptors import Translation
from porttest.config.descriptors.printed import profile_document
from porttest.config.models import Environment, ServiceSpec
from tests.unit.config.test_kubernetes import FIXTURES, fixture, issues, k8s, line, pod, validates, warned

TEXT = (FIXTURES / "web-sidecars.yaml").read_text()
MAPS: dict[str, Any] = {"runtime_classes": {"gvisor": "runsc"}, "files": {"configmap/shop-web-nginx": "/srv/nginx"}}
SA = "/var/run/secrets/kubernetes.io/serviceaccount"


def web(container: str = "app") -> Translation:
    return fixture("web-sidecars.yaml", container=container, **MAPS)


def at(fragment: str, nth: int = 1) -> int:
    return line(TEXT, fragment, nth)


# ------------------------------------------------------------------------------- nginx + app + log shipper + proxy


def test_the_pods_other_containers_are_sidecar_services() -> None:
    t = web()
    assert list(t.profile["services"]) == ["nginx", "log-shipper", "sql-proxy"]  # containers, then native sidecars
    for spec in t.profile["services"].values():
        assert spec["share_network"] is True  # reached on localhost, as in the pod
        assert "hostname" not in spec["run"] and "extra_hosts" not in spec["run"]  # the tested container's
        assert spec["run"]["runtime"] == "runsc"  # runtimeClassName is the pod's
        assert spec["run"]["environment"]["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
        ServiceSpec.model_validate(spec)
    validates(t)


def test_nginx_field_by_field() -> None:
    nginx = web().profile["services"]["nginx"]
    assert nginx["image"] == {"ref": "nginxinc/nginx-unprivileged:1.27-alpine"}
    run = nginx["run"]
    assert run["user"] == "101"  # its own runAsUser wins over the pod's 10001
    assert run["group_add"] == ["2000"]  # the pod's fsGroup
    assert run["read_only"] is True and run["cap_drop"] == ["ALL"]
    assert (run["mem_limit"], run["memswap_limit"], run["cpus"]) == (64 * 2**20, 64 * 2**20, 0.2)
    assert run["volumes"] == ["/srv/nginx:/etc/nginx/conf.d:ro"]  # the configMap, from the local folder
    assert run["tmpfs"] == {"/var/cache/nginx": "mode=1777"}
    assert "ports" not in run  # container ports are informational
    assert nginx["wait_for"] == {"port": 8080, "timeout": 15, "interval": 5}  # readinessProbe on the named port


def test_the_log_shipper_field_by_field() -> None:
    shipper = web().profile["services"]["log-shipper"]
    run = shipper["run"]
    pod_name = web().profile["run"]["hostname"]
    assert run["command"][-1] == f"tag={pod_name}"  # $(POD_NAME) from its own env, the pod's name
    assert run["environment"]["POD_NAME"] == pod_name
    assert run["environment"]["MEM_LIMIT"] == "32"  # its own limit, in Mi
    assert run["user"] == "10001" and run["read_only"] is True  # the pod's runAsUser, its own read-only root
    assert run["tmpfs"] == {"/logs": f"mode=1777,size={64 * 2**20},ro"}
    assert "wait_for" not in shipper  # no readiness or startup probe


def test_a_native_sidecar_is_a_service_and_an_init_container_is_not_run() -> None:
    t = web()
    proxy = t.profile["services"]["sql-proxy"]
    assert proxy["run"]["command"] == ["--port=5432", "shop:europe-west1:db"]
    assert proxy["run"]["security_opt"] == ["no-new-privileges:true"]
    assert proxy["wait_for"] == {"port": 5432, "timeout": 30, "interval": 2}  # its startupProbe
    assert "migrate" not in t.profile["services"]
    assert warned(t, f"initContainers[0] (line {at('- name: migrate')}) is not translated: init container migrate "
                     "is not run")
    assert warned(t, f"initContainers[1] (line {at('- name: sql-proxy')}): native sidecar sql-proxy starts right "
                     "after the tested container here")


def test_the_tested_container_keeps_what_only_it_has() -> None:
    t = web()
    assert t.profile["run_as_non_root"] is True and t.profile["ip_variables"] == ["POD_IP"]
    assert t.profile["run"]["extra_hosts"] == {"db.internal": "127.0.0.1"}
    assert sorted(t.profile["files"]) == [f"{SA}/ca.crt", f"{SA}/namespace", f"{SA}/token"]
    assert t.profile["wait_for"] == {"port": 8000, "timeout": 30, "interval": 10}


def test_what_sidecars_do_not_get_is_a_warning_with_its_line() -> None:
    t = web()
    assert warned(t, f"securityContext.runAsNonRoot (line {at('runAsNonRoot: true')}) is not translated: porttest "
                     "checks runAsNonRoot for the image under test only")
    assert warned(t, f"initContainers[1].securityContext.runAsNonRoot (line {at('runAsNonRoot: true', 2)})")
    assert warned(t, f"containers (line {at('containers:')}): the service-account files are mounted in the tested "
                     "container only, not in nginx, log-shipper, sql-proxy")
    assert warned(t, f"volumes[2] (line {at('- name: logs', 3)}) is not translated: emptyDir logs is shared by app, "
                     "log-shipper in a pod; here each container has a tmpfs of its own")
    assert warned(t, f"containers[2].lifecycle (line {at('lifecycle:')}) is not translated: postStart and preStop")
    assert warned(t, f"containers[2].livenessProbe (line {at('livenessProbe:')}) is not translated")
    assert warned(t, f"containers[0].readinessProbe.httpGet (line {at('httpGet:')}) is not translated: only the port")
    assert len(warned(t, "fsGroup joins the groups")) == 1  # a pod-level note is said once
    assert not warned(t, "nginx-unprivileged")  # a sidecar's image is used


def test_every_sidecar_key_points_at_its_manifest_line() -> None:
    lines = web().lines
    assert lines[("services",)] == at("containers:")
    assert lines[("services", "nginx")] == lines[("services", "nginx", "run")] == at("- name: nginx")
    assert lines[("services", "nginx", "image")] == at("image: nginxinc")
    assert lines[("services", "nginx", "run", "user")] == at("runAsUser: 101")
    assert lines[("services", "nginx", "run", "runtime")] == at("runtimeClassName")
    assert lines[("services", "nginx", "run", "volumes", 0)] == at("- name: nginx-conf")
    assert lines[("services", "nginx", "wait_for", "port")] == at("port: http")
    assert lines[("services", "sql-proxy", "wait_for")] == at("startupProbe:")
    assert lines[("services", "log-shipper", "run", "command")] == at('args: ["-i"')


def test_choosing_another_container_makes_the_app_a_sidecar() -> None:
    t = web("nginx")
    assert list(t.profile["services"]) == ["app", "log-shipper", "sql-proxy"]
    app = t.profile["services"]["app"]
    assert app["image"] == {"ref": "registry.example.com/shop/api:1.4.2"}
    assert "POD_IP" not in app["run"]["environment"] and "ip_variables" not in t.profile  # no container asks it
    assert warned(t, "status.podIP is set for the tested container only (ip_variables); app shares its network")
    assert t.profile["run"]["user"] == "101" and t.profile["wait_for"]["port"] == 8080


# --------------------------------------------------------------------------------------------------- pod settings


def test_host_namespaces_and_the_pods_security_context_reach_every_container() -> None:
    text = pod(spec="""\
        hostPID: true
        hostNetwork: true
        securityContext: {runAsUser: 1000, supplementalGroups: [3000]}
        """, container="") + "    - {name: exporter, image: prom/node-exporter:v1.8.2}\n"
    t = k8s(text, container="app", allow_privileged=True)
    exporter = t.profile["services"]["exporter"]["run"]
    assert exporter["pid_mode"] == "host" and t.profile["run"]["pid_mode"] == "host"
    assert "network_mode" not in exporter and t.profile["run"]["network_mode"] == "host"  # it joins the tested one's
    assert exporter["user"] == "1000" and exporter["group_add"] == ["3000"]
    validates(t)


def test_a_resource_field_of_another_container() -> None:
    text = pod(container="env:\n  - {name: SIDE_MEM, valueFrom: {resourceFieldRef: {containerName: side, "
                         "resource: limits.memory, divisor: 1Mi}}}\n") \
        + "    - {name: side, image: envoy:1, resources: {limits: {memory: 48Mi}}}\n"
    t = k8s(text, container="app")
    assert t.profile["run"]["environment"]["SIDE_MEM"] == "48"


@pytest.mark.parametrize(("extra", "message", "hint", "at_fragment"), [
    ("    - {name: Side_Car, image: envoy:1}\n", "container name 'Side_Car' cannot name a service",
     "a service is reached by its name, a DNS label: lower-case letters, digits and '-', at most 63", "Side_Car"),
    ("    - {name: side}\n", "container side has no image", "a container needs `image:`", "name: side"),
    ("    - {name: side, image: envoy:1, volumeMounts: [{name: conf, mountPath: /etc/envoy}]}\n",
     "the pod has no volume named conf", "volumes of the pod: none", "name: side"),
])
def test_refusals_in_a_sidecar_are_located(extra: str, message: str, hint: str, at_fragment: str) -> None:
    text = pod() + extra
    (issue,) = issues(text, container="app")
    assert (issue.message, issue.hint, issue.line) == (message, hint, line(text, at_fragment))


def test_an_init_container_restart_policy_other_than_always_is_refused() -> None:
    text = pod(spec="initContainers:\n  - {name: init, image: busybox, restartPolicy: OnFailure}\n")
    (issue,) = issues(text)
    assert issue.message == "an init container's restartPolicy is Always or unset, not 'OnFailure'"
    assert issue.line == line(text, "restartPolicy")


# ---------------------------------------------------------------------------------- printed, loaded, overridden


def test_the_printed_profile_loads_back_with_the_same_sidecars(tmp_path: Path) -> None:
    t = web()
    text = profile_document(t, "kubernetes web-sidecars.yaml")
    assert "    image: nginxinc/nginx-unprivileged:1.27-alpine\n    share_network: true\n" in text
    (tmp_path / "profile.yaml").write_text(text)
    (tmp_path / "suite").mkdir()
    loaded = parse_matrix("version: 1\nimage: x/y:1\nsuites: [suite]\nenvironments:\n  e: {extends: profile.yaml}\n",
                          tmp_path / "matrix.yaml", {}).environments["e"]
    direct = Environment.model_validate({"name": "e", **t.profile})
    assert loaded.services == direct.services and loaded.run == direct.run


def test_an_environment_removes_a_sidecar_it_does_not_want(tmp_path: Path) -> None:
    (tmp_path / "suite").mkdir()
    (tmp_path / "nginx").mkdir()
    matrix = parse_matrix(f"""
        version: 1
        image: x/y:1
        suites: [suite]
        environments:
          e:
            extends:
              kubernetes: {FIXTURES / 'web-sidecars.yaml'}
              container: app
              runtime_classes: {{gvisor: runsc}}
              files: {{configmap/shop-web-nginx: nginx}}
            services:
              sql-proxy: null
              log-shipper: {{image: porttest-base/busybox:latest}}
    """, tmp_path / "matrix.yaml", {})
    env = matrix.environments["e"]
    assert list(env.services) == ["nginx", "log-shipper"]
    assert env.services["log-shipper"].image.ref == "porttest-base/busybox:latest"
    assert env.services["log-shipper"].share_network is True
    assert env.services["nginx"].run.volumes == [f"{tmp_path / 'nginx'}:/etc/nginx/conf.d:ro"]
    assert env.origins["services.nginx.run.read_only"].endswith(f"web-sidecars.yaml:{at('readOnlyRootFilesystem')}")
    assert any("native sidecar sql-proxy" in w for w in matrix.warnings())  # said, although removed
