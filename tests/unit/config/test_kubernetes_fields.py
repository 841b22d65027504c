"""porttest.config.descriptors.kubernetes_fields and _volumes: quantities, environment, volumes and probes."""

from __future__ import annotations

import uuid
from fractions import Fraction

import pytest

from porttest.config.descriptors.kubernetes_fields import SERVICE_ENV, expand, quantity
from tests.unit.config.test_kubernetes import issues, k8s, line, pod, validates, warned


@pytest.mark.parametrize(("text", "value"), [
    ("512Mi", 512 * 2**20), ("0.5Gi", 2**29), ("1Ki", 1024), ("1Ti", 2**40), ("1k", 1000), ("1M", 10**6),
    ("1G", 10**9), ("2T", 2 * 10**12), ("1e3", 1000), ("1E3", 1000), ("1E", 10**18), ("129e6", 129 * 10**6),
    ("128974848", 128974848), (2, 2), (1.5, Fraction(3, 2)), ("1.5", Fraction(3, 2)), ("500m", Fraction(1, 2)),
    (".5", Fraction(1, 2)), ("1.", 1), ("+1Gi", 2**30), ("1e-3", Fraction(1, 1000)),
])
def test_kubernetes_quantities(text: object, value: Fraction) -> None:
    assert quantity(text) == value


@pytest.mark.parametrize("text", ["12 Mi", "1.5.3", "abc", "1KiB", "1mi", "", "Mi", True, None, [1]])
def test_not_quantities(text: object) -> None:
    assert quantity(text) is None


@pytest.mark.parametrize(("memory", "cpu", "mem_limit", "cpus"), [
    ("512Mi", "500m", 536870912, 0.5), ("0.5Gi", "1.5", 536870912, 1.5), ("1e3", 2, 1000, 2.0),
    ("1G", "0.1", 10**9, 0.1), ("100m", "250m", 1, 0.25), ("64Mi", "1m", 67108864, 0.01),
])
def test_limits_become_mem_limit_and_cpus(memory: str, cpu: object, mem_limit: int, cpus: float) -> None:
    text = pod(container=f"resources:\n  limits: {{memory: {memory!r}, cpu: {cpu!r}}}\n")
    t = k8s(text)
    assert t.profile["run"]["mem_limit"] == mem_limit and t.profile["run"]["cpus"] == cpus
    assert t.lines[("run", "mem_limit")] == line(text, "limits:")
    assert bool(warned(t, "is the smallest limit")) == (cpu == "1m")
    validates(t)


def test_bad_quantities_are_refused_with_a_hint() -> None:
    text = pod(container="resources:\n  limits:\n    memory: 12 Mi\n    cpu: -1\n")
    found = issues(text)
    assert [(i.message, i.line) for i in found] == [("'12 Mi' is not a Kubernetes quantity", line(text, "memory")),
                                                    ("-1 is not a Kubernetes quantity", line(text, "cpu"))]
    assert found[0].hint == "Kubernetes quantities look like 512Mi, 1G, 500m, 1.5 or 1e3"


def test_other_limits_and_requests_are_warnings() -> None:
    text = pod(container="""\
        resources:
          limits: {memory: 1Gi, hugepages-2Mi: 64Mi, nvidia.com/gpu: 1}
          requests: {cpu: 250m}
          claims: [{name: gpu}]
        """)
    t = k8s(text)
    assert warned(t, f"limits.hugepages-2Mi (line {line(text, 'limits')}) is not translated: only memory and cpu")
    assert warned(t, "limits.nvidia.com/gpu")
    assert warned(t, f"resources.requests (line {line(text, 'requests')}): requests are noted, not enforced: cpu=250m")
    assert warned(t, "resources.claims") and "cpus" not in t.profile["run"]


@pytest.mark.parametrize(("text", "expanded"), [
    ("$(A)", "a"), ("$$(A)", "$(A)"), ("$(MISSING)", "$(MISSING)"), ("$$", "$"), ("$", "$"), ("a$", "a$"),
    ("$(A", "$(A"), ("$x", "$x"), ("$$$(A)", "$a"), ("$()", "$()"), ("$(A)$(B)-$(A)", "ab-a"), ("$(A$(B))", "$(A$(B))"),
    ("$$$$", "$$"), ("(A)", "(A)"), ("x$(A)y", "xay"), ("$(B)(A)", "b(A)"),
])
def test_dollar_var_expansion_as_kubernetes_does_it(text: str, expanded: str) -> None:
    assert expand(text, {"A": "a", "B": "b"}.get) == expanded


