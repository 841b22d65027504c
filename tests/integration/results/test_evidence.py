"""Facts from inside every container, explanations of divergences, and compare/merge of separate runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import docker
import jsonschema

from porttest.results.model import results_schema
from tests.integration.conftest import SLEEPER, exec_commands, porttest, write

SUITE = '''
    def test_write_rootfs(host):
        assert host.run("touch /var/probe").rc == 0

    def test_shell(host, facts):
        facts.record("shell", host.check_output("readlink -f /bin/sh"))
        assert host.run("true").rc == 0
'''


def _matrix(folder: Path, image: str) -> None:
    write(folder, "suites/test_it.py", SUITE)
    write(folder, "matrix.yaml", f"""
        version: 1
        image: {image}
        suites: [suites]
        environments:
          local: {{run: {{command: {SLEEPER}, environment: {{PORTTEST_PLANTED: "value-that-must-not-leak"}}}}}}
          staging:
            run:
              command: {SLEEPER}
              user: "65534:65534"
              read_only: true
              tmpfs: {{/tmp: ""}}
              cap_drop: [ALL]
              security_opt: ["no-new-privileges:true"]
              mem_limit: 64m
              pids_limit: 50
              cpus: 0.5
    """)


def test_facts_are_recorded_for_every_environment_and_explain_the_divergence(
        tmp_path: Path, base_images: dict[str, str]) -> None:
    _matrix(tmp_path, base_images["busybox"])
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 3, ran.explain()
    res = ran.results
    assert res is not None
    jsonschema.validate(res, results_schema())
    local, staging = res["environments"]["local"]["facts"], res["environments"]["staging"]["facts"]
    assert local["user"]["uid"] == 0 and staging["user"]["uid"] == 65534
    assert local["filesystem"]["rootfs_read_only"] is False and staging["filesystem"]["rootfs_read_only"] is True
    assert "/tmp" in staging["filesystem"]["writable_mounts"]
    assert "CHOWN" in local["security"]["capabilities"] and staging["security"]["capabilities"] == []
    assert staging["security"]["no_new_privs"] is True and local["security"]["no_new_privs"] is False
    assert staging["security"]["seccomp"] == "filter"
    assert staging["limits"]["memory_bytes"] == 64 * 1024 * 1024 and local["limits"]["memory_bytes"] is None
    assert staging["limits"]["pids"] == 50 and staging["limits"]["cpus"] == 0.5
    assert local["kernel"] and local["hostname"] and local["cpu_count"] >= 1
    assert "nofile" in local["ulimits"] and local["runtime"]["name"] == "runc"
    assert "PORTTEST_PLANTED" in local["env_names"] and "PORTTEST_PLANTED" not in staging["env_names"]
    assert "value-that-must-not-leak" not in json.dumps(res) + ran.stdout + ran.stderr
    assert local["custom"]["shell"] and staging["custom"]["shell"]

    row = ran.row("test_write_rootfs")
    assert row["same"] is False
    joined = "\n".join(row["explanation"])
    assert "staging: rootfs read-only" in joined and "local: rootfs writable" in joined
    assert "rootfs read-only" in ran.stdout  # the console shows the explanation too


def test_the_probe_rides_the_childs_session_and_a_child_that_never_starts_is_probed_anyway(
        tmp_path: Path, engine: docker.DockerClient, base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_it.py", "def test_one(host):\n    assert host.run('true').rc == 0\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          local: {{run: {{command: {SLEEPER}, user: "65534:65534"}}}}
    """)
    since = time.time() - 1
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    assert ran.results is not None
    local = ran.results["environments"]["local"]
    assert local["facts"]["user"]["uid"] == 65534 and "probe_error" not in local["facts"]
    # One exec in all: the session's shell, which also ran the probe.
    assert exec_commands(engine, local["container"], since) == ["/bin/sh"]

    # A conftest that cannot be imported ends pytest before its session starts: porttest probes on its own.
    write(tmp_path, "suites/conftest.py", "raise RuntimeError('broken conftest')\n")
    since = time.time() - 1
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    assert ran.results is not None
    local = ran.results["environments"]["local"]
    assert "exit code 4" in local["error"] and local["facts"]["user"]["uid"] == 65534
    assert len(exec_commands(engine, local["container"], since)) == 1  # the probe's own exec; no session was opened


