"""porttest.config.descriptors.kubernetes: a workload's pod template, one container of it, as a porttest profile."""

from __future__ import annotations

import base64
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from porttest.config.descriptors import Translation
from porttest.config.descriptors.kubernetes import translate
from porttest.config.models import Environment, WaitFor
from porttest.config.run_options import RunOptions
from porttest.config.yaml_source import load_yaml_documents
from porttest.errors import ConfigError, ConfigIssue

FIXTURES = Path(__file__).parents[2] / "fixtures" / "descriptors" / "kubernetes"
NAME_CHARS = "[bcdfghjklmnpqrstvwxz2456789]"
WARNING = re.compile(r"^kubernetes: \S+ \(line \d+\)( is not translated)?: .+", re.DOTALL)


SA = "/var/run/secrets/kubernetes.io/serviceaccount"


def claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def k8s(text: str, **kwargs: Any) -> Translation:
    kwargs.setdefault("workload", None)
    kwargs.setdefault("container", None)
    return translate(load_yaml_documents(textwrap.dedent(text), "/m/deploy.yaml"), **kwargs)


def fixture(name: str, **kwargs: Any) -> Translation:
    kwargs.setdefault("workload", None)
    kwargs.setdefault("container", None)
    path = FIXTURES / name
    return translate(load_yaml_documents(path.read_text(), str(path)), **kwargs)


def issues(text: str, **kwargs: Any) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        k8s(text, **kwargs)
    return caught.value.issues


def line(text: str, fragment: str, nth: int = 1) -> int:
    """The 1-based line of the nth line of (dedented) `text` that contains `fragment`."""
    found = [i for i, row in enumerate(textwrap.dedent(text).splitlines(), 1) if fragment in row]
    return found[nth - 1]


def warned(translation: Translation, fragment: str) -> list[str]:
    return [w for w in translation.warnings if fragment in w]


def validates(translation: Translation) -> None:
    """The profile is one the matrix models accept as it stands."""
    RunOptions.model_validate(translation.profile.get("run", {}))
    if "wait_for" in translation.profile:
        WaitFor.model_validate(translation.profile["wait_for"])
    Environment.model_validate({"name": "k8s", **translation.profile})
    assert all(WARNING.match(w) for w in translation.warnings), translation.warnings


def pod(container: str = "", spec: str = "", meta: str = "") -> str:
    """A Pod manifest with one container `app`; the arguments are YAML lines at the container's, the pod spec's
    and the metadata's indentation."""
    return (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"
        + textwrap.indent(textwrap.dedent(meta), "  ")
        + "spec:\n"
        + textwrap.indent(textwrap.dedent(spec), "  ")
        + "  containers:\n    - name: app\n      image: shop/api:1\n"
        + textwrap.indent(textwrap.dedent(container), "      ")
    )


# --- chart-style fixtures -------------------------------------------------------------------------------------


def test_metrics_server_deployment_as_a_profile() -> None:
    t = fixture("metrics-server.yaml")
    run = t.profile["run"]
    assert run["user"] == "1000"
    assert run["read_only"] is True
    assert run["security_opt"] == ["no-new-privileges:true"]
    assert run["cap_drop"] == ["ALL"]
    assert run["command"][:2] == ["--secure-port=10250", "--cert-dir=/tmp"]
    assert "entrypoint" not in run  # only args: the image's ENTRYPOINT stays
    assert run["tmpfs"] == {"/tmp": "mode=1777"}
    assert "mem_limit" not in run and "cpus" not in run  # requests only
    assert t.profile["run_as_non_root"] is True
    assert t.profile["wait_for"] == {"port": 10250, "timeout": 50, "interval": 10}  # named port https
    assert re.fullmatch(f"metrics-server-{NAME_CHARS}{{1,10}}-{NAME_CHARS}{{5}}", run["hostname"])
    assert t.file.endswith("metrics-server.yaml") and not t.secret_values
    assert warned(t, "requests are noted, not enforced: cpu=100m, memory=200Mi")
    assert warned(t, "livenessProbe (line 77) is not translated: liveness probes are not run")
    assert warned(t, "readinessProbe.httpGet (line 87) is not translated: only the port is checked, not path, scheme")
    assert warned(t, "priorityClassName (line 52) is not translated: scheduling/cluster-only")
    assert warned(t, "the manifest's image registry.k8s.io/metrics-server/metrics-server:v0.7.2 is not used")
    assert warned(t, "not those of metrics-server")  # the chart's own Service: no service links for it
    assert not warned(t, "serviceaccount")
    account = t.profile["files"]  # the chart's own ServiceAccount, in the chart's namespace
    assert sorted(account) == [f"{SA}/ca.crt", f"{SA}/namespace", f"{SA}/token"]
    assert account[f"{SA}/namespace"] == "kube-system"
    assert claims(account[f"{SA}/token"])["sub"] == "system:serviceaccount:kube-system:metrics-server"
    validates(t)


