"""The Compose translation: a service of a Compose file as a porttest environment profile (no engine)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from porttest.config.descriptors import Translation
from porttest.config.descriptors.compose import compose_environment, load_compose, translate
from porttest.config.run_options import RunOptions
from porttest.errors import ConfigError, ConfigIssue

FIXTURES = Path(__file__).parents[2] / "fixtures" / "descriptors" / "compose"
SHOP = FIXTURES / "shop"
S = 10**9


def shop(service: str) -> Translation:
    return translate(load_compose(SHOP / "compose.yaml"), service=service, env=compose_environment(SHOP, {}),
                     project_dir=SHOP)


def compose(tmp_path: Path, text: str, service: str = "app", env: dict[str, str] | None = None,
            allow_privileged: bool = False, files: dict[str, str] | None = None) -> Translation:
    """Translate `service` of a Compose file written into tmp_path (with other files, by relative path)."""
    for name, body in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(body))
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(text))
    return translate(load_compose(tmp_path / "compose.yaml"), service=service, env=env or {}, project_dir=tmp_path,
                     allow_privileged=allow_privileged)


def refused(tmp_path: Path, text: str, service: str = "app", **kwargs: Any) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        compose(tmp_path, text, service, **kwargs)
    return caught.value.issues


def run_of(tmp_path: Path, body: str, **kwargs: Any) -> dict[str, Any]:
    """run: for a service `app` whose keys are `body` (indented as a service)."""
    text = "services:\n  app:\n    image: busybox\n" + textwrap.indent(textwrap.dedent(body), "    ")
    return dict(compose(tmp_path, text, **kwargs).profile["run"])


# ----------------------------------------------------------------------------------- the shop, service by service


def test_hardened_web_server_from_fragments() -> None:
    web = shop("web")
    assert list(web.profile.pop("services")) == ["api"]  # depends_on (test_compose_services.py)
    assert web.profile == {
        "run": {
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
            "tmpfs": {"/tmp": "", "/run": "size=16m,mode=755"},
            "user": "101:101",
            "ports": {"8080/tcp": 8080, "9113/tcp": ("127.0.0.1", 9113)},
            "environment": {"APP_ENV": "production", "LOG_LEVEL": "info", "NGINX_PORT": "8080",
                            "UPSTREAM": "http://api:8000"},
            "healthcheck": {"test": ["CMD", "wget", "-qO-", "http://127.0.0.1:8080/healthz"], "interval": 30 * S,
                            "timeout": 5 * S, "retries": 3, "start_period": 10 * S},
            "ulimits": [{"name": "nofile", "soft": 1024, "hard": 4096}],
            "mem_limit": "128m",
            "pids_limit": 100,
        },
        # Docker calls it unhealthy after start_period + retries x interval; one more interval and a timeout
        "wait_for": {"healthcheck": True, "timeout": 135.0},
    }
    RunOptions.model_validate(web.profile["run"])
    assert web.file == str(SHOP / "compose.yaml")


def test_every_profile_key_points_at_the_compose_line_that_set_it() -> None:
    lines = shop("web").lines
    text = (SHOP / "compose.yaml").read_text().splitlines()

    def at(path: tuple[str | int, ...]) -> str:
        return text[lines[path] - 1].strip()

    assert at(("run", "read_only")) == "read_only: true"  # in the x-hardening fragment it was merged from
    assert at(("run", "user")) == 'user: "101:101"'
    assert at(("run", "ports")) == "ports:"
    assert at(("run", "environment", "APP_ENV")) == "APP_ENV: ${APP_ENV:-production}"
    assert at(("run", "environment", "UPSTREAM")) == "UPSTREAM: http://api:8000"
    assert at(("run", "healthcheck", "interval")) == "interval: 30s"
    assert at(("wait_for", "healthcheck")) == "healthcheck:"
    assert at(("run",)) == "web:"
    assert all(line > 0 for line in lines.values())
    layer = shop("web").located()
    assert layer.deepest(("run", "ulimits", 0, "soft"))[1] == lines[("run", "ulimits")]


def test_web_warnings_name_every_key_left_out_with_its_line() -> None:
    assert shop("web").warnings == (
        "services.web.image (line 24) is not translated: porttest runs the matrix's image",
        "services.web.networks (line 46) is not translated: porttest puts the container and its services on one "
        "network of the environment's own: Compose networks, their aliases and their isolation are not reproduced",
        "services.web.restart (line 47) is not translated: porttest starts the container once and removes it",
        "services.web.logging (line 13) is not translated: porttest reads the container's logs through the engine's "
        "default log driver",
        # api, which web depends on, is translated by the same code, with its own warnings
        "services.api.networks (line 64) is not translated: porttest puts the container and its services on one "
        "network of the environment's own: Compose networks, their aliases and their isolation are not reproduced",
        "services.api.deploy.resources.reservations.memory (line 68): reservations noted: memory becomes "
        "mem_reservation, a soft limit (nothing is reserved)",
    )


def test_api_command_environment_and_deploy_limits() -> None:
    api = shop("api")
    run = api.profile["run"]
    assert run["command"] == ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", "shop.app:create()"]
    assert run["environment"] == {
        "GUNICORN_CMD_ARGS": "--access-logfile - --timeout 30",  # double-quoted in api.env
        "SENTRY_DSN": "",
        "FEATURE_FLAGS": "checkout,${NOT_INTERPOLATED}",  # single-quoted: literal
        "LOG_LEVEL": "info",  # `environment` wins over env_file
        "APP_ENV": "production",
        "DATABASE_URL": "postgresql://shop:s3cret-from-dotenv@db:5432/shop",  # from the project's .env
        "SECRET_KEY": "change-me-please",
    }
    assert (run["cpus"], run["mem_limit"], run["mem_reservation"]) == (0.5, "256M", "128M")
    assert run["sysctls"] == {"net.core.somaxconn": "1024"}  # the engine takes strings only
    assert run["init"] is True and run["working_dir"] == "/srv" and run["user"] == "10001"
    assert "wait_for" not in api.profile
    assert api.secret_values == {"change-me-please", "s3cret-from-dotenv"}  # SECRET_KEY, and ${POSTGRES_PASSWORD}
    assert any("reservations.memory (line 68): reservations noted" in w for w in api.warnings)
    assert any(w.startswith("services.api.build (line 52) is not translated") for w in api.warnings)
    RunOptions.model_validate(run)


def test_worker_extends_the_api_by_composes_merge_rules() -> None:
    run = shop("worker").profile["run"]
    api = shop("api").profile["run"]
    assert run["command"] == ["celery", "-A", "shop.worker", "worker", "--concurrency=4"]  # replaced, not appended
    assert run["environment"] == {**api["environment"], "ROLE": "worker", "LOG_LEVEL": "warning"}  # merged by key
    assert run["cap_add"] == ["CHOWN"] and run["cap_drop"] == ["ALL"]
    assert (run["cpus"], run["mem_limit"]) == (0.5, "512M")  # limits merge key by key
    assert run["stop_signal"] == "SIGTERM" and run["read_only"] is True
    warnings = shop("worker").warnings
    assert "services.worker.deploy.replicas (line 78) is not translated: porttest runs one container on one engine " \
           "(no swarm placement or policy)" in warnings
    assert any(w.startswith("services.worker.deploy.restart_policy (line 81)") for w in warnings)


def test_postgres_with_healthcheck_env_file_and_volumes() -> None:
    db = shop("db")
    run = db.profile["run"]
    assert run["healthcheck"] == {"test": ["CMD-SHELL", "pg_isready -U ${POSTGRES_USER} -d ${POSTGRES_DB}"],
                                  "interval": 10 * S, "timeout": 5 * S, "retries": 5, "start_period": 90 * S}
    assert db.profile["wait_for"] == {"healthcheck": True, "timeout": 155.0}
    assert run["environment"]["POSTGRES_PASSWORD"] == "s3cret-from-dotenv"
    assert run["environment"]["POSTGRES_INITDB_ARGS"] == "--data-checksums"  # db.env
    assert run["volumes"] == [f"{SHOP / 'initdb'}:/docker-entrypoint-initdb.d:ro"]  # a bind, made absolute
    assert run["mounts"] == [{"Type": "volume", "Target": "/var/lib/postgresql/data", "ReadOnly": False}]
    assert run["tmpfs"] == {"/var/run/postgresql": "size=1048576"}
    assert run["shm_size"] == "256mb"
    assert db.secret_values == {"s3cret-from-dotenv"}
    assert ("services.db.volumes[0] (line 94): the named volume 'db-data' becomes a fresh anonymous volume at "
            "/var/lib/postgresql/data (Compose's data in it is not shared; it is removed with the container)"
            in db.warnings)
    assert {w.split(" ")[0] for w in db.warnings} >= {"services.db.stop_grace_period", "services.db.expose",
                                                      "services.db.networks", "services.db.image"}
    RunOptions.model_validate(run)


def test_cache_command_string_and_shell_healthcheck() -> None:
    cache = shop("cache").profile
    assert cache["run"]["command"] == ["redis-server", "--save", "", "--appendonly", "no", "--maxmemory", "64mb"]
    assert cache["run"]["healthcheck"]["test"] == ["CMD-SHELL", "redis-cli ping | grep -q PONG"]
    assert cache["run"]["ports"] == {"6379/tcp": None}
    assert cache["wait_for"]["healthcheck"] is True


def test_extends_from_another_file_resolves_its_paths_there() -> None:
    jobs = FIXTURES / "jobs"
    report = translate(load_compose(jobs / "compose.yaml"), service="report", env={"REPORT_TOKEN": "tok-12345"},
                       project_dir=jobs)
    run = report.profile["run"]
    assert run["environment"] == {"PIP_NO_CACHE_DIR": "1", "PYTHONDONTWRITEBYTECODE": "1",  # common/python.env
                                  "PYTHONUNBUFFERED": "1", "TZ": "Europe/Berlin", "REPORT_TOKEN": "tok-12345"}
    assert run["volumes"] == [f"{FIXTURES / 'common' / 'certs'}:/etc/ssl/private:ro", f"{jobs / 'out'}:/out:rw"]
    # volumes merge by target: the report's cache volume replaces the base's
    assert run["mounts"] == [{"Type": "volume", "Target": "/home/app/.cache", "ReadOnly": False}]
    assert run["tmpfs"] == {"/tmp": "", "/var/tmp": ""}  # a string in each file, appended
    assert run["healthcheck"] == {"test": ["CMD", "python", "-c", "import sys; sys.exit(0)"], "interval": 300 * S,
                                  "retries": 2}
    assert (run["user"], run["read_only"], run["pids_limit"]) == ("10001:10001", True, 64)
    assert run["cap_add"] == ["NET_BIND_SERVICE"] and run["cap_drop"] == ["ALL"]
    assert report.secret_values == {"tok-12345"}
    # keys that only the other file wrote point at the `extends:` line of this one
    assert report.lines[("run", "user")] == report.lines[("run", "read_only")] == 4
    assert report.lines[("run", "pids_limit")] == 19


# ---------------------------------------------------------------------------------------------- field by field


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("user: 1000", {"user": "1000"}),
        ("read_only: true", {"read_only": True}),
        ("tmpfs: /run", {"tmpfs": {"/run": ""}}),
        ("tmpfs: [/run, '/tmp:size=64m']", {"tmpfs": {"/run": "", "/tmp": "size=64m"}}),
        ("cap_add: [NET_BIND_SERVICE]\ncap_drop: [ALL]", {"cap_add": ["NET_BIND_SERVICE"], "cap_drop": ["ALL"]}),
        ("security_opt: [no-new-privileges:true, seccomp=default.json]",
         {"security_opt": ["no-new-privileges:true", "seccomp=default.json"]}),
        ("mem_limit: 512m\nmemswap_limit: 1g\nmem_reservation: 256m",
         {"mem_limit": "512m", "memswap_limit": "1g", "mem_reservation": "256m"}),
        ("mem_limit: 512Mi", {"mem_limit": 512 * 2**20}),
        ("mem_limit: 268435456", {"mem_limit": 268435456}),
        ("cpus: 0.5", {"cpus": 0.5}),
        ("cpus: '1.25'", {"cpus": 1.25}),
        ("pids_limit: -1", {"pids_limit": -1}),
        ("environment: [A=1, B=x=y, C=]", {"environment": {"A": "1", "B": "x=y", "C": ""}}),
        ("environment: {A: 1, B: true, C: 1.5, D: ''}", {"environment": {"A": "1", "B": "true", "C": "1.5", "D": ""}}),
        ("environment: [FROM_SHELL, NOT_IN_SHELL]", {"environment": {"FROM_SHELL": "shell-value"}}),
        ("environment: {FROM_SHELL: null, NOT_IN_SHELL: null}", {"environment": {"FROM_SHELL": "shell-value"}}),
        ("ulimits: {nofile: 20000}", {"ulimits": [{"name": "nofile", "soft": 20000, "hard": 20000}]}),
        ("entrypoint: /docker-entrypoint.sh --verbose", {"entrypoint": ["/docker-entrypoint.sh", "--verbose"]}),
        ("entrypoint: []", {"entrypoint": []}),
        ("command: [sleep, 3600]", {"command": ["sleep", "3600"]}),
        ("command: >-\n  sh -c 'echo \"$$HOME\" && exec app'", {"command": ["sh", "-c", 'echo "$HOME" && exec app']}),
        ("working_dir: /srv\ninit: true\nruntime: runsc\nplatform: linux/arm64",
         {"working_dir": "/srv", "init": True, "runtime": "runsc", "platform": "linux/arm64"}),
        ("sysctls: [net.core.somaxconn=1024, net.ipv4.tcp_syncookies=0]",
         {"sysctls": {"net.core.somaxconn": "1024", "net.ipv4.tcp_syncookies": "0"}}),
        ("sysctls: {net.core.somaxconn: 1024}", {"sysctls": {"net.core.somaxconn": "1024"}}),
        ("shm_size: 64m\nhostname: web-1\ndomainname: example.test",
         {"shm_size": "64m", "hostname": "web-1", "domainname": "example.test"}),
        ("dns: 9.9.9.9\ndns_search: [a.test, b.test]\ndns_opt: [use-vc]",
         {"dns": ["9.9.9.9"], "dns_search": ["a.test", "b.test"], "dns_opt": ["use-vc"]}),
        ("extra_hosts: ['somehost=162.242.195.82', 'other:50.31.209.229', 'v6=[::1]']",
         {"extra_hosts": ["somehost:162.242.195.82", "other:50.31.209.229", "v6:::1"]}),
        ("extra_hosts: {somehost: 162.242.195.82, multi: [10.0.0.1, 10.0.0.2]}",
         {"extra_hosts": ["somehost:162.242.195.82", "multi:10.0.0.1", "multi:10.0.0.2"]}),
        ("group_add: [mail, 1001]", {"group_add": ["mail", "1001"]}),
        ("labels: [com.example.team=shop, com.example.empty]",
         {"labels": {"com.example.team": "shop", "com.example.empty": ""}}),
        ("labels: {com.example.team: shop}", {"labels": {"com.example.team": "shop"}}),
        ("stop_signal: SIGQUIT\noom_kill_disable: false\noom_score_adj: -500",
         {"stop_signal": "SIGQUIT", "oom_kill_disable": False, "oom_score_adj": -500}),
        ("ipc: shareable\npid: private\nnetwork_mode: none",
         {"ipc_mode": "shareable", "pid_mode": "private", "network_mode": "none"}),
        ("cpu_shares: 512\ncpu_period: 100000\ncpu_quota: 50000\ncpuset: 0-1",
         {"cpu_shares": 512, "cpu_period": 100000, "cpu_quota": 50000, "cpuset_cpus": "0-1"}),
        ("cpu_rt_runtime: 400ms\ncpu_rt_period: 11000", {"cpu_rt_runtime": 400000, "cpu_rt_period": 11000}),
        ("mem_swappiness: 0\nstorage_opt: {size: 1G}", {"mem_swappiness": 0, "storage_opt": {"size": "1G"}}),
        ("cgroup: private\ncgroup_parent: m-executor\nuserns_mode: private",
         {"cgroupns": "private", "cgroup_parent": "m-executor", "userns_mode": "private"}),
        ("ports: ['8080:80', '127.0.0.1:8443:443/udp', '80']",
         {"ports": {"80/tcp": [8080, None], "443/udp": ("127.0.0.1", 8443)}}),
        ("deploy: {resources: {limits: {cpus: '0.25', memory: 64M, pids: 50}}}",
         {"cpus": 0.25, "mem_limit": "64M", "pids_limit": 50}),
        ("deploy: {resources: {limits: {cpus: '0'}}}", {}),  # 0 is Compose's "no limit"
        ("mem_limit: 256m\ndeploy: {resources: {limits: {memory: 268435456}}}", {"mem_limit": "256m"}),
        ("blkio_config: {weight: 300, device_read_bps: [{path: /dev/sdb, rate: 12mb}],"
         " weight_device: [{path: /dev/sda, weight: 400}]}",
         {"blkio_weight": 300, "device_read_bps": [{"Path": "/dev/sdb", "Rate": 12 * 2**20}],
          "blkio_weight_device": [{"Path": "/dev/sda", "Weight": 400}]}),
        ("volumes: [{type: volume, source: data, target: /data, read_only: true, volume: {nocopy: true}}]",
         {"mounts": [{"Type": "volume", "Target": "/data", "ReadOnly": True, "VolumeOptions": {"NoCopy": True}}]}),
        ("volumes: [{type: tmpfs, target: /cache, tmpfs: {size: 64m, mode: 0o1777}}]",
         {"tmpfs": {"/cache": "size=67108864,mode=1777"}}),
        ("volumes: [{type: tmpfs, target: /cache, tmpfs: {mode: 01777}}]", {"tmpfs": {"/cache": "mode=1777"}}),
        ("healthcheck: {disable: true}", {"healthcheck": {"test": ["NONE"]}}),
        ("healthcheck: {test: [NONE]}", {"healthcheck": {"test": ["NONE"]}}),
        ("healthcheck: {interval: 1m, retries: 5}", {"healthcheck": {"interval": 60 * S, "retries": 5}}),
    ],
)
def test_field_by_field(tmp_path: Path, body: str, expected: dict[str, Any]) -> None:
    run = run_of(tmp_path, body, env={"FROM_SHELL": "shell-value"})
    assert run == expected
    RunOptions.model_validate(run)


def test_binds_resolve_against_the_project_folder(tmp_path: Path) -> None:
    run = run_of(tmp_path, """\
        volumes:
          - ./conf/nginx.conf:/etc/nginx/nginx.conf:ro
          - ../shared:/shared
          - /srv/data:/data:rw,z
          - type: bind
            source: ./html
            target: /usr/share/nginx/html
            read_only: true
            bind: {propagation: rprivate}
          - /anonymous
        """)
    assert run["volumes"] == [f"{tmp_path}/conf/nginx.conf:/etc/nginx/nginx.conf:ro",
                              f"{tmp_path.parent}/shared:/shared:rw", "/srv/data:/data:rw,z",
                              f"{tmp_path}/html:/usr/share/nginx/html:ro,rprivate"]
    assert run["mounts"] == [{"Type": "volume", "Target": "/anonymous", "ReadOnly": False}]


def test_env_file_order_required_and_raw_format(tmp_path: Path) -> None:
    translation = compose(tmp_path, """\
        services:
          app:
            image: busybox
            env_file:
              - defaults.env
              - path: override.env
                required: true
              - path: missing.env
                required: false
              - path: raw.env
                format: raw
            environment: [ONLY_HERE=1]
        """, env={"HOME": "/home/me"},
        files={"defaults.env": "A=default\nB=${HOME}/b\n", "override.env": "A=override\n", "raw.env": "RAW='$HOME' \n"})
    assert translation.profile["run"]["environment"] == {"A": "override", "B": "/home/me/b", "RAW": "'$HOME' ",
                                                         "ONLY_HERE": "1"}


def test_a_healthcheck_without_test_keeps_the_images_test_and_waits_for_it(tmp_path: Path) -> None:
    translation = compose(tmp_path, """\
        services:
          app:
            image: busybox
            healthcheck: {interval: 2s, timeout: 1s, retries: 3, start_interval: 1s}
        """)
    assert translation.profile["run"]["healthcheck"] == {"interval": 2 * S, "timeout": S, "retries": 3}
    assert translation.profile["wait_for"] == {"healthcheck": True, "timeout": 30.0}  # at least porttest's default
    assert any("healthcheck.start_interval (line 4) is not translated" in w for w in translation.warnings)


def test_every_key_left_out_is_a_warning_with_its_line(tmp_path: Path) -> None:
    keys = ["build: .", "restart: always", "networks: [front]", "secrets: [token]", "configs: [conf]",
            "logging: {driver: syslog}", "profiles: [debug]", "scale: 2", "container_name: app-1", "expose: ['80']",
            "external_links: [redis]", "volumes_from: [other]", "pull_policy: always", "stop_grace_period: 1m",
            "stdin_open: true", "tty: true", "annotations: {a: b}", "gpus: all", "x-custom: {a: b}",
            "not_a_compose_key: 1", "network_mode: service:db", "ipc: container:other", "deploy: {replicas: 3}",
            "volumes: [{type: npipe, source: x, target: /x}]", "deploy: {resources: {reservations: {cpus: '1'}}}"]
    for i, key in enumerate(keys):
        folder = tmp_path / str(i)
        folder.mkdir()
        translation = compose(folder, f"services:\n  app:\n    image: busybox\n    {key}\n")
        name = key.split(":")[0]
        mine = [w for w in translation.warnings if f"services.app.{name}" in w]
        assert mine and "(line 4)" in mine[0], (key, translation.warnings)
        assert translation.profile == {"run": {}}, key
