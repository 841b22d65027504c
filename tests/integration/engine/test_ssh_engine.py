"""ssh:// engines through a real sshd on loopback: parity with local, verified host keys, clear errors, no leftovers."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import requests

from porttest.config import EngineSpec
from porttest.engine.connect import connect, short_reason
from porttest.errors import EXIT_ENVIRONMENT, EngineError
from tests.integration.conftest import REPO, SLEEPER, porttest, write
from tests.lab.process import alive
from tests.lab.sshd import Sshd, keygen


def _logins(lab: Sshd) -> int:
    return lab.log.read_text().count("Accepted publickey for root")


def _ssh_matrix(folder: Path, lab: Sshd, image: str, known_hosts: Path | None = None) -> Path:
    """A local and an ssh environment; the SSH files are copied beside the matrix and named relative to it."""
    keys = folder / "keys"
    keys.mkdir(exist_ok=True)
    shutil.copy(known_hosts or lab.known_hosts, keys / "known_hosts")
    shutil.copy(lab.identity, keys / "id_ed25519")
    return write(folder, "matrix.yaml", f"""
        version: 1
        image: {image}
        suites: [{REPO / "suites" / "baseline"}]
        environments:
          local: {{run: {{command: {SLEEPER}}}}}
          remote:
            engine:
              host: {lab.host}
              ssh: {{known_hosts: keys/known_hosts, identity: keys/id_ed25519}}
            ship: load
            run: {{command: {SLEEPER}}}
    """)


def test_ssh_environment_runs_the_baseline_suite_with_parity(tmp_path: Path, sshd: Sshd,
                                                             base_images: dict[str, str]) -> None:
    _ssh_matrix(tmp_path, sshd, base_images["busybox"])
    before = _logins(sshd)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    res = ran.results
    assert res and res["verdict"] == "parity"
    remote = res["environments"]["remote"]
    assert remote["status"] == "ok" and remote["engine"]["endpoint"] == sshd.host
    assert remote["ship"]["mode"] == "load" and remote["ship"]["bytes"] > 1_000_000  # streamed over the SSH channel
    assert remote["image_id"] == res["environments"]["local"]["image_id"] == res["image"]["id"]
    assert len(res["tests"]) >= 10
    assert all(t["same"] and t["outcomes"] == {"local": "passed", "remote": "passed"} for t in res["tests"])
    assert res["warnings"] == []
    # The parent's probe and client, and the pytest child's own client, each logged in with the lab's key.
    assert _logins(sshd) - before >= 3


def test_unknown_host_key_is_refused_with_exit_4_and_the_other_environment_runs(tmp_path: Path, sshd: Sshd,
                                                                               base_images: dict[str, str]) -> None:
    stranger = f"[127.0.0.1]:1 {keygen(tmp_path / 'other_host_key', 'another-host')}\n"
    (tmp_path / "other_known_hosts").write_text(stranger)
    _ssh_matrix(tmp_path, sshd, base_images["busybox"], known_hosts=tmp_path / "other_known_hosts")
    before = _logins(sshd)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    res = ran.results
    assert res is not None
    remote = res["environments"]["remote"]
    assert remote["status"] == "error" and remote["phase"] == "connect"
    assert "unknown SSH host key" in remote["error"] and f"[127.0.0.1]:{sshd.port}" in remote["error"]
    assert "known_hosts" in remote["hint"] and f"ssh-keyscan -p {sshd.port} 127.0.0.1" in remote["hint"]
    assert res["environments"]["local"]["status"] == "ok"
    assert res["tests"] and all(t["outcomes"]["local"] == "passed" for t in res["tests"])
    assert _logins(sshd) == before  # refused before any login was tried


def _refused(spec: EngineSpec) -> EngineError:
    with pytest.raises(EngineError) as caught:
        connect(spec, timeout=20)
    assert caught.value.exit_code == EXIT_ENVIRONMENT
    return caught.value


def test_changed_host_key_is_refused(tmp_path: Path, sshd: Sshd) -> None:
    impostor = f"[127.0.0.1]:{sshd.port} {keygen(tmp_path / 'impostor', 'impostor')}\n"
    (tmp_path / "known_hosts").write_text(impostor)
    err = _refused(EngineSpec(host=sshd.host, ssh={"known_hosts": tmp_path / "known_hosts",
                                                   "identity": sshd.identity}))
    assert "host key does not match" in err.message and sshd.host in err.message
    assert err.hint and "intercepted" in err.hint


def test_a_key_the_server_does_not_know_is_refused(tmp_path: Path, sshd: Sshd) -> None:
    keygen(tmp_path / "stranger", "stranger")
    err = _refused(EngineSpec(host=sshd.host, ssh={"known_hosts": sshd.known_hosts,
                                                   "identity": tmp_path / "stranger"}))
    assert "SSH authentication failed" in err.message
    assert err.hint and "engine.ssh.identity" in err.hint and "authorized_keys" in err.hint


def test_unreadable_identity_is_named_before_connecting(tmp_path: Path, sshd: Sshd) -> None:
    err = _refused(EngineSpec(host=sshd.host, ssh={"identity": tmp_path / "missing_key"}))
    assert err.message == f"engine.ssh.identity: cannot read {tmp_path / 'missing_key'}"


@pytest.mark.parametrize(("setting", "reason", "hint"), [
    ("PATH=/nonexistent", "has no `docker` command (bash: line 1: docker: command not found)", "dial-stdio"),
    ("DOCKER_HOST=unix:///nonexistent.sock", "failed on the remote host (exit 1): failed to open the raw stream "
     "connection: dial unix /nonexistent.sock: connect: no such file or directory",
     "is the engine on that host running?"),
], ids=["no-docker-cli", "remote-engine-down"])
def test_remote_docker_cli_failures_are_named(engine: object, setting: str, reason: str, hint: str) -> None:
    with Sshd(extra_config=(f"SetEnv {setting}",)) as lab:
        err = _refused(EngineSpec(host=lab.host, ssh={"known_hosts": lab.known_hosts, "identity": lab.identity}))
        assert reason in err.message
        assert err.hint and hint in err.hint


def test_encrypted_identity_is_named(tmp_path: Path, sshd: Sshd) -> None:
    key = tmp_path / "encrypted"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-f", str(key)], check=True)
    err = _refused(EngineSpec(host=sshd.host, ssh={"known_hosts": sshd.known_hosts, "identity": key}))
    assert "identity is encrypted" in err.message
    assert err.hint and "ssh agent" in err.hint


def test_sshd_stops_by_pid_leaving_nothing_and_a_stopped_sshd_is_named(engine: object) -> None:
    lab = Sshd().start()
    spec = EngineSpec(host=lab.host, ssh={"known_hosts": lab.known_hosts, "identity": lab.identity})
    try:
        connected = connect(spec)
        try:
            assert connected.client.ping()
            pids = lab.processes()
            assert len(pids) > 1  # the listener and the connection's own sshd and session
        finally:
            connected.close()
    finally:
        lab.stop()
    assert not [pid for pid in pids if alive(pid)]
    assert not lab.dir.exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", lab.port)) != 0
    err = _refused(EngineSpec(host=lab.host))
    assert "Connection refused" in err.message and f"port {lab.port}" in err.message
    assert err.hint and "sshd" in err.hint


def test_a_session_lost_mid_run_is_a_connection_error(engine: object) -> None:
    """The runner turns requests' ConnectionError into the environment's error; a raw paramiko error would be
    reported as a porttest bug."""
    lab = Sshd().start()
    try:
        connected = connect(EngineSpec(host=lab.host, ssh={"known_hosts": lab.known_hosts, "identity": lab.identity}))
    finally:
        lab.stop()
    try:
        with pytest.raises(requests.ConnectionError) as caught:
            connected.client.containers.list()
        assert short_reason(caught.value).startswith("SSH: ")
    finally:
        connected.close()
