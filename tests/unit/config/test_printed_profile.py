"""`porttest profile import` writes a profile that loads back unchanged: no secret in it, ports whole."""

from __future__ import annotations

from pathlib import Path

from porttest.config import parse_matrix
from porttest.config.descriptors import Translation
from porttest.config.descriptors.printed import profile_document
from porttest.config.models import Environment

SECRET = "s3cr3t-token-value"


def test_the_printed_profile_loads_back_to_the_same_run_options(tmp_path: Path) -> None:
    translation = Translation(
        profile={"run": {"user": "10001", "read_only": True,
                         "environment": {"API_TOKEN": SECRET, "DB_URL": f"postgres://app:{SECRET}@db/app",
                                         "MODE": "prod"},
                         "ports": {"9090/udp": ("127.0.0.1", 9090), "80/tcp": 8080, "81/tcp": None},
                         "hostname": f"x-{SECRET}"},
                 "wait_for": {"port": 8080, "timeout": 30}},
        file="deploy.yaml", warnings=("kubernetes: spec.x (line 3) is not translated: why",),
        secret_values=frozenset({SECRET}))
    text = profile_document(translation, "kubernetes deploy.yaml")
    assert SECRET not in text
    assert "export API_TOKEN, DB_URL, PORTTEST_SECRET_1 before using it" in text
    assert "#   kubernetes: spec.x (line 3) is not translated: why" in text
    (tmp_path / "profile.yaml").write_text(text)
    (tmp_path / "suite").mkdir()
    matrix = parse_matrix("version: 1\nimage: x/y:1\nsuites: [suite]\nenvironments:\n  e: {extends: profile.yaml}\n",
                          tmp_path / "matrix.yaml", {"API_TOKEN": SECRET, "DB_URL": "postgres://app@db/app",
                                                     "PORTTEST_SECRET_1": "x"})
    run = matrix.environments["e"].run
    assert run.environment == {"API_TOKEN": SECRET, "DB_URL": "postgres://app@db/app", "MODE": "prod"}
    # Port bindings survive the round trip as the SDK takes them (a list would mean several host ports).
    assert run.ports == {"9090/udp": ("127.0.0.1", 9090), "80/tcp": 8080, "81/tcp": None}
    assert run.read_only is True and run.user == "10001" and run.hostname == "x"
    assert matrix.environments["e"].wait_for is not None and matrix.environments["e"].wait_for.port == 8080


def test_services_are_printed_as_written_by_hand_and_load_back_unchanged(tmp_path: Path) -> None:
    profile = {
        "run": {"user": "10001"},
        "services": {
            "db": {"image": {"ref": "postgres:16"}, "run": {"environment": {"POSTGRES_PASSWORD": SECRET},
                                                            "shm_size": "128mb"},
                   "wait_for": {"healthcheck": True, "timeout": 30.0}},
            "search": {"image": {"ref": "shop/search:dev", "build": {"context": tmp_path / "search",
                                                                      "dockerfile": "Dockerfile.dev",
                                                                      "args": {"VERSION": "2.15"}}}},
            "proxy": {"image": {"ref": "envoy:1"}, "share_network": True, "run": {"read_only": True},
                      "wait_for": {"port": 9901, "timeout": 15, "interval": 5}},
        },
    }
    translation = Translation(profile=profile, file="compose.yaml", secret_values=frozenset({SECRET}))
    text = profile_document(translation, "compose compose.yaml service api")
    assert SECRET not in text and "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}" in text
    assert "  db:\n    image: postgres:16\n" in text  # a ref alone, as a person writes it
    assert f"      build:\n        context: {tmp_path / 'search'}\n" in text
    (tmp_path / "profile.yaml").write_text(text)
    (tmp_path / "suite").mkdir()
    matrix = parse_matrix("version: 1\nimage: x/y:1\nsuites: [suite]\nenvironments:\n  e: {extends: profile.yaml}\n",
                          tmp_path / "matrix.yaml", {"POSTGRES_PASSWORD": SECRET})
    assert matrix.environments["e"].services == Environment.model_validate({"name": "e", **profile}).services
