"""Hypothesis-generated pod templates: whatever the structure and types, the Kubernetes translation gives a profile
or a ConfigError with located issues, never another exception."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from porttest.config.descriptors.kubernetes import translate
from porttest.config.yaml_source import load_yaml_documents
from porttest.errors import ConfigError
from tests.unit.config.test_kubernetes import FIXTURES

FIELDS = ["securityContext", "runAsUser", "runAsGroup", "fsGroup", "supplementalGroups", "capabilities", "add",
          "drop", "sysctls", "name", "value", "valueFrom", "fieldRef", "fieldPath", "resourceFieldRef", "resource",
          "divisor", "secretKeyRef", "configMapKeyRef", "key", "optional", "env", "envFrom", "prefix", "resources",
          "limits", "requests", "memory", "cpu", "volumeMounts", "mountPath", "subPath", "readOnly", "volumes",
          "emptyDir", "sizeLimit", "medium", "configMap", "secret", "secretName", "hostPath", "persistentVolumeClaim",
          "claimName", "readinessProbe", "startupProbe", "livenessProbe", "httpGet", "tcpSocket", "exec", "grpc",
          "command", "args", "port", "ports", "containerPort", "periodSeconds", "failureThreshold", "seccompProfile",
          "type", "privileged", "hostNetwork", "runtimeClassName", "hostAliases", "hostnames", "ip", "hostname",
          "items", "containers", "initContainers", "metadata", "labels", "annotations", "workingDir"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**20), max_value=10**20),
                    st.floats(allow_nan=False), st.text(max_size=12),
                    st.sampled_from(["512Mi", "500m", "1e3", "$(A)", "$$", "http", "metadata.name", "ALL",
                                     "RuntimeDefault", "Memory", "/tmp", "limits.cpu", "1Mi"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELDS), inner, max_size=5)), max_leaves=20)
BASE = yaml.safe_load_all((FIXTURES / "postgresql.yaml").read_text())
STATEFULSET = next(d for d in BASE if d and d.get("kind") == "StatefulSet")


def _paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += _paths(value, (*path, i))
    return out


PATHS = [p for p in _paths(STATEFULSET) if p]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=4))
def test_any_pod_template_translates_or_is_refused_with_lines(changes: list[tuple[tuple[Any, ...], Any]]) -> None:
    doc = copy.deepcopy(STATEFULSET)
    for path, value in changes:
        target = doc
        try:
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    text = yaml.safe_dump(doc, sort_keys=False)
    try:
        result = translate(load_yaml_documents(text, "fuzz.yaml"), workload=None, container=None,
                           secrets={"shop-postgresql/password": "p", "shop-postgresql/postgres-password": "q"})
    except ConfigError as error:
        assert error.issues and all(i.file == "fuzz.yaml" and i.line for i in error.issues), error
        return
    assert isinstance(result.profile, dict) and all(isinstance(w, str) for w in result.warnings)
