"""Container lifecycle on the real engine: readiness, dying containers, labels, clean, interrupts."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration.conftest import LABEL, REPO, SESSION_ID, SESSION_LABEL, SLEEPER, exec_commands, porttest, write

SHELL_SUITE = "def test_shell(host):\n    assert host.run('true').rc == 0\n"


def _matrix(folder: Path, image: str, env_body: str, suite: str = SHELL_SUITE) -> Path:
    write(folder, "suites/test_it.py", suite)
    return write(folder, "matrix.yaml", f"""
        version: 1
        image: {image}
        suites: [suites]
        environments:
          only:
        {env_body}
    """)


def _await_container(engine: docker.DockerClient) -> docker.models.containers.Container:
    """The running container of environment `only` of this test session's run, once there is one."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = [c for c in engine.containers.list(filters={"label": [LABEL, f"{SESSION_LABEL}={SESSION_ID}"]})
                   if c.labels.get("io.porttest.environment") == "only"]
        if running:
            return running[0]
        time.sleep(0.1)
    raise AssertionError("the run never started its container")


def _spawn_run(tmp_path: Path, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen[bytes]:
    """`porttest run matrix.yaml --json r.json` in the background, its output on pipes unless `popen` says else."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    return subprocess.Popen([sys.executable, "-m", "porttest", "run", "matrix.yaml", "--json", "r.json"],
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO / "harness"), **(env or {})},
                            **popen)


@pytest.mark.parametrize("wait_for", [
    '{port: 7777, timeout: 20}',
    '{log: "serving now", timeout: 20}',
    '{command: "test -e /tmp/ready", timeout: 20}',
])
def test_wait_for_kinds_become_ready(tmp_path: Path, engine: docker.DockerClient, base_images: dict[str, str],
                                    wait_for: str) -> None:
    command = '["sh", "-c", "sleep 1; touch /tmp/ready; echo serving now; exec nc -ll -p 7777 -e cat"]'
    _matrix(tmp_path, base_images["busybox"], f"""
            run: {{command: {command}}}
            wait_for: {wait_for}
    """, suite="def test_ready_marker(host):\n    assert host.file('/tmp/ready').exists\n")
    since = time.time() - 1
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    assert ran.outcomes("test_ready_marker") == {"only": "passed"}
    # A second of checks every 0.2 s, all through one shell; the child's session is the other exec.
    shells = 1 if "log" in wait_for else 2
    assert exec_commands(engine, ran.results["environments"]["only"]["container"], since) == ["/bin/sh"] * shells  # type: ignore[index]


def test_a_hanging_readiness_command_ends_at_the_deadline(tmp_path: Path, base_images: dict[str, str]) -> None:
    _matrix(tmp_path, base_images["busybox"], f"""
            run: {{command: {SLEEPER}}}
            wait_for: {{command: "sleep 600", timeout: 2}}
    """)
    began = time.monotonic()
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    assert time.monotonic() - began < 60
    env = ran.results["environments"]["only"]  # type: ignore[index]
    assert "not ready after 2s" in env["error"] and "the check itself did not finish" in env["error"]


def test_a_readiness_shell_that_never_answers_ends_at_the_deadline(tmp_path: Path,
                                                                  base_images: dict[str, str]) -> None:
    # Once the container runs, its /bin/sh is a script that sleeps: the readiness shell opens but never answers.
    hang = "rm /bin/sh; printf '#!/bin/busybox ash\\nexec sleep 600\\n' >/bin/sh; chmod +x /bin/sh; exec sleep 3600"
    _matrix(tmp_path, base_images["busybox"], f"""
            run: {{command: ["sh", "-c", "{hang}"]}}
            wait_for: {{port: 7777, timeout: 3}}
    """)
    began = time.monotonic()
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    took = time.monotonic() - began
    assert ran.rc == 4, ran.explain()
    assert "not ready after 3s waiting for port 7777" in ran.results["environments"]["only"]["error"]  # type: ignore[index]
    assert took < 25, f"the wait took {took:.1f}s: opening the readiness shell outlived wait_for.timeout"


def test_wait_for_healthcheck(tmp_path: Path, base_images: dict[str, str]) -> None:
    _matrix(tmp_path, base_images["busybox"], """
            run:
              command: ["sh", "-c", "sleep 1; touch /tmp/healthy; sleep 3600"]
              healthcheck: {test: ["CMD", "test", "-e", "/tmp/healthy"], interval: 200000000, retries: 50}
            wait_for: {healthcheck: true, timeout: 30}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()


def test_readiness_timeout_is_an_environment_error(tmp_path: Path, base_images: dict[str, str]) -> None:
    _matrix(tmp_path, base_images["busybox"], f"""
            run: {{command: {SLEEPER}}}
            wait_for: {{port: 9, timeout: 1.5}}
    """)
    began = time.monotonic()
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    assert time.monotonic() - began < 30
    env = ran.results["environments"]["only"]  # type: ignore[index]
    assert env["phase"] == "ready" and "not ready after 1.5s" in env["error"] and "port 9" in env["error"]


def test_container_that_exits_at_start_reports_exit_code_and_logs(tmp_path: Path, base_images: dict[str, str]) -> None:
    _matrix(tmp_path, base_images["busybox"], """
            run: {command: ["sh", "-c", "echo missing config file >&2; exit 3"]}
            wait_for: {port: 8080, timeout: 20}
    """)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    env = ran.results["environments"]["only"]  # type: ignore[index]
    assert "exit code 3" in env["error"] and "missing config file" in env["error"]


def test_container_dying_during_the_suites_becomes_an_environment_error(tmp_path: Path,
                                                                         base_images: dict[str, str]) -> None:
    command = '["sh", "-c", "while [ ! -e /tmp/die ]; do sleep 0.1; done; echo going down; exit 7"]'
    suite = '''
        import time

        def test_trigger(host):
            host.run("touch /tmp/die")
            time.sleep(1.5)

        def test_after(host):
            assert host.run("true").rc == 0
    '''
    _matrix(tmp_path, base_images["busybox"], f"            run: {{command: {command}}}\n", suite=suite)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    env = ran.results["environments"]["only"]  # type: ignore[index]
    assert env["status"] == "error" and env["phase"] == "tests"
    assert "exit code 7" in env["error"] and "going down" in env["error"]


def test_containers_are_labelled_and_removed(tmp_path: Path, engine: docker.DockerClient,
                                             base_images: dict[str, str]) -> None:
    suite = '''
        def test_labels(host, environment):
            assert environment.name == "only"
            assert environment.run["command"] == ["sleep", "3600"]
            assert environment.image_id.startswith("sha256:")
    '''
    _matrix(tmp_path, base_images["busybox"], f"            run: {{command: {SLEEPER}, labels: {{team: qa}}}}\n",
            suite=suite)
    seen: dict[str, str] = {}
    proc = subprocess.Popen([sys.executable, "-m", "porttest", "run", "matrix.yaml", "--json", "r.json"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and not seen:
        # The raw listing: containers.list() inspects each one it lists, and the run may remove it in between.
        for c in engine.api.containers(all=True, filters={"label": [LABEL, f"{SESSION_LABEL}={SESSION_ID}"]}):
            labels = c.get("Labels") or {}
            if labels.get("io.porttest.environment") == "only" and labels.get("team") == "qa":
                seen = dict(labels)
        time.sleep(0.05)
    proc.communicate(timeout=120)
    results = json.loads((tmp_path / "r.json").read_text())
    assert proc.returncode == 0
    assert seen.get(LABEL) == results["run_id"] and seen.get("io.porttest.created")
    assert not engine.containers.list(all=True, filters={"label": f"{LABEL}={results['run_id']}"})


def test_clean_removes_only_porttest_containers(tmp_path: Path, engine: docker.DockerClient,
                                                base_images: dict[str, str]) -> None:
    _matrix(tmp_path, base_images["busybox"], "            run: {command: [sleep, '1']}\n")
    mine = engine.containers.create(base_images["busybox"], ["sleep", "60"], labels={"team": "not-porttest"})
    leftover = engine.containers.create(base_images["busybox"], ["sleep", "60"],
                                        labels={LABEL: "20200101000000-abcdef", "io.porttest.environment": "x"})
    # A killed run can also leave the volume of an environment's `files:` (say, a service-account token).
    tag = uuid.uuid4().hex[:8]
    my_volume = engine.volumes.create(f"team-{tag}", labels={"team": "not-porttest"})
    left_volume = engine.volumes.create(f"porttest-20200101000000-abcdef-x-{tag}-files-0",
                                        labels={LABEL: "20200101000000-abcdef", "io.porttest.environment": "x"})
    # ... and the network of an environment with ip_variables.
    left_network = engine.networks.create(f"porttest-20200101000000-abcdef-x-{tag}-net",
                                          labels={LABEL: "20200101000000-abcdef", "io.porttest.environment": "x"})
    try:
        dry = porttest("clean", "matrix.yaml", "--dry-run", cwd=tmp_path)
        assert dry.rc == 0 and leftover.id[:12] in dry.stdout and mine.id[:12] not in dry.stdout
        assert f"would remove volume {left_volume.name} " in dry.stdout and my_volume.name not in dry.stdout
        engine.containers.get(leftover.id)  # still there after a dry run
        engine.volumes.get(left_volume.name)
        done = porttest("clean", "matrix.yaml", cwd=tmp_path)
        # Not "1 container(s)": the engine may hold other runs' leftovers, which clean rightly sweeps as well.
        assert done.rc == 0 and f"({leftover.id[:12]})" in done.stdout, done.explain()
        assert f"removed volume {left_volume.name} " in done.stdout and "volume(s)" in done.stdout
        assert f"removed network {left_network.name} " in done.stdout and "network(s)" in done.stdout
        with pytest.raises(docker.errors.NotFound):
            engine.networks.get(left_network.id)
        assert mine.id[:12] not in done.stdout and my_volume.name not in done.stdout
        with pytest.raises(docker.errors.NotFound):
            engine.containers.get(leftover.id)
        with pytest.raises(docker.errors.NotFound):
            engine.volumes.get(left_volume.name)
        assert engine.containers.get(mine.id).labels == {"team": "not-porttest"}
        assert engine.volumes.get(my_volume.name).attrs["Labels"] == {"team": "not-porttest"}
    finally:
        mine.remove(force=True)
        my_volume.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            leftover.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            left_volume.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            left_network.remove()


def _default_signals() -> None:
    # As from a terminal: a session started under nohup, or as a background job, would hand porttest SIGHUP or
    # SIGINT ignored, and porttest keeps ignored what its caller ignores.
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def test_an_ignored_hangup_stays_ignored(tmp_path: Path, engine: docker.DockerClient,
                                         base_images: dict[str, str]) -> None:
    suite = '''
        import time

        def test_slow(host):
            time.sleep(3)
            assert host.run("true").rc == 0
    '''
    _matrix(tmp_path, base_images["busybox"], f"            run: {{command: {SLEEPER}}}\n", suite=suite)
    proc = _spawn_run(tmp_path, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))  # as under nohup
    _await_container(engine)
    time.sleep(1.0)  # into the suites
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)  # the run went on to its verdict
    assert json.loads((tmp_path / "r.json").read_text())["interrupted"] is False


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signal_during_tests_removes_containers_and_writes_results(tmp_path: Path, engine: docker.DockerClient,
                                                                   base_images: dict[str, str],
                                                                   sig: signal.Signals, code: int) -> None:
    suite = '''
        import time

        def test_quick(host):
            assert host.run("true").rc == 0

        def test_slow(host):
            time.sleep(60)
    '''
    _matrix(tmp_path, base_images["busybox"], f"            run: {{command: {SLEEPER}}}\n", suite=suite)
    proc = _spawn_run(tmp_path, preexec_fn=_default_signals)
    container = _await_container(engine)
    run_id = container.labels[LABEL]
    time.sleep(2.0)  # into the suites
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, (out, err)
    assert not engine.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"})
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["interrupted"] is True
    assert results["environments"]["only"]["status"] == "error"
    assert "interrupted" in results["environments"]["only"]["error"]
    assert b"Traceback" not in err


def test_a_closed_output_pipe_costs_neither_the_clean_up_nor_the_verdict(tmp_path: Path, engine: docker.DockerClient,
                                                                        base_images: dict[str, str]) -> None:
    # `porttest run ... | head`, or a CI log reader that died: progress and the console report have nowhere to go.
    suite = '''
        import time

        def test_quick(host):
            assert host.run("true").rc == 0

        def test_slow(host):
            time.sleep(2)
            assert host.run("true").rc == 0
    '''
    _matrix(tmp_path, base_images["busybox"], f"            run: {{command: {SLEEPER}}}\n", suite=suite)
    proc = _spawn_run(tmp_path)
    container = _await_container(engine)
    run_id = container.labels[LABEL]
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0  # parity, as if the output had been read
    assert not engine.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"})
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["verdict"] == "parity"
    assert [t["outcome"] for t in results["environments"]["only"]["tests"]] == ["passed", "passed"]


def _processes_marked(mark: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if f"PORTTEST_TEST_MARK={mark}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append(int(pid))
    return found


@pytest.mark.parametrize("fork_server", ["1", "0"])
def test_after_porttest_is_killed_its_processes_end_and_clean_removes_its_container(
        tmp_path: Path, engine: docker.DockerClient, base_images: dict[str, str], fork_server: str) -> None:
    # SIGKILL (or the OOM killer) gives porttest no chance to clean up: its fork server and pytest children must
    # still end on their own, and `porttest clean` sweeps the container by its label.
    suite = '''
        import time

        def test_slow(host):
            time.sleep(60)
    '''
    _matrix(tmp_path, base_images["busybox"], f"            run: {{command: {SLEEPER}}}\n", suite=suite)
    mark = uuid.uuid4().hex
    proc = _spawn_run(tmp_path, env={"PORTTEST_TEST_MARK": mark, "PORTTEST_FORK_SERVER": fork_server},
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    container = _await_container(engine)
    run_id = container.labels[LABEL]
    time.sleep(2.0)  # into the suites: the fork server (if any) and a pytest child are running
    assert len(_processes_marked(mark)) >= (3 if fork_server == "1" else 2)  # porttest, [fork server,] pytest
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 20
    while _processes_marked(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_marked(mark) == []
    done = porttest("clean", "matrix.yaml", cwd=tmp_path)
    assert done.rc == 0 and container.id[:12] in done.stdout, done.explain()
    assert not engine.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"})


@pytest.mark.parametrize("ending", ["pytest.exit('stop', returncode=0)", "os._exit(0)"])
def test_a_suite_that_ends_early_is_an_environment_error_not_a_pass(tmp_path: Path, base_images: dict[str, str],
                                                                     ending: str) -> None:
    suite = f'''
        import os

        import pytest

        def test_1(host):
            assert host.run("true").rc == 0

        def test_2(host):
            {ending}

        def test_3(host):
            assert False, "never run"
    '''
    _matrix(tmp_path, base_images["busybox"], f"            run: {{command: {SLEEPER}}}\n", suite=suite)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 4, ran.explain()
    assert ran.results is not None
    only = ran.results["environments"]["only"]
    assert only["status"] == "error" and "ended early" in only["error"] and "of 3 collected" in only["error"]
    assert "PARITY" not in ran.stdout


@pytest.mark.parametrize("fork_server", ["1", "0"])
def test_processes_a_test_leaves_behind_on_this_machine_end_with_the_run(tmp_path: Path, base_images: dict[str, str],
                                                                          fork_server: str) -> None:
    suite = '''
        import os
        import subprocess
        import time

        def test_starts_a_helper(host):
            subprocess.Popen(["sleep", "1001"])
            assert host.run("true").rc == 0

        def test_forks(host):
            if os.fork() == 0:
                time.sleep(1001)
                os._exit(0)
    '''
    _matrix(tmp_path, base_images["busybox"], f"            run: {{command: {SLEEPER}}}\n", suite=suite)
    mark = uuid.uuid4().hex
    ran = porttest("run", "matrix.yaml", cwd=tmp_path,
                   env={"PORTTEST_TEST_MARK": mark, "PORTTEST_FORK_SERVER": fork_server})
    assert ran.rc == 0, ran.explain()
    deadline = time.monotonic() + 10
    while _processes_marked(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_marked(mark) == []


def test_a_report_that_cannot_be_written_keeps_the_verdict_and_the_other_reports(tmp_path: Path,
                                                                                 base_images: dict[str, str]) -> None:
    _matrix(tmp_path, base_images["busybox"], f"            run: {{command: {SLEEPER}}}\n")
    # Not through porttest(): it reads the --json file back, and /dev/full reads as endless zeros.
    ran = subprocess.run([sys.executable, "-m", "porttest", "run", "matrix.yaml", "--json", "/dev/full", "--junit",
                          "j.xml"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO / "harness"), "NO_COLOR": "1"})
    assert ran.returncode == 2, (ran.stdout, ran.stderr)
    assert "verdict: PARITY" in ran.stdout
    assert "cannot write --json /dev/full: No space left on device" in ran.stderr
    assert "<testsuite" in (tmp_path / "j.xml").read_text()


def test_jobs_limits_how_many_environments_run_at_once(tmp_path: Path, base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/test_it.py", '''
        import time

        def test_one_at_a_time(host, environment):
            with open("spans.txt", "a") as spans:
                began = time.time()
                time.sleep(1)
                assert host.run("true").rc == 0
                spans.write(f"{environment.name} {began} {time.time()}\\n")
    ''')
    write(tmp_path, "matrix.yaml", f"""
        version: 1
        image: {base_images["busybox"]}
        suites: [suites]
        environments:
          a: {{run: {{command: {SLEEPER}}}}}
          b: {{run: {{command: {SLEEPER}}}}}
          c: {{run: {{command: {SLEEPER}}}}}
    """)
    ran = porttest("run", "matrix.yaml", "--jobs", "1", cwd=tmp_path)
    assert ran.rc == 0, ran.explain()
    spans = sorted((float(b), float(e)) for _, b, e in
                   (line.split() for line in (tmp_path / "spans.txt").read_text().splitlines()))
    assert len(spans) == 3
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans))


def test_a_suite_that_stops_itself_early_keeps_its_verdict(tmp_path: Path, base_images: dict[str, str]) -> None:
    write(tmp_path, "suites/conftest.py", '''
        def pytest_configure(config):
            config.option.maxfail = 1  # the suite's own choice: stop at the first failure
    ''')
    suite = '''
        def test_1(host):
            assert host.run("false").rc == 0

        def test_2(host):
            assert host.run("true").rc == 0
    '''
    _matrix(tmp_path, base_images["busybox"], f"            run: {{command: {SLEEPER}}}\n", suite=suite)
    ran = porttest("run", "matrix.yaml", cwd=tmp_path)
    assert ran.rc == 1, ran.explain()  # failed, the same way everywhere: not an environment error
    assert ran.results is not None and ran.results["environments"]["only"]["status"] == "ok"
