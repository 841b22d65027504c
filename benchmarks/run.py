"""porttest's benchmark: every figure is a ratio against an anchor measured in the same run.

    .venv/bin/python benchmarks/run.py            # all measurements (needs Docker; root for the TLS lab engine)
    .venv/bin/python benchmarks/run.py --quick    # fewer repetitions
    .venv/bin/python benchmarks/run.py --skip check --skip suite --skip parallel --skip cold --skip ship
                                                  # one part only (here: emulation)

Anchors: testinfra's own docker:// backend (per check, and a 300-check suite on an already running container); the
slowest environment run alone (matrix wall time; with the machine's busy CPU-seconds during the matrix, from
/proc/stat, and the least wall time those allow on this machine's cores); the process's RSS before shipping (peak RSS
while shipping).
Each timed `porttest run` follows one untimed run of the same suite (pytest's assertion-rewrite cache is warm, as on
any second run; the first run of a new suite pays about 1-2 s more here).
pytest loads no third-party plugins in these runs, porttest's or the anchor's (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1,
with `-p testinfra.plugin` for the anchor), as in a virtualenv that holds porttest and its dependencies alone: the
dev venv this runs from also holds hypothesis, whose plugin imports all of hypothesis at the end of every pytest
process. One more baseline matrix runs with the venv's plugins, to show what such a plugin costs.
Under emulation, the anchor is the native image: the same busybox checks on amd64 against arm64 under qemu.
Writes benchmarks/results/latest.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "harness"))

import docker  # noqa: E402

from porttest.engine.session import ExecSession, ShellSession  # noqa: E402

IMAGE = "porttest-base/debian:bookworm"
LABELS = {"io.porttest.test": "benchmark"}


def median_ms(fn: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def per_check(client: docker.DockerClient, repeat: int) -> dict[str, Any]:
    """One container, three ways to run `host.file('/etc/passwd').exists`-sized checks."""
    import testinfra

    from porttest.child.backend import PorttestBackend

    name = f"porttest-bench-{uuid.uuid4().hex[:8]}"
    container = client.containers.run(IMAGE, ["sleep", "3600"], name=name, detach=True, labels=LABELS)
    try:
        session = ShellSession(client.api, str(container.id))
        exec_runner = ExecSession(client.api, str(container.id))
        hosts = {
            "session": testinfra.host.Host(PorttestBackend(session, name)),
            "exec": testinfra.host.Host(PorttestBackend(exec_runner, name)),
            "testinfra docker://": testinfra.get_host(f"docker://{name}"),
        }
        out: dict[str, Any] = {}
        for label, host in hosts.items():
            host.run("true")  # warm up (encoding detection, first connection)
            n = repeat * 10 if label == "session" else repeat
            out[label] = {
                "run_true_ms": round(median_ms(lambda h=host: h.run("true"), n), 3),
                "file_exists_ms": round(median_ms(lambda h=host: h.file("/etc/passwd").exists, n), 3),
            }
        session.close()
        anchor = out["testinfra docker://"]
        for label in ("session", "exec"):
            out[label]["speedup_vs_docker_backend"] = round(anchor["run_true_ms"] / out[label]["run_true_ms"], 1)
        return out
    finally:
        container.remove(force=True)


SUITE_HEAD = '"""300 checks: a typical mix of file, command and user checks."""\n\nimport pytest\n\n'


def write_suite(folder: Path, checks: int = 300) -> None:
    per = checks // 3
    (folder / "suite").mkdir(parents=True, exist_ok=True)
    (folder / "suite" / "test_checks.py").write_text(SUITE_HEAD + textwrap.dedent(f"""
        @pytest.mark.parametrize("i", range({per}))
        def test_file(host, i):
            assert host.file("/etc/passwd").exists

        @pytest.mark.parametrize("i", range({per}))
        def test_command(host, i):
            assert host.run("test -d /usr").rc == 0

        @pytest.mark.parametrize("i", range({checks - 2 * per}))
        def test_user(host, i):
            assert host.user("root").uid == 0
    """))
    (folder / "pytest.ini").write_text("[pytest]\n")


def matrix(folder: Path, envs: dict[str, str]) -> Path:
    body = "".join(f"  {name}: {{run: {{command: [sleep, '3600']{extra}}}}}\n" for name, extra in envs.items())
    path = folder / "matrix.yaml"
    path.write_text(f"version: 1\nimage: {IMAGE}\nsuites: [suite]\nenvironments:\n{body}")
    return path


def machine_cpu_s() -> float:
    """CPU-seconds the whole machine has been busy since boot (every process, the engine's included)."""
    with open("/proc/stat", encoding="ascii") as stat:
        ticks = [int(field) for field in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait; steal (ticks[7]) is another guest's, not counted
    return (sum(ticks[:7]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Timed:
    """One `porttest run`: its wall time, the machine's busy CPU-seconds during it, and its results JSON."""

    wall: float
    cpu: float
    results: dict[str, Any]


def pytest_env(plugins: bool = False) -> dict[str, str]:
    """The environment of every timed run: without the venv's third-party pytest plugins, unless asked."""
    env = dict(os.environ)
    if plugins:
        env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    else:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def porttest_run(folder: Path, *args: str, plugins: bool = False) -> Timed:
    results = folder / f"r-{uuid.uuid4().hex[:6]}.json"
    cpu = machine_cpu_s()
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "porttest", "run", "matrix.yaml", "--json", str(results), *args],
                          cwd=folder, capture_output=True, text=True, env=pytest_env(plugins))
    wall = time.perf_counter() - began
    cpu = machine_cpu_s() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"porttest run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return Timed(wall, cpu, json.loads(results.read_text()))


def suite_300(client: docker.DockerClient, folder: Path) -> dict[str, Any]:
    """The whole `porttest run` (container start included) against testinfra docker:// on a running container."""
    write_suite(folder)
    matrix(folder, {"local": ""})
    porttest_run(folder)  # warm-up: pytest's assertion-rewrite cache for this suite, as on any second run
    run = porttest_run(folder)
    ours, tests = run.wall, len(run.results["tests"])
    name = f"porttest-bench-{uuid.uuid4().hex[:8]}"
    container = client.containers.run(IMAGE, ["sleep", "3600"], name=name, detach=True, labels=LABELS)
    try:
        began = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "suite", f"--hosts=docker://{name}", "-q",
                               "-p", "testinfra.plugin", "-p", "no:cacheprovider", "-c", "pytest.ini"], cwd=folder,
                              capture_output=True, text=True, env=pytest_env())
        theirs = time.perf_counter() - began
        assert proc.returncode == 0, proc.stdout[-2000:]
    finally:
        container.remove(force=True)
    return {"checks": tests, "porttest_run_s": round(ours, 2), "testinfra_docker_backend_s": round(theirs, 2),
            "ratio": round(ours / theirs, 3)}


