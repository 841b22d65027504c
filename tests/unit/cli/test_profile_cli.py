"""`porttest profile diff A B` end to end in a subprocess: matrices and descriptors written to tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "descriptors"
HARDENED_POD = FIXTURES / "kubernetes" / "hardened-pod.yaml"

MATRIX = """\
version: 1
image: alpine:3.20
suites: [.]
secrets: [API_TOKEN]
environments:
  local: {}
  twin: {}
  staging:
    extends: staging.yaml
    run:
      user: "1000"
      environment: {API_TOKEN: "${API_TOKEN}"}
    wait_for: {port: 8080}
"""
PROFILE = "run: {read_only: true, cap_drop: [ALL]}\nship: load\n"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  template:
    spec:
      containers:
        - name: api
          image: shop/api:1
          securityContext:
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
"""


def porttest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "harness"), "API_TOKEN": "s3cr3t-token-value", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "porttest", "profile", "diff", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "matrix.yaml").write_text(MATRIX)
    (tmp_path / "staging.yaml").write_text(PROFILE)
    (tmp_path / "deploy.yaml").write_text(DEPLOYMENT)
    return tmp_path


def test_two_environments_of_the_matrix_differences_first(project: Path) -> None:
    done = porttest(project, "local", "staging")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["setting", "local", "staging"]
    marked = [line.split() for line in lines[2:] if line.startswith("!=")]
    unmarked = [line.split() for line in lines[2:] if line.startswith("  ") and line.strip()]
    first_same = next(i for i, line in enumerate(lines[2:]) if line.startswith("  "))
    assert all(line.startswith("!=") for line in lines[2:2 + first_same])
    assert ["!=", "run.read_only", "-", "true"] in marked
    assert ["!=", "run.cap_drop", "-", '["ALL"]'] in marked
    assert ["!=", "wait_for.port", "-", "8080"] in marked
    assert ["!=", "ship", "auto", "load"] in marked
    assert ["timeout", "1800", "1800"] in unmarked
    assert "settings differ" in done.stdout


def test_secrets_are_masked(project: Path) -> None:
    done = porttest(project, "local", "staging", "--json")
    assert "s3cr3t-token-value" not in done.stdout + done.stderr
    assert any(d["key"] == "run.environment.API_TOKEN" for d in json.loads(done.stdout)["differences"])


def test_equal_environments_exit_0(project: Path) -> None:
    done = porttest(project, "local", "twin")
    assert done.returncode == 0, done.stderr
    assert "!=" not in done.stdout
    assert "no setting differs" in done.stdout


def test_json_for_machines(project: Path) -> None:
    done = porttest(project, "staging", "local", "--json")
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert (data["a"], data["b"]) == ("staging", "local")
    assert {"key": "run.read_only", "a": True, "b": None} in data["differences"]
    assert {"key": "exec_mode", "a": "session", "b": "session"} in data["same"]


def test_an_environment_against_a_kubernetes_workload_and_a_profile_file(project: Path) -> None:
    done = porttest(project, "staging", "kubernetes:deploy.yaml#deployment/api/api", "--json")
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    same = {d["key"] for d in data["same"]}
    assert {"run.read_only", "run.cap_drop"} <= same
    assert any(d["key"] == "wait_for.port" for d in data["differences"])
    profile = porttest(project, "staging.yaml", "kubernetes:deploy.yaml", "--json")
    assert {"run.read_only", "run.cap_drop"} <= {d["key"] for d in json.loads(profile.stdout)["same"]}


def test_compose_against_kubernetes_without_a_matrix(tmp_path: Path) -> None:
    done = porttest(tmp_path, f"compose:{FIXTURES / 'compose' / 'shop' / 'compose.yaml'}#api",
                    f"kubernetes:{HARDENED_POD}")
    assert done.returncode == 1, done.stderr
    assert "run.user" in done.stdout
    assert "warning:" in done.stderr  # what the translation left out
    assert "Traceback" not in done.stderr


