"""Shipping through a real registry (push once, pull by digest), pull failures, and image.verify hooks."""

from __future__ import annotations

import contextlib
import io
import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.conftest import SLEEPER, podman_client_for, porttest, write
from tests.lab.podman_service import PodmanService
from tests.lab.registry import Registry
from tests.lab.tls_engine import TLSEngine

SUITE = '''
    def test_this_is_the_real_image(host):
        assert host.file("/porttest-real").exists
        assert not host.file("/imposter").exists
'''


def _build(client: docker.DockerClient, base: str, marker: str, tag: str) -> str:
    # 1 MB that does not compress: a layer big enough that the engine reports its download in progress events
    # (an empty one can complete before the first progress tick, and count as 0 bytes moved).
    dockerfile = (f"FROM {base}\nLABEL porttest.test.nonce={uuid.uuid4().hex}\n"
                  f"RUN head -c 1048576 /dev/urandom > /{marker}\n")
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, forcerm=True)
    return str(image.id)


def _push(client: docker.DockerClient, ref: str) -> str:
    repo, tag = ref.rsplit(":", 1)
    digest = None
    for message in client.api.push(repo, tag=tag, stream=True, decode=True):
        assert "error" not in message, message
        digest = (message.get("aux") or {}).get("Digest") or digest
    assert digest
    return str(digest)


def _cloud(lab: TLSEngine) -> str:
    return (f"{{host: {lab.host}, tls: {{ca_cert: {lab.certs.ca_cert}, client_cert: {lab.certs.client_cert}, "
            f"client_key: {lab.certs.client_key}}}}}")


def _matrix(folder: Path, image: str, environments: str, top: str = "") -> Path:
    write(folder, "suites/test_identity.py", SUITE)
    return write(folder, "matrix.yaml", f"version: 1\nimage: {image}\nsuites: [suites]\n{top}environments:\n"
                 + environments)


@pytest.fixture
def images(engine: docker.DockerClient, tls_client: docker.DockerClient) -> Iterator[list[str]]:
    """Refs and IDs a test creates on either engine; all removed afterwards."""
    made: list[str] = []
    yield made
    for client in (engine, tls_client):
        for ref in reversed(made):
            with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
                client.images.remove(ref, force=True)


def test_registry_push_once_then_pull_by_digest_gives_identical_ids_and_digests(
        tmp_path: Path, engine: docker.DockerClient, tls_engine: TLSEngine, tls_client: docker.DockerClient,
        registry: Registry, base_images: dict[str, str], images: list[str]) -> None:
    tag = f"porttest-test/ship:{uuid.uuid4().hex[:8]}"
    real_id = _build(engine, base_images["busybox"], "porttest-real", tag)
    repo = f"{registry.address}/porttest-test/ship-{uuid.uuid4().hex[:8]}"
    images += [tag, real_id, f"{repo}:porttest-{real_id[7:19]}"]
    ship = f"{{registry: {{push: {repo}}}}}"
    _matrix(tmp_path, tag, f"""\
  local: {{ship: {ship}, run: {{command: {SLEEPER}}}}}
  cloud: {{engine: {_cloud(tls_engine)}, ship: {ship}, run: {{command: {SLEEPER}}}}}
""")
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    res = ran.results
    assert res is not None and res["verdict"] == "parity"
    ships = {name: env["ship"] for name, env in res["environments"].items()}
    assert {s["mode"] for s in ships.values()} == {"registry"}
    assert ships["local"]["pulled"] == ships["cloud"]["pulled"]
    assert ships["local"]["pulled"].startswith(repo + "@sha256:")
    digest = ships["local"]["pulled"].split("@", 1)[1]
    assert ships["local"]["digest"] == ships["cloud"]["digest"] == digest
    assert res["environments"]["local"]["image_id"] == res["environments"]["cloud"]["image_id"] == real_id
    assert ships["cloud"]["image_id"] == real_id
    assert f"{repo}@{digest}" in tls_client.images.get(real_id).attrs["RepoDigests"]
    images.append(f"{repo}@{digest}")
    # One push for the two environments: one says it pushed, the other that it pulled what was pushed once.
    pushed = sorted(note.split(" ", 1)[0] for s in ships.values() for note in s["notes"])
    assert pushed == ["pulled", "pushed"], ships
    # The registry holds the one tag porttest made.
    name = repo.split("/", 1)[1]
    with urllib.request.urlopen(f"http://{registry.address}/v2/{name}/tags/list", timeout=5) as answer:
        assert json.load(answer)["tags"] == [f"porttest-{real_id[7:19]}"]
    # The engines' and the image's own facts are in the report a user reads.
    assert "cgroup v" in ran.stdout and "kernel " in ran.stdout
    assert "linux/amd64" in ran.stdout and "layers" in ran.stdout
    assert res["image"]["layers"] and res["image"]["layers"][0].startswith("sha256:")
    assert res["image"]["architecture"] == "amd64" and res["image"]["size"] > 0