def test_lines_point_at_the_manifest_fields_that_set_each_key() -> None:
    t = fixture("metrics-server.yaml")
    assert t.lines[("run", "read_only")] == 60
    assert t.lines[("run", "user")] == 62
    assert t.lines[("run", "cap_drop", 0)] == 59
    assert t.lines[("run_as_non_root",)] == 61
    assert t.lines[("wait_for",)] == 85 and t.lines[("wait_for", "port")] == 89
    assert t.lines[("run", "tmpfs", "/tmp")] == 94  # the volumeMount
    assert t.lines[("run",)] == 54  # the container
    located = t.located()
    assert located.file == t.file and located.lines[()] == 1


def test_synthetic_pod_names_are_stable_and_follow_the_template() -> None:
    text = (FIXTURES / "metrics-server.yaml").read_text()
    first = translate(load_yaml_documents(text, "a.yaml"), workload=None, container=None)
    again = translate(load_yaml_documents(text, "b.yaml"), workload=None, container=None)
    changed = translate(load_yaml_documents(text.replace("--metric-resolution=15s", "--metric-resolution=30s"),
                                            "a.yaml"), workload=None, container=None)
    name = first.profile["run"]["hostname"]
    assert again.profile["run"]["hostname"] == name
    assert changed.profile["run"]["hostname"].rsplit("-", 2)[1] != name.rsplit("-", 2)[1]  # pod-template-hash


def test_a_file_with_several_workloads_needs_one_named() -> None:
    with pytest.raises(ConfigError) as caught:
        fixture("ingress-nginx.yaml")
    (issue,) = caught.value.issues
    assert issue.file and issue.file.endswith("ingress-nginx.yaml") and issue.line == 35
    assert "3 workloads" in issue.message
    assert issue.hint == ("the file defines: deployment/ingress-nginx-controller, job/ingress-nginx-admission-create, "
                          "job/ingress-nginx-admission-patch")


@pytest.mark.parametrize("workload", ["deployment/ingress-nginx-controller", "Deployment/ingress-nginx-controller",
                                      "deploy/ingress-nginx-controller", "deployments/ingress-nginx-controller",
                                      "deployments.apps/ingress-nginx-controller"])
def test_workload_names_as_kubectl_takes_them(workload: str) -> None:
    t = fixture("ingress-nginx.yaml", workload=workload, files={"secret/ingress-nginx-admission": "/srv/certs"})
    assert t.profile["run"]["user"] == "101:82"


def test_ingress_nginx_controller() -> None:
    t = fixture("ingress-nginx.yaml", workload="deploy/ingress-nginx-controller",
                files={"secret/ingress-nginx-admission": "/srv/certs"})
    run = t.profile["run"]
    assert run["cap_drop"] == ["ALL"] and run["cap_add"] == ["NET_BIND_SERVICE"]
    assert run["read_only"] is False  # readOnlyRootFilesystem: false is written, so no earlier profile wins
    assert run["command"][1] == "--publish-service=ingress-nginx/ingress-nginx-controller"  # $(POD_NAMESPACE)
    assert run["environment"]["POD_NAMESPACE"] == "ingress-nginx"  # the manifest's namespace
    assert run["environment"]["POD_NAME"] == run["hostname"]
    assert run["environment"]["WORKERS"] == "2"  # from the manifest's own ConfigMap
    assert run["volumes"] == ["/srv/certs:/usr/local/certificates/:ro"]
    assert t.profile["wait_for"] == {"port": 10254, "timeout": 40, "interval": 10}
    assert warned(t, "lifecycle (line 61) is not translated: postStart and preStop hooks are not run")
    assert warned(t, "terminationGracePeriodSeconds (line 146) is not translated: Docker's stop timeout")
    assert warned(t, "readinessProbe.httpGet (line 117) is not translated: only the port is checked, not path")
    assert not warned(t, "timeoutSeconds")  # Kubernetes' defaults lose nothing
    validates(t)