def parallel(folder: Path, workload: str, repeat: int = 5, plugins: bool = False) -> dict[str, Any]:
    """A 3-environment matrix against its slowest environment run alone.

    `checks300` is CPU-bound end to end (300 checks, nothing to wait for); `baseline` is the shipped baseline suite
    with a service that takes a second to become ready, the shape of a typical pipeline check. `plugins`: with the
    venv's third-party pytest plugins.
    """
    envs = {"local": "", "readonly": ", read_only: true, tmpfs: {/tmp: ''}", "limited": ", mem_limit: 256m, cpus: 1"}
    if workload == "checks300":
        write_suite(folder)
        matrix(folder, envs)
    else:
        shutil.copytree(REPO / "suites" / "baseline", folder / "suite")
        service = "command: [sh, -c, 'sleep 1; exec python3 -m http.server 8080']"
        body = "".join(f"  {name}: {{wait_for: {{port: 8080}}, run: {{{service}{extra}}}}}\n"
                       for name, extra in envs.items())
        (folder / "matrix.yaml").write_text(f"version: 1\nimage: {IMAGE}\nsuites: [suite]\nenvironments:\n{body}")
    porttest_run(folder, plugins=plugins)  # warm-up: caches, page cache, the engine's first container of this image
    # Medians of interleaved repeats: one run of each is at the mercy of whatever else the 2 cores are doing.
    runs: dict[str, list[Timed]] = {name: [] for name in [*envs, "matrix"]}
    for _ in range(repeat):
        for name in envs:
            runs[name].append(porttest_run(folder, "-e", name, plugins=plugins))
        runs["matrix"].append(porttest_run(folder, plugins=plugins))
    alone = {name: statistics.median(run.wall for run in runs[name]) for name in envs}
    matrix_runs = runs["matrix"]
    together = statistics.median(run.wall for run in matrix_runs)
    slowest = max(alone.values())
    cores = len(os.sched_getaffinity(0))
    matrix_cpu = statistics.median(run.cpu for run in matrix_runs)
    label = workload + (", with the venv's pytest plugins" if plugins else "")
    return {"workload": label, "repeats": repeat, "alone_s": {k: round(v, 2) for k, v in alone.items()},
            "matrix_s": round(together, 2), "matrix_runs_s": [round(run.wall, 2) for run in matrix_runs],
            "ratio_to_slowest": round(together / slowest, 3),
            "alone_cpu_s": {k: round(statistics.median(run.cpu for run in runs[k]), 2) for k in envs},
            "matrix_cpu_s": round(matrix_cpu, 2), "cores": cores,
            # However well the three overlap, the machine cannot finish matrix_cpu_s of work in less than this.
            "cpu_floor_ratio": round(matrix_cpu / cores / slowest, 3)}


