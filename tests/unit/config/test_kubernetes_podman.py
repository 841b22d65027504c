"""The Kubernetes translation against a real implementation: `podman kube play --start=false` on the same Pod.

Nothing runs and no daemon is involved: podman (daemonless) creates the pod in a private store under tmp_path (vfs,
no network, no events), and `podman inspect` shows the settings it chose. Where podman 4.3 and Kubernetes differ,
porttest follows Kubernetes, and the test says so instead of comparing: podman does not expand $(VAR), does not add
fsGroup to the groups, sets no KUBERNETES_SERVICE_* variables, and makes an emptyDir a named volume on disk where
porttest makes it a tmpfs.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.config.test_kubernetes import FIXTURES, fixture

BUSYBOX = Path("/bin/busybox")
IMAGE = "localhost/porttest-kube-play:1"

pytestmark = pytest.mark.skipif(
    shutil.which("podman") is None or not BUSYBOX.is_file() or os.geteuid() != 0,
    reason="needs podman, a static /bin/busybox and root (podman's private store without a user namespace)")


@pytest.fixture
def store() -> Iterator[Path]:
    """A throw-away folder for podman's store: podman refuses a runroot path longer than 50 characters."""
    path = Path(tempfile.mkdtemp(prefix="porttest-k8s-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def podman_play(tmp_path: Path, manifest: Path) -> dict[str, Any]:
    """Create (not start) the manifest's pod in a throw-away podman store; the container's `podman inspect`."""
    conf = tmp_path / "containers.conf"
    # The infra container is never started: any local image will do, so nothing is pulled.
    conf.write_text(f'[engine]\nruntime = "runc"\ninfra_image = "{IMAGE}"\ninfra_command = "/bin/busybox"\n')
    podman = ["podman", "--root", str(tmp_path / "root"), "--runroot", str(tmp_path / "run"), "--storage-driver",
              "vfs", "--tmpdir", str(tmp_path / "tmp"), "--cgroup-manager", "cgroupfs", "--events-backend", "none"]
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    rootfs = io.BytesIO()
    with tarfile.open(fileobj=rootfs, mode="w") as tar:
        tar.add(BUSYBOX, arcname="bin/busybox")
    try:
        subprocess.run([*podman, "import", "--change", 'CMD ["/bin/busybox", "sleep", "60"]', "-", IMAGE],
                       input=rootfs.getvalue(), env=env, check=True, capture_output=True, timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"podman cannot use a private store here: {getattr(exc, 'stderr', b'')!r}")
    subprocess.run([*podman, "kube", "play", "--start=false", "--network", "none", str(manifest)], env=env,
                   check=True, capture_output=True, timeout=60)
    try:
        out = subprocess.run([*podman, "inspect", "hardened-app"], env=env, check=True, capture_output=True,
                             timeout=60)
        inspected: dict[str, Any] = json.loads(out.stdout)[0]
        return inspected
    finally:
        subprocess.run([*podman, "kube", "down", str(manifest)], env=env, capture_output=True, timeout=60)


def test_a_hardened_pod_matches_podman_kube_play(store: Path) -> None:
    manifest = FIXTURES / "hardened-pod.yaml"
    run = fixture("hardened-pod.yaml").profile["run"]
    podman = podman_play(store, manifest)
    host = podman["HostConfig"]
    assert podman["Config"]["User"] == run["user"] == "10001:10001"
    assert host["ReadonlyRootfs"] is run["read_only"] is True
    assert host["Memory"] == run["mem_limit"] == 64 * 2**20
    assert host["NanoCpus"] == round(run["cpus"] * 1e9) == 500_000_000
    assert set(podman["EffectiveCaps"]) == {f"CAP_{c}" for c in run["cap_add"]} and run["cap_drop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"] and run["security_opt"] == ["no-new-privileges:true"]
    assert host["GroupAdd"] == run["group_add"] == ["3000"]
    assert podman["Config"]["Hostname"] == run["hostname"] == "hardened"
    assert podman["Config"]["WorkingDir"] == run["working_dir"] == "/"
    assert {"APP_MODE=strict", "GREETING=hello"} <= set(podman["Config"]["Env"])
    assert {f"{k}={v}" for k, v in run["environment"].items() if not k.startswith("KUBERNETES_")} == {
        "APP_MODE=strict", "GREETING=hello"}
    # Both mount something writable at /tmp: podman a volume on disk, porttest a tmpfs (see the module docstring).
    assert [m["Destination"] for m in podman["Mounts"]] == ["/tmp"] and list(run["tmpfs"]) == ["/tmp"]