def test_pull_by_digest_never_takes_what_the_tag_now_names(
        tmp_path: Path, engine: docker.DockerClient, tls_engine: TLSEngine, tls_client: docker.DockerClient,
        registry: Registry, base_images: dict[str, str], images: list[str]) -> None:
    repo = f"{registry.address}/porttest-test/moved-{uuid.uuid4().hex[:8]}"
    real_id = _build(engine, base_images["busybox"], "porttest-real", f"{repo}:1")
    images += [f"{repo}:1", real_id]
    real_digest = _push(engine, f"{repo}:1")
    # The tag moves on: the registry and the remote engine now hold an imposter under repo:1.
    imposter_id = _build(engine, base_images["busybox"], "imposter", f"{repo}:1")
    images.append(imposter_id)
    _push(engine, f"{repo}:1")
    tls_client.images.pull(repo, tag="1")
    assert tls_client.images.get(f"{repo}:1").id == imposter_id
    pinned = f"{repo}@{real_digest}"
    images.append(pinned)
    _matrix(tmp_path, pinned, f"""\
  local: {{run: {{command: {SLEEPER}}}}}
  cloud: {{engine: {_cloud(tls_engine)}, ship: pull, run: {{command: {SLEEPER}}}}}
""")
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    cloud = ran.results["environments"]["cloud"]  # type: ignore[index]
    assert cloud["image_id"] == real_id and cloud["ship"]["mode"] == "pull"
    assert cloud["ship"]["digest"] == real_digest and cloud["ship"]["pulled"] == pinned
    assert cloud["ship"]["bytes"] > 0
    assert ran.outcomes("test_this_is_the_real_image") == {"local": "passed", "cloud": "passed"}
    assert tls_client.images.get(f"{repo}:1").id == imposter_id  # the user's tag is left alone


def test_pull_from_a_dead_registry_is_that_environments_error_and_auto_loads_instead(
        tmp_path: Path, engine: docker.DockerClient, tls_engine: TLSEngine, tls_client: docker.DockerClient,
        base_images: dict[str, str], images: list[str]) -> None:
    gone = Registry().start()
    try:
        repo = f"{gone.address}/porttest-test/gone"
        real_id = _build(engine, base_images["busybox"], "porttest-real", f"{repo}:1")
        images += [f"{repo}:1", real_id]
        digest = _push(engine, f"{repo}:1")
    finally:
        gone.stop()
    body = f"""\
  local: {{run: {{command: {SLEEPER}}}}}
  cloud: {{engine: {_cloud(tls_engine)}, ship: SHIP, run: {{command: {SLEEPER}}}}}
"""
    _matrix(tmp_path, f"{repo}:1", body.replace("SHIP", "pull"))
    refused = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert refused.rc == 4, refused.explain()
    cloud = refused.results["environments"]["cloud"]  # type: ignore[index]
    assert cloud["status"] == "error" and cloud["phase"] == "ship"
    assert f"cannot pull {repo}@{digest}" in cloud["error"] and "connection refused" in cloud["error"].lower()
    assert "reachable" in cloud["hint"]
    assert refused.results["environments"]["local"]["status"] == "ok"  # type: ignore[index]

    _matrix(tmp_path, f"{repo}:1", body.replace("SHIP", "auto"))
    loaded = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert loaded.rc == 0, loaded.explain()
    ship = loaded.results["environments"]["cloud"]["ship"]  # type: ignore[index]
    assert ship["mode"] == "load" and ship["asked"] == "auto" and ship["image_id"] == real_id
    assert any("pull of" in note and "loaded instead" in note for note in ship["notes"])
    assert "loaded instead" in " ".join(loaded.stdout.split())  # the console wraps long notes


