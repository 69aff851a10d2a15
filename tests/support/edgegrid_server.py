"""A stand-in for Akamai Fast Purge (CCU v3) that checks every request's EdgeGrid signature with
Akamai's own signer, edgegrid-python, for tests/suite/akamai.rs.

Run with the Python of .test-tools/ (tests/run-all.sh installs edgegrid-python there):

    .test-tools/bin/python tests/support/edgegrid_server.py

It listens on 127.0.0.1 (a free port) and prints one JSON line with the credentials it accepts
and where it listens:

    {"host": "akab-test-….luna.akamaiapis.net", "base_url": "http://127.0.0.1:PORT",
     "client_token": "...", "client_secret": "...", "access_token": "..."}

It stands in for `https://{host}` reached through `base_url` (sitepurge's AKAMAI_API_BASE_URL),
as a TLS-terminating proxy in front of Akamai would: a request must carry `Host: {host}`, and
its signature is checked as Akamai would check it, for `https://{host}{path}`. A request signed
for the address it was sent to (http, 127.0.0.1:PORT) is refused.

Each request must carry `Authorization: EG1-HMAC-SHA256 client_token=…;access_token=…;
timestamp=…;nonce=…;signature=…`. The stand-in rebuilds the request as python-requests would
send it to `https://{host}` and has edgegrid-python's EdgeGridAuthHeaders sign it with the same
timestamp and nonce (edgegrid-python takes the scheme from the URL, the host from `Host`);
a different header is refused with 401, as is a timestamp more than 5 minutes off or a nonce seen
before. Then `POST /ccu/v3/{invalidate|delete}/{url|cpcode}/{production|staging}` must carry
JSON `{"objects": [...]}` of at most 50,000 bytes (else 400 or 413), and is answered 201 as Fast
Purge answers.

Commands, one per line on stdin, each answered with one JSON line on stdout:

    requests         every request since the last `requests`: method, path, headers, body, signed
    purged           every accepted purge so far: [{"path", "objects"}]
    fail N STATUS    answer the next N (correctly signed) requests with STATUS, purging nothing

End of stdin stops the server.
"""

import base64
import calendar
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from akamai.edgegrid.edgegrid import EdgeGridAuthHeaders

CLIENT_TOKEN = "akab-client-token-xxx-" + base64.b32encode(os.urandom(10)).decode().lower()
ACCESS_TOKEN = "akab-access-token-xxx-" + base64.b32encode(os.urandom(10)).decode().lower()
CLIENT_SECRET = base64.b64encode(os.urandom(32)).decode()
HOST = "akab-test-" + base64.b32encode(os.urandom(5)).decode().lower() + ".luna.akamaiapis.net"
MAX_BODY = 50_000
PATH = re.compile(r"^/ccu/v3/(invalidate|delete)/(url|cpcode)/(production|staging)$")

lock = threading.Lock()
received = []
purged = []
faults = []
nonces = set()


def signature_problem(handler, body):
    """None if the request is signed right, else why not."""
    header = handler.headers.get("Authorization", "")
    if not header.startswith("EG1-HMAC-SHA256 "):
        return "no EdgeGrid Authorization header"
    fields = dict(
        part.split("=", 1)
        for part in header[len("EG1-HMAC-SHA256 "):].split(";")
        if "=" in part
    )
    if fields.get("client_token") != CLIENT_TOKEN or fields.get("access_token") != ACCESS_TOKEN:
        return "unknown client or access token"
    timestamp, nonce = fields.get("timestamp", ""), fields.get("nonce", "")
    try:
        when = calendar.timegm(time.strptime(timestamp, "%Y%m%dT%H:%M:%S+0000"))
    except ValueError:
        return "bad timestamp"
    if abs(time.time() - when) > 300:
        return "timestamp too far from now"
    if handler.headers.get("Host") != HOST:
        return f"Host is {handler.headers.get('Host')!r}, not the credentials' host {HOST}"
    # Rebuild the request as python-requests sends it to the real API, and sign it with
    # Akamai's library.
    headers = {k: v for k, v in handler.headers.items()}
    prepared = requests.Request(
        method=handler.command,
        url=f"https://{HOST}{handler.path}",
        headers=headers,
        data=body,
    ).prepare()
    expected = EdgeGridAuthHeaders(CLIENT_TOKEN, CLIENT_SECRET, ACCESS_TOKEN).make_auth_header(
        prepared, timestamp, nonce
    )
    if expected != header:
        return "The signature does not match"
    with lock:
        if nonce in nonces:
            return "nonce used before"
        nonces.add(nonce)
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, value):
        text = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/problem+json" if status >= 300 else "application/json")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def problem(self, status, title, detail):
        self.answer(
            status,
            {
                "type": "https://problems.luna.akamaiapis.net/-/test",
                "title": title,
                "status": status,
                "detail": detail,
                "supportId": "TEST-SUPPORT-ID",
            },
        )

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        problem = signature_problem(self, body)
        with lock:
            received.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                    "signed": problem is None,
                }
            )
        if problem is not None:
            return self.problem(401, "Not authorized", problem)
        with lock:
            fault = faults.pop(0) if faults else None
        if fault is not None:
            return self.problem(fault, "Injected", "injected by the test")
        match = PATH.match(self.path)
        if self.command != "POST" or not match:
            return self.problem(404, "Not found", f"{self.command} {self.path}")
        if len(body) > MAX_BODY:
            return self.problem(413, "Request entity too large", f"{len(body)} bytes")
        try:
            objects = json.loads(body)["objects"]
        except (ValueError, KeyError, TypeError):
            return self.problem(400, "Bad request", "the body is not {\"objects\": [...]}")
        if self.headers.get("Content-Type") != "application/json":
            return self.problem(400, "Bad request", "Content-Type is not application/json")
        kind = match.group(2)
        if not objects or not all(
            isinstance(o, int) if kind == "cpcode" else isinstance(o, str) for o in objects
        ):
            return self.problem(400, "Bad request", f"bad objects for {kind}")
        with lock:
            purged.append({"path": self.path, "objects": objects})
        self.answer(
            201,
            {
                "httpStatus": 201,
                "detail": "Request accepted",
                "estimatedSeconds": 5,
                "purgeId": f"purge-{len(purged)}",
                "supportId": "TEST-SUPPORT-ID",
            },
        )

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(
        json.dumps(
            {
                "host": HOST,
                "base_url": f"http://127.0.0.1:{server.server_port}",
                "client_token": CLIENT_TOKEN,
                "client_secret": CLIENT_SECRET,
                "access_token": ACCESS_TOKEN,
            }
        ),
        flush=True,
    )
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "requests":
            with lock:
                answer = list(received)
                received.clear()
        elif words[0] == "purged":
            with lock:
                answer = list(purged)
        elif words[0] == "fail":
            with lock:
                faults.extend([int(words[2])] * int(words[1]))
            answer = "ok"
        else:
            answer = {"error": f"unknown command {words[0]}"}
        print(json.dumps(answer), flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