def cold_start(repeat: int) -> dict[str, Any]:
    exe = shutil.which("porttest") or ""
    argv = [exe, "--help"] if exe else [sys.executable, "-m", "porttest", "--help"]
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - began)
    python = median_ms(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), repeat) / 1000
    return {"porttest_help_s": round(statistics.median(times), 3), "bare_python_s": round(python, 3),
            "ratio_to_bare_python": round(statistics.median(times) / python, 2)}


SHIP_PROBE = """
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from porttest.config import EngineSpec, ImageSpec, TLSSpec
from porttest.engine.connect import connect
from porttest.engine.image import resolve
from porttest.engine.shipping import Shipper
spec = json.loads(sys.argv[2])
source = connect(EngineSpec())
target = connect(EngineSpec(host=spec["host"], tls=TLSSpec(**spec["tls"])))
image = resolve(source, ImageSpec(ref=spec["ref"]))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
record = Shipper(source, image).ship(target, spec["mode"], spec.get("push"))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rss_before_kb": before, "peak_rss_kb": after, "bytes": record.bytes, "seconds": record.seconds,
                  "size": image.size}))
"""


def ship_memory(client: docker.DockerClient, megabytes: int) -> list[dict[str, Any]]:
    """Peak RSS of a process that ships a large image to the TLS lab engine: with `load`, then through a registry."""
    from tests.lab.registry import Registry
    from tests.lab.tls_engine import TLSEngine

    tag = f"porttest-bench/big:{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM porttest-base/busybox:latest\nRUN head -c {megabytes}m /dev/urandom > /big\n"
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, forcerm=True)
    out = []
    with TLSEngine() as lab, Registry() as registry:
        push = f"{registry.address}/porttest-bench/big"
        try:
            for mode in ("load", "registry"):
                spec = {"host": lab.host, "ref": tag, "mode": mode, "push": push,
                        "tls": {"ca_cert": str(lab.certs.ca_cert), "client_cert": str(lab.certs.client_cert),
                                "client_key": str(lab.certs.client_key)}}
                lab_client = docker.DockerClient(base_url=lab.host, version="1.41", tls=docker.tls.TLSConfig(
                    client_cert=(spec["tls"]["client_cert"], spec["tls"]["client_key"]),
                    ca_cert=spec["tls"]["ca_cert"], verify=True))
                lab_client.api.trust_env = False
                for image in lab_client.images.list():  # ship to an empty engine each time
                    lab_client.images.remove(image.id, force=True)
                proc = subprocess.run([sys.executable, "-c", SHIP_PROBE, str(REPO / "harness"), json.dumps(spec)],
                                      capture_output=True, text=True, check=True)
                data = json.loads(proc.stdout)
                out.append({"mode": mode, "image_mb": round(data["size"] / 1e6), "moved_mb": round(data["bytes"] / 1e6),
                            "seconds": round(data["seconds"], 1),
                            "rss_before_mb": round(data["rss_before_kb"] / 1024, 1),
                            "peak_rss_mb": round(data["peak_rss_kb"] / 1024, 1),
                            "growth_mb": round((data["peak_rss_kb"] - data["rss_before_kb"]) / 1024, 1)})
        finally:
            for ref in (tag, f"{push}:porttest-{client.images.get(tag).id[7:19]}"):
                with contextlib.suppress(docker.errors.DockerException):
                    client.images.remove(ref, force=True)
    return out


