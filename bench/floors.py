"""Floors for the benches' figures: what this machine allows, measured in the same run.

- ``pct``: the percentile the benches report (nearest rank on the sorted samples).
- ``tcp_connect_ms``: the TCP round trip to a server (a connect is one SYN / SYN-ACK there and
  back; nothing of the server's application runs), e.g. a WildFly pod's HTTP port from inside
  the node's network namespace (bench/wildfly_sessions.py);
- ``http_status_ms``: a plain GET on a new connection (`Connection: close`, as the benches'
  clients send it) that the server answers without touching a session, e.g. a 404 inside the
  demo context of the same WildFly.
Both are measured from the bench's Python process, so each figure also carries an interpreter's
per-request cost: a floor a little above the wire's, never below it.
"""

from __future__ import annotations

import http.client
import socket
import time


def pct(data: list[float], p: float) -> float:
    data = sorted(data)
    return data[min(len(data) - 1, int(round(p / 100 * (len(data) - 1))))] if data else float("nan")


def tcp_connect_ms(host: str, port: int, rounds: int) -> list[float]:
    """``rounds`` connects to ``host``:``port`` (each closed at once), in ms."""
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        socket.create_connection((host, port), timeout=10).close()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def http_status_ms(host: str, port: int, path: str, rounds: int, status: int = 404) -> list[float]:
    """``rounds`` GETs of ``path``, each on a new connection, in ms; each must answer ``status``."""
    out = []
    for _ in range(rounds):
        conn = http.client.HTTPConnection(host, port, timeout=10)
        t0 = time.perf_counter()
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        out.append((time.perf_counter() - t0) * 1000)
        if response.status != status:
            raise RuntimeError(f"{host}:{port}{path}: HTTP {response.status}, not {status}")
    return out
