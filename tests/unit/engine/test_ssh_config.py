"""engine.ssh in matrix.yaml: relative paths, where it is allowed, located errors, schema, child handoff (no engine)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import paramiko
import pytest
import yaml

from porttest.config import SSHSpec
from porttest.config.schema import matrix_schema
from porttest.engine import ssh as ssh_transport
from porttest.engine.connect import Engine, EngineInfo, handoff, short_reason
from tests.unit.config.test_config import issues_of, line_no, load, matrix_file, only, write

SSH_HOST = "ssh://deploy@build-7.example.net:2222"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "suites" / "baseline" / "test_os.py", "def test_ok():\n    pass\n")
    return tmp_path


def test_ssh_paths_in_the_matrix_resolve_against_the_matrix_folder(project: Path) -> None:
    m = load(project, f"""\
        environments:
          remote:
            engine:
              host: {SSH_HOST}
              ssh: {{known_hosts: keys/known_hosts, identity: /abs/id_ed25519}}
        """)
    assert m.environments["remote"].engine.ssh == SSHSpec(known_hosts=project / "keys" / "known_hosts",
                                                          identity=Path("/abs/id_ed25519"))
    assert m.warnings() == []


def test_ssh_paths_in_a_profile_resolve_against_the_profile_folder(project: Path) -> None:
    write(project / "envs" / "remote.yaml", f"""\
        engine:
          host: {SSH_HOST}
          ssh: {{known_hosts: known_hosts, identity: keys/id}}
        """)
    m = load(project, """\
        environments:
          remote:
            extends: envs/remote.yaml
            engine: {ssh: {identity: mine/id}}
        """)
    ssh = m.environments["remote"].engine.ssh
    assert ssh is not None
    assert ssh.known_hosts == project / "envs" / "known_hosts"
    assert ssh.identity == project / "mine" / "id"


def test_ssh_host_alone_is_valid(project: Path) -> None:
    m = load(project, f"environments:\n  remote:\n    engine: {{host: '{SSH_HOST}'}}\n")
    assert m.environments["remote"].engine.ssh is None


@pytest.mark.parametrize("engine", ['{host: "tcp://h:2376", tls: false, ssh: {identity: id}}',
                                    '{ssh: {identity: id}}',
                                    '{host: "unix:///var/run/docker.sock", ssh: {known_hosts: kh}}'])
def test_ssh_block_needs_an_ssh_host(project: Path, engine: str) -> None:
    path = matrix_file(project, f"environments:\n  r:\n    engine: {engine}\n")
    issue = only(issues_of(path), "environments.r.engine")
    assert "`ssh:` applies to ssh:// engines only" in issue.message
    assert issue.line == line_no(path, "engine:")


def test_misspelt_ssh_key_is_located_with_a_suggestion(project: Path) -> None:
    path = matrix_file(project, f"""\
        environments:
          r:
            engine:
              host: {SSH_HOST}
              ssh:
                known_host: kh
        """)
    issue = only(issues_of(path), "environments.r.engine.ssh.known_host")
    assert issue.message == "unknown key `known_host`"
    assert issue.hint == "did you mean `known_hosts`?"
    assert issue.line == line_no(path, "known_host:")


def test_host_key_checking_cannot_be_switched_off(project: Path) -> None:
    path = matrix_file(project, f"environments:\n  r:\n    engine:\n      host: {SSH_HOST}\n"
                                "      ssh: {verify_host_key: false}\n")
    issue = only(issues_of(path), "environments.r.engine.ssh.verify_host_key")
    assert "unknown key" in issue.message


def test_ssh_path_of_the_wrong_type_is_located(project: Path) -> None:
    path = matrix_file(project, f"environments:\n  r:\n    engine:\n      host: {SSH_HOST}\n"
                                "      ssh:\n        identity: [a, b]\n")
    issue = only(issues_of(path), "environments.r.engine.ssh.identity")
    assert issue.line == line_no(path, "identity:")


def test_ssh_block_is_in_the_schema() -> None:
    schema = matrix_schema()
    assert set(schema["$defs"]["SSHSpec"]["properties"]) == {"known_hosts", "identity"}
    assert schema["$defs"]["SSHSpec"]["additionalProperties"] is False
    validator = jsonschema.Draft202012Validator(schema)
    doc = yaml.safe_load(f"""
        version: 1
        image: shop/api:1
        suites: [suites]
        environments:
          remote: {{engine: {{host: "{SSH_HOST}", ssh: {{known_hosts: kh, identity: id}}}}}}
    """)
    assert list(validator.iter_errors(doc)) == []
    doc["environments"]["remote"]["engine"]["ssh"]["verify_host_key"] = False
    assert list(validator.iter_errors(doc))


def test_handoff_gives_the_child_the_ssh_files(project: Path) -> None:
    m = load(project, f"environments:\n  r:\n    engine: {{host: '{SSH_HOST}', ssh: {{known_hosts: kh}}}}\n")
    info = EngineInfo("id", "name", "docker", "20.10", "1.41", "Debian", "linux", "x86_64", "6.1", "1", (), "runc")
    data = handoff(Engine(client=None, endpoint=SSH_HOST, info=info,  # type: ignore[arg-type]
                          spec=m.environments["r"].engine))
    assert json.loads(json.dumps(data)) == {"host": SSH_HOST, "tls": None, "api_version": "1.41",
                                            "ssh": {"known_hosts": str(project / "kh"), "identity": None}}


def test_ssh_failures_read_as_reasons_with_hints() -> None:
    unknown = paramiko.SSHException("Server '[build-7.example.net]:2222' not found in known_hosts")
    assert short_reason(unknown).startswith("unknown SSH host key")
    _, hint = ssh_transport.describe(unknown, SSH_HOST) or ("", "")
    assert "ssh-keyscan -p 2222 build-7.example.net" in hint
    assert short_reason(paramiko.AuthenticationException("Authentication failed.")) == "SSH authentication failed"
    missing = ssh_transport.RemoteDockerError("bash: line 1: docker: command not found", 127)
    assert short_reason(missing).startswith("the remote host has no `docker` command")
    down = ssh_transport.RemoteDockerError("Cannot connect to the Docker daemon at unix:///var/run/docker.sock", 1)
    assert "Cannot connect to the Docker daemon" in short_reason(down)
    assert ssh_transport.describe(ValueError("x"), SSH_HOST) is None
