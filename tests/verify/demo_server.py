"""A tiny stand-in for a deployed stack, speaking the demo protocol on 127.0.0.1.

Several "pods" share one listening socket; a router picks the pod for each request. Where the
sessions live is the point of the exercise:

- store="shared": one session store for all pods (Redis / a replicated cache): sessions survive
  any routing and any pod restart;
- store="per-pod": each pod keeps its own sessions in memory (the field report's failure):
  sessions break as soon as a request lands on another pod or the pod restarts.

Faults for proving that verify can fail: ``reset_every`` (the n-th answer of a session forgets
it), ``regress_every`` (the n-th answer reports a stale counter), ``error_every`` (every n-th
request answers 502), ``headers=False`` (no demo headers).

Control endpoints for the fake kubectl: POST /__control/rollout starts a rolling restart (each
pod in turn is replaced by a new pod, losing its in-memory sessions), GET /__control/rollout
answers 200 "done" or 202 "in progress".
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class DemoStack:
    def __init__(self, pods: int = 3, store: str = "shared", routing: str = "round-robin",
                 reset_every: int = 0, regress_every: int = 0, error_every: int = 0,
                 headers: bool = True, rollout_step_s: float = 0.05) -> None:
        assert store in ("shared", "per-pod") and routing in ("round-robin", "sticky")
        self.generation = 0
        self.pods = [self._pod_name(i) for i in range(pods)]
        self.store = store
        self.routing = routing
        self.reset_every = reset_every
        self.regress_every = regress_every
        self.error_every = error_every
        self.headers = headers
        self.rollout_step_s = rollout_step_s
        self.lock = threading.Lock()
        self.shared: dict[str, int] = {}
        self.per_pod: dict[str, dict[str, int]] = {p: {} for p in self.pods}
        self.answers: dict[str, int] = {}
        self.sticky: dict[str, str] = {}
        self.rr = itertools.count()
        self.requests = 0
        self.rollout_thread: threading.Thread | None = None
        self.rollouts = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _pod_name(self, i: int) -> str:
        return f"demo-{self.generation}-{i}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "DemoStack":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- behaviour -------------------------------------------------------------------------
    def _route(self, sid: str | None) -> str:
        with self.lock:
            # Sticky routing as a load balancer cookie does it: back to the pod that served the
            # session first, for as long as that pod exists.
            if self.routing == "sticky" and sid and self.sticky.get(sid) in self.pods:
                return self.sticky[sid]
            return self.pods[next(self.rr) % len(self.pods)]

    def handle(self, cookie_sid: str | None) -> tuple[int, dict[str, str], str | None]:
        with self.lock:
            self.requests += 1
            n = self.requests
        if self.error_every and n % self.error_every == 0:
            return 502, {}, None
        pod = self._route(cookie_sid)
        with self.lock:
            store = self.shared if self.store == "shared" else self.per_pod.setdefault(pod, {})
            sid = cookie_sid if cookie_sid in store else None
            if sid is not None:
                self.answers[sid] = self.answers.get(sid, 0) + 1
                if self.reset_every and self.answers[sid] % self.reset_every == 0:
                    store[sid] = 0  # forgets the data but keeps the id: counter restarts at 1
            if sid is None:
                sid = uuid.uuid4().hex
                store[sid] = 0
                self.answers[sid] = 1
            self.sticky[sid] = pod
            store[sid] += 1
            counter = store[sid]
            if self.regress_every and self.answers[sid] % self.regress_every == 0 and counter > 2:
                counter -= 2  # a stale copy answered
        headers = {}
        if self.headers:
            headers = {"X-Sessionstack-Pod": pod, "X-Sessionstack-Session": sid,
                       "X-Sessionstack-Counter": str(counter)}
        return 200, headers, sid

    def start_rollout(self) -> None:
        def roll() -> None:
            for i in range(len(self.pods)):
                time.sleep(self.rollout_step_s)
                with self.lock:
                    old = self.pods[i]
                    new = f"demo-{self.rollouts}-r{i}"
                    self.pods[i] = new
                    self.per_pod.pop(old, None)  # the old pod's memory is gone
                    self.per_pod[new] = {}
        with self.lock:
            self.rollouts += 1
            self.rollout_thread = threading.Thread(target=roll, daemon=True)
            self.rollout_thread.start()

    def rollout_done(self) -> bool:
        return self.rollout_thread is not None and not self.rollout_thread.is_alive()

    # ---- HTTP ------------------------------------------------------------------------------
    def _handler(self):
        stack = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                if self.path == "/__control/rollout":
                    stack.start_rollout()
                    self._send(200, {}, b"started\n")
                else:
                    self._send(404, {}, b"")

            def do_GET(self) -> None:
                if self.path == "/__control/rollout":
                    done = stack.rollout_done()
                    self._send(200 if done else 202, {}, b"done\n" if done else b"in progress\n")
                    return
                if self.path != "/session-demo/":
                    self._send(404, {}, b"not found\n")
                    return
                cookie = SimpleCookie(self.headers.get("Cookie", ""))
                sid = cookie["SESSION"].value if "SESSION" in cookie else None
                status, headers, new_sid = stack.handle(sid)
                if new_sid and new_sid != sid:
                    headers["Set-Cookie"] = f"SESSION={new_sid}; Path=/session-demo/; HttpOnly"
                body = (f"<html><body>pod {headers.get('X-Sessionstack-Pod')} counter "
                        f"{headers.get('X-Sessionstack-Counter')}</body></html>\n").encode()
                self._send(status, headers, body)

        return Handler
