"""`porttest validate` lists every problem in one pass: refusals beside invalid fields, malformed image references,
and missing engine files (certificates, known_hosts, identity) with their lines, for the environments checked."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from porttest import api
from porttest.config import read_matrix
from porttest.config.image_ref import reference_problem
from porttest.errors import ConfigError, ConfigIssue


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def issues(path: Path, **kwargs: object) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        read_matrix(path, env={}, **kwargs)  # type: ignore[arg-type]
    assert caught.value.exit_code == 2
    return caught.value.issues


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "tests" / "test_ok.py", "def test_ok():\n    pass\n")
    return tmp_path


# ---------------------------------------------------------------------------------------------------- one pass


def test_refusals_and_invalid_fields_are_listed_together(project: Path) -> None:
    matrix = write(project / "matrix.yaml", """
        version: 1
        image: shop/api:1
        suites: [tests]
        environments:
          local:
            run: {privileged: true, mem_limit: lots, read_only: maybe}
            wait_for: {port: 99999}
          other:
            run: {pid_mode: host, cap_add: [SYS_ADMIN]}
            ship: teleport
        """)
    found = {(i.path, i.line) for i in issues(matrix)}
    assert {("environments.local.run.privileged", line_of(matrix, "privileged")),
            ("environments.local.run.mem_limit", line_of(matrix, "privileged")),
            ("environments.local.run.read_only", line_of(matrix, "privileged")),
            ("environments.local.wait_for.port", line_of(matrix, "99999")),
            ("environments.other.run.pid_mode", line_of(matrix, "pid_mode")),
            ("environments.other.run.cap_add", line_of(matrix, "pid_mode")),
            ("environments.other.ship", line_of(matrix, "teleport"))} <= found
    refused = [i for i in issues(matrix) if i.message.startswith("refused:")]
    assert len(refused) == 3 and all("allow_privileged" in (i.hint or "") for i in refused)


def test_a_refusal_in_a_profile_shows_with_an_error_in_the_matrix(project: Path) -> None:
    write(project / "hostile.yaml", "run: {network_mode: host}\n")
    matrix = write(project / "matrix.yaml", """
        version: 1
        image: shop/api:1
        suites: [tests, missing-folder]
        environments:
          e: {extends: hostile.yaml}
        """)
    found = {(i.path, Path(i.file or "").name) for i in issues(matrix)}
    assert found == {("suites[1]", "matrix.yaml"), ("environments.e.run.network_mode", "hostile.yaml")}


def test_allow_privileged_still_allows_when_another_field_fails(project: Path) -> None:
    matrix = write(project / "matrix.yaml", """
        version: 1
        image: shop/api:1
        suites: [tests]
        allow_privileged: true
        environments:
          e: {run: {privileged: true}, wait_for: {port: 0}}
        """)
    assert [i.path for i in issues(matrix)] == ["environments.e.wait_for.port"]


# ---------------------------------------------------------------------------------------------------- image refs


@pytest.mark.parametrize(("ref", "why"), [
    ("Shop/API::1", "must be lowercase (`API`)"),
    ("shop/API:1", "must be lowercase (`shop/API`)"),
    ("shop/api::1", "`::1` is not a tag"),
    ("shop/api:.hidden", "`:.hidden` is not a tag"),
    ("shop/api:", "the tag after `:` is empty"),
    ("shop/api:" + "x" * 129, "is not a tag"),
    ("shop/api@sha256:12", "is not a digest"),
    ("shop//api", "invalid reference format"),
    ("-shop/api", "invalid reference format"),
    ("shop api", "spaces"),
    ("", "empty"),
])
def test_a_malformed_image_reference_is_named(ref: str, why: str) -> None:
    problem = reference_problem(ref)
    assert problem is not None and why in problem


@pytest.mark.parametrize("ref", [
    "busybox", "shop/api:1.4.2", "porttest-demo/app:latest", "127.0.0.1:5000/porttest-demo/app",
    "localhost/app", "registry.example.com:5000/a/b/c:v1_2-3", "[::1]:5000/app", "a__b/c--d.e:TAG",
    "app@sha256:" + "0" * 64, "app:1@sha256:" + "f" * 64, "sha256:" + "a" * 64, "a" * 64,
    "Registry.Example.com/app",  # an uppercase first part is a registry host, as Docker reads it
])
def test_references_docker_accepts_are_accepted(ref: str) -> None:
    assert reference_problem(ref) is None


def test_a_malformed_reference_is_a_located_error_with_a_hint(project: Path) -> None:
    matrix = write(project / "matrix.yaml", """
        version: 1
        image: "Shop/API::1"
        suites: [tests]
        services:
          cache: {image: "redis:7:0"}
        environments:
          local: {}
        """)
    found = {i.path: i for i in issues(matrix)}
    image = found["image.ref"]
    assert image.line == 2 and "repository name must be lowercase" in image.message
    assert image.hint and "[REGISTRY[:PORT]/]REPOSITORY[:TAG][@DIGEST]" in image.hint
    assert found["services.cache.image.ref"].line == line_of(matrix, "redis:7:0")


# ---------------------------------------------------------------------------------------------------- engine files


CLOUD = """
    version: 1
    image: shop/api:1
    suites: [tests]
    environments:
      local: {}
      cloud:
        engine:
          host: tcp://build-7.example.net:2376
          tls:
            ca_cert: certs/ca.pem
            client_cert: certs/cert.pem
            client_key: certs/key.pem
      remote:
        engine:
          host: ssh://deploy@build-7.example.net
          ssh: {known_hosts: ssh/known_hosts, identity: ssh/id_ed25519}
    """


def test_missing_engine_files_are_found_at_validate_time_with_their_lines(project: Path) -> None:
    matrix = write(project / "matrix.yaml", CLOUD)
    write(project / "certs" / "cert.pem", "x")
    (project / "ssh" / "id_ed25519").mkdir(parents=True)
    found = {i.path: i for i in issues(matrix, check_files=True)}
    assert set(found) == {"environments.cloud.engine.tls.ca_cert", "environments.cloud.engine.tls.client_key",
                          "environments.remote.engine.ssh.known_hosts", "environments.remote.engine.ssh.identity"}
    ca = found["environments.cloud.engine.tls.ca_cert"]
    assert ca.message == f"file not found: {project / 'certs' / 'ca.pem'}"
    assert ca.line == line_of(matrix, "ca_cert") and ca.hint and "-e ENV" in ca.hint
    assert found["environments.remote.engine.ssh.identity"].message.startswith("a folder, not a file:")
    assert found["environments.remote.engine.ssh.known_hosts"].line == line_of(matrix, "known_hosts")


def test_engine_files_are_checked_only_for_the_environments_asked(project: Path) -> None:
    matrix = write(project / "matrix.yaml", CLOUD)
    assert read_matrix(matrix, env={}).environments.keys() == {"local", "cloud", "remote"}  # not asked: not read
    assert read_matrix(matrix, env={}, check_files=("local",)).environments["local"]
    assert {i.path.split(".")[1] for i in issues(matrix, check_files=("local", "remote"))} == {"remote"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_key_is_named(project: Path) -> None:
    matrix = write(project / "matrix.yaml", CLOUD)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        write(project / "certs" / name, "x")
    (project / "certs" / "key.pem").chmod(0)
    found = issues(matrix, check_files=("cloud",))
    assert [(i.path, i.message.split(":")[0]) for i in found] == [
        ("environments.cloud.engine.tls.client_key", "cannot read the file (permission denied)")]


def test_a_missing_file_in_a_profile_is_located_in_the_profile(project: Path) -> None:
    profile = write(project / "profiles" / "remote.yaml", """
        engine:
          host: tcp://build-7.example.net:2376
          tls: {ca_cert: ca.pem, verify: true}
        """)
    matrix = write(project / "matrix.yaml", """
        version: 1
        image: shop/api:1
        suites: [tests]
        environments:
          cloud: {extends: profiles/remote.yaml}
        """)
    (found,) = issues(matrix, check_files=True)
    assert (found.file, found.line) == (str(profile), line_of(profile, "ca_cert"))
    assert found.message == f"file not found: {project / 'profiles' / 'ca.pem'}"


def test_api_validate_checks_every_environment_unless_told(project: Path) -> None:
    matrix = write(project / "matrix.yaml", CLOUD)
    with pytest.raises(ConfigError):
        api.validate(matrix)
    assert api.validate(matrix, check_files=["local"]).environments["cloud"]
    assert api.validate(matrix, check_files=False).environments["remote"]
