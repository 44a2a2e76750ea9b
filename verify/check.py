"""The session-survival check: N client sessions, M requests each, against the demo protocol.

Each simulated user has its own cookie jar and sends its requests one after another; users run
in parallel threads. Every answer must carry the demo headers X-Sessionstack-Pod,
X-Sessionstack-Session and X-Sessionstack-Counter (see the team sheet / README). From the
sequence each user sees, the check tells apart:

- lost session: the server answered with another session id, or the counter restarted at 1;
- regressed counter: same session, but the counter did not move forward (a stale copy);
- skipped counter: the counter moved by more than the requests that could have reached the
  server (an increment applied twice, or another client sharing the session);
- failed request: transport error, timeout, non-200 status or missing demo headers;
- pods seen, and whether routing kept each session on one pod (affinity).

Standard library only (urllib, http.cookiejar, threads).
"""

from __future__ import annotations

import dataclasses
import http.cookiejar
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

HEADER_POD = "X-Sessionstack-Pod"
HEADER_SESSION = "X-Sessionstack-Session"
HEADER_COUNTER = "X-Sessionstack-Counter"
DEFAULT_PATH = "/session-demo/"


@dataclasses.dataclass
class Observation:
    """One request of one user."""

    index: int
    started: float
    """Seconds since the check started."""
    elapsed_ms: float
    status: int | None = None
    pod: str | None = None
    session: str | None = None
    counter: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclasses.dataclass
class SessionResult:
    """What one simulated user saw, and the verdict on it."""

    user: int
    observations: list[Observation] = dataclasses.field(default_factory=list)
    lost: list[str] = dataclasses.field(default_factory=list)
    """One line per point where the session was replaced or its counter restarted."""
    regressed: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    rotated: list[str] = dataclasses.field(default_factory=list)
    """Session id changed but the counter carried on (not a loss)."""

    @property
    def errors(self) -> list[Observation]:
        return [o for o in self.observations if not o.ok]

    @property
    def pods(self) -> list[str]:
        """Pods in the order they first answered this user."""
        seen: dict[str, None] = {}
        for o in self.observations:
            if o.ok and o.pod is not None:
                seen.setdefault(o.pod)
        return list(seen)

    @property
    def session_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for o in self.observations:
            if o.ok and o.session is not None:
                seen.setdefault(o.session)
        return list(seen)

    @property
    def answered(self) -> int:
        return sum(1 for o in self.observations if o.ok)


