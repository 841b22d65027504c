"""The facts probe in real containers: its few programs say what one program per fact says, through a session and
through an exec alike, on Debian and busybox, as root, as a named user and as a user without a name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pytest

from porttest.engine.session import ExecSession, ShellSession
from porttest.results.facts import PROBE, parse_facts

# One program per fact, as the probe had it before it was made lean: the reference the lean probe must match.
REFERENCE = r"""
echo "uid=$(id -u)"; echo "gid=$(id -g)"; echo "user=$(id -un 2>/dev/null)"; echo "group=$(id -gn 2>/dev/null)"
echo "groups=$(id -G 2>/dev/null)"; echo "group_names=$(id -Gn 2>/dev/null)"
echo "kernel=$(uname -r)"; echo "arch=$(uname -m)"; echo "proc_version=$(cat /proc/version)"
echo "cgroup=1"
echo "mem_max=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
echo "cpu_max=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
echo "pids_max=$(cat /sys/fs/cgroup/pids/pids.max)"
echo "hostname=$(hostname 2>/dev/null || cat /etc/hostname)"
[ -r /etc/timezone ] && echo "etc_timezone=$(cat /etc/timezone)"
echo "cpus=$(nproc)"
true
"""
CGROUP_V2_REFERENCE = r"""
echo "cgroup=2"; echo "mem_max=$(cat /sys/fs/cgroup/memory.max)"; echo "cpu_max=$(cat /sys/fs/cgroup/cpu.max)"
echo "pids_max=$(cat /sys/fs/cgroup/pids.max)"
"""
PROFILES = {
    "root": {},
    "named-user": {"user": "nobody", "mem_limit": "256m", "nano_cpus": 500_000_000, "pids_limit": 64},
    "nameless-user": {"user": "1000:1234", "group_add": ["27"], "read_only": True, "cpuset_cpus": "0"},
}


@pytest.fixture(params=[(image, profile) for image in ("debian", "busybox") for profile in PROFILES],
                ids=lambda p: f"{p[0]}-{p[1]}")
def container(request: pytest.FixtureRequest, engine: docker.DockerClient,
              base_images: dict[str, str]) -> Iterator[docker.models.containers.Container]:
    image, profile = request.param
    created = engine.containers.run(base_images[image], ["sleep", "3600"], detach=True,
                                    environment={"TZ": "Europe/Paris", "PT_SECRET": "s3cr3t-value",
                                                 "LANG": "fr_FR.UTF-8", "LC_ALL": "fr_FR.UTF-8"},
                                    labels={"io.porttest.test": "probe"}, **PROFILES[profile])
    try:
        yield created
    finally:
        created.remove(force=True)


def _facts(output: bytes) -> dict[str, Any]:
    facts = parse_facts(output.decode())
    facts.pop("hostname")  # compared on its own below
    return facts


def test_lean_probe_says_what_one_program_per_fact_says(container: docker.models.containers.Container) -> None:
    api = container.client.api
    exec_runner = ExecSession(api, str(container.id))
    lean = exec_runner.run(PROBE)
    assert lean.rc == 0, lean.stderr
    cgroup_v2 = exec_runner.run("test -f /sys/fs/cgroup/cgroup.controllers").rc == 0
    reference = exec_runner.run(CGROUP_V2_REFERENCE if cgroup_v2 else "true").stdout + exec_runner.run(REFERENCE).stdout
    expected, got = parse_facts(reference.decode()), parse_facts(lean.stdout.decode())
    for key in ("user", "kernel", "arch", "limits", "hostname", "cpu_count"):
        assert got[key] == expected[key], key
    assert got["timezone"]["etc_timezone"] == expected["timezone"]["etc_timezone"]
    assert got["runtime"] == expected["runtime"]
    # Names of the environment, never values.
    assert "PT_SECRET" in got["env_names"] and b"s3cr3t-value" not in lean.stdout


def test_probe_through_a_session_matches_the_probe_as_an_exec(
        container: docker.models.containers.Container) -> None:
    api = container.client.api
    session = ShellSession(api, str(container.id), timeout=30)
    try:
        through_session = session.run(PROBE)
    finally:
        session.close()
    as_exec = ExecSession(api, str(container.id)).run(PROBE)
    assert through_session.rc == as_exec.rc == 0
    assert _facts(through_session.stdout) == _facts(as_exec.stdout)
