"""Dangerous run options need consent; secrets are tracked for redaction; engine URLs are checked."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from porttest.config import read_matrix
from porttest.errors import ConfigError

HEAD = "version: 1\nimage: busybox\nsuites: [t]\n"


def _write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "t").mkdir(exist_ok=True)
    path = tmp_path / "matrix.yaml"
    path.write_text(HEAD + textwrap.dedent(body).lstrip("\n"))
    return path


@pytest.mark.parametrize("run, key", [
    ("{privileged: true}", "privileged"),
    ("{network_mode: host}", "network_mode"),
    ("{pid_mode: host}", "pid_mode"),
    ("{ipc_mode: host}", "ipc_mode"),
    ("{cap_add: [SYS_ADMIN]}", "cap_add"),
    ("{cap_add: [CAP_NET_ADMIN]}", "cap_add"),
    ("{security_opt: ['seccomp=unconfined']}", "security_opt"),
    ("{volumes: ['/var/run/docker.sock:/var/run/docker.sock']}", "volumes"),
    ("{devices: ['/dev/fuse']}", "devices"),
])
def test_dangerous_options_are_refused_without_consent(tmp_path: Path, run: str, key: str) -> None:
    path = _write(tmp_path, f"environments:\n  x:\n    run: {run}\n")
    with pytest.raises(ConfigError) as caught:
        read_matrix(path, env={})
    (issue,) = caught.value.issues
    assert issue.path == f"environments.x.run.{key}" and issue.line == 6
    assert "refused" in issue.message and "allow_privileged" in (issue.hint or "")
    allowed = _write(tmp_path, f"allow_privileged: true\nenvironments:\n  x:\n    run: {run}\n")
    matrix = read_matrix(allowed, env={})
    assert any(f"run.{key}" in w for w in matrix.warnings())


def test_harmless_options_need_no_consent(tmp_path: Path) -> None:
    path = _write(tmp_path, "environments:\n  x:\n    run: {cap_add: [NET_BIND_SERVICE], network_mode: bridge}\n")
    assert read_matrix(path, env={}).warnings() == []


def test_secret_values_are_collected_and_never_serialised(tmp_path: Path) -> None:
    path = _write(tmp_path, """
        secrets: [DB_URL]
        environments:
          x:
            run:
              environment: {API_TOKEN: "${API_TOKEN}", PLAIN: "${PLAIN_VALUE}", SHORT_KEY: "${SHORT_KEY}"}
    """)
    env = {"API_TOKEN": "tok-123456", "PLAIN_VALUE": "visible", "DB_URL": "postgres://u:pw@db/x", "SHORT_KEY": "ab"}
    matrix = read_matrix(path, env=env)
    assert matrix.secret_values == {"tok-123456", "postgres://u:pw@db/x"}
    dumped = repr(matrix) + str(matrix)
    assert "postgres://u:pw@db/x" not in dumped


def test_a_secret_in_a_config_error_is_redacted(tmp_path: Path) -> None:
    path = _write(tmp_path, "environments:\n  x:\n    run: {mem_limit: '${MY_PASSWORD}'}\n")
    with pytest.raises(ConfigError) as caught:
        read_matrix(path, env={"MY_PASSWORD": "hunter2-secret"})
    assert "hunter2-secret" not in str(caught.value) and "***" in str(caught.value)


@pytest.mark.parametrize("host, words", [
    ("tcp://example.net", "needs a port"),
    ("tcp://:2376", "names no host"),
    ("tcp://h:99999", "invalid port"),
    ("tcp://h:abc", "invalid port"),
    ("unix://", "should match"),
    ("ftp://h", "should match"),
])
def test_bad_engine_urls_are_config_errors(tmp_path: Path, host: str, words: str) -> None:
    path = _write(tmp_path, f"environments:\n  x:\n    engine: {{host: '{host}', tls: false}}\n")
    with pytest.raises(ConfigError) as caught:
        read_matrix(path, env={})
    assert any(words in i.message and i.path.startswith("environments.x.engine") for i in caught.value.issues), \
        caught.value


def test_a_nul_character_in_any_value_is_a_located_config_error(tmp_path: Path) -> None:
    # Found by the fuzz test: a suite path "\0" reached the OS and raised ValueError (a traceback).
    path = tmp_path / "matrix.yaml"
    path.write_text('version: 1\nimage: busybox\nsuites: ["ok", "a\\0b"]\nenvironments: {l: {}}\n')
    with pytest.raises(ConfigError) as caught:
        read_matrix(path, env={})
    (issue,) = caught.value.issues
    assert (issue.path, issue.line, issue.message) == ("suites[1]", 3, "contains a NUL character")
