"""Verdicts and exit codes on the real engine: parity, identical failures, planted divergences, bad input."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import SLEEPER, porttest, write

PLANTED = '''
    """Each test trips over exactly one hardening setting."""

    def test_shell_works(host):
        assert host.run("true").rc == 0

    def test_can_write_to_rootfs(host):
        assert host.run("touch /var/porttest-probe").rc == 0

    def test_runs_as_root(host):
        assert host.check_output("id -u") == "0"

    def test_can_allocate_100m(host):
        assert host.run("dd if=/dev/zero of=/dev/null bs=100M count=1").rc == 0

    def test_can_chown(host):
        assert host.run("touch /tmp/owned && chown 1:1 /tmp/owned").rc == 0

    def test_can_start_40_processes(host):
        result = host.run("for i in $(seq 40); do sleep 2 & done; wait")
        assert result.rc == 0 and "can't fork" not in result.stderr
'''


def test_planted_divergences_are_caught_in_the_right_environment(tmp_path: Path, base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_planted.py", PLANTED)
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          local: {{run: {{command: {SLEEPER}}}}}
          readonly: {{run: {{command: {SLEEPER}, read_only: true, tmpfs: {{/tmp: ""}}}}}}
          nonroot: {{run: {{command: {SLEEPER}, user: "10001:10001"}}}}
          memory: {{run: {{command: {SLEEPER}, mem_limit: 48m, memswap_limit: 48m}}}}
          nocaps: {{run: {{command: {SLEEPER}, cap_drop: [ALL]}}}}
          pids: {{run: {{command: {SLEEPER}, pids_limit: 20}}}}
    """)
    ran = porttest("run", str(tmp_path / "matrix.yaml"), cwd=tmp_path)
    assert ran.rc == 3, ran.explain()
    assert ran.results and ran.results["verdict"] == "diverged"
    envs = ["local", "readonly", "nonroot", "memory", "nocaps", "pids"]
    expected_failure = {
        "test_can_write_to_rootfs": {"readonly", "nonroot"},  # uid 10001 cannot write /var either
        "test_runs_as_root": {"nonroot"},
        "test_can_allocate_100m": {"memory"},
        "test_can_chown": {"nocaps", "nonroot"},
        "test_can_start_40_processes": {"pids"},
    }
    for test, failing in expected_failure.items():
        outcomes = ran.outcomes(test)
        assert {e for e in envs if outcomes[e] == "failed"} == failing, (test, outcomes)
        assert {e for e in envs if outcomes[e] == "passed"} == set(envs) - failing, (test, outcomes)
        assert ran.row(test)["same"] is False
        assert set(ran.row(test)["messages"]) == failing
    assert ran.row("test_shell_works")["same"] is True
    assert set(ran.outcomes("test_shell_works").values()) == {"passed"}
    assert "!=" in ran.stdout and "test_can_write_to_rootfs" in ran.stdout
    assert "verdict: DIVERGED" in ran.stdout


def test_clean_image_under_hardened_profile_gives_parity(tmp_path: Path, base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_clean.py", '''
        def test_tmp_is_writable(host):
            assert host.run("touch /tmp/x && rm /tmp/x").rc == 0

        def test_passwd_readable(host):
            assert host.file("/etc/passwd").exists
    ''')
    write(tmp_path, "hardened.yaml", f"""
        run:
          command: {SLEEPER}
          user: "65534:65534"
          read_only: true
          tmpfs: {{/tmp: ""}}
          cap_drop: [ALL]
          security_opt: ["no-new-privileges:true"]
          mem_limit: 64m
          pids_limit: 64
          cpus: 0.5
    """)
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: suites
        environments:
          local: {{run: {{command: {SLEEPER}}}}}
          staging: {{extends: hardened.yaml}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    assert ran.results and ran.results["verdict"] == "parity"
    assert all(t["same"] for t in ran.results["tests"]) and len(ran.results["tests"]) == 2
    ids = {e["image_id"] for e in ran.results["environments"].values()}
    assert len(ids) == 1 and ids == {ran.results["image"]["id"]}


def test_identical_failures_everywhere_exit_1(tmp_path: Path, base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_broken.py", '''
        def test_missing_binary(host):
            assert host.run("no-such-binary-anywhere").rc == 0

        def test_fine(host):
            assert host.run("true").rc == 0
    ''')
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          a: {{run: {{command: {SLEEPER}}}}}
          b: {{run: {{command: {SLEEPER}, read_only: true}}}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 1, ran.explain()
    assert ran.results and ran.results["verdict"] == "failed"
    assert ran.outcomes("test_missing_binary") == {"a": "failed", "b": "failed"}
    assert ran.row("test_missing_binary")["same"] is True
    assert "no-such-binary-anywhere" not in ran.stderr or "Traceback" not in ran.stderr


def test_malformed_run_option_exits_2_naming_the_key(tmp_path: Path, base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_x.py", "def test_x(host):\n    assert True\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          local: {{}}
          staging:
            run:
              read_only: "yes please"
              mem_limit: lots
    """)
    for command in ("run", "validate"):
        ran = porttest(command, "matrix.yaml", cwd=tmp_path)
        assert ran.rc == 2, ran.explain()
        assert "Traceback" not in ran.stderr + ran.stdout
        assert "environments.staging.run.read_only" in ran.stderr
        assert "environments.staging.run.mem_limit" in ran.stderr
        assert "matrix.yaml:8" in ran.stderr and "hint:" in ran.stderr
        assert ran.results is None


def test_unreachable_engine_exits_4_while_the_other_environment_finishes(tmp_path: Path,
                                                                          base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_x.py", "def test_shell(host):\n    assert host.run('true').rc == 0\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          local: {{run: {{command: {SLEEPER}}}}}
          gone:
            engine: {{host: "unix:///tmp/porttest-no-such-engine.sock"}}
            run: {{command: {SLEEPER}}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    assert ran.results is not None
    assert ran.results["verdict"] == "error"
    gone = ran.results["environments"]["gone"]
    assert gone["status"] == "error" and "porttest-no-such-engine.sock" in gone["error"]
    assert ran.results["environments"]["local"]["status"] == "ok"
    assert ran.outcomes("test_shell") == {"local": "passed"}
    assert "Traceback" not in ran.stderr


def test_unknown_env_selection_is_a_usage_error(tmp_path: Path, base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_x.py", "def test_x(host):\n    assert True\n")
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments: {{local: {{}}}}
    """)
    ran = porttest("run", "matrix.yaml", "-e", "nope", cwd=tmp_path)
    assert ran.rc == 2 and "unknown environment" in ran.stderr and "local" in ran.stderr


def test_missing_image_is_an_environment_error(tmp_path: Path, base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_x.py", "def test_x(host):\n    assert True\n")
    write(tmp_path, "matrix.yaml", """
        version: 1
        image: porttest-test/does-not-exist:1
        suites: [suites]
        environments: {local: {}}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    assert ran.results and "not on the local engine" in ran.results["environments"]["local"]["error"]