@dataclasses.dataclass
class Report:
    url: str
    sessions: int
    requests_per_session: int
    duration_s: float
    results: list[SessionResult]
    min_pods: int = 1
    allow_errors: int = 0
    rollout: dict | None = None
    """Outcome of the rolling restart triggered during the run, if any."""
    expect_affinity: str | None = None
    """'none' or 'sticky': the affinity check fails unless routing behaved so (None: info only)."""

    # ---- aggregates -------------------------------------------------------------------------
    @property
    def observations(self) -> list[Observation]:
        return [o for r in self.results for o in r.observations]

    @property
    def total_requests(self) -> int:
        return len(self.observations)

    @property
    def failed_requests(self) -> int:
        return sum(1 for o in self.observations if not o.ok)

    @property
    def lost_sessions(self) -> list[SessionResult]:
        return [r for r in self.results if r.lost]

    @property
    def regressed_sessions(self) -> list[SessionResult]:
        return [r for r in self.results if r.regressed]

    @property
    def skipped_sessions(self) -> list[SessionResult]:
        return [r for r in self.results if r.skipped]

    @property
    def pod_counts(self) -> dict[str, int]:
        return dict(Counter(o.pod for o in self.observations if o.ok and o.pod is not None))

    @property
    def pods(self) -> list[str]:
        return sorted(self.pod_counts)

    @property
    def never_answered(self) -> list[SessionResult]:
        return [r for r in self.results if r.answered == 0]

    @property
    def affinity(self) -> dict:
        """How routing treated sessions: 'sticky', 'none', 'partial' or 'unknown'.

        Only users with at least two answers count. With one pod answering, affinity cannot
        be observed at all ('unknown').
        """
        eligible = [r for r in self.results if r.answered >= 2]
        moved = sum(1 for r in eligible if len(r.pods) > 1)
        stayed = len(eligible) - moved
        if len(self.pods) < 2 or not eligible:
            kind = "unknown"
        elif moved == 0:
            kind = "sticky"
        elif stayed == 0:
            kind = "none"
        else:
            kind = "partial"
        return {"kind": kind, "sessions_moved": moved, "sessions_stayed": stayed,
                "sessions_considered": len(eligible)}

    @property
    def latency_ms(self) -> dict:
        values = sorted(o.elapsed_ms for o in self.observations if o.ok)
        if not values:
            return {}

        def pct(p: float) -> float:
            return round(values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))], 2)

        return {"p50": pct(50), "p90": pct(90), "p99": pct(99), "max": round(values[-1], 2)}

    # ---- verdicts ----------------------------------------------------------------------------
    @property
    def checks(self) -> list[dict]:
        """One entry per failure mode: name, status ('pass'|'fail'|'info'), detail."""
        n = len(self.results)
        out = []
        lost = self.lost_sessions
        out.append({
            "name": "sessions lost", "status": "fail" if lost else "pass",
            "detail": f"{len(lost)} of {n} sessions replaced or restarted"})
        bad = {id(r) for r in self.regressed_sessions} | {id(r) for r in self.skipped_sessions}
        out.append({
            "name": "counters", "status": "fail" if bad else "pass",
            "detail": f"{len(self.regressed_sessions)} sessions regressed, "
                      f"{len(self.skipped_sessions)} skipped ahead"})
        failed = self.failed_requests
        silent = self.never_answered
        status = "fail" if failed > self.allow_errors or silent else "pass"
        detail = f"{failed} of {self.total_requests} requests failed"
        if self.allow_errors:
            detail += f" (up to {self.allow_errors} allowed)"
        if silent:
            detail += f"; {len(silent)} sessions never got an answer"
        kinds = Counter(_error_kind(o.error) for o in self.observations if o.error)
        if kinds:
            detail += " (" + ", ".join(f"{k}: {v}" for k, v in kinds.most_common()) + ")"
        out.append({"name": "failed requests", "status": status, "detail": detail})
        pods = self.pod_counts
        pod_status = "fail" if len(pods) < self.min_pods else ("pass" if self.min_pods > 1 else "info")
        out.append({
            "name": "pods seen", "status": pod_status,
            "detail": f"{len(pods)}" + (f" (at least {self.min_pods} required)" if self.min_pods > 1 else "")
                      + (": " + ", ".join(f"{p} {c}" for p, c in sorted(pods.items())) if pods else "")})
        aff = self.affinity
        text = {
            "sticky": "sticky: every session stayed on one pod",
            "none": "none: every session moved between pods",
            "partial": "partial",
            "unknown": "cannot tell (fewer than 2 pods answered or too few requests)",
        }[aff["kind"]]
        aff_status = "info"
        if self.expect_affinity == "sticky":
            aff_status = "pass" if aff["kind"] == "sticky" else "fail"
            text += "; expected sticky"
        elif self.expect_affinity == "none":
            # Without affinity a session can still land on the same pod for all its requests by
            # chance (round-robin interleaved with other users): require most to have moved.
            considered = aff["sessions_considered"]
            aff_status = "pass" if considered and aff["sessions_moved"] * 2 >= considered else "fail"
            text += "; expected none (at least half of the sessions moving between pods)"
        out.append({
            "name": "affinity", "status": aff_status,
            "detail": f"{text} ({aff['sessions_moved']} of {aff['sessions_considered']} sessions moved)"})
        if self.rollout is not None:
            ok = self.rollout.get("ok", False)
            out.append({"name": "rolling restart", "status": "pass" if ok else "fail",
                        "detail": self.rollout.get("detail", "")})
        return out

    @property
    def passed(self) -> bool:
        return all(c["status"] != "fail" for c in self.checks)

    @property
    def sessions_lost(self) -> bool:
        return bool(self.lost_sessions)

    def summary(self) -> str:
        failing = [f"{c['name']}: {c['detail']}" for c in self.checks if c["status"] == "fail"]
        return "PASS" if not failing else "FAIL: " + "; ".join(failing)

    def to_dict(self) -> dict:
        return {
            "url": self.url,
            "passed": self.passed,
            "sessions": self.sessions,
            "requests_per_session": self.requests_per_session,
            "total_requests": self.total_requests,
            "failed_requests": self.failed_requests,
            "duration_s": round(self.duration_s, 3),
            "pods": self.pod_counts,
            "affinity": self.affinity,
            "latency_ms": self.latency_ms,
            "checks": self.checks,
            "rollout": self.rollout,
            "lost_sessions": [{"user": r.user, "events": r.lost} for r in self.lost_sessions],
            "regressed_sessions": [{"user": r.user, "events": r.regressed} for r in self.regressed_sessions],
            "skipped_sessions": [{"user": r.user, "events": r.skipped} for r in self.skipped_sessions],
            "errors": [{"user": r.user, "request": o.index, "error": o.error}
                       for r in self.results for o in r.errors][:100],
        }