def test_matrix_option(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    done = porttest(elsewhere, "local", "staging", "--matrix", str(project / "matrix.yaml"))
    assert done.returncode == 1, done.stderr


@pytest.mark.parametrize(("args", "needle"), [
    (("local", "prod"), "the environments of matrix.yaml are local, twin, staging"),
    (("local", "compose:compose.yaml"), "compose:FILE#SERVICE"),
    (("local", "kubernetes:deploy.yaml#api"), "KIND/NAME"),
    (("local", "kubernetes:missing.yaml"), "no such file"),
    (("local", "kubernetes:deploy.yaml#deployment/nothere"), "deployment/api"),
])
def test_errors_exit_2_with_a_hint_and_no_traceback(project: Path, args: tuple[str, ...], needle: str) -> None:
    done = porttest(project, *args)
    assert done.returncode == 2
    assert "porttest: error:" in done.stderr
    assert needle in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_no_matrix_and_not_a_descriptor(tmp_path: Path) -> None:
    done = porttest(tmp_path, "staging", "prod")
    assert done.returncode == 2
    assert "no matrix at matrix.yaml" in done.stderr


def test_help_documents_the_exit_codes(tmp_path: Path) -> None:
    done = porttest(tmp_path, "--help")
    assert done.returncode == 0
    assert "1 when they differ" in " ".join(done.stdout.split())


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "harness"), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "porttest", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_profile_import_hints_name_its_flags_not_matrix_keys(tmp_path: Path) -> None:
    pod = tmp_path / "pod.yaml"
    pod.write_text("""\
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  runtimeClassName: gvisor
  hostNetwork: true
  containers:
    - name: app
      image: x
      env:
        - name: PW
          valueFrom: {secretKeyRef: {name: db, key: password}}
        - name: MODE
          valueFrom: {configMapKeyRef: {name: app, key: mode}}
      volumeMounts: [{name: conf, mountPath: /etc/app}]
  volumes:
    - name: conf
      configMap: {name: app-conf}
""")
    ran = cli(tmp_path, "profile", "import", "kubernetes", "pod.yaml")
    assert ran.returncode == 2 and "Traceback" not in ran.stderr
    assert "invalid descriptor (5 problems):" in ran.stderr
    for hint in ("hint: map it: --runtime-class gvisor=runsc", "hint: add --allow-privileged",
                 "hint: give it with --secret db/password=VALUE", "hint: give it with --config-map app/mode=VALUE",
                 "hint: map it to a folder with --files configmap/app-conf=./folder"):
        assert hint in ran.stderr, ran.stderr
    assert "runtime_classes" not in ran.stderr and "extends entry" not in ran.stderr
    # Given as the hints say, the same manifest translates.
    (tmp_path / "conf").mkdir()
    ran = cli(tmp_path, "profile", "import", "kubernetes", "pod.yaml", "--runtime-class", "gvisor=runsc",
                   "--allow-privileged", "--secret", "db/password=s3cr3t", "--config-map", "app/mode=fast",
                   "--files", "configmap/app-conf=./conf")
    assert ran.returncode == 0, ran.stderr
    assert "runtime: runsc" in ran.stdout and "s3cr3t" not in ran.stdout


def test_compose_privileged_hint_names_the_flag(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  api: {image: x, privileged: true}\n")
    ran = cli(tmp_path, "profile", "import", "compose", "compose.yaml", "--service", "api")
    assert ran.returncode == 2 and "hint: porttest never weakens isolation unless told: add --allow-privileged" \
        in ran.stderr, ran.stderr
    ok = cli(tmp_path, "profile", "import", "compose", "compose.yaml", "--service", "api", "--allow-privileged")
    assert ok.returncode == 0 and "privileged: true" in ok.stdout, ok.stderr


def test_diff_takes_the_kubernetes_entry_keys_as_flags(tmp_path: Path) -> None:
    (tmp_path / "gvisor.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  runtimeClassName: gvisor\n"
        "  containers: [{name: app, image: x}]\n")
    (tmp_path / "plain.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: app, image: x}]\n")
    refused = cli(tmp_path, "profile", "diff", "kubernetes:gvisor.yaml", "kubernetes:plain.yaml")
    assert refused.returncode == 2 and "hint: map it: --runtime-class gvisor=runsc" in refused.stderr
    ran = cli(tmp_path, "profile", "diff", "kubernetes:gvisor.yaml", "kubernetes:plain.yaml", "--json",
              "--runtime-class", "gvisor=runsc", "--namespace", "shop")
    assert ran.returncode == 1, ran.stderr
    differences = {row["key"]: row for row in json.loads(ran.stdout)["differences"]}
    assert set(differences) == {"run.runtime"}, differences