def test_ingress_nginx_secret_volume_needs_local_files() -> None:
    with pytest.raises(ConfigError) as caught:
        fixture("ingress-nginx.yaml", workload="deployment/ingress-nginx-controller")
    (issue,) = caught.value.issues
    assert issue.message == "secret volume ingress-nginx-admission needs local files"
    assert issue.line == 149 and issue.path == "spec.template.spec.volumes[0].secret"
    assert issue.hint and "files: {secret/ingress-nginx-admission: ./folder}" in issue.hint


def test_a_job_of_the_same_file() -> None:
    t = fixture("ingress-nginx.yaml", workload="job/ingress-nginx-admission-create")
    run = t.profile["run"]
    assert run["user"] == "65532:65532"
    assert re.fullmatch(f"ingress-nginx-admission-create-{NAME_CHARS}{{5}}", run["hostname"])
    assert run["command"][1] == ("--host=ingress-nginx-controller-admission,"
                                 "ingress-nginx-controller-admission.ingress-nginx.svc")
    assert warned(t, "restartPolicy (line 191) is not translated: porttest runs the container once")
    validates(t)


def test_postgresql_statefulset() -> None:
    t = fixture("postgresql.yaml", secrets={"shop-postgresql/password": "app-secret"},
                files={"pvc/data": "/srv/pgdata"})
    run = t.profile["run"]
    assert run["hostname"] == "shop-postgresql-0"
    assert run["user"] == "1001:1001" and run["group_add"] == ["1001"]  # fsGroup joins the groups
    assert run["mem_limit"] == 192 * 2**20 and run["cpus"] == 0.15
    env = run["environment"]
    assert env["PGDATA"] == "/bitnami/postgresql/data"  # $(POSTGRESQL_VOLUME_DIR)
    assert env["POSTGRES_PASSWORD"] == "app-secret"  # the matrix's map
    assert env["POSTGRES_POSTGRES_PASSWORD"] == "s3cr3t-pg-pass"  # the manifest's own Secret, base64-decoded
    assert t.secret_values == {"app-secret", "s3cr3t-pg-pass"}
    assert run["tmpfs"] == {"/tmp": "mode=1777", "/opt/bitnami/postgresql/conf": "mode=1777",
                            "/opt/bitnami/postgresql/tmp": "mode=1777", "/dev/shm": "mode=1777"}
    assert run["volumes"] == ["/srv/pgdata:/bitnami/postgresql:rw"]  # the volumeClaimTemplate
    assert t.profile["wait_for"] == {
        "command": "/bin/sh -c -e 'exec pg_isready -U \"shop\" -d \"dbname=shop\" -h 127.0.0.1 -p 5432\n'",
        "timeout": 65, "interval": 10}
    assert warned(t, "ephemeral-storage (line 153) is not translated: only memory and cpu limits")
    assert warned(t, "requests are noted, not enforced: cpu=100m, ephemeral-storage=50Mi, memory=128Mi")
    assert warned(t, "readinessProbe.timeoutSeconds (line 142) is not translated")
    assert len(warned(t, "disk-backed emptyDir")) == 1  # once for empty-dir, not for dshm (medium: Memory)
    assert not warned(t, "serviceaccount") and "files" not in t.profile  # automountServiceAccountToken: false
    assert not warned(t, "Service's variables")  # its only Service is headless: no service links
    assert not warned(t, "seLinuxOptions") and not warned(t, "privileged")
    validates(t)


def test_postgresql_without_the_password_or_the_claim() -> None:
    with pytest.raises(ConfigError) as caught:
        fixture("postgresql.yaml")
    (issue,) = caught.value.issues
    assert issue.line == 113 and issue.message == "secret key shop-postgresql/password has no value here"
    assert issue.hint == "give it in the kubernetes extends entry: secrets: {shop-postgresql/password: ...}"
    t = fixture("postgresql.yaml", secrets={"shop-postgresql/password": "x"})
    assert "volumes" not in t.profile["run"]
    assert warned(t, "volumeMounts[4] (line 171) is not translated: persistentVolumeClaim data is not mounted at "
                     "/bitnami/postgresql")