def test_compare_and_merge_runs_made_apart(tmp_path: Path, base_images: dict[str, str]) -> None:
    _matrix(tmp_path, base_images["busybox"])
    local = porttest("run", "matrix.yaml", "-e", "local", "--json", "local.json", cwd=tmp_path)
    staging = porttest("run", "matrix.yaml", "-e", "staging", "--json", "staging.json", cwd=tmp_path)
    assert local.rc == 0 and staging.rc == 1, (local.explain(), staging.explain())  # alone, staging just fails

    merged = porttest("merge", "local.json", "staging.json", "--json", "merged.json", cwd=tmp_path)
    assert merged.rc == 3, merged.explain()
    data = json.loads((tmp_path / "merged.json").read_text())
    jsonschema.validate(data, results_schema())
    assert set(data["environments"]) == {"local", "staging"} and data["verdict"] == "diverged"

    (tmp_path / "yesterday.json").write_text((tmp_path / "local.json").read_text())
    compared = porttest("compare", "local.json", "yesterday.json", "--json", "compared.json", cwd=tmp_path)
    assert compared.rc == 0, compared.explain()
    assert set(json.loads((tmp_path / "compared.json").read_text())["environments"]) == {
        "local:local", "yesterday:local"}

    clash = porttest("merge", "local.json", "local.json", cwd=tmp_path)
    assert clash.rc == 2 and "in both" in clash.stderr and "Traceback" not in clash.stderr

    other = json.loads((tmp_path / "staging.json").read_text())
    other["image"]["id"] = "sha256:" + "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(other))
    refused = porttest("compare", "local.json", "other.json", cwd=tmp_path)
    assert refused.rc == 2 and "different images" in refused.stderr and "--allow-different-image" in refused.stderr
    allowed = porttest("compare", "local.json", "other.json", "--allow-different-image", cwd=tmp_path)
    assert allowed.rc == 3 and "DIFFERENT images" in allowed.stderr


def test_a_divergent_run_writes_every_format_naming_the_divergent_test(tmp_path: Path,
                                                                       base_images: dict[str, str]) -> None:
    from junitparser import JUnitXml

    _matrix(tmp_path, base_images["busybox"])
    ran = porttest("run", "matrix.yaml", "--json", "r.json", "--junit", "r.xml", "--markdown", "r.md",
                   "--html", "r.html", cwd=tmp_path)
    assert ran.rc == 3, ran.explain()
    divergent = "suites/test_it.py::test_write_rootfs"
    data = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(data, results_schema())
    assert [t["id"] for t in data["tests"] if not t["same"]] == [divergent]
    suites = list(JUnitXml.fromfile(str(tmp_path / "r.xml")))
    assert {s.name for s in suites} == {"local", "staging"}
    staging = next(s for s in suites if s.name == "staging")
    failed = [case.name for case in staging if any(type(r).__name__ == "Failure" for r in case.result)]
    assert failed == ["test_write_rootfs"]
    assert divergent in (tmp_path / "r.md").read_text()
    html = (tmp_path / "r.html").read_text()
    assert divergent in html and "https://" not in html and "http://" not in html

    report = porttest("report", "r.json", "--markdown", "again.md", cwd=tmp_path)
    assert report.rc == 0 and divergent in (tmp_path / "again.md").read_text()
    compared = porttest("compare", "r.json", "r.json", "--json", "c.json", cwd=tmp_path)
    assert compared.rc == 3
    jsonschema.validate(json.loads((tmp_path / "c.json").read_text()), results_schema())