def _error_kind(error: str) -> str:
    return error.split(":", 1)[0]


def demo_url(base_url: str, path: str = DEFAULT_PATH) -> str:
    """The demo URL for a stack's base URL: ``path`` is appended unless the URL already has it."""
    parsed = urllib.parse.urlsplit(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"base URL must be http:// or https:// with a host, got {base_url!r}")
    if not path:
        return base_url
    current = parsed.path or "/"
    if current.rstrip("/").endswith(path.rstrip("/")) and path.strip("/"):
        return base_url
    joined = current.rstrip("/") + "/" + path.lstrip("/")
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, joined, parsed.query, ""))


def judge(result: SessionResult) -> None:
    """Fill ``lost``, ``regressed`` and ``skipped`` from the observations, in order."""
    session = None
    counter = None
    failed_since = 0  # failed requests since the last answer: each may have counted server-side
    for o in result.observations:
        if not o.ok:
            failed_since += 1
            continue
        where = f"request {o.index + 1} (pod {o.pod})"
        if session is None:
            if o.counter != 1:
                result.skipped.append(f"{where}: new session started at counter {o.counter}, expected 1")
        elif o.session != session:
            if counter < o.counter <= counter + 1 + failed_since:
                # Same data under a new id (session fixation protection): nothing was lost.
                result.rotated.append(f"{where}: session id {session} -> {o.session}, counter kept")
            else:
                result.lost.append(f"{where}: session {session} replaced by {o.session} "
                                   f"(counter {counter} -> {o.counter})")
        elif o.counter == 1:
            result.lost.append(f"{where}: session {session} counter restarted at 1 after {counter}")
        elif o.counter <= counter:
            result.regressed.append(f"{where}: counter went from {counter} to {o.counter}")
        elif o.counter > counter + 1 + failed_since:
            result.skipped.append(f"{where}: counter jumped from {counter} to {o.counter}")
        session, counter, failed_since = o.session, o.counter, 0


