"""A second, independent dockerd over mutual TLS on loopback, with its own bridge, data root and certificates."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import trustme

from tests.lab.process import await_answer, spawn, terminate

LAB_ROOT = Path(os.environ.get("PORTTEST_LAB_ROOT", "/tmp/porttest-lab"))


@dataclass(frozen=True)
class TLSFiles:
    ca_cert: Path
    client_cert: Path
    client_key: Path
    server_cert: Path
    server_key: Path


def make_certs(folder: Path, hostnames: tuple[str, ...] = ("127.0.0.1", "localhost")) -> TLSFiles:
    """A fresh CA, a server certificate for loopback and a client certificate, written as PEM files."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert(*hostnames)
    client = ca.issue_cert("porttest-client")
    files = TLSFiles(folder / "ca.pem", folder / "cert.pem", folder / "key.pem",
                     folder / "server-cert.pem", folder / "server-key.pem")
    ca.cert_pem.write_to_path(str(files.ca_cert))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    server.cert_chain_pems[0].write_to_path(str(files.server_cert))
    server.private_key_pem.write_to_path(str(files.server_key))
    for path in (files.client_key, files.server_key):
        path.chmod(0o600)
    return files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class TLSEngine:
    """Start with start(), stop with stop(): the daemon is stopped by its own PID, its bridge deleted."""

    def __init__(self, slot: int | None = None, storage_driver: str | None = None,
                 daemon_config: dict[str, object] | None = None) -> None:
        LAB_ROOT.mkdir(parents=True, exist_ok=True)
        self.slot, self._slot_lock = _claim_slot(slot)
        self.bridge = f"ptlab{self.slot}"
        self.subnet = f"172.31.{250 - self.slot}.1/24"
        # Networks this daemon creates (porttest's per-environment networks for services) come from a pool of the
        # slot's own, apart from the main engine's; the FORWARD rule lets their containers reach each other, which
        # the main engine's DROP policy would stop (this daemon runs without iptables of its own).
        self.pool = f"10.{210 + self.slot}.0.0/16"
        self._forward = ["FORWARD", "-s", self.pool, "-d", self.pool, "-j", "ACCEPT"]
        self.dir = Path(tempfile.mkdtemp(prefix=f"engine{self.slot}-", dir=LAB_ROOT))
        self.port = free_port()
        self.host = f"tcp://127.0.0.1:{self.port}"
        self.certs = make_certs(self.dir / "certs")
        self.storage_driver = storage_driver or _main_storage_driver()
        self.daemon_config = dict(daemon_config or {})
        self.killed = False
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "dockerd.log"

    def start(self, timeout: float = 30.0) -> TLSEngine:
        self._bridge_up()
        config = dict(self.daemon_config)
        config.setdefault("default-address-pools", [{"base": self.pool, "size": 24}])
        if subprocess.run(["iptables", "-C", *self._forward], capture_output=True).returncode != 0:
            subprocess.run(["iptables", "-I", *self._forward], capture_output=True)
        if self.storage_driver:
            config.setdefault("storage-driver", self.storage_driver)
        (self.dir / "daemon.json").write_text(json.dumps(config))
        argv = [
            shutil.which("dockerd") or "/usr/sbin/dockerd",
            "--data-root", str(self.dir / "root"), "--exec-root", str(self.dir / "exec"),
            "--pidfile", str(self.dir / "dockerd.pid"), "--host", self.host,
            "--config-file", str(self.dir / "daemon.json"),
            "--tlsverify", "--tlscacert", str(self.certs.ca_cert),
            "--tlscert", str(self.certs.server_cert), "--tlskey", str(self.certs.server_key),
            "--bridge", self.bridge, "--iptables=false", "--ip-masq=false",
            "--containerd-namespace", f"porttest-lab{self.slot}",
            "--containerd-plugins-namespace", f"porttest-lab{self.slot}-plugins",
        ]
        self.proc = spawn(argv, self.log)
        (self.dir / "owner.pid").write_text(str(self.proc.pid))
        await_answer("dockerd", self.proc, self.log, self._answers, self.stop, timeout)
        return self

    def _answers(self) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.certs.ca_cert))
        ctx.load_cert_chain(str(self.certs.client_cert), str(self.certs.client_key))
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as raw, \
                    ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /_ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                return b"200 OK" in tls.recv(200)
        except OSError:
            return False

    def _bridge_up(self) -> None:
        if Path(f"/sys/class/net/{self.bridge}").exists():
            return
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", self.subnet, "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")

    def stop(self) -> None:
        """Stop our dockerd by its PID (never by name), then remove the bridge and the data."""
        if self.killed:
            # A killed dockerd leaves its containers' processes to their shims; a restart (no live-restore)
            # stops them, and the normal stop below then ends the daemon cleanly.
            self.killed = False
            # The killed daemon's containerd lingers as a zombie until PID 1 reaps it; dockerd would take its
            # pidfile for a live containerd and wait for its socket forever, so a fresh one is started instead.
            (self.dir / "exec" / "containerd" / "containerd.pid").unlink(missing_ok=True)
            # Its network store goes too: a dockerd that recovers networks after a crash, with address pools of its
            # own, deletes the MAIN engine's docker0 bridge (seen on Docker 20.10); nothing of them is needed now.
            (self.dir / "root" / "network" / "files" / "local-kv.db").unlink(missing_ok=True)
            with contextlib.suppress(RuntimeError):
                self.start()
        terminate(self.proc, 20)
        subprocess.run(["ip", "link", "del", self.bridge], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while subprocess.run(["iptables", "-D", *self._forward], capture_output=True).returncode == 0:
            pass  # our own rule, by its exact spec
        kill_leftovers(self.dir)
        _unmount_below(self.dir)
        kill_leftovers(self.dir)  # fuse-overlayfs helpers of mounts that a lazy unmount let go
        shutil.rmtree(self.dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self._slot_lock.close()

    def kill(self) -> None:
        """Kill the daemon abruptly (for fault tests); stop() still cleans up afterwards."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.killed = True

    def env(self) -> dict[str, str]:
        """Variables that environments/cloud.yaml reads."""
        return {
            "PORTTEST_CLOUD_HOST": self.host,
            "PORTTEST_CLOUD_CA": str(self.certs.ca_cert),
            "PORTTEST_CLOUD_CERT": str(self.certs.client_cert),
            "PORTTEST_CLOUD_KEY": str(self.certs.client_key),
        }

    def __enter__(self) -> TLSEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _claim_slot(wanted: int | None, lock_prefix: str = "slot", bridge_prefix: str = "ptlab") -> tuple[int, object]:
    """A lock file per slot keeps concurrent labs (two test sessions) off each other's bridge and subnet."""
    for slot in [wanted] if wanted is not None else range(0, 20):
        handle = open(LAB_ROOT / f"{lock_prefix}{slot}.lock", "w")  # noqa: SIM115 - held for the engine's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        # A lab started by scripts/lab.py outlives its lock; its bridge still marks the slot as taken.
        if Path(f"/sys/class/net/{bridge_prefix}{slot}").exists():
            handle.close()
            continue
        return int(slot), handle  # type: ignore[arg-type]
    raise RuntimeError("no free lab slot")


def _main_storage_driver() -> str | None:
    try:
        return json.loads(Path("/etc/docker/daemon.json").read_text()).get("storage-driver")
    except (OSError, ValueError):
        return None


def _processes() -> dict[int, tuple[int, str]]:
    """Every process as pid -> (parent pid, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name in stat may hold spaces and parentheses; the parent pid is the 2nd field after it.
        found[int(entry.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmdline)
    return found


def lab_processes(folder: Path) -> list[int]:
    """PIDs of processes started from a lab's folder (shims, runsc sandboxes, fuse mounts) and their descendants.

    A dockerd that dies abruptly leaves these behind; they name the folder on their command line, and the
    container processes below them are found through their parents."""
    table = _processes()
    marker = str(folder) + "/"
    owned = {pid for pid, (_, cmdline) in table.items() if marker in cmdline and pid != os.getpid()}
    grew = True
    while grew:
        below = {pid for pid, (parent, _) in table.items() if parent in owned} - owned
        owned |= below
        grew = bool(below)
    return sorted(owned)


def kill_leftovers(folder: Path) -> list[int]:
    """SIGKILL, by PID, whatever still runs from a lab's folder; returns the PIDs."""
    pids = lab_processes(folder)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if pids:
        time.sleep(0.2)
    return pids


def _unmount_below(folder: Path) -> None:
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    targets = [line.split()[1] for line in mounts if line.split()[1].startswith(str(folder))]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
