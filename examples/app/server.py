"""A small real HTTP service for porttest's demo: GET / and /health, JSON out, Python stdlib only."""

import json
import os
import signal
import socket
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8080"))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        if self.path == "/health":
            body = {"status": "ok"}
        elif self.path == "/":
            # Scratch work goes to the temp dir, never to the image's filesystem: it may be read-only.
            with tempfile.NamedTemporaryFile(prefix="req-") as scratch:
                scratch.write(b"x")
            body = {"service": "porttest-demo", "env": os.environ.get("APP_ENV", "dev"), "host": socket.gethostname()}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
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
