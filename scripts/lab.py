"""Start or stop a local lab of real engines on 127.0.0.1 (needs root), the parts porttest's tests use.

    python scripts/lab.py start --env-file lab.env [--parts cloud,registry,ssh,gvisor,podman]
    set -a; . ./lab.env; set +a          # PORTTEST_CLOUD_*, PORTTEST_REGISTRY, PORTTEST_SSH_*, PORTTEST_GVISOR_*, ...
    python scripts/lab.py stop --env-file lab.env

Parts: cloud (a second dockerd over mutual TLS), registry (Debian's docker-registry), ssh (an sshd whose
`docker system dial-stdio` reaches this machine's engine), gvisor (a dockerd over mutual TLS with runsc registered),
podman (`podman system service` on a unix socket). `start` leaves one supervisor process holding them; `stop` sends it
SIGTERM (by the PID in the env file) and it stops every part by its own PID and removes its files.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.lab.process import alive
from tests.lab.registry import Registry
from tests.lab.sshd import Sshd
from tests.lab.tls_engine import TLSEngine

GVISOR = {"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=host"]}}}


def _tls_env(prefix: str, lab: TLSEngine) -> dict[str, str]:
    return {f"{prefix}_HOST": lab.host, f"{prefix}_CA": str(lab.certs.ca_cert),
            f"{prefix}_CERT": str(lab.certs.client_cert), f"{prefix}_KEY": str(lab.certs.client_key)}


def _podman(values: dict[str, str]) -> Any:
    from tests.lab.podman_service import DEFAULT_INSECURE_REGISTRIES, PodmanService

    # Podman reads registries.conf once, at start: the lab's registry (started before it) is listed there.
    registry = values.get("PORTTEST_REGISTRY")
    return PodmanService(insecure_registries=(*DEFAULT_INSECURE_REGISTRIES, *([registry] if registry else [])))


# In start order: the registry comes before podman, which must know its address.
PARTS: dict[str, tuple[Callable[[dict[str, str]], Any], Callable[[Any], dict[str, str]]]] = {
    "cloud": (lambda _: TLSEngine(), lambda lab: _tls_env("PORTTEST_CLOUD", lab)),
    "registry": (lambda _: Registry(), lambda lab: lab.env()),
    "ssh": (lambda _: Sshd(), lambda lab: lab.env()),
    "gvisor": (lambda _: TLSEngine(daemon_config=GVISOR), lambda lab: _tls_env("PORTTEST_GVISOR", lab)),
    "podman": (_podman, lambda lab: lab.env()),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--env-file", type=Path, required=True)
    parser.add_argument("--parts", default="cloud", help=f"comma-separated, from {', '.join(PARTS)} (default: cloud)")
    args = parser.parse_args()
    if args.action == "stop":
        return stop(args.env_file)
    asked = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = sorted(asked - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    return start([p for p in PARTS if p in asked], args.env_file)


def start(parts: list[str], env_file: Path) -> int:
    """Fork a supervisor that starts the parts (so it is their parent and can wait for them), report its values."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.setsid()
        _supervise(parts, write)
        os._exit(0)
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            answer = pipe.read()
    except BaseException:
        os.kill(pid, signal.SIGTERM)  # Ctrl-C while starting: the supervisor stops what it has started
        raise
    os.waitpid(pid, os.WNOHANG)
    try:
        values = json.loads(answer)
    except ValueError:
        print(f"the lab did not start: {answer or 'no answer'}", file=sys.stderr)
        return 1
    if "error" in values:
        print(f"the lab did not start: {values['error']}", file=sys.stderr)
        return 1
    values["PORTTEST_LAB_PID"] = str(pid)
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    print(f"lab up ({', '.join(parts)}; supervisor pid {pid}); variables in {env_file}")
    return 0


def _supervise(parts: list[str], answer_fd: int) -> None:
    """Start each part, answer with their variables, then hold them until SIGTERM/SIGINT and stop them all."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    started: list[Any] = []
    values: dict[str, str] = {}
    try:
        for name in parts:
            make, env_of = PARTS[name]
            lab = make(values)
            started.append(lab)
            lab.start()
            values.update(env_of(lab))
    except Exception as exc:  # noqa: BLE001 - reported to `start`, then everything started so far is stopped
        os.write(answer_fd, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        os.close(answer_fd)
        _stop_all(started)
        return
    try:
        os.write(answer_fd, json.dumps(values).encode())
        os.close(answer_fd)
    except OSError:  # `start` went away before hearing the answer: nobody knows about this lab, so stop it
        _stop_all(started)
        return
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    _stop_all(started)


def _stop_all(started: list[Any]) -> None:
    for lab in reversed(started):
        # One part failing to stop must not keep the others running.
        with contextlib.suppress(Exception):
            lab.stop()


def stop(env_file: Path) -> int:
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    pid = int(values.get("PORTTEST_LAB_PID") or 0)
    if not pid:
        print(f"{env_file} names no lab supervisor (PORTTEST_LAB_PID)", file=sys.stderr)
        return 1
    if not _is_supervisor(pid):
        print(f"the lab is not running (PID {pid} is not its supervisor)")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    if alive(pid):
        print(f"the lab supervisor {pid} did not stop within 120 s", file=sys.stderr)
        return 1
    print("lab stopped")
    return 0


def _is_supervisor(pid: int) -> bool:
    """Still our supervisor: running, and its command line is this script (a PID can be reused)."""
    try:
        return alive(pid) and b"lab.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