def test_cronjob() -> None:
    t = fixture("cronjob.yaml", config_maps={"backup-settings/RETENTION": "7"},
                secrets={"backup-credentials/KEY": "AKIA-EXAMPLE", "other/KEY": "unrelated"})
    run = t.profile["run"]
    job = run["hostname"].rsplit("-", 1)[0]
    assert re.fullmatch(rf"shop-backup-\d{{8}}-{NAME_CHARS}{{5}}", run["hostname"])
    assert run["entrypoint"] == ["/bin/sh", "-c"]
    assert run["command"] == [f'pg_dump --host=shop-postgresql --format=custom | upload '
                              f'--target="s3://shop-backups/nightly" --job={job} --cost=$5']
    assert run["working_dir"] == "/work"
    assert run["mem_limit"] == 2**29 and run["cpus"] == 1.5
    assert run["group_add"] == ["5000", "5001"]
    env = run["environment"]
    assert env["RETENTION"] == "7" and env["S3_KEY"] == "AKIA-EXAMPLE" and "KEY" not in env
    assert env["JOB_NAME"] == job and env["CPU_LIMIT_MILLIS"] == "1500"
    assert t.secret_values == {"AKIA-EXAMPLE"}
    assert run["tmpfs"] == {"/work": "mode=1777,size=268435456"}
    assert t.profile["wait_for"] == {"command": "test -d /work", "timeout": 10, "interval": 2}
    assert not warned(t, "emptyDir")  # medium: Memory is what a tmpfs is
    validates(t)


def test_every_fixture_gives_a_valid_profile_and_well_formed_warnings() -> None:
    for t in (fixture("metrics-server.yaml"), fixture("hardened-pod.yaml"),
              fixture("ingress-nginx.yaml", workload="job/ingress-nginx-admission-patch"),
              fixture("cronjob.yaml", config_maps={"backup-settings/A": "1"}, secrets={"backup-credentials/B": "2"})):
        validates(t)


# --- workload and container selection ---------------------------------------------------------------------------

TWO = """\
# Source: shop/templates/api.yaml
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  template:
    spec:
      containers:
        - {name: api, image: shop/api:1}
        - {name: metrics, image: shop/exporter:1}
      initContainers:
        - {name: migrate, image: shop/api:1}
---
---
# Source: shop/templates/db.yaml
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  template:
    spec:
      containers: [{name: db, image: postgres:16}]
---
apiVersion: v1
kind: Service
metadata: {name: api}
"""


@pytest.mark.parametrize(("workload", "container", "user_of"), [
    ("deployment/api", "api", "api"), ("deploy/api", "metrics", "metrics"), ("sts/db", None, "db"),
    ("statefulsets/db", "db", "db"), ("StatefulSet.apps/db", None, "db")])
def test_selection_in_a_multi_document_file(workload: str, container: str | None, user_of: str) -> None:
    t = k8s(TWO, workload=workload, container=container)
    assert t.lines[("run",)] == line(TWO, f"name: {user_of},")


def test_the_other_containers_are_services_and_init_containers_a_warning() -> None:
    t = k8s(TWO, workload="deployment/api", container="metrics")
    assert list(t.profile["services"]) == ["api"]
    assert t.profile["services"]["api"]["image"] == {"ref": "shop/api:1"}
    assert t.profile["services"]["api"]["share_network"] is True
    assert t.lines[("services", "api")] == line(TWO, "name: api,")
    assert warned(t, "spec.template.spec.initContainers[0] (line 13) is not translated: init container migrate is "
                     "not run")
    assert not warned(t, "other containers")
    validates(t)


@pytest.mark.parametrize(("workload", "container", "message", "hint", "at"), [
    (None, None, "the file defines 2 workloads: name one with workload: KIND/NAME",
     "the file defines: deployment/api, statefulset/db", "kind: Deployment"),
    ("deployment/web", None, "no deployment/web in this file", "the file defines: deployment/api, statefulset/db",
     "kind: Deployment"),
    ("cronjob/api", None, "no cronjob/api in this file", "the file defines: deployment/api, statefulset/db",
     "kind: Deployment"),
    ("service/api", None, "'service/api' is not KIND/NAME of a workload",
     "e.g. deployment/api; the file defines: deployment/api, statefulset/db", "kind: Deployment"),
    ("api", None, "'api' is not KIND/NAME of a workload", None, "kind: Deployment"),
    ("deployment/api", None, "the pod of deployment/api has 2 containers: name one with container: NAME",
     "containers of deployment/api: api, metrics", "containers:"),
    ("deployment/api", "web", "deployment/api has no container named web", "containers of deployment/api: api, "
     "metrics", "containers:"),
    ("deployment/api", "migrate", "migrate is an init container of deployment/api; porttest runs one of the pod's "
     "containers", "containers of deployment/api: api, metrics", "containers:"),
])
def test_selection_problems_are_located_with_what_exists(workload: str | None, container: str | None, message: str,
                                                         hint: str | None, at: str) -> None:
    (issue,) = issues(TWO, workload=workload, container=container)
    assert issue.message == message
    assert hint is None or issue.hint == hint
    assert issue.file == "/m/deploy.yaml" and issue.line == line(TWO, at)