def test_env_values_see_only_what_came_before() -> None:
    text = pod(container="""\
        env:
          - {name: URL, value: "http://$(HOST):$(PORT)/"}
          - {name: HOST, value: api}
          - {name: PORT, value: "8080"}
          - {name: SELF, value: "$(HOST):$(PORT) on $(KUBERNETES_SERVICE_HOST)"}
          - {name: FROM_MAP, value: "$(LEVEL)"}
          - {name: LEVEL, value: override}
          - {name: KUBERNETES_SERVICE_PORT, value: "6443"}
          - {name: EMPTY}
          - {name: RAW, valueFrom: {configMapKeyRef: {name: cfg, key: raw}}}
        envFrom:
          - configMapRef: {name: cfg}
        """)
    t = k8s(text, config_maps={"cfg/LEVEL": "debug", "cfg/raw": "$(HOST)", "cfg/bad=name": "x"})
    env = t.profile["run"]["environment"]
    assert env["URL"] == "http://$(HOST):$(PORT)/"
    assert env["SELF"] == "api:8080 on 10.96.0.1"
    assert env["FROM_MAP"] == "debug" and env["LEVEL"] == "override"  # env wins over envFrom
    assert env["KUBERNETES_SERVICE_PORT"] == "6443"  # the manifest wins over the kubelet's variables
    assert env["KUBERNETES_PORT_443_TCP_ADDR"] == "10.96.0.1"
    assert env["EMPTY"] == "" and env["RAW"] == "$(HOST)"  # valueFrom is never expanded
    assert "bad=name" not in env and "raw" in env
    assert t.lines[("run", "environment", "HOST")] == line(text, "name: HOST")
    assert t.lines[("run", "environment", "LEVEL")] == line(text, "name: LEVEL")
    assert t.lines[("run", "environment", "raw")] == line(text, "configMapRef")


