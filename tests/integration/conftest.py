"""Real engines for integration tests: the machine's engine, base images, a second dockerd over mutual TLS, a gVisor
engine, an sshd, a registry and a podman system service."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.lab.podman_service import PODMAN, PodmanService
from tests.lab.process import alive
from tests.lab.registry import Registry
from tests.lab.sshd import SSHD, Sshd
from tests.lab.tls_engine import TLSEngine, lab_processes

REPO = Path(__file__).resolve().parents[2]
BUSYBOX = "porttest-base/busybox:latest"
DEBIAN = "porttest-base/debian:bookworm"
REDIS = "porttest-lab/redis:latest"
POSTGRES = "porttest-lab/postgres:latest"
LABEL = "io.porttest.run"
# Every porttest process a test starts inherits this, so the leak checks below see only this session's containers
# (another test session may run on the same engine at the same time).
SESSION_LABEL = "io.porttest.test-session"
SESSION_ID = uuid.uuid4().hex[:12]
os.environ["PORTTEST_LABELS"] = f"{SESSION_LABEL}={SESSION_ID}"
_lab_engines: list[TLSEngine] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure here means "no engine on this machine"
        pytest.skip(f"no Docker engine answers: {exc}")
    return client


@pytest.fixture(scope="session")
def base_images(engine: docker.DockerClient) -> dict[str, str]:
    """The local base images (.ci/run builds them; built here too when missing)."""
    missing = [ref for ref in (BUSYBOX, DEBIAN) if not engine.images.list(name=ref)]
    if missing:
        subprocess.run(["bash", str(REPO / "scripts" / "build-base-images.sh")], check=True)
    return {"busybox": BUSYBOX, "debian": DEBIAN}


@pytest.fixture(scope="session")
def lab_services(base_images: dict[str, str], engine: docker.DockerClient) -> dict[str, str]:
    """Service images built from Debian's packages (.ci/run builds them; built here too when missing)."""
    images = {"redis": REDIS, "postgres": POSTGRES}
    if not all(engine.images.list(name=ref) for ref in images.values()):
        subprocess.run(["bash", str(REPO / "scripts" / "build-base-images.sh")], check=True)
    return images


@pytest.fixture(scope="session")
def tls_engine(base_images: dict[str, str]) -> Iterator[TLSEngine]:
    """A second dockerd on 127.0.0.1 with mutual TLS; stopped by its PID at the end of the session."""
    lab = TLSEngine().start()
    _lab_engines.append(lab)
    try:
        yield lab
    finally:
        leftovers = _porttest_containers(_client_for(lab))
        lab.stop()
        assert not leftovers, f"porttest containers left on the TLS engine: {leftovers}"


def _client_for(lab: TLSEngine) -> docker.DockerClient:
    tls = docker.tls.TLSConfig(client_cert=(str(lab.certs.client_cert), str(lab.certs.client_key)),
                               ca_cert=str(lab.certs.ca_cert), verify=True)
    client = docker.DockerClient(base_url=lab.host, tls=tls, version="1.41")
    client.api.trust_env = False
    return client


# gVisor as Debian packages it; the default (sandbox) network mode fails in this VM, host networking works.
# BROKEN_RUNTIME is listed by the engine but its program is missing: a runtime that fails only at start.
BROKEN_RUNTIME = "porttest-broken"
RUNSC = shutil.which("runsc") or "/usr/bin/runsc"
RUNSC_CONFIG = {"runtimes": {"runsc": {"path": RUNSC, "runtimeArgs": ["--network=host"]},
                             BROKEN_RUNTIME: {"path": "/nonexistent/porttest-runtime"}}}


@pytest.fixture(scope="session")
def runsc_engine(base_images: dict[str, str]) -> Iterator[TLSEngine]:
    """A lab dockerd with gVisor registered as the `runsc` runtime; no sandbox process outlives the session."""
    if not Path(RUNSC).exists():
        pytest.skip("gVisor is not installed (apt-get install runsc)")
    lab = TLSEngine(daemon_config=RUNSC_CONFIG).start()
    _lab_engines.append(lab)
    try:
        yield lab
    finally:
        leftovers = _porttest_containers(_client_for(lab))
        lab.stop()
        sandboxes = lab_processes(lab.dir)
        assert not leftovers, f"porttest containers left on the gVisor engine: {leftovers}"
        assert not sandboxes, f"processes of the gVisor engine outlived it: {sandboxes}"


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    """An empty image registry on a loopback port (Debian's docker-registry), stopped by its PID afterwards."""
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed (.ci/run installs it)")
    lab = Registry().start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="session")
def sshd(engine: docker.DockerClient) -> Iterator[Sshd]:
    """sshd on 127.0.0.1 whose `docker system dial-stdio` reaches the machine's engine; stopped by its PID."""
    if not os.path.exists(SSHD):
        pytest.skip(f"{SSHD} is not installed (apt-get install openssh-server)")
    lab = Sshd().start()
    try:
        yield lab
    finally:
        pids = lab.processes()
        lab.stop()
    assert pids and not [pid for pid in pids if alive(pid)] and not lab.dir.exists(), "sshd left something behind"


@pytest.fixture(scope="session")
def tls_client(tls_engine: TLSEngine) -> docker.DockerClient:
    return _client_for(tls_engine)


