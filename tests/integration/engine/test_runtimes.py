"""Runtimes and platforms on real engines: gVisor (runsc) beside runc, a missing runtime, a platform mismatch."""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

import docker
import pytest

from porttest.config import Environment
from porttest.config.models import EngineSpec
from porttest.config.run_options import RunOptions
from porttest.engine import container as containers
from porttest.engine.connect import client_kwargs, connect
from porttest.errors import ContainerError
from tests.integration.conftest import BROKEN_RUNTIME, REPO, SLEEPER, porttest, write
from tests.lab.tls_engine import TLSEngine

KERNEL_SUITE = '''
    def test_kernel_is_at_least_5(host):
        release = host.check_output("uname -r")
        assert int(release.split(".")[0]) >= 5, f"kernel {release}"

    def test_proc_version_matches_uname(host):
        assert host.check_output("uname -r") in host.file("/proc/version").content_string
'''

# What single programs say inside the container, to hold the facts probe's own reading against (gVisor included).
REFERENCE_SUITE = '''
    def test_reference_facts(host, facts):
        for name, command in {"nproc": "nproc", "hostname": "hostname", "id": "id -u; id -G; id -un"}.items():
            facts.record(name, host.check_output(command))
'''


def _gvisor_matrix(folder: Path, lab: TLSEngine, image: str, suites: str, runtime: str = "runsc") -> Path:
    return write(folder, "matrix.yaml", f"""
        version: 1
        image: {image}
        suites: {suites}
        environments:
          local: {{run: {{command: {SLEEPER}}}}}
          gvisor:
            engine:
              host: {lab.host}
              tls: {{ca_cert: {lab.certs.ca_cert}, client_cert: {lab.certs.client_cert},
                     client_key: {lab.certs.client_key}}}
            ship: load
            run: {{command: {SLEEPER}, runtime: {runtime}}}
    """)


def test_baseline_under_gvisor_records_kernel_4_4_and_names_its_divergence(
        tmp_path: Path, runsc_engine: TLSEngine, base_images: dict[str, str]) -> None:
    write(tmp_path, "reference/test_reference.py", REFERENCE_SUITE)
    _gvisor_matrix(tmp_path, runsc_engine, base_images["debian"], f"[{REPO / 'suites' / 'baseline'}, reference]")
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    res = ran.results
    assert res is not None, ran.explain()
    local, gvisor = res["environments"]["local"], res["environments"]["gvisor"]
    assert local["status"] == gvisor["status"] == "ok", ran.explain()
    for env in (local, gvisor):
        facts, said = env["facts"], env["facts"]["custom"]
        assert facts["cpu_count"] == int(said["nproc"]) and facts["hostname"] == said["hostname"]
        assert [str(facts["user"]["uid"]), " ".join(map(str, facts["user"]["groups"])), facts["user"]["name"]] \
            == said["id"].splitlines()
    assert local["image_id"] == gvisor["image_id"] == res["image"]["id"]
    assert gvisor["facts"]["kernel"] == "4.4.0"
    assert gvisor["facts"]["runtime"] == {"gvisor": True, "name": "runsc"}
    assert local["facts"]["runtime"] == {"gvisor": False, "name": "runc"}
    assert local["facts"]["kernel"] == platform.release() == gvisor["engine"]["kernel"]
    assert "runsc" in gvisor["engine"]["runtimes"]
    # A real finding: this gVisor (Debian's 2022-12 runsc) refuses statx() with AT_NO_AUTOMOUNT (EINVAL), which
    # coreutils 9.1's stat and ls pass, so testinfra's host.file().mode fails on a Debian bookworm image.
    divergent = {row["id"].rsplit("::", 1)[1]: row for row in res["tests"] if not row["same"]}
    assert set(divergent) == {"test_tmp_is_sticky_and_world_writable"}, ran.explain()
    row = divergent["test_tmp_is_sticky_and_world_writable"]
    assert row["outcomes"] == {"local": "passed", "gvisor": "failed"}
    assert "cannot statx '/tmp': Invalid argument" in row["messages"]["gvisor"]
    first = row["explanation"][0]
    assert first.startswith(f"gvisor: kernel 4.4.0; local: kernel {platform.release()} [")
    assert "run.runtime: local -, gvisor runsc (matrix.yaml:" in first  # the setting behind it, and its line
    assert ran.rc == 3, ran.explain()
    assert "gvisor: kernel 4.4.0" in ran.stdout


