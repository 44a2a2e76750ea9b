"""Issue 6: the Redis session path on real servers.

One stack for the module (Redis + 2 WildFly pods running the Spring Session demo + nginx
round-robin), built from the objects the program renders for the local stack with
wildfly.sessionBackend=redis (see redis_stack.py). The scenarios run in
file order and each leaves the stack with two ready WildFly pods and a running Redis.
Every session check goes through verify (the user-facing checker).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sessionstack import redis_config as rc
from redisbox import connect_in_netns
from redis_resp import RedisError, Resp
from redis_stack import RedisStack
from verify.check import Rollout, SessionCheck, run_check

ROOT = Path(__file__).resolve().parents[3]
MAXMEMORY_MB = 16
SESSIONS = 20


@pytest.fixture(scope="module")
def stack(realserver_prereqs):
    with RedisStack(wildfly_pods=2, maxmemory_mb=MAXMEMORY_MB) as s:
        yield s


def session_key(session_id: str) -> bytes:
    return f"sessionstack:session:sessions:{session_id}".encode()


def replace_pod(stack: RedisStack, old) -> None:
    """What the Deployment does after a pod died: a new pod, ready, in the Service."""
    stack.harness.stop_pod(old, graceful=False)
    new = stack.add_wildfly_pod()
    stack.harness.wait_ready([new], timeout=300)
    stack.front.set_upstreams([f"{p.ip}:8080" for p in stack.pods])


def test_redis_runs_the_rendered_configuration(stack):
    conf = stack.rendered.redis_conf()
    assert stack.rendered.password() not in conf  # the ConfigMap holds no secret
    assert stack.rendered.password() in stack.rendered.auth_conf()
    assert stack.rendered.redis_args() == rc.server_args()
    with stack.redis_client() as r:
        assert r.call("CONFIG", "GET", "maxmemory-policy")[1] == b"noeviction"
        assert r.call("CONFIG", "GET", "maxmemory")[1] == str(MAXMEMORY_MB * 1024 * 1024).encode()
        assert r.call("CONFIG", "GET", "appendonly")[1] == b"yes"
        info = r.call("INFO", "server").decode()
    assert f"tcp_port:{rc.REDIS_PORT}" in info
    assert "redis_version:7." in info  # Debian 12's redis-server


def test_sessions_continue_across_pods_without_affinity(stack, figure):
    before = set(stack.session_keys())
    report = run_check(stack.url, sessions=SESSIONS, requests=8, min_pods=2, expect_affinity="none")
    # expect_affinity="none": at least half the sessions moved between pods (round-robin over
    # concurrent users can keep the odd session on one pod by chance: CI saw 19 of 20 move).
    assert report.passed, report.summary()
    assert report.affinity["sessions_moved"] * 2 >= report.affinity["sessions_considered"], report.affinity
    assert set(report.pods) == {p.name for p in stack.pods}
    # Every session is in Redis, under the id the app reported.
    keys = set(stack.session_keys()) - before
    assert keys == {session_key(r.session_ids[0]) for r in report.results}
    lat = report.latency_ms
    figure("redis sessions, no affinity: request latency p50/p99 via nginx (first requests after boot)",
           f"{lat['p50']}/{lat['p99']}", f"ms ({report.total_requests} requests, {len(report.pods)} pods)")


def test_verify_command_line_against_the_stack(stack):
    # What a user runs against a deployment: exit status 0 and a machine-readable report.
    done = subprocess.run([sys.executable, "-m", "verify", stack.url, "-n", "10", "-m", "5", "--min-pods", "2",
                           "--expect-affinity", "none", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    data = json.loads(done.stdout)
    assert data["passed"] and data["total_requests"] == 50
    assert set(data["pods"]) == {p.name for p in stack.pods}


def test_redis_rejects_unauthenticated_clients(stack):
    pod = stack.pods[0]  # a session client
    with Resp(connect_in_netns(pod.host.netns_path, stack.redis_host.ip, rc.REDIS_PORT)) as r:
        with pytest.raises(RedisError, match="NOAUTH"):
            r.call("PING")
        with pytest.raises(RedisError, match="NOAUTH"):
            r.call("KEYS", "*")
        with pytest.raises(RedisError, match="WRONGPASS"):
            r.call("AUTH", "not-the-password")
        with pytest.raises(RedisError, match="NOAUTH"):
            r.call("GET", "anything")
        assert r.call("AUTH", stack.rendered.password()) == "OK"
        assert r.call("PING") == "PONG"


def test_wildfly_pod_killed_with_kill_9_loses_no_session(stack, figure):
    check = SessionCheck(stack.url, SESSIONS, min_pods=2)
    check.rounds(3)
    victim = stack.pods[0]
    served_by_victim = {r.user for r in check.results if victim.name in r.pods}
    assert served_by_victim, "the victim pod served nobody: the test would prove nothing"
    stack.harness.kill_pod(victim)  # SIGKILL to every process of the pod
    victim.wait_exit(10)
    check.rounds(3)
    report = check.report()
    assert report.passed, report.summary()
    # After the kill, only the survivor answered, and it continued every session.
    after = [o for r in report.results for o in r.observations[3:]]
    assert {o.pod for o in after} == {stack.pods[0].name}
    assert all(r.observations[-1].counter == 6 for r in report.results)
    figure("redis sessions, kill -9 of a WildFly pod", f"{len(served_by_victim)}/{SESSIONS}",
           "sessions it had served continued on the survivor, 0 lost")
    replace_pod(stack, victim)


def test_redis_restart_from_append_only_file_keeps_every_session(stack, figure):
    check = SessionCheck(stack.url, SESSIONS, min_pods=2)
    check.rounds(2)
    keys = set(stack.session_keys())
    assert {session_key(r.session_ids[0]) for r in check.results} <= keys

    # Graceful stop (what the kubelet sends): Redis fsyncs the AOF and exits.
    down = stack.restart_redis(signal.SIGTERM)
    assert keys <= set(stack.session_keys())
    check.rounds(2)

    # Crash: kill -9 after the once-per-second fsync has run.
    time.sleep(1.5)
    down_kill = stack.restart_redis(signal.SIGKILL)
    assert keys <= set(stack.session_keys())
    check.rounds(2)

    report = check.report()
    assert report.passed, report.summary()
    assert all(r.observations[-1].counter == 6 for r in report.results)
    assert "Reading RDB base file on AOF loading" in stack.redis.log() or "DB loaded from append only file" in stack.redis.log()
    assert down < 15
    figure("redis restart from AOF (SIGTERM / SIGKILL): stop to ready", f"{down:.2f} / {down_kill:.2f}",
           f"s, {len(keys)} session keys kept")


def test_while_redis_is_down_sessions_fail_loudly(stack):
    # Sessions really live in Redis: without it the app answers an error, it does not
    # silently hand out a fresh session.
    check = SessionCheck(stack.url, 4, timeout=20)
    check.rounds(1)
    stack.redis.stop(signal.SIGTERM)
    try:
        check.rounds(1)
        during = check.report()
        assert during.failed_requests == 4
        assert all(o.error.startswith("http 5") for r in during.results for o in r.errors)
    finally:
        stack.redis.start()
    check.rounds(2)
    report = check.report()
    assert not report.lost_sessions and not report.regressed_sessions and not report.skipped_sessions


def _fill(r: Resp, prefix: str, ttl: int = 3600, limit: int = 20000, start: int = 0,
          sizes: tuple[int, ...] = (16384, 1024, 64)) -> tuple[int, str | None]:
    """SET keys ``prefix:start``, ... with a TTL (like sessions) until Redis refuses, with smaller
    and smaller values so that memory ends right at the limit; returns (next index, last error)."""
    i, error = start, None
    for size in sizes:
        value = b"x" * size
        while i < limit:
            try:
                r.call("SET", f"{prefix}:{i}", value, "EX", ttl)
            except RedisError as exc:
                error = str(exc)
                break
            i += 1
    return i, error


def _fill_and_hold(r: Resp, prefix: str) -> tuple[int, str | None]:
    """_fill, then top up with small values after each pause in which Redis may have shrunk the
    filling client's buffers (its cron does, a few times a second), until a pause frees nothing:
    memory stays at maxmemory instead of a buffer's size below it (a CI run's 20 app writes all
    fit into such a gap). Returns (keys written, last error)."""
    written, error = _fill(r, prefix)
    for _ in range(20):
        time.sleep(0.3)
        more, last = _fill(r, prefix, start=written, sizes=(64,))
        error = last or error
        if more == written:
            break
        written = more
    return written, error


def _evicted(r: Resp) -> int:
    info = r.call("INFO", "stats").decode()
    return int(next(line.split(":")[1] for line in info.splitlines() if line.startswith("evicted_keys:")))


def test_memory_pressure_rejects_writes_and_keeps_every_session(stack, figure):
    check = SessionCheck(stack.url, SESSIONS, allow_errors=SESSIONS)
    check.rounds(2)
    keys = set(stack.session_keys())
    with stack.redis_client() as r:
        evicted_before = _evicted(r)
        written, error = _fill_and_hold(r, "filler")
        assert error is not None and error.startswith("OOM"), (written, error)
        assert written > 100
        assert _evicted(r) == evicted_before  # noeviction: nothing was dropped to make room
        assert keys <= set(stack.session_keys())

        # The app's writes are refused too (those that find memory freed by a client buffer
        # may pass): refused ones are errors the user and the monitoring see, never a silently
        # replaced session.
        check.rounds(1)
        full = check.report()
        assert full.failed_requests >= 1
        assert all(o.error.startswith("http 5") for o in full.observations if o.error)
        assert not full.lost_sessions
        figure("redis at maxmemory (noeviction): app requests refused while full",
               f"{full.failed_requests}/{SESSIONS}", f"(after {written} filler keys; 0 keys evicted)")

        for i in range(written):
            r.call("UNLINK", f"filler:{i}")
    check.rounds(2)
    report = check.report()
    assert report.passed, report.summary()  # the failed round is allowed, nothing else
    assert not report.lost_sessions and not report.regressed_sessions


def test_memory_pressure_control_an_evicting_policy_loses_sessions(stack):
    # Negative control: the same pressure under volatile-lru (what a cache would use) drops
    # live sessions, and verify sees it. This is why redis.conf says noeviction.
    check = SessionCheck(stack.url, SESSIONS)
    check.rounds(2)
    with stack.redis_client() as r:
        r.call("CONFIG", "SET", "maxmemory-policy", "volatile-lru")
        try:
            evicted_before = _evicted(r)
            written, _ = _fill(r, "cachefill", limit=3000)
            assert written == 3000  # the evicting policy never refuses a write
            assert _evicted(r) > evicted_before
        finally:
            r.call("CONFIG", "SET", "maxmemory-policy", "noeviction")
            for i in range(written):
                r.call("UNLINK", f"cachefill:{i}")
    check.rounds(1)
    report = check.report()
    assert report.lost_sessions, "an evicting policy should have dropped sessions"
    assert not report.passed


class HarnessRollingRestart(Rollout):
    """kubectl rollout restart, as the Deployment controller does it with maxSurge 1 and
    maxUnavailable 0: new pod ready and in the Service, then the old one out and SIGTERM."""

    def __init__(self, stack: RedisStack) -> None:
        self.stack = stack
        self.replaced: list[str] = []
        self._done = threading.Event()
        self._outcome: dict = {}

    def start(self) -> None:
        def roll() -> None:
            t0 = time.monotonic()
            try:
                for old in list(self.stack.pods):
                    new = self.stack.add_wildfly_pod()
                    self.stack.harness.wait_ready([new], timeout=300)
                    upstreams = [f"{p.ip}:8080" for p in self.stack.pods if p is not old]
                    self.stack.front.set_upstreams(upstreams)
                    self.stack.harness.stop_pod(old, graceful=True)
                    self.replaced.append(old.name)
                self._outcome = {"ok": True, "detail": f"replaced {len(self.replaced)} pods in "
                                                        f"{time.monotonic() - t0:.0f} s"}
            except Exception as exc:  # reported through the check
                self._outcome = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
            finally:
                self._done.set()
        threading.Thread(target=roll, daemon=True).start()

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float) -> dict:
        if not self._done.wait(timeout):
            return {"ok": False, "detail": f"not finished after {timeout:.0f} s"}
        return dict(self._outcome)


def test_rolling_restart_of_every_wildfly_pod_loses_no_session(stack, figure):
    old = {p.name for p in stack.pods}
    rollout = HarnessRollingRestart(stack)
    report = run_check(stack.url, sessions=10, requests=5, interval=0.5, rollout=rollout,
                       rollout_timeout=900, min_pods=2)
    assert report.passed, report.summary()
    assert set(rollout.replaced) == old
    assert not old & {p.name for p in stack.pods}
    assert {p.name for p in stack.pods} <= set(report.pods)  # the new pods served the sessions
    figure("redis sessions through a rolling restart of 2 WildFly pods", report.rollout["detail"],
           f"({report.total_requests} requests, {report.failed_requests} failed, 0 sessions lost)")