def test_a_file_without_workloads() -> None:
    (issue,) = issues("apiVersion: v1\nkind: Service\nmetadata: {name: api}\n")
    assert issue.message == "no workload in this file" and issue.line == 1
    assert issue.hint and "Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod" in issue.hint


@pytest.mark.parametrize(("text", "message", "at"), [
    ("kind: Service\nmetadata: {name: a}\n---\n- just\n- a list\n", "a Kubernetes object is a mapping with `kind:`",
     4),
    ("apiVersion: v1\nmetadata: {name: a}\n", "a Kubernetes object is a mapping with `kind:`", 1),
    ("kind: Deployment\nmetadata:\n  labels: {a: b}\n", "this Deployment has no metadata.name", 2),
    ("kind: Deployment\nmetadata: {name: api}\nspec:\n  replicas: 2\n", "deployment/api has no spec.template", 3),
    ("kind: CronJob\nmetadata: {name: nightly}\nspec:\n  schedule: '@daily'\n",
     "cronjob/nightly has no spec.jobTemplate.spec.template", 3),
    ("kind: Pod\nmetadata: {name: p}\nspec:\n  containers: []\n", "pod/p has no containers", 4),
    ("kind: Pod\nmetadata: {name: p}\nspec:\n  containers: {name: a}\n", "expected a list here, not a mapping", 4),
])
def test_malformed_manifests_are_refused_with_a_line(text: str, message: str, at: int) -> None:
    found = issues(text)
    assert found[0].message == message and found[0].line == at


def test_a_kubectl_list_and_generate_name() -> None:
    text = """\
    apiVersion: v1
    kind: List
    items:
      - apiVersion: v1
        kind: Pod
        metadata: {generateName: smoke-, namespace: qa}
        spec:
          containers:
            - name: app
              image: x
              env:
                - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
              securityContext: {readOnlyRootFilesystem: true}
    """
    t = k8s(text, namespace="ignored")
    assert re.fullmatch(f"smoke-{NAME_CHARS}{{5}}", t.profile["run"]["hostname"])
    assert t.profile["run"]["environment"]["NS"] == "qa"  # the manifest's namespace wins
    assert t.lines[("run", "read_only")] == line(text, "readOnlyRootFilesystem")


@pytest.mark.parametrize(("kind", "name"), [("DaemonSet", rf"agent-{NAME_CHARS}{{5}}"),
                                            ("ReplicaSet", rf"agent-{NAME_CHARS}{{5}}"),
                                            ("Job", rf"agent-{NAME_CHARS}{{5}}"),
                                            ("StatefulSet", "agent-0"),
                                            ("Deployment", rf"agent-{NAME_CHARS}{{1,10}}-{NAME_CHARS}{{5}}")])
def test_pod_names_in_the_controllers_shape(kind: str, name: str) -> None:
    t = k8s(f"kind: {kind}\nmetadata: {{name: agent}}\nspec:\n  template:\n    spec:\n"
            "      containers: [{name: a, image: x}]\n")
    assert re.fullmatch(name, t.profile["run"]["hostname"])


def test_spec_hostname_and_long_names() -> None:
    assert k8s(pod(spec="hostname: db-primary\n")).profile["run"]["hostname"] == "db-primary"
    long = k8s(f"kind: StatefulSet\nmetadata: {{name: {'x' * 70}}}\nspec:\n  template:\n    spec:\n"
               "      containers: [{name: a, image: x}]\n")
    assert long.profile["run"]["hostname"] == "x" * 63


# --- security ---------------------------------------------------------------------------------------------------


def test_container_security_context_wins_over_the_pod() -> None:
    text = pod(spec="""\
        securityContext:
          runAsUser: 1000
          runAsGroup: 3000
          runAsNonRoot: true
          seccompProfile: {type: Unconfined}
        """, container="""\
        securityContext:
          runAsUser: 2000
          runAsNonRoot: false
          seccompProfile: {type: RuntimeDefault}
        """)
    t = k8s(text)
    run = t.profile["run"]
    assert run["user"] == "2000:3000"
    assert t.lines[("run", "user")] == line(text, "runAsUser: 2000")
    assert "run_as_non_root" not in t.profile
    assert "security_opt" not in run
    assert not warned(t, "seccomp")


