"""A remote engine over mutual TLS (a second dockerd the fixture starts): shipping, identity, verification."""

from __future__ import annotations

import contextlib
import io
import uuid
from pathlib import Path

import docker
import pytest

from tests.integration.conftest import SLEEPER, porttest, write
from tests.lab.tls_engine import TLSEngine, make_certs

IDENTITY_SUITE = '''
    def test_this_is_the_real_image(host):
        assert host.file("/porttest-real").exists
        assert not host.file("/imposter").exists

    def test_shell(host):
        assert host.run("echo hi").stdout == "hi\\n"
'''


def _build(client: docker.DockerClient, base: str, marker: str, tag: str) -> str:
    dockerfile = f"FROM {base}\nLABEL porttest.test.nonce={uuid.uuid4().hex}\nRUN touch /{marker}\n"
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, forcerm=True)
    return str(image.id)


@pytest.fixture
def real_image(engine: docker.DockerClient, base_images: dict[str, str]) -> tuple[str, str]:
    tag = f"porttest-test/identity:{uuid.uuid4().hex[:8]}"
    image_id = _build(engine, base_images["busybox"], "porttest-real", tag)
    yield tag, image_id
    engine.images.remove(tag, force=True)


def _tls_matrix(folder: Path, lab: TLSEngine, image: str, ship: str, extra_tls: str = "") -> Path:
    write(folder, "suites/test_identity.py", IDENTITY_SUITE)
    return write(folder, "matrix.yaml", f"""
        version: 1
        image: {image}
        suites: [suites]
        environments:
          local: {{run: {{command: {SLEEPER}}}}}
          cloud:
            engine:
              host: {lab.host}
              tls: {{ca_cert: {lab.certs.ca_cert}, client_cert: {lab.certs.client_cert},
                     client_key: {lab.certs.client_key}{extra_tls}}}
            ship: {ship}
            run: {{command: {SLEEPER}}}
    """)


def test_tls_engine_with_ship_load_gives_parity_and_identical_ids(tmp_path: Path, tls_engine: TLSEngine,
                                                                  tls_client: docker.DockerClient,
                                                                  real_image: tuple[str, str]) -> None:
    tag, image_id = real_image
    _tls_matrix(tmp_path, tls_engine, tag, "load")
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    res = ran.results
    assert res and res["verdict"] == "parity"
    assert res["image"]["id"] == image_id
    assert res["environments"]["local"]["image_id"] == image_id
    assert res["environments"]["cloud"]["image_id"] == image_id
    assert res["environments"]["cloud"]["ship"]["mode"] == "load"
    assert res["environments"]["cloud"]["ship"]["bytes"] > 1_000_000
    assert tls_client.images.get(image_id).id == image_id


def test_remote_tag_pointing_at_another_image_is_never_run(tmp_path: Path, engine: docker.DockerClient,
                                                           tls_engine: TLSEngine, tls_client: docker.DockerClient,
                                                           base_images: dict[str, str]) -> None:
    tag = f"porttest-test/imposter:{uuid.uuid4().hex[:8]}"
    imposter_id = _build(engine, base_images["busybox"], "imposter", tag)
    tls_client.images.load(engine.images.get(imposter_id).save())
    tls_client.images.get(imposter_id).tag(tag)
    engine.images.remove(tag, force=True)
    real_id = _build(engine, base_images["busybox"], "porttest-real", tag)
    try:
        assert tls_client.images.get(tag).id == imposter_id != real_id

        _tls_matrix(tmp_path, tls_engine, tag, "present")
        refused = porttest("run", "matrix.yaml", cwd=tmp_path)
        assert refused.rc == 4, refused.explain()
        cloud = refused.results["environments"]["cloud"]  # type: ignore[index]
        assert cloud["status"] == "error" and "does not hold image" in cloud["error"]
        assert cloud["image_id"] is None

        _tls_matrix(tmp_path, tls_engine, tag, "auto")
        shipped = porttest("run", "matrix.yaml", cwd=tmp_path)
        assert shipped.rc == 0, shipped.explain()
        assert shipped.results["environments"]["cloud"]["image_id"] == real_id  # type: ignore[index]
        assert shipped.results["environments"]["cloud"]["ship"]["mode"] == "load"  # type: ignore[index]
        assert shipped.outcomes("test_this_is_the_real_image") == {"local": "passed", "cloud": "passed"}
        # The user's tag on the remote engine is left as it was: porttest runs by ID and loads untagged.
        assert tls_client.images.get(tag).id == imposter_id
    finally:
        engine.images.remove(tag, force=True)
        tls_client.images.remove(imposter_id, force=True)
        for image_id in (real_id,):
            with contextlib.suppress(docker.errors.ImageNotFound):
                tls_client.images.remove(image_id, force=True)


def test_wrong_ca_is_refused_with_exit_4(tmp_path: Path, tls_engine: TLSEngine,
                                        real_image: tuple[str, str]) -> None:
    other = make_certs(tmp_path / "other-ca")
    _tls_matrix(tmp_path, tls_engine, real_image[0], "load")
    text = (tmp_path / "matrix.yaml").read_text().replace(str(tls_engine.certs.ca_cert), str(other.ca_cert))
    (tmp_path / "matrix.yaml").write_text(text)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    cloud = ran.results["environments"]["cloud"]  # type: ignore[index]
    assert cloud["status"] == "error" and "certificate verify failed" in cloud["error"]
    assert "engine.tls" in (cloud["hint"] or "")
    assert ran.results["environments"]["local"]["status"] == "ok"  # type: ignore[index]


def test_verify_false_is_honoured_with_a_warning(tmp_path: Path, tls_engine: TLSEngine,
                                                 real_image: tuple[str, str]) -> None:
    _tls_matrix(tmp_path, tls_engine, real_image[0], "auto", extra_tls=", verify: false")
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    assert "TLS verification is OFF" in ran.stderr
    assert any("TLS verification is OFF" in w for w in ran.results["warnings"])  # type: ignore[index]
