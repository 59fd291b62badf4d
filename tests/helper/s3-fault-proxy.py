#!/usr/bin/env python3
"""s3-fault-proxy.py: an HTTP proxy in front of the test servers' S3 gateway that breaks requests.

    s3-fault-proxy.py UPSTREAM_PORT PORT_FILE COUNTS_FILE RATE SEED [KINDS]

Listens on 127.0.0.1 (a free port, written to PORT_FILE), forwards every request to
127.0.0.1:UPSTREAM_PORT with its headers unchanged (the Host header included, so SigV4
signatures still verify) and, for a fraction RATE (0..1) of requests, injects one fault of
KINDS (comma-separated, default all):
  503       answers 503 SlowDown without forwarding
  500       answers 500 InternalError without forwarding
  reset     closes the connection without an answer, before forwarding
  truncate  forwards, then sends the answer's headers and only half of its body
  late      forwards, then closes without answering (the request may have been carried out)
  delay     waits 0.3 s, then forwards normally
Writes "kind count" lines to COUNTS_FILE after every fault, so a test can check that faults
were injected. Runs until killed. Test-only: no TLS, no keep-alive towards the gateway.
"""
import http.client
import http.server
import random
import sys
import threading
import time

upstream = int(sys.argv[1])
port_file, counts_file = sys.argv[2], sys.argv[3]
rate, seed = float(sys.argv[4]), int(sys.argv[5])
kinds = sys.argv[6].split(",") if len(sys.argv) > 6 else ["503", "500", "reset", "truncate", "late", "delay"]
rng = random.Random(seed)
lock = threading.Lock()
counts = {k: 0 for k in kinds}


def pick():
    with lock:
        if rng.random() >= rate:
            return None
        k = rng.choice(kinds)
        counts[k] += 1
        with open(counts_file, "w") as f:
            for name, n in sorted(counts.items()):
                f.write("%s %d\n" % (name, n))
        return k


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def error_doc(self, status, code):
        body = ("<?xml version=\"1.0\"?><Error><Code>%s</Code><Message>injected by the test proxy"
                "</Message></Error>" % code).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":  # a HEAD's answer has no body, whatever its length says
            self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        fault = pick()
        if fault == "503":
            return self.error_doc(503, "SlowDown")
        if fault == "500":
            return self.error_doc(500, "InternalError")
        if fault == "reset":
            self.close_connection = True
            return
        if fault == "delay":
            time.sleep(0.3)
        conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items()}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if fault == "late":
            self.close_connection = True
            return
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        # a HEAD's length is the object's, not that of the (empty) body
        length = resp.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if fault == "truncate" and len(data) > 1:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402 (only for the atomic rename)
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