class _Client:
    """One simulated user: its own cookie jar, requests in sequence."""

    def __init__(self, url: str, timeout: float, insecure: bool, headers: dict[str, str]) -> None:
        self.url = url
        self.timeout = timeout
        self.headers = headers
        self.jar = http.cookiejar.CookieJar()
        handlers: list = [urllib.request.HTTPCookieProcessor(self.jar)]
        if insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            handlers.append(urllib.request.HTTPSHandler(context=ctx))
        # No proxy from the environment: the check talks to the stack, not through a proxy.
        handlers.append(urllib.request.ProxyHandler({}))
        self.opener = urllib.request.build_opener(*handlers)

    def get(self, index: int, t0: float) -> Observation:
        started = time.monotonic()
        obs = Observation(index=index, started=started - t0, elapsed_ms=0.0)
        request = urllib.request.Request(self.url, headers={"Cache-Control": "no-cache", **self.headers})
        try:
            with self.opener.open(request, timeout=self.timeout) as resp:
                resp.read()
                obs.status = resp.status
                headers = resp.headers
        except urllib.error.HTTPError as exc:
            obs.status = exc.code
            obs.error = f"http {exc.code}: {exc.reason}"
            exc.close()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            kind = "timeout" if "timed out" in str(reason) else "connection"
            obs.error = f"{kind}: {reason}"
        else:
            pod = headers.get(HEADER_POD)
            session = headers.get(HEADER_SESSION)
            counter = headers.get(HEADER_COUNTER)
            if obs.status != 200:
                obs.error = f"http {obs.status}: unexpected status"
            elif pod is None or session is None or counter is None:
                missing = [h for h, v in ((HEADER_POD, pod), (HEADER_SESSION, session),
                                          (HEADER_COUNTER, counter)) if v is None]
                obs.error = f"protocol: missing {', '.join(missing)} (is this the session demo?)"
            else:
                try:
                    obs.counter = int(counter.strip())
                except ValueError:
                    obs.error = f"protocol: {HEADER_COUNTER} is not a number: {counter!r}"
                obs.pod = pod.strip()
                obs.session = session.strip().split(".", 1)[0]
        obs.elapsed_ms = (time.monotonic() - started) * 1000
        return obs


ProgressFn = Callable[[int, int, int], None]
"""progress(done_requests, total_requests_planned, failures_so_far)."""