NATIVE, EMULATED = "porttest-base/busybox:latest", "porttest-base/busybox:arm64"


def emulation(client: docker.DockerClient, folder: Path, repeat: int) -> dict[str, Any]:
    """The same busybox checks on the arm64 image under qemu's user-mode emulation against the native image: per
    check in session mode, and a whole 300-check `porttest run` (container start included)."""
    import testinfra

    from porttest.child.backend import PorttestBackend

    per: dict[str, dict[str, float]] = {}
    for label, image in (("native", NATIVE), ("emulated", EMULATED)):
        name = f"porttest-bench-{uuid.uuid4().hex[:8]}"
        container = client.containers.run(image, ["sleep", "3600"], name=name, detach=True, labels=LABELS)
        try:
            session = ShellSession(client.api, str(container.id))
            host = testinfra.host.Host(PorttestBackend(session, name))
            host.run("true")
            per[label] = {
                "run_true_ms": round(median_ms(lambda h=host: h.run("true"), repeat * 10), 3),
                "file_exists_ms": round(median_ms(lambda h=host: h.file("/etc/passwd").exists, repeat * 10), 3)}
            session.close()
        finally:
            container.remove(force=True)
    whole: dict[str, float] = {}
    for label, image in (("native", NATIVE), ("emulated", EMULATED)):
        sub = folder / label
        write_suite(sub)
        (sub / "matrix.yaml").write_text(f"version: 1\nimage: {image}\nsuites: [suite]\n"
                                         "environments:\n  only: {run: {command: [sleep, '3600']}}\n")
        porttest_run(sub)  # warm-up, as for the other matrices
        whole[label] = statistics.median(porttest_run(sub).wall for _ in range(3))
    return {"per_check": per, "matrix_300_s": {k: round(v, 2) for k, v in whole.items()},
            "run_true_ratio": round(per["emulated"]["run_true_ms"] / per["native"]["run_true_ms"], 2),
            "file_exists_ratio": round(per["emulated"]["file_exists_ms"] / per["native"]["file_exists_ms"], 2),
            "matrix_ratio": round(whole["emulated"] / whole["native"], 2)}


