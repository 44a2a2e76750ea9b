"""Floors for the bench's figures: what this machine's network allows, measured in the same run.

Two namespaces of the harness's bridge network, like two pods:
- TCP round trip: one byte there and back on an open connection with TCP_NODELAY (what a
  JGroups message and its answer would cost with nothing else in the way);
- HTTP round trip: a plain GET on a new connection (`Connection: close`, as the bench's clients
  send it) to a server that answers two bytes, from the bench process on the bridge.
Both servers are Python, so each figure also carries an interpreter's per-message cost: a floor
a little above the wire's, never below it.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from pathlib import Path

ECHO_PORT, HTTP_PORT = 9000, 9001

SERVER = r"""
import socket, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

host = sys.argv[1]

def echo(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while data := conn.recv(1):
        conn.sendall(data)

def accept():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, %(echo)d))
    s.listen()
    while True:
        threading.Thread(target=echo, args=(s.accept()[0],), daemon=True).start()

class Ok(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass

threading.Thread(target=accept, daemon=True).start()
ThreadingHTTPServer((host, %(http)d), Ok).serve_forever()
""" % {"echo": ECHO_PORT, "http": HTTP_PORT}

PING = r"""
import json, socket, sys, time
s = socket.create_connection((sys.argv[1], %(echo)d), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
out = []
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    s.sendall(b"x")
    s.recv(1)
    out.append((time.perf_counter() - t0) * 1000)
print(json.dumps(out))
""" % {"echo": ECHO_PORT}


def pct(data: list[float], p: float) -> float:
    data = sorted(data)
    return data[min(len(data) - 1, int(round(p / 100 * (len(data) - 1))))] if data else float("nan")


def network_floors(network, workdir: Path, rounds: int = 500) -> dict:
    """TCP and HTTP round trips (p50/p99 ms) between two fresh namespaces of ``network``."""
    a, b = network.add_host("floor-a"), network.add_host("floor-b")
    server = b.popen([sys.executable, "-c", SERVER, b.ip], env={"PATH": "/usr/bin:/bin"}, log_path=workdir / "floor-server.log")
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                http.client.HTTPConnection(b.ip, HTTP_PORT, timeout=1).request("GET", "/")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"floor server did not start: {(workdir / 'floor-server.log').read_text()}")
                time.sleep(0.1)
        ping = a.run([sys.executable, "-c", PING, b.ip, str(rounds)], timeout=120)
        if ping.returncode != 0:
            raise RuntimeError(f"TCP ping failed: {ping.stderr}")
        tcp = json.loads(ping.stdout)
        web = []
        for _ in range(rounds):
            conn = http.client.HTTPConnection(b.ip, HTTP_PORT, timeout=10)
            t0 = time.perf_counter()
            conn.request("GET", "/", headers={"Connection": "close"})
            conn.getresponse().read()
            web.append((time.perf_counter() - t0) * 1000)
            conn.close()
    finally:
        server.kill()
        server.wait()
        network.remove_host(a)
        network.remove_host(b)
    return {"tcp_rtt_p50_ms": pct(tcp, 50), "tcp_rtt_p99_ms": pct(tcp, 99),
            "http_rtt_p50_ms": pct(web, 50), "http_rtt_p99_ms": pct(web, 99), "rounds": rounds}