class Rollout:
    """A rolling restart to run during the check (see verify.rollout.KubectlRollout).

    ``start()`` triggers it; ``wait(timeout)`` blocks until it finished and returns
    ``{"ok": bool, "detail": str, ...}``. ``done()`` tells whether it has finished.
    """

    def start(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def done(self) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def wait(self, timeout: float) -> dict:  # pragma: no cover - interface
        raise NotImplementedError


class SessionCheck:
    """The users of a check, driven step by step (what run_check does, for tests with phases).

    ::

        check = SessionCheck(url, sessions=20)
        check.rounds(3)          # every user makes 3 requests
        kill_a_pod()
        check.rounds(3)
        report = check.report()  # judged over all requests so far
    """

    def __init__(self, base_url: str, sessions: int = 20, *, path: str = DEFAULT_PATH,
                 concurrency: int | None = None, timeout: float = 10.0, interval: float = 0.0,
                 min_pods: int = 1, allow_errors: int = 0, insecure: bool = False,
                 headers: dict[str, str] | None = None, progress: ProgressFn | None = None,
                 planned_requests: int | None = None, expect_affinity: str | None = None) -> None:
        for name, value, low in (("sessions", sessions, 1), ("min_pods", min_pods, 1),
                                 ("allow_errors", allow_errors, 0)):
            _check_int(name, value, low)
        if timeout <= 0 or interval < 0:
            raise ValueError("timeout must be > 0 and interval >= 0")
        if expect_affinity not in (None, "none", "sticky"):
            raise ValueError(f"expect_affinity must be 'none' or 'sticky', got {expect_affinity!r}")
        self.expect_affinity = expect_affinity
        self.url = demo_url(base_url, path)
        self.sessions = sessions
        self.interval = interval
        self.min_pods = min_pods
        self.allow_errors = allow_errors
        self.progress = progress
        self.planned = planned_requests or 0
        self.workers = concurrency or min(sessions, 16)
        self.clients = [_Client(self.url, timeout, insecure, dict(headers or {})) for _ in range(sessions)]
        self.results = [SessionResult(user=i) for i in range(sessions)]
        self._lock = threading.Lock()
        self._done = 0
        self._failed = 0
        self.t0 = time.monotonic()

    def request(self, user: int) -> Observation:
        """One request of one user (users are independent; one user's requests are sequential)."""
        result = self.results[user]
        obs = self.clients[user].get(len(result.observations), self.t0)
        result.observations.append(obs)
        with self._lock:
            self._done += 1
            self._failed += 0 if obs.ok else 1
            done, failed = self._done, self._failed
        if self.progress:
            self.progress(done, max(self.planned, done), failed)
        return obs

    def for_each_user(self, fn: Callable[[int], None]) -> None:
        """Run ``fn(user)`` for every user, ``concurrency`` users at a time."""
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for future in [pool.submit(fn, i) for i in range(self.sessions)]:
                future.result()

    def rounds(self, count: int = 1) -> None:
        """Every user makes ``count`` more requests, ``interval`` seconds apart."""
        _check_int("count", count, 1)

        def user(i: int) -> None:
            for k in range(count):
                if self.interval and (k or self.results[i].observations):
                    time.sleep(self.interval)
                self.request(i)
        self.for_each_user(user)

    def report(self, rollout: dict | None = None, requests_per_session: int | None = None) -> Report:
        for r in self.results:
            r.lost.clear(), r.regressed.clear(), r.skipped.clear(), r.rotated.clear()
            judge(r)
        per_session = requests_per_session or max((len(r.observations) for r in self.results), default=0)
        return Report(url=self.url, sessions=self.sessions, requests_per_session=per_session,
                      duration_s=time.monotonic() - self.t0, results=self.results,
                      min_pods=self.min_pods, allow_errors=self.allow_errors, rollout=rollout,
                      expect_affinity=self.expect_affinity)


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def run_check(base_url: str, sessions: int = 20, requests: int = 10, *,
              path: str = DEFAULT_PATH, concurrency: int | None = None, timeout: float = 10.0,
              interval: float = 0.0, min_pods: int = 1, allow_errors: int = 0,
              insecure: bool = False, headers: dict[str, str] | None = None,
              rollout: Rollout | None = None, rollout_timeout: float = 600.0,
              progress: ProgressFn | None = None, expect_affinity: str | None = None) -> Report:
    """Run the session-survival check and return its Report (nothing is printed).

    With ``rollout``, every user first makes one request, then the rollout is started, the users
    make their remaining requests (``interval`` seconds apart, at least 0.1 s), and those whose
    requests are done before the rollout finished keep going at the same pace until it has; when
    the rollout is over every user makes one last request, so each session is checked after
    every pod was replaced.
    """
    _check_int("requests", requests, 1)
    check = SessionCheck(base_url, sessions, path=path, concurrency=concurrency, timeout=timeout,
                         interval=interval, min_pods=min_pods, allow_errors=allow_errors,
                         insecure=insecure, headers=headers, progress=progress,
                         planned_requests=sessions * requests + (sessions if rollout else 0),
                         expect_affinity=expect_affinity)
    if rollout is None:
        check.rounds(requests)
        return check.report(requests_per_session=requests)

    check.rounds(1)
    pause = interval or 0.1  # never hammer the stack while pods are being replaced
    started = time.monotonic()
    rollout.start()

    def user(i: int) -> None:
        k = 1
        while k < requests or not rollout.done():
            if time.monotonic() - started > rollout_timeout:
                break
            time.sleep(pause)
            check.request(i)
            k += 1
    check.for_each_user(user)
    outcome = rollout.wait(max(0.0, rollout_timeout - (time.monotonic() - started)))
    outcome.setdefault("duration_s", round(time.monotonic() - started, 1))
    check.rounds(1)
    return check.report(rollout=outcome, requests_per_session=requests)