def test_pod_level_security_alone() -> None:
    text = pod(spec="""\
        securityContext:
          runAsUser: 1000
          runAsNonRoot: true
          supplementalGroups: [4000, 4001]
          fsGroup: 4000
          seccompProfile: {type: Unconfined}
          sysctls:
            - {name: net.ipv4.ip_unprivileged_port_start, value: "80"}
            - {name: kernel.shm_rmid_forced, value: "1"}
        """)
    t = k8s(text)
    run = t.profile["run"]
    assert run["user"] == "1000"
    assert run["group_add"] == ["4000", "4001"]  # fsGroup 4000 once
    assert run["security_opt"] == ["seccomp=unconfined"]
    assert run["sysctls"] == {"net.ipv4.ip_unprivileged_port_start": "80", "kernel.shm_rmid_forced": "1"}
    assert t.profile["run_as_non_root"] is True
    assert t.lines[("run", "sysctls", "kernel.shm_rmid_forced")] == line(text, "kernel.shm_rmid_forced")
    validates(t)


def test_run_as_group_without_a_user_keeps_the_images_user() -> None:
    text = pod(container="securityContext: {runAsGroup: 5000}\n")
    t = k8s(text)
    assert "user" not in t.profile["run"]
    assert warned(t, f"runAsGroup (line {line(text, 'runAsGroup')}) is not translated: runAsGroup without runAsUser")


def test_seccomp_apparmor_selinux_and_friends() -> None:
    text = pod(spec="securityContext:\n  seLinuxOptions: {level: 's0:c123,c456'}\n"
                    "  windowsOptions: {runAsUserName: app}\n  supplementalGroupsPolicy: Strict\n",
               container="""\
        securityContext:
          seccompProfile: {type: Localhost, localhostProfile: profiles/audit.json}
          appArmorProfile: {type: Localhost, localhostProfile: k8s-apparmor-example}
          procMount: Unmasked
          seLinuxOptions: {}
        """)
    t = k8s(text)
    assert "security_opt" not in t.profile["run"]
    for field in ("seccompProfile", "appArmorProfile", "procMount", "windowsOptions", "supplementalGroupsPolicy"):
        (found,) = [w for w in t.warnings if f".{field} (line" in w]
        assert "is not translated" in found
    assert not warned(t, "seLinuxOptions")  # the container's {} replaces the pod's options, as on a cluster
    selinux = k8s(pod(spec="securityContext:\n  seLinuxOptions: {level: 's0:c123,c456'}\n"))
    assert warned(selinux, "spec.securityContext.seLinuxOptions (line 7) is not translated")
    plain = k8s(pod(container="securityContext: {appArmorProfile: {type: RuntimeDefault}, procMount: Default}\n"))
    assert not warned(plain, "appArmor") and not warned(plain, "procMount")
    assert warned(plain, "no seccompProfile: a cluster runs the pod Unconfined")


REFUSED = pod(spec="""\
    hostNetwork: true
    hostPID: true
    hostIPC: true
    runtimeClassName: gvisor
    securityContext:
      sysctls:
        - {name: net.core.somaxconn, value: "1024"}
    volumes:
      - name: docker
        hostPath: {path: /var/run/docker.sock}
      - name: conf
        configMap: {name: app-config}
    """, container="""\
    securityContext: {privileged: true}
    volumeMounts:
      - {name: docker, mountPath: /var/run/docker.sock}
      - {name: conf, mountPath: /etc/app}
      - {name: nowhere, mountPath: /data}
    env:
      - {name: TOKEN, valueFrom: {secretKeyRef: {name: api, key: token}}}
      - {name: MODE, valueFrom: {configMapKeyRef: {name: app-config, key: mode}}}
    readinessProbe:
      httpGet: {port: admin}
    """)