def test_the_kubelets_service_variables() -> None:
    assert SERVICE_ENV == {
        "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "443", "KUBERNETES_PORT": "tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": "443", "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1"}
    env = k8s(pod(spec="enableServiceLinks: false\n")).profile["run"]["environment"]
    assert env == SERVICE_ENV  # even without service links


@pytest.mark.parametrize(("container", "entrypoint", "command"), [
    ('command: ["/app/server", "--port=$(PORT)"]\n', ["/app/server", "--port=8080"], None),
    ('args: ["--port=$(PORT)", "$$(PORT)"]\n', None, ["--port=8080", "$(PORT)"]),
    ('command: [sh, -c]\nargs: ["echo $(LATER) $HOME"]\n', ["sh", "-c"], ["echo late $HOME"]),
])
def test_command_replaces_entrypoint_and_args_replace_cmd(container: str, entrypoint: list[str] | None,
                                                         command: list[str] | None) -> None:
    t = k8s(pod(container=container + "env:\n  - {name: PORT, value: '8080'}\n  - {name: LATER, value: late}\n"))
    assert t.profile["run"].get("entrypoint") == entrypoint
    assert t.profile["run"].get("command") == command


def test_command_must_be_strings() -> None:
    text = pod(container="args: [--workers, 4]\n")
    (issue,) = issues(text)
    assert issue.message == "args is a list of strings" and issue.line == line(text, "args")


def test_downward_api_fields() -> None:
    text = pod(meta="labels: {app: web, tier: front}\nannotations: {team: shop}\nnamespace: prod\n", container="""\
        env:
          - {name: NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
          - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
          - {name: UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
          - {name: APP, valueFrom: {fieldRef: {apiVersion: v1, fieldPath: "metadata.labels['app']"}}}
          - {name: NONE, valueFrom: {fieldRef: {fieldPath: "metadata.labels['missing']"}}}
          - {name: TEAM, valueFrom: {fieldRef: {fieldPath: "metadata.annotations['team']"}}}
          - {name: LABELS, valueFrom: {fieldRef: {fieldPath: metadata.labels}}}
          - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
          - {name: SA, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}
          - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
          - {name: HOST_IP, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
        args: ["--ip=$(POD_IP)", "--name=$(NAME)"]
        """)
    t = k8s(text)
    env = t.profile["run"]["environment"]
    assert (env["NAME"], env["NS"], env["APP"], env["NONE"], env["TEAM"]) == ("web", "prod", "web", "", "shop")
    assert env["LABELS"] == 'app="web"\ntier="front"'
    assert (env["NODE"], env["SA"]) == ("porttest", "default")
    assert uuid.UUID(env["UID"]).version == 4
    assert "POD_IP" not in env and "HOST_IP" not in env
    assert t.profile["ip_variables"] == ["POD_IP"]  # the engine sets it, and $(POD_IP) in args, at create
    assert warned(t, f"env[10].valueFrom.fieldRef (line {line(text, 'HOST_IP')}) is not translated: status.hostIP "
                     "is only known once the container runs")
    assert t.profile["run"]["command"] == ["--ip=$(POD_IP)", "--name=web"]


def test_an_unknown_field_path_is_refused() -> None:
    text = pod(container="env:\n  - {name: X, valueFrom: {fieldRef: {fieldPath: spec.restartPolicy}}}\n")
    (issue,) = issues(text)
    assert issue.message == "'spec.restartPolicy' is not a field the downward API gives to env"
    assert issue.line == line(text, "name: X")


def test_resource_field_refs() -> None:
    text = pod(container="""\
        resources:
          limits: {memory: 512Mi, cpu: 1500m}
          requests: {memory: 256Mi}
        env:
          - {name: MEM_MB, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
          - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory}}}
          - {name: CPUS, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}
          - {name: CPU_M, valueFrom: {resourceFieldRef: {containerName: app, resource: requests.cpu, divisor: 1m}}}
          - {name: REQ_MEM, valueFrom: {resourceFieldRef: {resource: requests.memory, divisor: 1Ki}}}
          - {name: EPH, valueFrom: {resourceFieldRef: {resource: requests.ephemeral-storage}}}
          - {name: OTHER, valueFrom: {resourceFieldRef: {containerName: sidecar, resource: limits.cpu}}}
        """, spec="""        initContainers:
          - {name: sidecar, image: envoy:1, restartPolicy: Always, resources: {limits: {cpu: 250m}}}
        """)
    env = k8s(text, container="app").profile["run"]["environment"]
    assert (env["MEM_MB"], env["MEM"], env["CPUS"]) == ("512", str(512 * 2**20), "2")  # CPUs round up
    assert (env["CPU_M"], env["REQ_MEM"], env["EPH"]) == ("1500", "262144", "0")  # requests default to limits
    assert env["OTHER"] == "1"  # another container's limit, rounded up as the kubelet does
    unknown = pod(container="env:\n  - {name: O, valueFrom: {resourceFieldRef: {containerName: nope, "
                            "resource: limits.cpu}}}\n")
    (issue,) = issues(unknown)
    assert issue.message == "the pod has no container named nope" and issue.hint == "containers of the pod: app"
    assert issue.line == line(unknown, "name: O")
    no_limit = k8s(pod(container="env:\n  - {name: M, valueFrom: {resourceFieldRef: {resource: limits.memory}}}\n"))
    assert "M" not in no_limit.profile["run"]["environment"]
    assert warned(no_limit, "a cluster would give the node's allocatable amount")
    bad = pod(container="env:\n  - {name: M, valueFrom: {resourceFieldRef: {resource: memory}}}\n")
    assert issues(bad)[0].message == "cannot read resourceFieldRef 'memory' with divisor None"


def test_secret_and_config_map_keys() -> None:
    text = pod(container="""\
        env:
          - {name: A, valueFrom: {secretKeyRef: {name: db, key: password}}}
          - {name: B, valueFrom: {secretKeyRef: {name: db, key: absent, optional: true}}}
          - {name: C, valueFrom: {configMapKeyRef: {name: cfg, key: absent, optional: true}}}
          - {name: DSN, value: "postgres://app:$(A)@db/shop"}
        envFrom:
          - secretRef: {name: api}
            prefix: API_
          - configMapRef: {name: missing, optional: true}
        """)
    t = k8s(text, secrets={"db/password": "pw-1", "api/token": "tok-2"})
    env = t.profile["run"]["environment"]
    assert env["A"] == "pw-1" and env["API_token"] == "tok-2" and env["DSN"] == "postgres://app:pw-1@db/shop"
    assert "B" not in env and "C" not in env
    assert t.secret_values == {"pw-1", "tok-2"}
    assert warned(t, "secret key db/absent is not given (optional): the variable is left unset")
    assert warned(t, "configMap missing is not given (optional)")
    (issue,) = issues(text, secrets={"db/password": "pw-1"})
    assert issue.message == "secret api has no keys here" and issue.line == line(text, "secretRef")
    assert issue.hint == "give its keys in the kubernetes extends entry: secrets: {api/KEY: ...}"


@pytest.mark.parametrize(("env", "message"), [
    ("- {name: A, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}", "env A has both value and valueFrom"),
    ("- {name: PORT, value: 8080}", "expected a string here, not 8080"),
    ("- {name: A, valueFrom: {fieldRef: {fieldPath: metadata.name}, secretKeyRef: {name: s, key: k}}}",
     "valueFrom names more than one source"),
])
def test_malformed_env_entries(env: str, message: str) -> None:
    text = pod(container="env:\n  " + env + "\n")
    (issue,) = issues(text)
    assert issue.message == message and issue.line == line(text, "- {name")


# --- volumes ----------------------------------------------------------------------------------------------------


def test_volume_mounts() -> None:
    text = pod(spec="""\
        volumes:
          - {name: scratch, emptyDir: {sizeLimit: 64Mi}}
          - {name: cache, emptyDir: {medium: Memory}}
          - {name: conf, configMap: {name: app, items: [{key: app.ini, path: app.ini}], defaultMode: 0440}}
          - {name: tls, secret: {secretName: api-tls}}
          - {name: opt, secret: {secretName: maybe, optional: true}}
          - {name: info, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}
          - {name: data, persistentVolumeClaim: {claimName: api-data}}
          - {name: shared, nfs: {server: nfs.local, path: /export}}
        """, container="""\
        volumeMounts:
          - {name: scratch, mountPath: /tmp}
          - {name: scratch, mountPath: /var/cache/app, subPath: cache, readOnly: true}
          - {name: cache, mountPath: /run/app}
          - {name: conf, mountPath: /etc/app/app.ini, subPath: app.ini}
          - {name: tls, mountPath: /tls, readOnly: true, mountPropagation: HostToContainer}
          - {name: opt, mountPath: /opt/extra}
          - {name: info, mountPath: /etc/podinfo}
          - {name: data, mountPath: /data}
          - {name: shared, mountPath: /shared}
        """)
    t = k8s(text, files={"configmap/app": "/abs/conf", "secret/api-tls": "/abs/tls", "pvc/api-data": "/abs/data"})
    run = t.profile["run"]
    assert run["tmpfs"] == {"/tmp": "mode=1777,size=67108864", "/var/cache/app": "mode=1777,size=67108864,ro",
                            "/run/app": "mode=1777"}
    assert run["volumes"] == ["/abs/conf/app.ini:/etc/app/app.ini:ro", "/abs/tls:/tls:ro", "/abs/data:/data:rw"]
    assert t.lines[("run", "volumes", 1)] == line(text, "name: tls, mountPath")
    assert t.lines[("run", "tmpfs", "/run/app")] == line(text, "mountPath: /run/app")
    assert len(warned(t, "disk-backed emptyDir is a tmpfs here")) == 1
    for fragment in ("configMap.items", "configMap.defaultMode", "volumeMounts[4].mountPropagation",
                     "secret maybe is optional and not given: nothing is mounted at /opt/extra",
                     "downwardAPI volumes are not reproduced here; nothing is mounted at /etc/podinfo",
                     "nfs volumes are not reproduced here; nothing is mounted at /shared"):
        assert warned(t, fragment), fragment
    validates(t)


@pytest.mark.parametrize(("volumes", "mounts", "message"), [
    ("- {name: a, emptyDir: {}}", "- {name: a, mountPath: /x}\n- {name: a, mountPath: /x}", "/x is mounted twice"),
    ("- {name: a, emptyDir: {sizeLimit: lots}}", "- {name: a, mountPath: /x}", "'lots' is not a Kubernetes quantity"),
    ("- {name: a, emptyDir: {}, configMap: {name: c}}", "- {name: a, mountPath: /x}",
     "volume a needs exactly one volume type"),
    ("- {name: a, hostPath: {path: /srv}}", "- {name: a, mountPath: /x}",
     "hostPath volume a is refused: porttest does not mount the engine host's files"),
])
def test_volume_refusals(volumes: str, mounts: str, message: str) -> None:
    text = pod(spec="volumes:\n  " + volumes.replace("\n", "\n  ") + "\n",
               container="volumeMounts:\n  " + mounts.replace("\n", "\n  ") + "\n")
    (issue,) = issues(text)
    assert issue.message == message and issue.line is not None and issue.line > 4


# --- probes -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("probes", "wait_for"), [
    ("readinessProbe: {tcpSocket: {port: 5432}}", {"port": 5432, "timeout": 30, "interval": 10}),
    ("readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 5, failureThreshold: 2}",
     {"port": 8080, "timeout": 10, "interval": 5}),
    ("readinessProbe: {httpGet: {port: '9090'}, initialDelaySeconds: 15}", {"port": 9090, "timeout": 45,
                                                                           "interval": 10}),
    ("startupProbe: {exec: {command: [pg_isready, -h, 127.0.0.1, -d, 'dbname=$(DB) user']}, periodSeconds: 1, "
     "failureThreshold: 1}", {"command": "pg_isready -h 127.0.0.1 -d 'dbname=shop user'", "timeout": 1,
                               "interval": 1}),
    ("startupProbe: {tcpSocket: {port: 80}, periodSeconds: 120, failureThreshold: 60}",
     {"port": 80, "timeout": 3600, "interval": 60}),
    ("readinessProbe: {grpc: {port: 9000}}\nstartupProbe: {tcpSocket: {port: 9000}}",
     {"port": 9000, "timeout": 30, "interval": 10}),
    # The startup probe runs first (up to 30 s at its defaults): its time is added to readiness's.
    ("readinessProbe: {tcpSocket: {port: 1}}\nstartupProbe: {tcpSocket: {port: 2}}",
     {"port": 1, "timeout": 60, "interval": 10}),
    ("readinessProbe: {tcpSocket: {port: 1}}\nstartupProbe: {tcpSocket: {port: 2}, failureThreshold: 30, "
     "periodSeconds: 5}", {"port": 1, "timeout": 180, "interval": 10}),
    ("livenessProbe: {tcpSocket: {port: 1}}", None),
])
def test_probes_become_wait_for(probes: str, wait_for: dict[str, object] | None) -> None:
    text = pod(container=probes + "\nports: [{name: http, containerPort: 8080}]\nenv: [{name: DB, value: shop}]\n")
    t = k8s(text)
    assert t.profile.get("wait_for") == wait_for
    validates(t)


