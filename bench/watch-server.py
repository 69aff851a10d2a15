#!/usr/bin/env python3
"""A minimal stand-in for the Cloudflare v4 purge endpoint, for bench/watch.sh.

Listens on 127.0.0.1 only (port 0: the kernel picks one, written to PORT_FILE), answers
POST /client/v4/zones/<id>/purge_cache with Cloudflare's success envelope, and appends one line
per request to LOG_FILE: "<CLOCK_MONOTONIC ns when the whole request was read> <method> <path>
<body as compact JSON>". Anything else gets a 404 error envelope. Stops by itself after
LIFETIME seconds (default 300), whatever happens to the script that started it.

Usage: watch-server.py PORT_FILE LOG_FILE [LIFETIME]
"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def envelope(success, result=None, errors=()):
    return {"success": success, "errors": list(errors), "messages": [], "result": result}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as reqwest expects

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _log(self, body):
        received = time.monotonic_ns()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        line = f"{received} {self.command} {self.path} {json.dumps(parsed, separators=(',', ':'))}\n"
        with self.server.log_lock:
            with open(self.server.log_file, "a") as log:
                log.write(line)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self._log(body)
        parts = self.path.split("?")[0].strip("/").split("/")
        # client/v4/zones/<id>/purge_cache
        if len(parts) == 5 and parts[:3] == ["client", "v4", "zones"] and parts[4] == "purge_cache":
            self._answer(200, envelope(True, {"id": parts[3]}))
        else:
            self._answer(404, envelope(False, None, [{"code": 7003, "message": "No route"}]))

    def do_GET(self):
        self._log(b"")
        self._answer(404, envelope(False, None, [{"code": 7003, "message": "No route"}]))

    def log_message(self, *args):
        pass  # quiet


def main():
    port_file, log_file = sys.argv[1], sys.argv[2]
    lifetime = float(sys.argv[3]) if len(sys.argv) > 3 else 300.0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.log_file = log_file
    server.log_lock = threading.Lock()
    open(log_file, "w").close()
    timer = threading.Timer(lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
