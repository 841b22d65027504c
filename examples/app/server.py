"""A small real HTTP service for porttest's demo: GET / and /health, JSON out, Python stdlib only.

With REDIS_URL (redis://[:PASSWORD@]HOST[:PORT][/DB], e.g. redis://cache:6379/0) it also uses a cache:
GET /count increments the counter key porttest-demo:count and answers {"count": N}; PUT /items/NAME stores the
request body under item:NAME (201, or 507 with redis's error, e.g. a full cache); DELETE /items/NAME removes it;
/health adds "cache": "ok" (503 when the cache does not answer). Without REDIS_URL nothing of this exists.
"""

import json
import os
import signal
import socket
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

PORT = int(os.environ.get("PORT", "8080"))
REDIS_URL = os.environ.get("REDIS_URL", "")
COUNTER_KEY = "porttest-demo:count"


class RedisError(Exception):
    """An error reply from redis (e.g. "OOM command not allowed ...")."""


def redis(*args):
    """One command over a fresh connection to REDIS_URL, with a minimal RESP2 client; returns the decoded reply."""
    url = urlsplit(REDIS_URL)
    commands = ([("AUTH", unquote(url.password))] if url.password else []) + \
        ([("SELECT", url.path.strip("/"))] if url.path.strip("/") else []) + [args]
    with socket.create_connection((url.hostname or "localhost", url.port or 6379), timeout=5) as conn:
        out = b""
        for command in commands:
            parts = [a if isinstance(a, bytes) else str(a).encode() for a in command]
            out += b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in parts)
        conn.sendall(out)
        replies = conn.makefile("rb")
        for _ in commands:
            reply = _read_reply(replies)
    return reply


def _read_reply(stream):
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b"+":
        return rest.decode()
    if kind == b":":
        return int(rest)
    if kind == b"$":
        return None if int(rest) < 0 else stream.read(int(rest) + 2)[:-2]
    if kind == b"*":
        return None if int(rest) < 0 else [_read_reply(stream) for _ in range(int(rest))]
    raise ConnectionError(f"not a RESP reply: {line[:40]!r}")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        if self.path == "/health":
            body = {"status": "ok"}
            if REDIS_URL:
                try:
                    body["cache"] = "ok" if redis("PING") == "PONG" else "unexpected reply"
                except (OSError, RedisError) as exc:
                    self._reply(503, {"status": "unavailable", "cache": f"{type(exc).__name__}: {exc}"})
                    return
        elif self.path == "/count" and REDIS_URL:
            self._cache(200, lambda: {"count": redis("INCR", COUNTER_KEY)})
            return
        elif self.path == "/":
            # Scratch work goes to the temp dir, never to the image's filesystem: it may be read-only.
            with tempfile.NamedTemporaryFile(prefix="req-") as scratch:
                scratch.write(b"x")
            body = {"service": "porttest-demo", "env": os.environ.get("APP_ENV", "dev"), "host": socket.gethostname()}
        else:
            self.send_error(404)
            return
        self._reply(200, body)

    def do_PUT(self):  # noqa: N802 - the stdlib's name
        self._item("SET")

    def do_DELETE(self):  # noqa: N802
        self._item("DEL")

    def _item(self, command):
        name = self.path[len("/items/"):]
        if not (REDIS_URL and self.path.startswith("/items/") and name):
            self.send_error(404)
            return
        if command == "SET":
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._cache(201, lambda: {"stored": name, "bytes": len(data), "reply": redis("SET", "item:" + name, data)})
        else:
            self._cache(200, lambda: {"deleted": redis("DEL", "item:" + name)})

    def _cache(self, status, work):
        """Answer with work()'s result; a redis error is 507 (it refused: full, read-only...), no answer is 503."""
        try:
            self._reply(status, work())
        except RedisError as exc:
            self._reply(507, {"error": str(exc)})
        except OSError as exc:
            self._reply(503, {"error": f"{type(exc).__name__}: {exc}"})

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\n" % (self.address_string(), fmt % args))
        sys.stdout.flush()


def main():
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"ready: listening on {PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