def test_kernel_release_diverges_between_runc_and_gvisor_and_the_kernel_explains_it(
        tmp_path: Path, runsc_engine: TLSEngine, base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_kernel.py", KERNEL_SUITE)
    _gvisor_matrix(tmp_path, runsc_engine, base_images["busybox"], "[suites]")
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 3, ran.explain()
    assert ran.outcomes("test_kernel_is_at_least_5") == {"local": "passed", "gvisor": "failed"}
    assert ran.outcomes("test_proc_version_matches_uname") == {"local": "passed", "gvisor": "passed"}
    row = ran.row("test_kernel_is_at_least_5")
    assert "kernel 4.4.0" in row["messages"]["gvisor"]
    first = row["explanation"][0]
    assert first.startswith(f"gvisor: kernel 4.4.0; local: kernel {platform.release()} [")
    assert "run.runtime: local -, gvisor runsc (matrix.yaml:" in first  # the setting behind it, and its line
    assert any(line.startswith("gvisor: runtime runsc; local: runtime runc") for line in row["explanation"])


def test_missing_runtime_fails_that_environment_naming_the_offered_ones(tmp_path: Path,
                                                                        base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_shell.py", "def test_shell(host):\n    assert host.run('true').rc == 0\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          local: {{run: {{command: {SLEEPER}}}}}
          sandboxed: {{run: {{command: {SLEEPER}, runtime: nosuch}}}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    res = ran.results
    assert res is not None and res["verdict"] == "error"
    sandboxed = res["environments"]["sandboxed"]
    assert sandboxed["status"] == "error" and sandboxed["phase"] == "connect"
    assert "run.runtime is 'nosuch'" in sandboxed["error"]
    assert "it offers: " in sandboxed["error"] and "runc" in sandboxed["error"].split("it offers: ", 1)[1]
    assert sandboxed["container"] is None and sandboxed["ship"] is None  # refused before anything was done
    assert "set run.runtime to one of:" in sandboxed["hint"]
    assert res["environments"]["local"]["status"] == "ok"
    assert ran.outcomes("test_shell") == {"local": "passed"}
    assert "run.runtime is 'nosuch'" in ran.stdout + ran.stderr


def test_engine_refusal_of_an_unknown_runtime_is_translated_at_create(base_images: dict[str, str]) -> None:
    """The backstop for engines that list no runtimes (or change them after connect): Docker's own refusal."""
    engine = connect(EngineSpec())
    try:
        blind = dataclasses.replace(engine, info=dataclasses.replace(engine.info, runtimes=()))
        env = Environment(name="blind", run=RunOptions(runtime="nosuch", command=["sleep", "5"]))
        image_id = engine.client.images.get(base_images["busybox"]).id
        with pytest.raises(ContainerError) as caught:
            containers.create(blind, env, image_id, "runtime-backstop")
        assert "run.runtime is 'nosuch'" in caught.value.message
        assert "the engine said: Unknown runtime specified nosuch" in caught.value.message
        assert not containers.find_leftovers(engine, "runtime-backstop")
    finally:
        engine.close()


def test_listed_runtime_that_cannot_run_fails_at_start_with_a_hint(tmp_path: Path, runsc_engine: TLSEngine,
                                                                  base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_shell.py", "def test_shell(host):\n    assert host.run('true').rc == 0\n")
    _gvisor_matrix(tmp_path, runsc_engine, base_images["busybox"], "[suites]", runtime=BROKEN_RUNTIME)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    gvisor = ran.results["environments"]["gvisor"]  # type: ignore[index]
    assert gvisor["status"] == "error" and gvisor["phase"] == "start"
    assert "/nonexistent/porttest-runtime" in gvisor["error"]
    assert "could not start its OCI runtime program" in gvisor["hint"]
    assert ran.results["environments"]["local"]["status"] == "ok"  # type: ignore[index]


def test_platform_the_image_is_not_built_for_fails_that_environment(tmp_path: Path,
                                                                    base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_shell.py", "def test_shell(host):\n    assert host.run('true').rc == 0\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          amd64: {{run: {{command: {SLEEPER}, platform: linux/amd64}}}}
          arm64: {{run: {{command: {SLEEPER}, platform: linux/arm64}}}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    res = ran.results
    assert res is not None
    arm64 = res["environments"]["arm64"]
    image_id = res["image"]["id"]
    assert arm64["status"] == "error" and arm64["phase"] == "start"
    assert arm64["error"] == f"run.platform asks for linux/arm64, but the image {image_id[7:19]} is linux/amd64"
    assert "this engine runs linux/amd64; give an image built for linux/arm64" in arm64["hint"]
    assert res["environments"]["amd64"]["status"] == "ok"
    assert ran.outcomes("test_shell") == {"amd64": "passed"}


def test_platform_on_an_engine_api_older_than_1_41_is_refused_clearly(base_images: dict[str, str]) -> None:
    engine = connect(EngineSpec())
    old = docker.DockerClient(**client_kwargs(EngineSpec()), version="1.40")
    try:
        older = dataclasses.replace(engine, client=old,
                                    info=dataclasses.replace(engine.info, api_version="1.40"))
        env = Environment(name="old", run=RunOptions(platform="linux/amd64", command=["sleep", "5"]))
        with pytest.raises(ContainerError) as caught:
            containers.create(older, env, engine.client.images.get(base_images["busybox"]).id, "platform-old-api")
        assert "newer engine API than 1.40" in caught.value.message
        assert "run.platform needs API 1.41" in (caught.value.hint or "")
    finally:
        old.close()
        engine.close()
