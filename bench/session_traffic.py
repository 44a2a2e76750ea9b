"""Endpoints that honour readiness, and a bounded session load that checks every answer.

:class:`Endpoints` plays the Service: a round-robin over the pods whose readiness probe
passes, probed like the kubelet does (``period`` seconds, ``failure_threshold`` failures
before a pod leaves, one success to come back). A deleted pod leaves at once
(:meth:`Endpoints.remove`), as the endpoints controller drops a terminating pod.

:class:`SessionLoad` drives ``sessions`` cookie-jar clients from ``workers`` threads, each
request to the next ready endpoint, and checks the demo-app protocol on every answer: the
session id never changes (else the session was *lost*), the counter rises by exactly one
(by more only right after a failed request, whose effect the client cannot know; never
less: that is a *regression*). Everything is bounded by ``duration`` / ``stop()``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from sessionstack import wildfly_config as wc

from session_client import SessionClient  # tests/cluster, on the path of every bench


class Endpoints:
    def __init__(self, pods: list, *, period: float = 1.0, failure_threshold: int = 1,
                 probe: Callable[[object], bool] | None = None) -> None:
        self._lock = threading.Lock()
        self._pods = list(pods)
        self._ready: list = []
        self._failures: dict[str, int] = {}
        self._rr = 0
        self.period, self.failure_threshold = period, failure_threshold
        self._probe = probe or (lambda pod: pod.ready())
        self._stop = threading.Event()
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="endpoints", daemon=True)
        self._thread.start()

    def add(self, pod) -> None:
        """A new pod of the Deployment: it joins the endpoints once its probe passes."""
        with self._lock:
            if pod not in self._pods:
                self._pods.append(pod)

    def remove(self, pod) -> None:
        """Pod deleted: out of the endpoints now."""
        with self._lock:
            if pod in self._pods:
                self._pods.remove(pod)
            if pod in self._ready:
                self._ready.remove(pod)

    def refresh(self) -> None:
        with self._lock:
            pods = list(self._pods)
        results = {pod.name: self._probe(pod) for pod in pods}
        with self._lock:
            for pod in pods:
                if pod not in self._pods:
                    continue
                if results[pod.name]:
                    self._failures[pod.name] = 0
                    if pod not in self._ready:
                        self._ready.append(pod)
                else:
                    self._failures[pod.name] = self._failures.get(pod.name, 0) + 1
                    if self._failures[pod.name] >= self.failure_threshold and pod in self._ready:
                        self._ready.remove(pod)

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            self.refresh()

    def ready(self) -> list:
        with self._lock:
            return list(self._ready)

    def pick(self, prefer=None):
        """The next ready pod round-robin, or ``prefer`` while it is ready (cookie affinity)."""
        with self._lock:
            if prefer is not None and prefer in self._ready:
                return prefer
            if not self._ready:
                return None
            self._rr = (self._rr + 1) % len(self._ready)
            return self._ready[self._rr]

    def wait_for(self, pod, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pod in self.ready():
                return
            time.sleep(0.1)
        raise TimeoutError(f"{pod.name} did not become a ready endpoint in {timeout}s")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class Failure:
    """One request without a usable 200 answer."""

    at: float
    """monotonic time the request was sent"""
    session: str
    pod: str
    error: str
    elapsed_s: float


SESSION_LOCK_WAIT_S = 15
"""The web-session cache's lock acquire-timeout (WildFly's default, which sessionstack keeps)."""


def session_lock_timeouts(failures: list[Failure], pods: list) -> list[Failure]:
    """The failures that are HTTP 500 after a full session-lock wait on a pod that logged the
    lock timeout (ISPN000299): the symptom of a request that never finished its session write."""
    logs = {pod.name: pod.log_text() for pod in pods}
    return [f for f in failures if f.error == "HTTP 500" and f.elapsed_s >= SESSION_LOCK_WAIT_S - 0.5
            and "ISPN000299" in logs.get(f.pod, "")]


@dataclass
class LoadStats:
    requests: int = 0
    ok: int = 0
    failed: int = 0
    """Requests without a 200 answer (refused, reset, timeout, 5xx)."""
    no_endpoint: int = 0
    lost_sessions: set[str] = field(default_factory=set)
    """Sessions whose id changed or whose counter started over."""
    regressions: int = 0
    """Answers whose counter was not above the last one seen."""
    skips: int = 0
    """Counter rose by more than one right after a failed request (allowed)."""
    unexplained_skips: int = 0
    """Counter rose by more than one without a failed request before it."""
    latencies_ms: list[float] = field(default_factory=list)
    per_pod: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    events: list[tuple[float, str, str]] = field(default_factory=list)
    """(monotonic time, session, what) for every failure, loss or regression."""
    failures: list[Failure] = field(default_factory=list)
    outages_s: dict[str, float] = field(default_factory=dict)
    """Per session that saw failures: the longest time from its first failed request in a
    row to its next good answer."""

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(round(p / 100 * (len(data) - 1))))]


class _Tracked:
    def __init__(self, name: str) -> None:
        self.client = SessionClient(name)
        self.session: str | None = None
        self.counter = 0
        self.failed_since_ok = False
        self.first_failed_at: float | None = None
        self.last_ok_at: float | None = None
        self.last_pod: str | None = None
        self.pinned = None
        """With affinity: the pod this session sticks to while it is a ready endpoint."""


class SessionLoad:
    def __init__(self, endpoints: Endpoints, *, sessions: int = 100, workers: int = 8,
                 path: str = wc.DEMO_CONTEXT_PATH, port: int = wc.HTTP_PORT,
                 timeout: float = 10.0, think_time: float = 0.0, affinity: bool = False) -> None:
        self.endpoints = endpoints
        self.sessions = [_Tracked(f"s{i}") for i in range(sessions)]
        self.workers = workers
        self.path, self.port, self.timeout, self.think_time = path, port, timeout, think_time
        self.affinity = affinity
        """Like the router's affinity cookie: a session stays on its pod until that pod
        leaves the endpoints, then moves to the next one and stays there."""
        self.stats = LoadStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def request(self, tracked: _Tracked) -> None:
        """One request for one session, checked and recorded."""
        pod = self.endpoints.pick(prefer=tracked.pinned if self.affinity else None)
        if self.affinity:
            tracked.pinned = pod
        now = time.monotonic()
        if pod is None:
            with self._lock:
                self.stats.no_endpoint += 1
            time.sleep(0.05)
            return
        try:
            response = tracked.client.get(pod.ip, self.port, self.path, timeout=self.timeout)
            error = None if response.status == 200 else f"HTTP {response.status}"
        except Exception as exc:  # noqa: BLE001 - every failure is counted, none hidden
            response, error = None, f"{type(exc).__name__}: {exc}"
        done = time.monotonic()
        with self._lock:
            st = self.stats
            st.requests += 1
            if error or response.counter is None or response.session is None:
                error = error or "answer without the demo headers"
                st.failed += 1
                if not tracked.failed_since_ok:
                    tracked.first_failed_at = now
                tracked.failed_since_ok = True
                st.failures.append(Failure(now, tracked.client.name, pod.name, error, done - now))
                st.events.append((now, tracked.client.name, f"failed on {pod.name}: {error}"))
                if len(st.errors) < 20:
                    st.errors.append(f"{pod.name}: {error}")
                return
            st.ok += 1
            st.latencies_ms.append(response.elapsed_ms)
            st.per_pod[response.pod] = st.per_pod.get(response.pod, 0) + 1
            if tracked.session is None:
                tracked.session = response.session
            elif response.session != tracked.session or response.counter == 1:
                st.lost_sessions.add(tracked.client.name)
                st.events.append((now, tracked.client.name,
                                  f"lost: {tracked.session}#{tracked.counter} -> "
                                  f"{response.session}#{response.counter} on {response.pod}"))
                tracked.session = response.session
            elif response.counter <= tracked.counter:
                st.regressions += 1
                st.events.append((now, tracked.client.name,
                                  f"regression {tracked.counter} -> {response.counter} on {response.pod} "
                                  f"(last ok on {tracked.last_pod})"))
            elif response.counter > tracked.counter + 1:
                if tracked.failed_since_ok:
                    st.skips += 1
                else:
                    st.unexplained_skips += 1
                    st.events.append((now, tracked.client.name,
                                      f"skip {tracked.counter} -> {response.counter} on {response.pod}"))
            if tracked.failed_since_ok and tracked.first_failed_at is not None:
                outage = done - tracked.first_failed_at
                name = tracked.client.name
                st.outages_s[name] = max(outage, st.outages_s.get(name, 0.0))
            tracked.counter = response.counter
            tracked.failed_since_ok = False
            tracked.last_ok_at = time.monotonic()
            tracked.last_pod = response.pod

    def _worker(self, mine: list[_Tracked], deadline: float) -> None:
        while not self._stop.is_set() and time.monotonic() < deadline:
            for tracked in mine:
                if self._stop.is_set() or time.monotonic() >= deadline:
                    return
                self.request(tracked)
                if self.think_time:
                    self._stop.wait(self.think_time)

    def start(self, duration: float) -> None:
        """Run in the background for at most ``duration`` seconds (or until stop())."""
        deadline = time.monotonic() + duration
        for i in range(self.workers):
            mine = self.sessions[i::self.workers]
            thread = threading.Thread(target=self._worker, args=(mine, deadline), daemon=True,
                                      name=f"load-{i}")
            thread.start()
            self._threads.append(thread)

    def stop(self) -> LoadStats:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        return self.stats

    def settle(self, timeout: float) -> list[str]:
        """After stop(): retry every session whose last request failed until it gets a good
        answer or ``timeout`` runs out; returns the sessions still failing."""
        deadline = time.monotonic() + timeout
        pending = [t for t in self.sessions if t.failed_since_ok]
        while pending and time.monotonic() < deadline:
            for tracked in pending:
                self.request(tracked)
            pending = [t for t in pending if t.failed_since_ok]
            if pending:
                time.sleep(0.5)
        return [t.client.name for t in pending]

    def warm_up(self) -> None:
        """One request per session (creates every session before the measurement)."""
        for tracked in self.sessions:
            self.request(tracked)
