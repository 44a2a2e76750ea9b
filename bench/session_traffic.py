"""A bounded session load that checks every answer, sent to one URL (a NodePort or a router).

:class:`SessionLoad` drives ``sessions`` cookie-jar clients (tests/cluster/session_client.py)
from ``workers`` threads, every request to the one ``target`` URL on a new connection
(SessionClient sends ``Connection: close``), so whatever stands behind the URL picks a pod per
request: kube-proxy behind a NodePort any pod, the tests' router the session's pod by its
affinity cookie (the client keeps every cookie it is given). It checks the demo-app protocol on
every answer: the session id never changes (else the session was *lost*), the counter rises by
exactly one (by more only right after a failed request, whose effect the client cannot know;
never less: that is a *regression*). Everything is bounded by ``duration`` / ``stop()``.

:func:`session_lock_timeouts` picks, from the failed requests, the session-lock timeouts: HTTP 500
after the full 15 s lock wait while a pod logged ISPN000299 (the pods' logs as
tests/cluster/pod_logs.kept_logs keeps them, with kubelet timestamps, pods that are gone included).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from sessionstack import wildfly_config as wc

from session_client import SessionClient  # tests/cluster, on the path of every bench


@dataclass(frozen=True)
class Failure:
    """One request without a usable 200 answer."""

    at: float
    """monotonic time the request was sent"""
    session: str
    pod: str
    """the pod that answered (X-Sessionstack-Pod), "" when the answer did not say"""
    error: str
    elapsed_s: float
    wall: float = 0.0
    """time.time() the request was sent (to line it up with the pods' log timestamps)"""


SESSION_LOCK_WAIT_S = 15
"""The web-session cache's lock acquire-timeout (WildFly's default, which sessionstack keeps)."""

_STAMPED_LOCK_HELD = re.compile(r"^(?:\[[^\]]*\] )?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) .*ISPN000299", re.MULTILINE)


def kubelet_epoch(stamp: str) -> float:
    """A kubelet RFC 3339 timestamp (nanoseconds, Z) as seconds since the epoch."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float(f"0.{frac or 0}")


def lock_timeout_times(logs: dict[str, str]) -> dict[str, list[float]]:
    """pod log name -> the epoch times of its ISPN000299 lines (``kubectl logs --timestamps``)."""
    return {name: [kubelet_epoch(m.group(1)) for m in _STAMPED_LOCK_HELD.finditer(text)] for name, text in logs.items()}


def session_lock_timeouts(failures: list[Failure], logs: dict[str, str], slack_s: float = 2.0) -> list[Failure]:
    """The failures that are HTTP 500 after a full session-lock wait while a pod logged the lock
    timeout (ISPN000299) inside the request's window (``slack_s`` either side): the symptom of a
    request that never finished its session write. ``logs``: pod log name (starting with the pod's
    name) -> its timestamped log. When the answer named its pod, only that pod's logs count."""
    times = lock_timeout_times(logs)

    def logged(f: Failure) -> bool:
        start, end = f.wall - slack_s, f.wall + f.elapsed_s + slack_s
        return any(start <= t <= end for name, ts in times.items() if not f.pod or name.startswith(f.pod) for t in ts)

    return [f for f in failures if f.error == "HTTP 500" and f.elapsed_s >= SESSION_LOCK_WAIT_S - 0.5 and logged(f)]


@dataclass
class LoadStats:
    requests: int = 0
    ok: int = 0
    failed: int = 0
    """Requests without a 200 answer (refused, reset, timeout, 5xx)."""
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


class SessionLoad:
    def __init__(self, target: str, *, sessions: int = 100, workers: int = 8,
                 path: str = wc.DEMO_CONTEXT_PATH, timeout: float = 10.0, think_time: float = 0.0) -> None:
        """``target``: the base URL every request goes to (``http://host:port``)."""
        parts = urlsplit(target)
        if not parts.hostname:
            raise ValueError(f"not a URL: {target!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.sessions = [_Tracked(f"s{i}") for i in range(sessions)]
        self.workers = workers
        self.path, self.timeout, self.think_time = path, timeout, think_time
        self.stats = LoadStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def request(self, tracked: _Tracked) -> None:
        """One request for one session (a new connection), checked and recorded."""
        now, wall = time.monotonic(), time.time()
        try:
            response = tracked.client.get(self.host, self.port, self.path, timeout=self.timeout)
            error = None if response.status == 200 else f"HTTP {response.status}"
        except Exception as exc:  # noqa: BLE001 - every failure is counted, none hidden
            response, error = None, f"{type(exc).__name__}: {exc}"
        done = time.monotonic()
        with self._lock:
            self._record(tracked, response, error, now, wall, done)

    def _record(self, tracked: _Tracked, response, error: str | None, now: float, wall: float, done: float) -> None:
        st = self.stats
        st.requests += 1
        if error or response.counter is None or response.session is None:
            error = error or "answer without the demo headers"
            pod = (response.pod if response is not None else None) or ""
            st.failed += 1
            if not tracked.failed_since_ok:
                tracked.first_failed_at = now
            tracked.failed_since_ok = True
            st.failures.append(Failure(now, tracked.client.name, pod, error, done - now, wall))
            st.events.append((now, tracked.client.name, f"failed on {pod or '?'}: {error}"))
            if len(st.errors) < 20:
                st.errors.append(f"{pod or '?'}: {error}")
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
            name = tracked.client.name
            st.outages_s[name] = max(done - tracked.first_failed_at, st.outages_s.get(name, 0.0))
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

    def wait(self) -> LoadStats:
        """Until the workers' ``duration`` is over."""
        for thread in self._threads:
            thread.join()
        return self.stats

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
