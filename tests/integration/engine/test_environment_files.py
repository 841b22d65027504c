"""An environment's `files:` on the real engine: read-only, hiding what the image had there, and gone with the run."""

from __future__ import annotations

from pathlib import Path

import docker

from tests.integration.conftest import LABEL, porttest, write

SUITE = """
    def test_the_flag_is_there(host):
        assert host.file("/etc/app/flag").content_string == "on\\n"

    def test_the_folder_holds_only_the_given_files(host):
        # The volume hides what the image has in that folder, as a Kubernetes volume mount does.
        assert host.check_output("ls -A /etc/app") == "flag"

    def test_the_files_are_read_only_even_for_root(host):
        assert host.user().uid == 0
        assert host.run("echo off > /etc/app/flag").rc != 0
        assert host.run("touch /etc/app/other").rc != 0
"""


def _volumes(engine: docker.DockerClient, run_id: str) -> list[str]:
    listed = engine.api.volumes(filters={"label": f"{LABEL}={run_id}"}).get("Volumes") or ()
    return [v["Name"] for v in listed]


def test_files_are_placed_read_only_and_removed_with_the_container(tmp_path: Path, engine: docker.DockerClient,
                                                                   base_images: dict[str, str]) -> None:
    write(tmp_path, "Dockerfile", f"FROM {base_images['busybox']}\nRUN mkdir /etc/app && echo old > /etc/app/old\n")
    write(tmp_path, "tests/test_files.py", SUITE)
    write(tmp_path, "matrix.yaml", """
        version: 1
        image: {build: {context: .}}
        suites: [tests]
        environments:
          local:
            run: {command: [sleep, "3600"]}
            files: {/etc/app/flag: "on\\n"}
          hardened:
            run: {command: [sleep, "3600"], read_only: true, cap_drop: [ALL]}
            files: {/etc/app/flag: "on\\n"}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0 and ran.results is not None, ran.explain()
    assert {t["id"].split("::")[-1]: set(t["outcomes"].values()) for t in ran.results["tests"]} == {
        "test_the_flag_is_there": {"passed"}, "test_the_folder_holds_only_the_given_files": {"passed"},
        "test_the_files_are_read_only_even_for_root": {"passed"}}
    assert _volumes(engine, ran.results["run_id"]) == []


def test_the_files_volume_is_removed_when_the_engine_refuses_the_container(
        tmp_path: Path, engine: docker.DockerClient, base_images: dict[str, str]) -> None:
    write(tmp_path, "tests/test_ok.py", "def test_ok(host):\n    assert True\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images['busybox']}
        suites: [tests]
        environments:
          refused:
            # The engine checks CPU sets when it creates the container: after the files' volume was filled.
            run: {{command: [sleep, "3600"], cpuset_cpus: "999"}}
            files: {{/etc/app/flag: "on"}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4 and ran.results is not None, ran.explain()
    refused = ran.results["environments"]["refused"]
    assert refused["status"] == "error" and refused["phase"] == "start", refused
    assert _volumes(engine, ran.results["run_id"]) == []
    assert not engine.containers.list(all=True, filters={"label": f"{LABEL}={ran.results['run_id']}"})