@pytest.fixture(scope="session")
def podman_service(base_images: dict[str, str], registry: Registry) -> Iterator[PodmanService]:
    """`podman system service` on its own socket, storage and bridge, with the test registry marked insecure; at the
    end of the session its containers are checked, removed, the service stopped by its PID and its leftover conmon
    processes reported."""
    if PODMAN is None:
        pytest.skip("podman is not installed")
    lab = PodmanService(insecure_registries=(registry.address,)).start()
    try:
        yield lab
    finally:
        leftovers = _porttest_containers(podman_client_for(lab))
        killed = lab.stop()
        assert not leftovers, f"porttest containers left on podman: {leftovers}"
        assert not killed, f"processes pointing into the podman lab outlived its stop: {killed}"


def podman_client_for(lab: PodmanService) -> docker.DockerClient:
    return docker.DockerClient(base_url=lab.host, version="1.41")


@pytest.fixture(scope="session")
def podman_client(podman_service: PodmanService, engine: docker.DockerClient,
                  base_images: dict[str, str]) -> docker.DockerClient:
    """A client of the podman service, which holds the busybox base image (loaded from the machine's engine)."""
    client = podman_client_for(podman_service)
    image_id = engine.images.get(base_images["busybox"]).id
    for message in client.api.load_image(engine.api.get_image(image_id), quiet=True):
        assert "error" not in message, message
    # Podman's compat API refuses repo="name:tag" (Docker takes it); give the tag apart.
    repository, _, tag = base_images["busybox"].rpartition(":")
    client.images.get(image_id).tag(repository, tag)
    return client


def _porttest_containers(client: docker.DockerClient) -> list[str]:
    try:
        return [c["Names"][0].lstrip("/") for c in client.api.containers(
            all=True, filters={"label": [LABEL, f"{SESSION_LABEL}={SESSION_ID}"]})]
    except Exception:  # noqa: BLE001 - an engine a test killed on purpose has nothing left to check
        return []


@pytest.fixture(scope="session", autouse=True)
def no_container_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Session-end check: no porttest-labelled container, volume or network on the machine's engine, and the
    engine's own bridge still there (a lab dockerd once deleted it)."""
    had_bridge = Path("/sys/class/net/docker0").exists()
    yield
    assert not had_bridge or Path("/sys/class/net/docker0").exists(), "the main engine's docker0 bridge is gone"
    try:
        client = docker.from_env()
        client.ping()
    except Exception:  # noqa: BLE001
        return
    leftovers = _porttest_containers(client)
    for name in leftovers:
        client.containers.get(name).remove(force=True)
    volumes = [v["Name"] for v in client.api.volumes(
        filters={"label": [LABEL, f"{SESSION_LABEL}={SESSION_ID}"]}).get("Volumes") or ()]
    for name in volumes:
        client.api.remove_volume(name, force=True)
    networks = [n["Name"] for n in client.api.networks(filters={"label": [LABEL, f"{SESSION_LABEL}={SESSION_ID}"]})]
    for name in networks:
        client.api.remove_network(name)
    assert not leftovers, f"porttest containers left on the local engine: {leftovers}"
    assert not volumes, f"porttest volumes left on the local engine: {volumes}"
    assert not networks, f"porttest networks left on the local engine: {networks}"


@pytest.fixture(scope="session", autouse=True)
def no_pytest_child_left_behind() -> Iterator[None]:
    """Session-end check: no fork server or pytest child of this session's porttest runs is still alive."""
    yield
    marker = f"{SESSION_LABEL}={SESSION_ID}".encode()
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ and (b"porttest.run.fork_server" in cmdline or b"--porttest-child" in cmdline):
            shown = cmdline.replace(b"\0", b" ").decode(errors="replace")[:120]
            left.append(f"{entry.name}: {shown}")
    assert not left, f"porttest's pytest children outlived their runs: {left}"


@dataclass
class Ran:
    """A finished `porttest` CLI process and its results JSON (when one was written)."""

    rc: int
    stdout: str
    stderr: str
    results: dict[str, Any] | None

    def outcomes(self, test_suffix: str) -> dict[str, str]:
        assert self.results is not None
        rows = [t for t in self.results["tests"] if t["id"].endswith(test_suffix)]
        assert len(rows) == 1, f"{test_suffix}: {[t['id'] for t in self.results['tests']]}"
        return dict(rows[0]["outcomes"])

    def row(self, test_suffix: str) -> dict[str, Any]:
        assert self.results is not None
        return next(t for t in self.results["tests"] if t["id"].endswith(test_suffix))

    def explain(self) -> str:
        return f"rc={self.rc}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def porttest(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300) -> Ran:
    """Run the real CLI in a child process, as a user would."""
    json_path = None
    if args and args[0] == "run" and "--json" not in args:
        json_path = Path(cwd or REPO) / f"results-{os.getpid()}-{len(args)}.json"
        args = (*args, "--json", str(json_path))
    elif "--json" in args:
        json_path = Path(args[args.index("--json") + 1])
        if not json_path.is_absolute():
            json_path = Path(cwd or REPO) / json_path
    proc = subprocess.run([sys.executable, "-m", "porttest", *args], cwd=cwd or REPO, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "NO_COLOR": "1", **(env or {})})
    results = json.loads(json_path.read_text()) if json_path and json_path.exists() else None
    return Ran(proc.returncode, proc.stdout, proc.stderr, results)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


SLEEPER = '["sleep", "3600"]'


def exec_commands(engine: docker.DockerClient, container: str, since: float) -> list[str]:
    """The commands of every exec the engine created in `container` since `since` (from the engine's events)."""
    events = engine.api.events(since=int(since), until=int(time.time()) + 1, decode=True,
                               filters={"type": "container", "container": container})
    return [event["Action"].removeprefix("exec_create:").strip() for event in events
            if event["Action"].startswith("exec_create")]