def test_every_refusal_is_collected_and_located() -> None:
    found = {i.message: i for i in issues(REFUSED)}
    expected = {
        "hostNetwork shares the host's namespace with the container": ("hostNetwork", "set allow_privileged: true "
                                                                       "in the matrix"),
        "hostPID shares the host's namespace with the container": ("hostPID", "set allow_privileged: true in the "
                                                                   "matrix"),
        "hostIPC shares the host's namespace with the container": ("hostIPC", "set allow_privileged: true in the "
                                                                   "matrix"),
        "the container is privileged": ("privileged", "set allow_privileged: true in the matrix"),
        "sysctl net.core.somaxconn is not in Kubernetes' safe set": ("net.core.somaxconn", "set allow_privileged: "
                                                                     "true in the matrix"),
        "runtimeClassName gvisor has no runtime here": ("runtimeClassName", "map it: runtime_classes: {gvisor: "
                                                        "runsc}"),
        "hostPath volume docker is refused: porttest does not mount the engine host's files": ("hostPath", None),
        "configMap volume app-config needs local files": ("configMap: {name: app-config}",
                                                          "map it to a folder in the kubernetes extends entry: "
                                                          "files: {configmap/app-config: ./folder}"),
        "the pod has no volume named nowhere": ("name: nowhere", "volumes of the pod: conf, docker"),
        "secret key api/token has no value here": ("name: TOKEN", "give it in the kubernetes extends entry: "
                                                   "secrets: {api/token: ...}"),
        "configMap key app-config/mode has no value here": ("name: MODE", "give it in the kubernetes extends entry: "
                                                            "config_maps: {app-config/mode: ...}"),
        "the container has no port named admin": ("port: admin", "named ports of the container: none"),
    }
    assert set(found) == set(expected)
    for message, (fragment, hint) in expected.items():
        assert found[message].line == line(REFUSED, fragment), message
        assert found[message].file == "/m/deploy.yaml"
        assert hint is None or found[message].hint == hint, message


def test_allow_privileged_and_the_maps_lift_the_refusals() -> None:
    text = REFUSED.replace("hostPath: {path: /var/run/docker.sock}", "emptyDir: {}").replace(
        "httpGet: {port: admin}", "tcpSocket: {port: 8080}").replace("name: nowhere", "name: docker")
    t = k8s(text, allow_privileged=True, runtime_classes={"gvisor": "runsc"}, secrets={"api/token": "t0k"},
            config_maps={"app-config/mode": "fast"}, files={"configmap/app-config": "/abs/conf"})
    run = t.profile["run"]
    assert run["privileged"] is True
    assert (run["network_mode"], run["pid_mode"], run["ipc_mode"]) == ("host", "host", "host")
    assert "hostname" not in run  # the node's hostname with hostNetwork; Docker refuses both
    assert run["sysctls"] == {"net.core.somaxconn": "1024"}
    assert run["runtime"] == "runsc"
    assert run["volumes"] == ["/abs/conf:/etc/app:ro"]
    assert run["environment"]["TOKEN"] == "t0k" and t.secret_values == {"t0k"}
    assert t.profile["wait_for"]["port"] == 8080
    validates(t)


# --- what is not translated -------------------------------------------------------------------------------------


def test_every_untranslated_field_is_a_warning() -> None:
    text = pod(spec="""\
        affinity: {nodeAffinity: {}}
        tolerations: [{key: dedicated, operator: Exists}]
        nodeSelector: {kubernetes.io/os: linux}
        priorityClassName: high
        serviceAccountName: api
        imagePullSecrets: [{name: regcred}]
        initContainers: [{name: init, image: busybox}]
        shareProcessNamespace: true
        dnsConfig: {options: [{name: ndots, value: "2"}]}
        subdomain: api
        hostUsers: false
        futureField: 1
        enableServiceLinks: false
        hostAliases:
          - {ip: 127.0.0.1, hostnames: [api.local, api]}
        """, container="""\
        stdin: true
        tty: false
        terminationMessagePolicy: FallbackToLogsOnError
        volumeDevices: [{name: raw, devicePath: /dev/xvda}]
        ports: [{containerPort: 80, hostPort: 8080}]
        newContainerField: {}
        securityContext: {unknownKnob: true, capabilities: {add: [net_admin], keep: [CHOWN]}}
        """)
    t = k8s(text)
    for field, why in [("affinity", "scheduling/cluster-only"), ("tolerations", "scheduling/cluster-only"),
                       ("nodeSelector", "scheduling/cluster-only"), ("priorityClassName", "scheduling/cluster-only"),
                       ("serviceAccountName", "scheduling/cluster-only"), ("imagePullSecrets", "scheduling/cluster"),
                       ("shareProcessNamespace", "a process namespace of its own"),
                       ("dnsConfig", "engine's DNS"), ("subdomain", "no cluster DNS name"),
                       ("hostUsers", "user namespace"), ("futureField", "unknown field"), ("stdin", "detached"),
                       ("terminationMessagePolicy", "termination message"), ("volumeDevices", "block devices"),
                       ("hostPort", "no port of the engine's host is published"),
                       ("newContainerField", "unknown field"), ("unknownKnob", "unknown field"),
                       ("keep", "unknown field")]:
        expected = f".{field} (line {line(text, field + ':')}) is not translated: "
        assert any(expected in w and why in w for w in t.warnings), (field, t.warnings)
    assert warned(t, f".initContainers[0] (line {line(text, 'initContainers:')}) is not translated: init container "
                     "init is not run")
    assert not warned(t, ".tty")  # false changes nothing
    assert not warned(t, "Service's variables")
    assert t.profile["run"]["extra_hosts"] == {"api.local": "127.0.0.1", "api": "127.0.0.1"}
    assert t.profile["run"]["cap_add"] == ["NET_ADMIN"]
    validates(t)


