"""An OpenSSH server on loopback for ssh:// engines: fresh host and client keys, and a known_hosts for it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.lab.process import alive, await_answer, spawn
from tests.lab.tls_engine import LAB_ROOT, free_port

SSHD = "/usr/sbin/sshd"  # sshd re-executes itself, so it must be started by its absolute path
PRIVSEP_DIR = Path("/run/sshd")  # compiled into Debian's sshd; a system folder, so it is left in place


def keygen(path: Path, comment: str) -> str:
    """A fresh ed25519 key pair at path (private) and path.pub; returns 'TYPE BASE64' of the public key."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kind, blob = path.with_name(path.name + ".pub").read_text().split()[:2]
    return f"{kind} {blob}"


class Sshd:
    """start(), stop(), env(): sshd -D on 127.0.0.1 that lets root in with `identity`; stopped by its own PID.

    The remote command porttest runs is `docker system dial-stdio`, which reaches this machine's main engine.
    `extra_config` lines are appended to sshd_config (e.g. "SetEnv PATH=/nonexistent" hides the docker CLI).
    """

    def __init__(self, extra_config: tuple[str, ...] = ()) -> None:
        LAB_ROOT.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="sshd-", dir=LAB_ROOT))
        self.port = free_port()
        self.host = f"ssh://root@127.0.0.1:{self.port}"
        self.host_key = self.dir / "host_ed25519"
        self.identity = self.dir / "id_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self.config = self.dir / "sshd_config"
        self.log = self.dir / "sshd.log"
        self.extra_config = extra_config
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> Sshd:
        host_public = keygen(self.host_key, "porttest-lab-host")
        client_public = keygen(self.identity, "porttest-lab-client")
        (self.dir / "authorized_keys").write_text(client_public + "\n")
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_public}\n")
        self.config.write_text("\n".join([
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            f"PidFile {self.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            "StrictModes no",  # the lab folder lies below the world-writable /tmp
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            *self.extra_config,
        ]) + "\n")
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        argv = [SSHD, "-D", "-e", "-f", str(self.config), "-p", str(self.port)]
        self.proc = spawn(argv, self.log)
        await_answer("sshd", self.proc, self.log, self._answers, self.stop, timeout)
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return sock.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def processes(self) -> set[int]:
        """The listener and every process below it (one sshd per connection, its session, the remote docker)."""
        if self.proc is None or self.proc.poll() is not None:
            return set()
        found = {self.proc.pid}
        parents = _parents()
        grew = True
        while grew:
            children = {pid for pid, parent in parents.items() if parent in found} - found
            grew = bool(children)
            found |= children
        return found

    def stop(self) -> None:
        """Stop the listener and its connections by their PIDs (never by name), then remove the folder."""
        pids = self.processes()
        for pid in sorted(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(pid) for pid in pids):
            time.sleep(0.05)
        for pid in pids:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5  # SIGKILL is delivered at once, but the process dies a moment later
        while time.monotonic() < deadline and any(alive(pid) for pid in pids):
            time.sleep(0.02)
        shutil.rmtree(self.dir, ignore_errors=True)

    def env(self) -> dict[str, str]:
        """Variables a matrix can read for an ssh:// environment."""
        return {
            "PORTTEST_SSH_HOST": self.host,
            "PORTTEST_SSH_KNOWN_HOSTS": str(self.known_hosts),
            "PORTTEST_SSH_IDENTITY": str(self.identity),
        }

    def __enter__(self) -> Sshd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _parents() -> dict[int, int]:
    """PID -> parent PID for every process (from /proc/PID/stat; the command name may hold spaces)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        out[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out
