"""examples/engines on the whole lab that scripts/lab.py starts: six kinds of engine, one image, one verdict."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, porttest
from tests.lab.tls_engine import lab_processes

PARTS = "cloud,registry,ssh,gvisor,podman"


def _lab(action: str, env_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "lab.py"), action, "--env-file", str(env_file),
                           "--parts", PARTS], capture_output=True, text=True, timeout=300)


def test_every_kind_of_engine_runs_the_baseline_and_gvisor_shows_its_kernel(
        tmp_path: Path, base_images: dict[str, str]) -> None:
    missing = [tool for tool in ("docker-registry", "podman", "runsc") if shutil.which(tool) is None]
    if missing or not os.path.exists("/usr/sbin/sshd"):
        pytest.skip(f"the lab needs {', '.join(missing) or 'openssh-server'} (.ci/run installs them)")
    env_file = tmp_path / "lab.env"
    up = _lab("start", env_file)
    assert up.returncode == 0, up.stderr
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    folders = [Path(v.removeprefix("unix://")).parent.parent if v.endswith(".pem") else
               Path(v.removeprefix("unix://")).parent for k, v in values.items()
               if k.endswith(("_CA", "_KNOWN_HOSTS")) or k == "PORTTEST_PODMAN_HOST"]
    assert len(folders) == 4
    try:
        ran = porttest("run", "examples/engines/matrix.yaml", "--json", str(tmp_path / "r.json"),
                       env={"BASE_IMAGE": base_images["debian"], **values})
    finally:
        down = _lab("stop", env_file)
    assert down.returncode == 0, down.stderr
    assert not [f for f in folders if f.exists()], "the lab left its folders"
    assert not [pid for f in folders for pid in lab_processes(f)], "the lab left processes"
    host, port = values["PORTTEST_REGISTRY"].split(":")
    with socket.socket() as probe:
        assert probe.connect_ex((host, int(port))) != 0, "the lab's registry still answers"

    res = ran.results
    assert res is not None, ran.explain()
    envs = res["environments"]
    assert set(envs) == {"local", "registry", "cloud", "ssh", "podman", "gvisor"}
    assert {e["status"] for e in envs.values()} == {"ok"}, ran.explain()
    assert {e["image_id"] for e in envs.values()} == {res["image"]["id"]}
    # One push for two environments; both pulled the same digest.
    assert envs["registry"]["ship"]["mode"] == envs["cloud"]["ship"]["mode"] == "registry"
    assert envs["registry"]["ship"]["pulled"] == envs["cloud"]["ship"]["pulled"]
    assert envs["cloud"]["ship"]["digest"] and envs["cloud"]["ship"]["bytes"] > 0
    notes = sorted(note.split(" ", 1)[0] for name in ("registry", "cloud") for note in envs[name]["ship"]["notes"])
    assert notes == ["pulled", "pushed"]
    assert envs["podman"]["engine"]["kind"] == "podman"
    assert envs["ssh"]["engine"]["endpoint"].startswith("ssh://")
    # gVisor's kernel is in the facts and explains the one test that differs there (statx, see the README).
    assert envs["gvisor"]["facts"]["kernel"] == "4.4.0"
    assert envs["gvisor"]["facts"]["runtime"]["name"] == "runsc"
    assert envs["local"]["facts"]["kernel"] != "4.4.0"
    divergent = [t for t in res["tests"] if not t["same"]]
    assert [t["id"].rsplit("::", 1)[1] for t in divergent] == ["test_tmp_is_sticky_and_world_writable"]
    assert {o for n, o in divergent[0]["outcomes"].items() if n != "gvisor"} == {"passed"}
    assert divergent[0]["outcomes"]["gvisor"] == "failed"
    assert divergent[0]["explanation"][0].startswith("gvisor: kernel 4.4.0")
    assert ran.rc == 3 and "gvisor: kernel 4.4.0" in ran.stdout