def machine() -> dict[str, Any]:
    info = docker.from_env().info()
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
            "docker": info.get("ServerVersion"), "storage_driver": info.get("Driver"),
            "memory_gb": round(info.get("MemTotal", 0) / 2**30, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--ship-mb", type=int, default=500)
    parser.add_argument("--skip", action="append", default=[],
                        choices=["check", "suite", "parallel", "cold", "ship", "emulation"])
    args = parser.parse_args()
    client = docker.from_env()
    repeat = 10 if args.quick else 30
    out: dict[str, Any] = {"machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    with tempfile.TemporaryDirectory(prefix="porttest-bench-") as tmp:
        if "check" not in args.skip:
            out["per_check"] = per_check(client, repeat)
        if "suite" not in args.skip:
            out["suite_300"] = suite_300(client, Path(tmp) / "suite300")
        if "parallel" not in args.skip:
            repeat_matrix = 3 if args.quick else 7
            out["parallel"] = [parallel(Path(tmp) / f"parallel-{w}", w, repeat_matrix)
                               for w in ("baseline", "checks300")]
            out["parallel"].append(parallel(Path(tmp) / "parallel-plugins", "baseline", repeat_matrix, plugins=True))
        if "cold" not in args.skip:
            out["cold_start"] = cold_start(repeat)
        if "ship" not in args.skip:
            out["ship"] = ship_memory(client, args.ship_mb)
        if "emulation" not in args.skip:
            out["emulation"] = emulation(client, Path(tmp) / "emulation", repeat)
    target = REPO / "benchmarks" / "results" / "latest.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(render(out))
    return 0


def render(out: dict[str, Any]) -> str:
    lines = ["| measurement | porttest | anchor | ratio |", "| --- | --- | --- | --- |"]
    if "per_check" in out:
        pc = out["per_check"]
        anchor = pc["testinfra docker://"]
        for label in ("session", "exec"):
            lines.append(f"| per check `host.run('true')`, {label} mode | {pc[label]['run_true_ms']} ms | "
                         f"{anchor['run_true_ms']} ms (testinfra docker://) | "
                         f"{pc[label]['speedup_vs_docker_backend']}x faster |")
            lines.append(f"| per check `host.file().exists`, {label} mode | {pc[label]['file_exists_ms']} ms | "
                         f"{anchor['file_exists_ms']} ms | "
                         f"{round(anchor['file_exists_ms'] / pc[label]['file_exists_ms'], 1)}x faster |")
    if "suite_300" in out:
        s = out["suite_300"]
        lines.append(f"| {s['checks']}-check suite, whole `porttest run` vs docker:// on a running container | "
                     f"{s['porttest_run_s']} s | {s['testinfra_docker_backend_s']} s | {s['ratio']} |")
    for p in out.get("parallel", []):
        slowest = max(p["alone_s"].values())
        lines.append(f"| 3-environment matrix ({p['workload']}) vs its slowest environment alone | "
                     f"{p['matrix_s']} s | {slowest} s | {p['ratio_to_slowest']} |")
        lines.append(f"| the same matrix's machine-wide CPU on {p['cores']} cores: the least wall time it allows | "
                     f"{round(p['matrix_cpu_s'] / p['cores'], 2)} s ({p['matrix_cpu_s']} CPU-s) | {slowest} s | "
                     f"{p['cpu_floor_ratio']} |")
    if "cold_start" in out:
        c = out["cold_start"]
        lines.append(f"| cold `porttest --help` vs bare `python -c pass` | {c['porttest_help_s']} s | "
                     f"{c['bare_python_s']} s | {c['ratio_to_bare_python']} |")
    for m in out.get("ship", []):
        lines.append(f"| peak RSS shipping a {m['image_mb']} MB image by `{m['mode']}` ({m['moved_mb']} MB moved, "
                     f"{m['seconds']} s) vs RSS before | {m['peak_rss_mb']} MB | {m['rss_before_mb']} MB | "
                     f"+{m['growth_mb']} MB |")
    if "emulation" in out:
        e = out["emulation"]
        for key, what in (("run_true_ms", "`host.run('true')`"), ("file_exists_ms", "`host.file().exists`")):
            lines.append(f"| per check {what}, session mode, arm64 under qemu vs native amd64 | "
                         f"{e['per_check']['emulated'][key]} ms | {e['per_check']['native'][key]} ms | "
                         f"{e[key.removesuffix('_ms') + '_ratio']} |")
        lines.append(f"| 300-check `porttest run`, arm64 under qemu vs native amd64 | "
                     f"{e['matrix_300_s']['emulated']} s | {e['matrix_300_s']['native']} s | {e['matrix_ratio']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
