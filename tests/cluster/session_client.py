"""HTTP client side of the demo-app protocol (team sheet): a cookie jar per session.

``SessionClient.get(ip, port, path)`` sends the jar's cookies, stores every Set-Cookie it gets
back (the app's JSESSIONID and any router cookie) and returns the X-Sessionstack-* headers.
Only the node's addresses (NodePorts, the router) or loopback are ever targets.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie


@dataclass
class DemoResponse:
    status: int
    pod: str | None
    session: str | None
    counter: int | None
    elapsed_ms: float
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class SessionClient:
    """One user: a cookie jar (name -> value) and the last counter seen."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.cookies: dict[str, str] = {}
        self.last_counter = 0
        self.session: str | None = None

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def get(self, host: str, port: int, path: str, timeout: float = 30.0,
            headers: dict[str, str] | None = None) -> DemoResponse:
        """GET ``path``; raises OSError (incl. timeouts) or http.client errors on failure."""
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        t0 = time.monotonic()
        try:
            send = {"Connection": "close", **(headers or {})}
            if self.cookies:
                send["Cookie"] = self.cookie_header()
            conn.request("GET", path, headers=send)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        elapsed = (time.monotonic() - t0) * 1000
        for raw in response.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(raw)
            for key, morsel in jar.items():
                if morsel["max-age"] in ("0",) or morsel.value == "":
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = morsel.value
        counter = response.getheader("X-Sessionstack-Counter")
        return DemoResponse(
            status=response.status,
            pod=response.getheader("X-Sessionstack-Pod"),
            session=response.getheader("X-Sessionstack-Session"),
            counter=int(counter) if counter is not None else None,
            elapsed_ms=elapsed,
            headers={k: v for k, v in response.getheaders()},
            body=body,
        )
