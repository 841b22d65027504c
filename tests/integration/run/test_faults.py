"""Injected faults on real engines: a lost engine, an OOM-killed container, hangs, interrupts in every phase,
concurrent runs, and planted secrets. Nothing may be left behind and no result may be lost."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.conftest import LABEL, SESSION_ID, SESSION_LABEL, SLEEPER, porttest, write
from tests.lab.tls_engine import TLSEngine, lab_processes

SHELL = "def test_shell(host):\n    assert host.run('true').rc == 0\n"


def _tls_env(lab: TLSEngine, extra: str = "") -> str:
    c = lab.certs
    return (f"{{engine: {{host: {lab.host}, tls: {{ca_cert: {c.ca_cert}, client_cert: {c.client_cert}, "
            f"client_key: {c.client_key}}}}}, ship: load, run: {{command: {SLEEPER}}}{extra}}}")


def _labelled(client: docker.DockerClient, run_id: str | None = None) -> list[str]:
    flt = [f"{LABEL}={run_id}" if run_id else LABEL, f"{SESSION_LABEL}={SESSION_ID}"]
    # The low-level list: the model list inspects each container and races with their removal (404).
    return [c["Names"][0].lstrip("/") for c in client.api.containers(all=True, filters={"label": flt})]


@pytest.fixture
def doomed_engine(base_images: dict[str, str]) -> Iterator[TLSEngine]:
    lab = TLSEngine().start()
    try:
        yield lab
    finally:
        lab.stop()
        # A killed dockerd leaves shims and container processes behind; stop() must have ended them.
        assert not lab_processes(lab.dir), "processes of the killed engine outlived stop()"


def test_engine_lost_mid_run_is_that_environments_error(tmp_path: Path, doomed_engine: TLSEngine,
                                                         base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_slow.py", '''
        import time

        def test_a(host):
            assert host.run("true").rc == 0

        def test_b(host):
            time.sleep(4)
            assert host.run("true").rc == 0
    ''')
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          local: {{run: {{command: {SLEEPER}}}}}
          remote: {_tls_env(doomed_engine)}
    """)
    proc = subprocess.Popen([sys.executable, "-m", "porttest", "run", "matrix.yaml", "--json", "r.json"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "[remote] tests" not in _peek(proc):
        time.sleep(0.05)
    time.sleep(1.0)
    doomed_engine.kill()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, (out, err)
    results = json.loads((tmp_path / "r.json").read_text())
    remote = results["environments"]["remote"]
    assert remote["status"] == "error" and doomed_engine.host.removeprefix("tcp://") in remote["error"]
    assert results["environments"]["local"]["status"] == "ok"
    assert {t["id"].split("::")[1]: t["outcomes"] for t in results["tests"]} == {
        "test_a": {"local": "passed"}, "test_b": {"local": "passed"}}
    assert "Traceback" not in err


_streams: dict[int, list[str]] = {}


def _peek(proc: subprocess.Popen[str]) -> str:
    """Everything the process wrote to stderr so far (read on a thread so that the pipe never fills)."""
    if proc.pid not in _streams:
        _streams[proc.pid] = []
        assert proc.stderr is not None
        stream = proc.stderr

        def pump() -> None:
            for line in stream:
                _streams[proc.pid].append(line)

        threading.Thread(target=pump, daemon=True).start()
    return "".join(_streams[proc.pid])


def _finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    proc.wait(timeout=timeout)
    time.sleep(0.2)
    return proc.returncode, _peek(proc)


def test_oom_killed_container_reports_the_reason(tmp_path: Path, base_images: dict[str, str]) -> None:
    command = ('["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; echo allocating; '
               'exec dd if=/dev/zero of=/dev/null bs=256M"]')
    write(tmp_path, "suites/test_trigger.py", '''
        import time

        def test_trigger(host):
            host.run("touch /tmp/go")
            time.sleep(2)

        def test_more(host):
            assert host.run("true").rc == 0
    ''')
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          small: {{run: {{command: {command}, mem_limit: 32m, memswap_limit: 32m}}}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    env = ran.results["environments"]["small"]  # type: ignore[index]
    assert "OOMKilled" in env["error"] and "exit code 137" in env["error"] and "allocating" in env["error"]
    assert ran.results["tests"] == []  # type: ignore[index]  # no wall of testinfra failures


def test_hanging_command_and_test_time_out_and_the_run_finishes(tmp_path: Path, base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_hang.py", '''
        import time

        def test_hanging_command(host):
            host.run("sleep 60")

        def test_hanging_python(host):
            time.sleep(60)

        def test_after(host):
            assert host.run("echo ok").stdout == "ok\\n"
    ''')
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          local: {{command_timeout: 1, test_timeout: 3, run: {{command: {SLEEPER}}}}}
    """)
    began = time.monotonic()
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert time.monotonic() - began < 45
    assert ran.rc == 1, ran.explain()
    assert "command timed out after 1s" in ran.row("test_hanging_command")["messages"]["local"]
    assert "test_timeout" in ran.row("test_hanging_python")["messages"]["local"]
    assert ran.outcomes("test_after") == {"local": "passed"}


def test_environment_timeout_ends_the_suites(tmp_path: Path, base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_hang.py", "import time\n\ndef test_forever(host):\n    time.sleep(120)\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          local: {{timeout: 3, run: {{command: {SLEEPER}}}}}
    """)
    began = time.monotonic()
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert time.monotonic() - began < 30 and ran.rc == 4, ran.explain()
    assert "did not finish within 3s" in ran.results["environments"]["local"]["error"]  # type: ignore[index]


class _Silent:
    """A TCP listener that accepts and never answers: an engine that hangs while connecting."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


def _interrupt_at(tmp_path: Path, marker: str, sig: int, engines: list[docker.DockerClient],
                  second: bool = False) -> tuple[int, dict]:  # type: ignore[type-arg]
    proc = subprocess.Popen([sys.executable, "-m", "porttest", "run", "matrix.yaml", "--json", "r.json"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and marker not in _peek(proc):
        time.sleep(0.02)
    assert marker in _peek(proc), _peek(proc)
    time.sleep(0.3)
    proc.send_signal(sig)
    if second:
        time.sleep(0.1)
        proc.send_signal(sig)
    rc, err = _finish(proc)
    assert "Traceback" not in err, err
    for client in engines:
        assert not _labelled(client), "containers left behind"
    results = json.loads((tmp_path / "r.json").read_text()) if (tmp_path / "r.json").exists() else {}
    return rc, results


def test_sigint_while_connecting(tmp_path: Path, engine: docker.DockerClient, base_images: dict[str, str]) -> None:
    silent = _Silent()
    try:
        write(tmp_path, "suites/test_x.py", SHELL)
        write(tmp_path, "matrix.yaml", f"""
            version: 1
            image: {base_images["busybox"]}
            suites: [suites]
            environments:
              local: {{run: {{command: {SLEEPER}}}}}
              hung: {{engine: {{host: "tcp://127.0.0.1:{silent.port}", tls: false}}}}
        """)
        rc, results = _interrupt_at(tmp_path, "[hung] connect", signal.SIGINT, [engine])
        assert rc == 130 and results["interrupted"] is True
    finally:
        silent.close()


def test_sigterm_while_shipping(tmp_path: Path, engine: docker.DockerClient, tls_engine: TLSEngine,
                                tls_client: docker.DockerClient, base_images: dict[str, str]) -> None:
    tag = f"porttest-test/ship:{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM {base_images['busybox']}\nRUN head -c 300m /dev/urandom > /big\n"
    image, _ = engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, forcerm=True)
    try:
        write(tmp_path, "suites/test_x.py", SHELL)
        write(tmp_path, "matrix.yaml", f"""
            version: 1
            image: {tag}
            suites: [suites]
            environments:
              remote: {_tls_env(tls_engine)}
        """)
        rc, results = _interrupt_at(tmp_path, "[remote] ship", signal.SIGTERM, [engine, tls_client])
        assert rc == 143 and results["interrupted"] is True
        assert results["environments"]["remote"]["status"] == "error"
    finally:
        engine.images.remove(tag, force=True)
        with contextlib.suppress(docker.errors.ImageNotFound):
            tls_client.images.remove(image.id, force=True)


@pytest.mark.parametrize("marker, second", [
    ("[local] start", False), ("[local] ready", False), ("[local] tests", True), ("[local] teardown", False)])
def test_sigint_while_starting_waiting_testing_or_tearing_down(
        tmp_path: Path, engine: docker.DockerClient, base_images: dict[str, str], marker: str, second: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault injection holds the short phases open long enough to be hit.
    monkeypatch.setenv("PORTTEST_FAULT_DELAY", "start=3,teardown=3")
    slow = "teardown" not in marker
    write(tmp_path, "suites/test_x.py", f"import time\n\ndef test_slow(host):\n    time.sleep({30 if slow else 0})\n")
    wait = "{port: 9, timeout: 60}" if "ready" in marker else "null"
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          local: {{run: {{command: {SLEEPER}}}, wait_for: {wait}}}
    """)
    rc, results = _interrupt_at(tmp_path, marker, signal.SIGINT, [engine], second=second)
    assert rc == 130
    if results:  # a second Ctrl-C may exit before the JSON; the first one always writes it
        assert results["interrupted"] is True
    else:
        assert second


def test_two_runs_at_once_and_clean_spares_the_live_one(tmp_path: Path, engine: docker.DockerClient,
                                                        base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_x.py", "import time\n\ndef test_slow(host):\n    time.sleep(4)\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          local: {{run: {{command: {SLEEPER}}}}}
    """)
    runs = [subprocess.Popen([sys.executable, "-m", "porttest", "run", "matrix.yaml", "--json", f"r{i}.json"],
                             cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for i in range(2)]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_labelled(engine)) < 2:
        time.sleep(0.05)
    live = _labelled(engine)
    assert len(live) == 2
    swept = porttest("clean", "matrix.yaml", cwd=tmp_path)
    # Other runs' leftovers on a shared engine may be swept too; these two runs are alive and must not be.
    assert swept.rc == 0 and not [name for name in live if name in swept.stdout], swept.explain()
    assert len(_labelled(engine)) == 2
    for proc in runs:
        proc.wait(timeout=60)
        assert proc.returncode == 0
    ids = {json.loads((tmp_path / f"r{i}.json").read_text())["run_id"] for i in range(2)}
    assert len(ids) == 2 and not _labelled(engine)


def test_clean_older_than_keeps_recent_leftovers(tmp_path: Path, engine: docker.DockerClient,
                                                 base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_x.py", SHELL)
    write(tmp_path, "matrix.yaml", f"version: 1\nimage: {base_images['busybox']}\nsuites: [suites]\n"
                                   "environments: {local: {}}\n")
    old = engine.containers.create(base_images["busybox"], ["true"], labels={
        LABEL: "old", "io.porttest.created": "2020-01-01T00:00:00Z"})
    new = engine.containers.create(base_images["busybox"], ["true"], labels={
        LABEL: "new", "io.porttest.created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    try:
        swept = porttest("clean", "matrix.yaml", "--older-than", "1h", cwd=tmp_path)
        assert swept.rc == 0 and old.id[:12] in swept.stdout and new.id[:12] not in swept.stdout, swept.explain()
        with pytest.raises(docker.errors.NotFound):
            engine.containers.get(old.id)
        engine.containers.get(new.id)
        bad = porttest("clean", "matrix.yaml", "--older-than", "soon", cwd=tmp_path)
        assert bad.rc == 2 and "not a duration" in bad.stderr
    finally:
        for c in (old, new):
            with contextlib.suppress(docker.errors.NotFound):
                c.remove(force=True)


def test_planted_secret_never_reaches_any_output(tmp_path: Path, base_images: dict[str, str]) -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    listed = f"listed-{uuid.uuid4().hex}"
    write(tmp_path, "suites/test_leak.py", '''
        def test_token_is_wrong(host):
            env = host.environment()
            assert env["API_TOKEN"] == "something else"

        def test_listed(host):
            assert host.run("echo $DB_URL; echo $DB_URL >&2; exit 1").rc == 0
    ''')
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        secrets: [DB_URL]
        suites: [suites]
        environments:
          local:
            run: {{command: {SLEEPER}, environment: {{API_TOKEN: "${{API_TOKEN}}", DB_URL: "${{DB_URL}}"}}}}
    """)
    ran = porttest("run", "matrix.yaml", "--json", "r.json", "--junit", "r.xml", "--markdown", "r.md",
                   "--html", "r.html", cwd=tmp_path, env={"API_TOKEN": secret, "DB_URL": listed,
                                                          "GITHUB_ACTIONS": "true"})
    assert ran.rc == 1, ran.explain()
    outputs = {"stdout": ran.stdout, "stderr": ran.stderr}
    for name in ("r.json", "r.xml", "r.md", "r.html"):
        outputs[name] = (tmp_path / name).read_text()
    for where, text in outputs.items():
        assert secret not in text and listed not in text, where
    assert "***" in outputs["r.json"]
    report = porttest("report", "r.json", "--html", "again.html", cwd=tmp_path)
    assert secret not in report.stdout + (tmp_path / "again.html").read_text()
    assert os.environ.get("API_TOKEN") != secret
