"""A throwaway image registry on 127.0.0.1 (Debian's docker-registry), stopped by its PID, its storage removed."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.lab.process import await_answer, spawn, terminate
from tests.lab.tls_engine import LAB_ROOT, free_port

CONFIG = """\
version: 0.1
log: {{level: warn}}
storage:
  filesystem: {{rootdirectory: {root}}}
  delete: {{enabled: true}}
http:
  addr: 127.0.0.1:{port}
"""


class Registry:
    """start() serves an empty registry on a free loopback port; stop() ends it and deletes what was pushed."""

    def __init__(self) -> None:
        LAB_ROOT.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="registry-", dir=LAB_ROOT))
        self.port = free_port()
        # 127.0.0.0/8 is an insecure registry by default for dockerd, so plain HTTP works without daemon config.
        self.address = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "registry.log"

    def start(self, timeout: float = 15.0) -> Registry:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
        config = self.dir / "config.yml"
        config.write_text(CONFIG.format(root=self.dir / "data", port=self.port))
        self.proc = spawn([binary, "serve", str(config)], self.log)
        await_answer("docker-registry", self.proc, self.log, self._answers, self.stop, timeout)
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"GET /v2/ HTTP/1.0\r\n\r\n")
                return b"200 OK" in conn.recv(200)
        except OSError:
            return False

    def stop(self) -> None:
        terminate(self.proc, 10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def env(self) -> dict[str, str]:
        return {"PORTTEST_REGISTRY": self.address}

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