def test_verify_hooks_run_once_and_a_failing_hook_rejects_the_image_with_exit_5(
        tmp_path: Path, engine: docker.DockerClient, base_images: dict[str, str], images: list[str]) -> None:
    tag = f"porttest-test/verify:{uuid.uuid4().hex[:8]}"
    real_id = _build(engine, base_images["busybox"], "porttest-real", tag)
    images += [tag]
    env = f"  local: {{run: {{command: {SLEEPER}}}}}\n"
    check_id = """sh -c 'test "$PORTTEST_IMAGE_ID" = "$0" && echo "verified $0" >> hooks.log' {id}"""
    tamper = """{command: "sh -c 'echo tampered: $0 >&2; exit 7' {ref}", name: scanner}"""
    _matrix(tmp_path, f"{{ref: {tag}, verify: [{json.dumps(check_id)}]}}", env)
    ok = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ok.rc == 0, ok.explain()
    assert (tmp_path / "hooks.log").read_text() == f"verified {real_id}\n"  # once, with the real ID
    (check,) = ok.results["image"]["verify"]  # type: ignore[index]
    assert check["passed"] and check["exit_code"] == 0 and real_id in check["command"]

    _matrix(tmp_path, f"{{ref: {tag}, verify: [{json.dumps(check_id)}, {tamper}, 'touch never-run']}}", env)
    rejected = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert rejected.rc == 5, rejected.explain()
    res = rejected.results
    assert res is not None and res["verdict"] == "rejected" and res["tests"] == []
    first, scanner = res["image"]["verify"]
    assert first["passed"] and not scanner["passed"] and scanner["exit_code"] == 7
    assert f"tampered: {tag}" in scanner["output"]
    assert not (tmp_path / "never-run").exists()
    local = res["environments"]["local"]
    assert local["phase"] == "verify" and "scanner failed (exit 7)" in local["error"]
    assert local["container"] is None
    assert "REJECTED" in rejected.stdout and "tampered" in rejected.stdout

    _matrix(tmp_path, f"{{ref: {tag}, verify: ['echo {{digest}}']}}", env)
    no_digest = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert no_digest.rc == 5, no_digest.explain()
    assert "{digest} has no value" in no_digest.results["image"]["verify"][0]["error"]  # type: ignore[index]


def test_podman_pulls_by_digest_to_the_same_id_and_a_refused_pull_says_why(
        tmp_path: Path, engine: docker.DockerClient, podman_service: PodmanService, registry: Registry,
        base_images: dict[str, str], images: list[str]) -> None:
    repo = f"{registry.address}/porttest-test/podman-{uuid.uuid4().hex[:8]}"
    real_id = _build(engine, base_images["busybox"], "porttest-real", f"{repo}:1")
    images += [f"{repo}:1", real_id]
    digest = _push(engine, f"{repo}:1")
    body = f"""\
  local: {{run: {{command: {SLEEPER}}}}}
  podman: {{engine: {{host: "{podman_service.host}"}}, ship: pull, run: {{command: {SLEEPER}}}}}
"""
    _matrix(tmp_path, f"{repo}:1", body)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    try:
        assert ran.rc == 0, ran.explain()
        podman = ran.results["environments"]["podman"]  # type: ignore[index]
        assert podman["engine"]["kind"] == "podman"
        assert podman["ship"]["mode"] == "pull" and podman["ship"]["digest"] == digest
        assert podman["image_id"] == podman["ship"]["image_id"] == real_id
        assert ran.outcomes("test_this_is_the_real_image") == {"local": "passed", "podman": "passed"}
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            podman_client_for(podman_service).images.remove(real_id, force=True)

    # A registry the podman service does not list as insecure: podman refuses the plain-HTTP pull inside a 200
    # stream (and answers a later inspect with 404); porttest reports the stream's reason.
    with Registry() as other:
        other_repo = f"{other.address}/porttest-test/refused"
        engine.images.get(real_id).tag(other_repo, "1")
        images.append(f"{other_repo}:1")
        other_digest = _push(engine, f"{other_repo}:1")
        _matrix(tmp_path, f"{other_repo}:1", body)
        refused = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert refused.rc == 4, refused.explain()
    podman = refused.results["environments"]["podman"]  # type: ignore[index]
    assert podman["phase"] == "ship" and f"cannot pull {other_repo}@{other_digest}" in podman["error"]
    said = podman["error"].replace(other_digest, "DIGEST")  # a random digest may hold the digits 404 itself
    assert "http" in said.lower() and "404" not in said, podman["error"]
    assert "insecure" in podman["hint"] and "registries.conf" in podman["hint"]


def test_two_environments_on_one_engine_move_the_image_once(
        tmp_path: Path, engine: docker.DockerClient, tls_engine: TLSEngine, tls_client: docker.DockerClient,
        base_images: dict[str, str], images: list[str]) -> None:
    tag = f"porttest-test/once:{uuid.uuid4().hex[:8]}"
    real_id = _build(engine, base_images["busybox"], "porttest-real", tag)
    images += [tag, real_id]
    cloud = f"{{engine: {_cloud(tls_engine)}, run: {{command: {SLEEPER}}}}}"
    _matrix(tmp_path, tag, f"  cloud-a: {cloud}\n  cloud-b: {cloud}\n")
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    ships = sorted((e["ship"]["mode"], e["ship"]["bytes"] > 0) for e in ran.results["environments"].values())  # type: ignore[index]
    assert ships == [("load", True), ("present", False)]