def test_the_service_account_files_follow_automount_as_the_kubelet_decides() -> None:
    account = pod(spec="serviceAccountName: quiet\n") + "---\nkind: ServiceAccount\nmetadata: {name: quiet}\n"
    assert "files" not in k8s(account + "automountServiceAccountToken: false\n").profile  # the account says no
    assert "files" in k8s(account + "automountServiceAccountToken: true\n").profile
    # The pod's own word wins over its account's.
    assert "files" in k8s(pod(spec="serviceAccountName: quiet\nautomountServiceAccountToken: true\n")
                          + "---\nkind: ServiceAccount\nmetadata: {name: quiet}\nautomountServiceAccountToken: false\n"
                          ).profile
    assert "files" not in k8s(pod(spec="automountServiceAccountToken: false\n")).profile
    t = k8s(pod(spec="serviceAccountName: api-reader\n"), namespace="shop")
    files = t.profile["files"]
    assert files[f"{SA}/namespace"] == "shop"
    assert files[f"{SA}/ca.crt"].startswith("-----BEGIN CERTIFICATE-----\n")
    token = claims(files[f"{SA}/token"])
    assert token["sub"] == "system:serviceaccount:shop:api-reader"
    assert token["kubernetes.io"] == {"namespace": "shop", "pod": {"name": "web"},
                                      "serviceaccount": {"name": "api-reader"}}
    assert t.lines[("files", f"{SA}/token")] == line(pod(spec="serviceAccountName: api-reader\n"), "spec:")
    validates(t)


def test_a_malformed_field_is_reported_once() -> None:
    text = pod(container="env: {A: b}\nports: 8080\nreadinessProbe: {tcpSocket: {port: http}}\n")
    found = issues(text)
    assert [(i.message, i.line) for i in found] == [
        ("expected a list here, not a mapping", line(text, "env:")),
        ("expected a list here, not 8080", line(text, "ports:")),
        ("the container has no port named http", line(text, "tcpSocket")),
    ]


def test_the_same_workload_twice_is_ambiguous() -> None:
    text = pod() + "---\n" + pod()
    (issue,) = issues(text, workload="pod/web")
    assert issue.message == "pod/web is defined 2 times" and issue.hint == "the file defines: pod/web, pod/web"


def test_the_manifests_namespace_wins_with_a_note() -> None:
    text = pod(meta="namespace: shop\n", container="env:\n  - {name: NS, valueFrom: {fieldRef: "
                                                   "{fieldPath: metadata.namespace}}}\n")
    t = k8s(text, namespace="staging")
    assert t.profile["run"]["environment"]["NS"] == "shop"
    assert warned(t, "metadata.namespace (line 5): the manifest's namespace shop is used, not staging")
    assert not warned(k8s(text), "namespace shop is used")
    no_namespace = k8s(pod(container="env:\n  - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}\n"),
                       namespace="staging")
    assert no_namespace.profile["run"]["environment"]["NS"] == "staging"


def test_the_pod_ip_goes_to_ip_variables_for_the_engine_to_fill() -> None:
    text = pod(container="""\
        env:
          - name: POD_IP
            valueFrom: {fieldRef: {fieldPath: status.podIP}}
          - name: POD_IPS
            valueFrom: {fieldRef: {fieldPath: status.podIPs}}
          - name: NODE_IP
            valueFrom: {fieldRef: {fieldPath: status.hostIP}}
        """)
    t = k8s(text)
    assert t.profile["ip_variables"] == ["POD_IP", "POD_IPS"]
    assert t.lines[("ip_variables", 0)] == line(text, "- name: POD_IP")
    assert "POD_IP" not in t.profile["run"]["environment"] and "NODE_IP" not in t.profile["run"]["environment"]
    assert warned(t, "status.hostIP is only known once the container runs")
    assert not warned(t, "status.podIP")
    validates(t)
    with pytest.raises(ValueError, match=re.escape("ip_variables need a network of the environment's own, and "
                                                   "run.network_mode chooses another")):
        Environment.model_validate({"name": "k8s", **t.profile, "run": {"network_mode": "host"}})
