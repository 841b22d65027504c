"""What the Compose translation refuses: each problem located in its file, at its line, with a hint."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path
from typing import Any

import pytest

from porttest.config.descriptors import Translation
from porttest.config.descriptors.compose import _SIMPLE, _SKIPPED, load_compose, translate
from porttest.config.yaml_source import Located, load_yaml_documents
from porttest.errors import ConfigError, ConfigIssue


def write(folder: Path, text: str, name: str = "compose.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def translated(tmp_path: Path, text: str, service: str = "app", allow_privileged: bool = False) -> Translation:
    return translate(load_compose(write(tmp_path, text)), service=service, env={}, project_dir=tmp_path,
                     allow_privileged=allow_privileged)


def issues(tmp_path: Path, text: str, service: str = "app", allow_privileged: bool = False) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        translated(tmp_path, text, service, allow_privileged)
    assert caught.value.exit_code == 2
    return caught.value.issues


def one(tmp_path: Path, text: str, **kwargs: object) -> ConfigIssue:
    found = issues(tmp_path, text, **kwargs)  # type: ignore[arg-type]
    assert len(found) == 1, [i.render() for i in found]
    assert found[0].file == str(tmp_path / "compose.yaml")
    return found[0]


def test_unknown_service_is_located_at_services_with_the_services_listed(tmp_path: Path) -> None:
    issue = one(tmp_path, """\
        name: shop
        services:
          web: {image: nginx}
          db: {image: postgres}
        """, service="api")
    assert (issue.path, issue.line, issue.message) == ("services", 2, "no service 'api' in this Compose file")
    assert issue.hint == "services in this file: db, web"


@pytest.mark.parametrize(
    ("text", "line"),
    [("version: '3.9'\nname: shop\n", 1), ("services: [web, db]\n", 1), ("apiVersion: v1\nkind: Pod\n", 1)],
)
def test_not_a_compose_file(tmp_path: Path, text: str, line: int) -> None:
    issue = one(tmp_path, text)
    assert issue.message == "not a Compose file: it has no `services:` mapping"
    assert issue.line == line and "services:" in (issue.hint or "")


def test_a_scalar_document_is_not_a_compose_file(tmp_path: Path) -> None:
    doc = load_yaml_documents("just text\n", "c.yaml", merge_keys=True)[0]
    with pytest.raises(ConfigError, match="not a Compose file"):
        translate(doc, service="app", env={}, project_dir=tmp_path)


def test_a_service_must_be_a_mapping(tmp_path: Path) -> None:
    issue = one(tmp_path, "services:\n  app: nginx\n")
    assert (issue.path, issue.line) == ("services.app", 2)


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ("mem_limit: lots", "services.app.mem_limit", "not a byte size: 'lots'"),
        ("shm_size: 64x", "services.app.shm_size", "not a byte size"),
        ("ports: ['8080:http']", "services.app.ports", "container port 'http' is not a port number"),
        ("ulimits: {nofile: {soft: 10}}", "services.app.ulimits", "give both `soft` and `hard`"),
        ("read_only: maybe", "services.app.read_only", "expected true or false"),
        ("pids_limit: many", "services.app.pids_limit", "expected a whole number"),
        ("user: [root]", "services.app.user", "expected a string"),
        ("cpus: fast", "services.app.cpus", "could not convert"),
        ("oom_score_adj: 5000", "services.app.oom_score_adj", "outside -1000..1000"),
        ("cgroup: shared", "services.app.cgroup", "host or private"),
        ("tmpfs: [tmp]", "services.app.tmpfs", "absolute path"),
        ("environment: 'A=1'", "services.app.environment", "mapping or a list"),
        ("environment: {A: {nested: 1}}", "services.app.environment.A", "expected a string or number"),
        ("command: echo 'unbalanced", "services.app.command", "No closing quotation"),
        ("healthcheck: {test: [curl, -f, http://localhost]}", "services.app.healthcheck.test",
         "starts with CMD, CMD-SHELL or NONE"),
        ("healthcheck: {test: [], interval: 5s}", "services.app.healthcheck.test", "starts with CMD"),
        ("healthcheck: {interval: 30}", "services.app.healthcheck.interval", "not a duration: 30"),
        ("healthcheck: {timeout: soon}", "services.app.healthcheck.timeout", "not a duration: 'soon'"),
        ("healthcheck: {retries: often}", "services.app.healthcheck.retries", "expected a whole number"),
        ("healthcheck: curl localhost", "services.app.healthcheck", "is a mapping"),
        ("volumes: ['a:b:c:d']", "services.app.volumes[0]", "not a volume"),
        ("volumes: [{source: x}]", "services.app.volumes[0]", "needs `type` and `target`"),
        ("volumes: /data", "services.app.volumes", "a list of mounts"),
        ("deploy: {resources: {limits: {memory: huge}}}", "services.app.deploy.resources.limits.memory",
         "not a byte size"),
        ("mem_limit: 512m\ndeploy: {resources: {limits: {memory: 1g}}}",
         "services.app.deploy.resources.limits.memory", "disagrees with `mem_limit` (512m)"),
        ("blkio_config: {device_read_bps: [{path: /dev/sda}]}", "services.app.blkio_config.device_read_bps",
         "cannot read blkio_config.device_read_bps"),
        ("env_file: [{required: false}]", "services.app.env_file[0]", "a path or {path"),
        ("env_file: missing.env", "services.app.env_file", "env_file missing.env does not exist"),
        ("extends: {file: common.yaml}", "services.app.extends", "names a `service`"),
    ],
)
def test_malformed_values_are_located_at_their_line(tmp_path: Path, body: str, path: str, message: str) -> None:
    text = "services:\n  app:\n    image: busybox\n" + textwrap.indent(body, "    ") + "\n"
    issue = one(tmp_path, text)
    assert issue.path == path
    assert message in issue.message, issue.message
    assert issue.line == 3 + len(body.splitlines())  # the last line of the body holds the bad value


@pytest.mark.parametrize(
    ("body", "path", "what"),
    [
        ("privileged: true", "services.app.privileged", "the container runs PRIVILEGED"),
        ("network_mode: host", "services.app.network_mode", "host's network namespace"),
        ("pid: host", "services.app.pid", "host's pid namespace"),
        ("ipc: host", "services.app.ipc", "host's ipc namespace"),
        ("uts: host", "services.app.uts", "host's uts namespace"),
        ("userns_mode: host", "services.app.userns_mode", "host's userns namespace"),
        ("cgroup: host", "services.app.cgroup", "host's cgroup namespace"),
        ("cap_add: [SYS_ADMIN]", "services.app.cap_add", "CAP_SYS_ADMIN"),
        ("security_opt: ['seccomp:unconfined']", "services.app.security_opt", "seccomp:unconfined"),
        ("devices: ['/dev/fuse:/dev/fuse']", "services.app.devices", "host devices"),
        ("device_cgroup_rules: ['c 1:3 mr']", "services.app.device_cgroup_rules", "host devices"),
        ("volumes: ['/var/run/docker.sock:/var/run/docker.sock']", "services.app.volumes[0]",
         "the host path /var/run/docker.sock"),
    ],
)
def test_privileges_are_refused_unless_the_matrix_allows_them(tmp_path: Path, body: str, path: str,
                                                              what: str) -> None:
    text = f"services:\n  app:\n    image: busybox\n    {body}\n"
    issue = one(tmp_path, text)
    assert (issue.path, issue.line) == (path, 4)
    assert issue.message.startswith("refused: ") and what in issue.message
    assert "allow_privileged: true" in (issue.hint or "")
    allowed = translated(tmp_path, text, allow_privileged=True)
    assert allowed.profile["run"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = issues(tmp_path, """\
        services:
          app:
            image: busybox
            privileged: true
            mem_limit: lots
            healthcheck: {interval: soon}
        """)
    assert [(i.path, i.line) for i in found] == [("services.app.mem_limit", 5),
                                                 ("services.app.healthcheck.interval", 6),
                                                 ("services.app.privileged", 4)]


def test_yaml_problems_of_the_compose_file_are_refused(tmp_path: Path) -> None:
    found = issues(tmp_path, "services:\n  app:\n    image: a\n    image: b\n")
    assert [(i.message, i.line) for i in found] == [("duplicate key 'image'", 4)]
    with pytest.raises(ConfigError, match="not valid YAML"):
        translated(tmp_path, "services:\n  app: [\n")


# ------------------------------------------------------------------------------------------------------ extends


def test_extends_an_unknown_service(tmp_path: Path) -> None:
    issue = one(tmp_path, """\
        services:
          app:
            extends: {service: base}
          other: {image: x}
        """)
    assert (issue.message, issue.line) == ("no service 'base' in this Compose file", 1)
    assert issue.hint == "services in this file: app, other"


def test_extends_in_a_circle(tmp_path: Path) -> None:
    issue = one(tmp_path, """\
        services:
          app:
            extends: base
          base:
            extends: {service: app}
        """)
    assert issue.message == "`extends` goes round in a circle: app -> base -> app"
    assert (issue.path, issue.line) == ("services.base.extends", 5)


def test_extends_a_missing_file(tmp_path: Path) -> None:
    issue = one(tmp_path, """\
        services:
          app:
            extends:
              file: ../common/missing.yaml
              service: base
        """)
    assert (issue.path, issue.line) == ("services.app.extends.file", 4)
    assert issue.message == "the Compose file ../common/missing.yaml does not exist"


def test_problems_in_an_extended_file_point_into_that_file(tmp_path: Path) -> None:
    common = write(tmp_path, """\
        services:
          base:
            image: busybox
            mem_limit: lots
            networks: [back]
        """, "common/base.yaml")
    found = issues(tmp_path / "app", """\
        services:
          app:
            extends: {file: ../common/base.yaml, service: base}
        """)
    assert [(i.file, i.line, i.path) for i in found] == [(str(common), 4, "services.app.mem_limit")]


def test_warnings_from_an_extended_file_name_that_file(tmp_path: Path) -> None:
    write(tmp_path, "services:\n  base:\n    image: busybox\n    networks: [back]\n", "common/base.yaml")
    app = tmp_path / "app"
    translation = translate(load_compose(write(app, """\
        services:
          app:
            extends: {file: ../common/base.yaml, service: base}
        """)), service="app", env={}, project_dir=app)
    assert "services.app.networks (base.yaml line 4) is not translated: porttest puts the container and its " \
           "services on one network of the environment's own: Compose networks, their aliases and their isolation " \
           "are not reproduced" in translation.warnings


def test_extends_merges_as_compose_does(tmp_path: Path) -> None:
    run = translated(tmp_path, """\
        services:
          base:
            image: busybox
            environment: [TZ=utc, PORT=80]
            labels: {team: shop}
            security_opt: [label:role:ROLE]
            cap_drop: [NET_RAW]
            dns: 1.1.1.1
            volumes: ["common:/data:rw", "./x:/x"]
            command: [a, b]
            entrypoint: [/init]
            ulimits: {nofile: 10}
            sysctls: [net.core.somaxconn=1024]
            healthcheck: {test: [CMD, true], interval: 10s, retries: 3}
            deploy: {resources: {limits: {cpus: "0.5", memory: 64m}}}
          app:
            extends: {service: base}
            environment: {PORT: "8080"}
            labels: [tier=web]
            security_opt: [label:role:ROLE, label:user:USER]
            cap_drop: [NET_RAW, MKNOD]
            dns: [8.8.8.8]
            volumes: ["app:/data:ro"]
            command: c
            ulimits: {nproc: 5}
            sysctls: {net.ipv4.tcp_syncookies: 0}
            healthcheck: {interval: 20s}
            deploy: {resources: {limits: {memory: 128m}}}
        """).profile["run"]
    assert run["environment"] == {"TZ": "utc", "PORT": "8080"}
    assert run["labels"] == {"team": "shop", "tier": "web"}
    assert run["security_opt"] == ["label:role:ROLE", "label:user:USER"]  # appended, without repeats
    assert run["cap_drop"] == ["NET_RAW", "MKNOD"]
    assert run["dns"] == ["1.1.1.1", "8.8.8.8"]
    assert run["mounts"] == [{"Type": "volume", "Target": "/data", "ReadOnly": True}]  # the same target: replaced
    assert run["volumes"] == [f"{tmp_path}/x:/x:rw"]
    assert run["command"] == ["c"] and run["entrypoint"] == ["/init"]
    assert run["ulimits"] == [{"name": "nofile", "soft": 10, "hard": 10}, {"name": "nproc", "soft": 5, "hard": 5}]
    assert run["sysctls"] == {"net.core.somaxconn": "1024", "net.ipv4.tcp_syncookies": "0"}
    assert run["healthcheck"] == {"test": ["CMD", "true"], "interval": 20 * 10**9,
                                  "retries": 3}
    assert (run["cpus"], run["mem_limit"]) == (0.5, "128m")


_SHAPES: list[Any] = [None, 1, 1.5, True, "x", "1", [], {}, [1], [None], [[1]], {"a": 1}, {"a": None}, {"a": [1]},
                      [{"a": 1}], {"resources": [1]}, {"resources": {"limits": [1]}}, {"test": None},
                      [{"type": "tmpfs", "target": "/x", "tmpfs": {"size": [1], "mode": "rwx"}}],
                      [{"type": "bind", "target": "/x", "bind": [1]}], {"service": 1}, {"service": "app"}]
_KEYS = [*_SIMPLE, *_SKIPPED, "environment", "env_file", "entrypoint", "command", "healthcheck", "volumes", "deploy",
         "blkio_config", "depends_on", "links", "extends", "x-custom", "unknown"]


def test_no_value_of_any_shape_gets_past_as_anything_but_a_config_error(tmp_path: Path) -> None:
    for key, value in itertools.product(_KEYS, _SHAPES):
        doc = Located({"services": {"app": {key: value}}}, str(tmp_path / "c.yaml"),
                      {(): 1, ("services",): 1, ("services", "app"): 2, ("services", "app", key): 3})
        try:
            translation = translate(doc, service="app", env={}, project_dir=tmp_path)
        except ConfigError as exc:
            assert all(issue.line for issue in exc.issues), (key, value)
        else:
            assert isinstance(translation.profile["run"], dict)
