"""A `podman system service` on a unix socket, with its own storage, run root, network and containers.conf."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.lab.process import await_answer, spawn, terminate
from tests.lab.tls_engine import LAB_ROOT, _claim_slot, _unmount_below

PODMAN = shutil.which("podman")
FUSE_OVERLAYFS = shutil.which("fuse-overlayfs")
# The loopback registry the registry tests start (Debian's docker-registry). Unlike Docker, podman does not trust
# plain HTTP on 127.0.0.0/8 by itself, entries match host:port exactly, and the service reads registries.conf once
# at start: a registry on another port must be passed to PodmanService before start().
DEFAULT_INSECURE_REGISTRIES = ("127.0.0.1:5000", "localhost:5000")


def storage_candidates() -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, driver, options) to try, best first: kernel overlay, overlay through fuse-overlayfs, vfs (copies)."""
    candidates: list[tuple[str, str, tuple[str, ...]]] = [("overlay", "overlay", ())]
    if FUSE_OVERLAYFS:
        candidates.append(("fuse-overlayfs", "overlay", (f"overlay.mount_program={FUSE_OVERLAYFS}",)))
    candidates.append(("vfs", "vfs", ()))
    return candidates


class PodmanService:
    """Start with start(), stop with stop(): containers removed, the service stopped by its own PID, conmon
    processes that still point into our folder waited for (then killed by PID), bridge and folder removed."""

    def __init__(self, slot: int | None = None, storage_driver: str | None = None,
                 insecure_registries: tuple[str, ...] = DEFAULT_INSECURE_REGISTRIES,
                 exit_command_delay: int = 5) -> None:
        if PODMAN is None:
            raise RuntimeError("podman is not installed")
        self.podman_bin = PODMAN
        LAB_ROOT.mkdir(parents=True, exist_ok=True)
        self.slot, self._slot_lock = _claim_slot(slot, lock_prefix="podman-slot", bridge_prefix="ptpod")
        self.bridge = f"ptpod{self.slot}"
        self.subnet = f"172.31.{210 - self.slot}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"podman{self.slot}-", dir=LAB_ROOT))
        self.socket = self.dir / "podman.sock"
        self.host = f"unix://{self.socket}"
        self.wanted_driver = storage_driver or os.environ.get("PORTTEST_PODMAN_STORAGE_DRIVER") or None
        self.storage_name = self.storage_driver = ""
        self.storage_opts: tuple[str, ...] = ()
        self.insecure_registries = insecure_registries
        self.exit_command_delay = exit_command_delay
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "service.log"
        self.containers_conf = self.dir / "containers.conf"
        self.registries_conf = self.dir / "registries.conf"

    def _write_config(self) -> None:
        tmp = self.dir / "tmp"
        tmp.mkdir()
        cni = self.dir / "cni"
        cni.mkdir()
        # Debian's podman 4.3 here: cgroup v1 without systemd (cgroupfs, file events, k8s-file logs); crun fails
        # on these hybrid cgroups, so runc; its default ulimits exceed this VM's hard limits. File locks under
        # tmp_dir instead of the machine-wide /dev/shm/libpod_lock segment that every rootful podman shares.
        # exit_command_delay: each exec session keeps a conmon that long (default 300 s) so its exit code can be
        # read; 0 races the SDK's exec_inspect (404), a few seconds keeps both the codes and the host tidy.
        self.containers_conf.write_text(f"""
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{tmp}"
image_copy_tmp_dir = "{tmp}"
lock_type = "file"
exit_command_delay = {self.exit_command_delay}

[network]
network_backend = "cni"
network_config_dir = "{cni}"
default_network = "{self.bridge}"
""")
        # Our own bridge and subnet, no masquerading or firewall rules: nothing to undo on the host but the bridge.
        (cni / f"{self.bridge}.conflist").write_text(json.dumps({
            "cniVersion": "0.4.0", "name": self.bridge,
            "plugins": [{"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
                         "ipam": {"type": "host-local", "dataDir": str(self.dir / "cni-ipam"),
                                  "routes": [{"dst": "0.0.0.0/0"}],
                                  "ranges": [[{"subnet": f"{self.subnet}.0/24", "gateway": f"{self.subnet}.1"}]]}}],
        }))
        self.registries_conf.write_text("unqualified-search-registries = []\n" + "".join(
            f'\n[[registry]]\nlocation = "{name}"\ninsecure = true\n' for name in self.insecure_registries))

    def environ(self) -> dict[str, str]:
        """The process environment for podman (service and CLI) with this lab's configuration files."""
        return {**os.environ, "CONTAINERS_CONF": str(self.containers_conf),
                "CONTAINERS_REGISTRIES_CONF": str(self.registries_conf)}

    def global_args(self) -> list[str]:
        args = ["--root", str(self.dir / "root"), "--runroot", str(self.dir / "run"),
                "--storage-driver", self.storage_driver]
        for opt in self.storage_opts:
            args += ["--storage-opt", opt]
        return args

    def podman(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The podman CLI against this service's storage (for set-up and clean-up, never for the code under test)."""
        return subprocess.run([self.podman_bin, *self.global_args(), *args], env=self.environ(), text=True,
                              capture_output=True, timeout=timeout, check=False)

    def _pick_storage(self) -> None:
        """The first driver whose `podman info` succeeds here (overlay's set-up mounts a test overlay)."""
        candidates = storage_candidates()
        if self.wanted_driver:
            candidates = [c for c in candidates if c[0] == self.wanted_driver] or \
                [(self.wanted_driver, self.wanted_driver, ())]
        errors = []
        for name, driver, opts in candidates:
            self.storage_name, self.storage_driver, self.storage_opts = name, driver, opts
            probe = self.podman("info", "--format", "{{.Store.GraphDriverName}}")
            if probe.returncode == 0:
                return
            errors.append(f"{name}: {probe.stderr.strip()[-300:]}")
            # A root that one driver initialised refuses another.
            _unmount_below(self.dir / "root")
            shutil.rmtree(self.dir / "root", ignore_errors=True)
            shutil.rmtree(self.dir / "run", ignore_errors=True)
        raise RuntimeError("no podman storage driver works here:\n" + "\n".join(errors))

    def start(self, timeout: float = 30.0) -> PodmanService:
        self._write_config()
        self._pick_storage()
        argv = [self.podman_bin, *self.global_args(), "system", "service", "--time=0", self.host]
        self.proc = spawn(argv, self.log, env=self.environ())
        (self.dir / "owner.pid").write_text(str(self.proc.pid))
        await_answer("podman system service", self.proc, self.log, self._answers, self.stop, timeout)
        return self

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1)
                sock.connect(str(self.socket))
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
                return b"200 OK" in sock.recv(200)
        except OSError:
            return False

    def leftover_processes(self) -> list[int]:
        """PIDs of processes other than the service itself whose command line points into our folder (conmon,
        the containers' cleanup commands)."""
        mine = str(self.dir).encode()
        service = self.proc.pid if self.proc is not None else -1
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in (service, os.getpid()):
                continue
            with contextlib.suppress(OSError):
                if mine in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
        return sorted(found)

    def wait_for_leftovers(self, timeout: float) -> list[int]:
        """Wait up to `timeout` for processes pointing into our folder to end; the PIDs still alive after."""
        deadline = time.monotonic() + timeout
        while (left := self.leftover_processes()) and time.monotonic() < deadline:
            time.sleep(0.2)
        return left

    def stop(self) -> list[int]:
        """Remove every container, stop the service by its PID (never by name), then clean up; returns the PIDs
        of processes that outlived the grace period and had to be killed (a leak to report)."""
        if self.proc is not None and self.proc.poll() is None:
            self.podman("rm", "--all", "--force", "--time", "0")
        killed = []
        terminate(self.proc, 20)
        # Exec sessions keep a conmon for exit_command_delay seconds after they end.
        for pid in self.wait_for_leftovers(self.exit_command_delay + 5.0):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        subprocess.run(["ip", "link", "del", self.bridge], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _unmount_below(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self._slot_lock.close()  # type: ignore[attr-defined]
        return killed

    def env(self) -> dict[str, str]:
        """Variables that environments/podman.yaml reads."""
        return {"PORTTEST_PODMAN_HOST": self.host}

    def __enter__(self) -> PodmanService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