def test_probe_warnings() -> None:
    text = pod(container="""\
        readinessProbe:
          httpGet: {path: /ready, port: 8080, scheme: HTTPS, httpHeaders: [{name: X, value: y}]}
          timeoutSeconds: 3
          successThreshold: 2
        startupProbe: {tcpSocket: {port: 8080}}
        livenessProbe: {grpc: {port: 8080}}
        """)
    t = k8s(text)
    assert warned(t, f"readinessProbe.httpGet (line {line(text, 'httpGet')}) is not translated: only the port is "
                     "checked, not path, scheme, httpHeaders")
    assert warned(t, "readinessProbe.timeoutSeconds") and warned(t, "readinessProbe.successThreshold")
    assert warned(t, f"startupProbe (line {line(text, 'startupProbe')}): checked through readinessProbe; its ")
    assert warned(t, f"livenessProbe (line {line(text, 'livenessProbe')}) is not translated: liveness probes are "
                     "not run")
    assert t.lines[("wait_for", "port")] == line(text, "httpGet")


@pytest.mark.parametrize(("probe", "message", "hint"), [
    ("readinessProbe: {httpGet: {port: metrics}}", "the container has no port named metrics",
     "named ports of the container: http"),
    ("readinessProbe: {tcpSocket: {port: 70000}}", "70000 is not a port", None),
    ("readinessProbe: {periodSeconds: 5}", "a probe needs exactly one of exec, httpGet, tcpSocket or grpc",
     "it has: none"),
    ("readinessProbe: {exec: {command: []}}", "an exec probe needs a command: a list of strings", None),
])
def test_probe_refusals(probe: str, message: str, hint: str | None) -> None:
    text = pod(container=probe + "\nports: [{name: http, containerPort: 8080}]\n")
    (issue,) = issues(text)
    assert issue.message == message and issue.line == line(text, "readinessProbe")
    assert hint is None or issue.hint == hint
