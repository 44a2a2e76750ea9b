"""The Redis store in `standalone` mode on the cluster (one pod, for development): what a single
Redis must still get right, and what happens to sessions when it restarts, goes away or fills up.

The cluster stack with the redis backend (redis_set.SETTINGS), ``redis.mode standalone`` and
``redis.maxmemoryMb 16`` (the smallest the settings allow, so the memory tests fill it in a few
seconds). Requests reach the two WildFly pods through a NodePort (kube-proxy, no affinity): only
Redis keeps the sessions. The tests reach Redis itself through a NodePort of its own (which
admits the host's address, see kube.node_port), with the password from the stack's Secret.
The scenarios run in file order; each leaves one ready Redis pod and two ready WildFly pods.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from deployments import NAMESPACE, WILDFLY, Deployed, deploy, destroy_every_stack, destroy_if_left
from kube import ROOT, Cluster, is_ready, node_port, restarts, wait_until
from redis_resp import RedisError, Resp
from redis_set import REDIS, SETTINGS, container_id, redis_cli
from session_load import load_while
from verify.check import SessionCheck

MAXMEMORY_MB = 16
SESSIONS = 20
KEYS = "sessionstack:session:sessions:*"
"""Where Spring Session keeps the demo's sessions (one hash per session id)."""


@pytest.fixture(scope="module")
def stack(cluster: Cluster, engine_bin: Path, tmp_path_factory) -> Deployed:
    destroy_every_stack(cluster)
    settings = {**SETTINGS, "redis.mode": "standalone", "redis.maxmemoryMb": str(MAXMEMORY_MB)}
    deployed = deploy(cluster, engine_bin, tmp_path_factory.mktemp("cluster-redis-standalone"), settings)
    yield deployed
    destroy_if_left(cluster, deployed)


@pytest.fixture(scope="module")
def url(stack: Deployed, cluster: Cluster) -> Iterator[str]:
    assert stack.up.returncode == 0, str(stack.up)
    with node_port(cluster, NAMESPACE, "wildfly") as found:
        yield found


@pytest.fixture(scope="module")
def redis_address(stack: Deployed, cluster: Cluster) -> Iterator[tuple[str, int]]:
    with node_port(cluster, NAMESPACE, "sessions") as found:
        host, port = found.removeprefix("http://").split(":")
        yield host, int(port)


def password(cluster: Cluster) -> str:
    """The Redis password, read the way the pod gets it: from the Secret its env names."""
    (pod,) = cluster.pods(NAMESPACE, REDIS)
    (ref,) = [e["valueFrom"]["secretKeyRef"] for c in pod["spec"]["containers"] for e in c.get("env", [])
              if e["name"] == "REDIS_PASSWORD"]
    return base64.b64decode(cluster.get("secret", "-n", NAMESPACE, ref["name"])["data"][ref["key"]]).decode()


def _connect(address: tuple[str, int]) -> socket.socket | None:
    try:
        return socket.create_connection(address, timeout=10)
    except ConnectionRefusedError:
        return None


@contextmanager
def redis(cluster: Cluster, address: tuple[str, int], authenticate: bool = True) -> Iterator[Resp]:
    # A new Redis pod is ready before kube-proxy and the policy agent know its address (a
    # refused connection for a second or two): connect as a client with retries would.
    client = Resp(wait_until("Redis to answer on its NodePort", lambda: _connect(address), 30, interval=0.5))
    try:
        if authenticate:
            client.call("AUTH", password(cluster))
        yield client
    finally:
        client.close()


def session_keys(cluster: Cluster, address: tuple[str, int]) -> set[bytes]:
    with redis(cluster, address) as r:
        return set(r.call("KEYS", KEYS))


def the_redis_pod(cluster: Cluster) -> dict:
    def one_ready() -> dict | None:
        pods = cluster.live_pods(NAMESPACE, REDIS)
        return pods[0] if len(pods) == 1 and is_ready(pods[0]) else None
    return wait_until("one ready Redis pod", one_ready, 180, interval=1)


def wildfly_ready(cluster: Cluster) -> None:
    cluster.settled_pods(NAMESPACE, WILDFLY, 2)


def test_standalone_runs_one_pod_with_the_rendered_limits_and_no_secret_in_its_configuration(stack: Deployed, cluster: Cluster):
    assert stack.up.returncode == 0, str(stack.up)
    (sts,) = cluster.items("statefulsets", "-n", NAMESPACE)
    assert sts["spec"]["replicas"] == 1 and sts["status"].get("readyReplicas") == 1
    (claim,) = cluster.items("pvc", "-n", NAMESPACE)
    assert claim["status"]["phase"] == "Bound"
    pod = the_redis_pod(cluster)["metadata"]["name"]
    assert redis_cli(cluster, pod, "config", "get", "maxmemory").split() == ["maxmemory", str(MAXMEMORY_MB * 1024 * 1024)]
    assert redis_cli(cluster, pod, "config", "get", "maxmemory-policy").split() == ["maxmemory-policy", "noeviction"]
    assert redis_cli(cluster, pod, "config", "get", "appendonly").split() == ["appendonly", "yes"]
    secret = password(cluster)
    for config_map in cluster.items("configmaps", "-n", NAMESPACE):
        assert not any(secret in text for text in (config_map.get("data") or {}).values()), config_map["metadata"]["name"]


def test_standalone_refuses_clients_without_the_password(stack: Deployed, cluster: Cluster, redis_address):
    with redis(cluster, redis_address, authenticate=False) as r:
        for command in (("PING",), ("KEYS", "*"), ("GET", "anything")):
            with pytest.raises(RedisError, match="NOAUTH"):
                r.call(*command)
        with pytest.raises(RedisError, match="WRONGPASS"):
            r.call("AUTH", "not-the-password")
        assert r.call("AUTH", password(cluster)) == "OK"
        assert r.call("PING") == "PONG"


def test_standalone_keeps_every_session_across_the_was_pods_through_verify(url: str, cluster: Cluster, redis_address):
    """The README's command: sessions go on while kube-proxy spreads the requests over both pods,
    and each of them is in Redis under the id the application gave the user."""
    before = session_keys(cluster, redis_address)
    done = subprocess.run([sys.executable, "-m", "verify", url, "-n", str(SESSIONS), "-m", "8", "--min-pods", "2",
                           "--expect-affinity", "none", "--interval", "0.1", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["passed"] and report["total_requests"] == SESSIONS * 8
    assert set(report["pods"]) == {p["metadata"]["name"] for p in cluster.ready_pods(NAMESPACE, WILDFLY)}
    new = session_keys(cluster, redis_address) - before
    assert len(new) == SESSIONS and all(k.startswith(KEYS[:-1].encode()) for k in new)


def test_standalone_restarts_from_its_append_only_file_and_keeps_every_session(stack: Deployed, cluster: Cluster, redis_address, url: str):
    """`kubectl delete pod` (SIGTERM: Redis writes the AOF and exits; the StatefulSet starts the pod
    again on the same volume), then SIGKILL of the Redis container through containerd a second
    after the last writes (the once-per-second fsync has run; the kubelet restarts the container)."""
    check = SessionCheck(url, SESSIONS, min_pods=2, timeout=20)
    check.rounds(2)
    kept = session_keys(cluster, redis_address)
    assert len(kept) >= SESSIONS

    old = the_redis_pod(cluster)
    started = time.monotonic()
    cluster.kubectl("delete", "pod", "-n", NAMESPACE, old["metadata"]["name"], "--wait=true", timeout=120)
    new = the_redis_pod(cluster)
    assert new["metadata"]["uid"] != old["metadata"]["uid"]
    graceful_s = time.monotonic() - started
    assert kept <= session_keys(cluster, redis_address)
    check.rounds(2)

    time.sleep(1.5)
    started = time.monotonic()
    cluster.in_node("ctr", "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", container_id(new, "redis"))
    name = new["metadata"]["name"]
    wait_until("the killed Redis container restarted and ready",
               lambda: restarts(p := cluster.get("pod", "-n", NAMESPACE, name)) >= 1 and is_ready(p), 180)
    killed_s = time.monotonic() - started
    assert kept <= session_keys(cluster, redis_address)
    log = cluster.kubectl("logs", "-n", NAMESPACE, name, "-c", "redis").stdout
    assert "DB loaded from append only file" in log or "Reading RDB base file on AOF loading" in log, log[-2000:]

    check.rounds(2)
    report = check.report()
    assert report.passed, report.summary()
    assert all(r.observations[-1].counter == 6 for r in report.results)
    print(f"Redis restart from its AOF: pod deleted -> new pod ready {graceful_s:.1f} s; SIGKILL -> container ready "
          f"{killed_s:.1f} s; {len(kept)} session keys kept")


def test_standalone_while_redis_is_gone_the_application_fails_loudly(stack: Deployed, cluster: Cluster, url: str):
    """Sessions really live in Redis: with the StatefulSet scaled to 0 every request fails (the
    application does not hand out a fresh session instead), and after it is back every session
    goes on where it was."""
    check = SessionCheck(url, 4, timeout=20, allow_errors=4)
    check.rounds(1)
    cluster.kubectl("scale", "statefulset", "-n", NAMESPACE, "sessions", "--replicas=0")
    try:
        wait_until("no Redis pod", lambda: not cluster.pods(NAMESPACE, REDIS), 120)
        check.rounds(1)
        during = check.report()
        assert during.failed_requests == 4, during.summary()
        print("while Redis is gone:", sorted({o.error for r in during.results for o in r.errors}))
    finally:
        cluster.kubectl("scale", "statefulset", "-n", NAMESPACE, "sessions", "--replicas=1")
        the_redis_pod(cluster)
    wildfly_ready(cluster)
    check.rounds(2)
    report = check.report()
    assert not report.lost_sessions and not report.regressed_sessions and not report.skipped_sessions, report.summary()
    assert all(r.observations[-1].counter == 3 for r in report.results)


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
    memory stays at maxmemory instead of a buffer's size below it."""
    written, error = _fill(r, prefix)
    for _ in range(20):
        time.sleep(0.3)
        more, last = _fill(r, prefix, start=written, sizes=(64,))
        error = last or error
        if more == written:
            break
        written = more
    return written, error


def _unlink(r: Resp, prefix: str, count: int) -> None:
    """Removes the keys _fill wrote (pipelined: one round trip through the NodePort, not ``count``)."""
    for i in range(count):
        r.send("UNLINK", f"{prefix}:{i}")
    for _ in range(count):
        r.read()


def _evicted(r: Resp) -> int:
    info = r.call("INFO", "stats").decode()
    return int(next(line.split(":")[1] for line in info.splitlines() if line.startswith("evicted_keys:")))


def test_standalone_at_maxmemory_refuses_writes_and_keeps_every_session(stack: Deployed, cluster: Cluster, url: str, redis_address):
    """noeviction: a full store refuses the application's writes (errors the user and the
    monitoring see) and drops nothing; once there is room again every session goes on."""
    wildfly_ready(cluster)
    check = SessionCheck(url, SESSIONS, timeout=20, allow_errors=SESSIONS)
    check.rounds(2)
    keys = session_keys(cluster, redis_address)
    with redis(cluster, redis_address) as r:
        evicted_before = _evicted(r)
        written, error = _fill_and_hold(r, "filler")
        assert error is not None and error.startswith("OOM") and written > 100, (written, error)
        assert _evicted(r) == evicted_before
        assert keys <= set(r.call("KEYS", KEYS))
        check.rounds(1)
        full = check.report()
        assert full.failed_requests >= 1, full.summary()
        assert all(o.error.startswith("http 5") for o in full.observations if o.error)
        assert not full.lost_sessions
        print(f"Redis at maxmemory (noeviction): {full.failed_requests} of {SESSIONS} requests refused after {written} filler keys; 0 evicted")
        _unlink(r, "filler", written)
    check.rounds(2)
    report = check.report()
    assert report.passed, report.summary()
    assert not report.lost_sessions and not report.regressed_sessions


def test_standalone_negative_control_an_evicting_policy_loses_sessions(stack: Deployed, cluster: Cluster, url: str, redis_address):
    """The same pressure under volatile-lru (what a cache would use) drops live sessions, and
    verify's checker sees it: the reason the store renders noeviction."""
    check = SessionCheck(url, SESSIONS, timeout=20)
    check.rounds(2)
    with redis(cluster, redis_address) as r:
        r.call("CONFIG", "SET", "maxmemory-policy", "volatile-lru")
        written = 0
        try:
            evicted_before = _evicted(r)
            written, _ = _fill(r, "cachefill", limit=3000)
            assert written == 3000  # an evicting policy never refuses a write
            assert _evicted(r) > evicted_before
        finally:
            r.call("CONFIG", "SET", "maxmemory-policy", "noeviction")
            _unlink(r, "cachefill", written)
    check.rounds(1)
    report = check.report()
    assert report.lost_sessions and not report.passed, report.summary()


def test_standalone_a_was_pod_killed_with_sigkill_loses_no_session(cluster: Cluster, url: str):
    """With sessions in Redis the WAS pods hold nothing: after SIGKILL through containerd the
    other pod serves every session on; requests kube-proxy still sent to the dead pod may fail."""
    wildfly_ready(cluster)
    victim = cluster.ready_pods(NAMESPACE, WILDFLY)[0]
    check = SessionCheck(url, SESSIONS, min_pods=2, timeout=20, allow_errors=SESSIONS * 3)
    check.rounds(2)

    def kill_and_recover() -> None:
        cluster.in_node("ctr", "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", container_id(victim, "wildfly"))
        wait_until("the killed WildFly container restarted and ready",
                   lambda: restarts(p := cluster.get("pod", "-n", NAMESPACE, victim["metadata"]["name"])) >= 1 and is_ready(p), 300, interval=2)

    load_while(check, kill_and_recover)
    report = check.report()
    assert not report.lost_sessions and not report.regressed_sessions, report.summary()
    print(f"SIGKILL of a WAS pod, sessions in Redis: {report.failed_requests} of {report.total_requests} requests failed, 0 lost")


def test_standalone_destroy_removes_the_stack_and_its_volume(stack: Deployed, cluster: Cluster):
    volumes_before = {v["metadata"]["name"] for v in cluster.items("pv")}
    done = stack.pulumi("destroy", "--yes")
    assert done.returncode == 0, str(done)
    wait_until(f"namespace {NAMESPACE} to be gone", lambda: cluster.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0, 180, interval=2)
    wait_until("the Redis volume to be deleted", lambda: not (volumes_before & {v["metadata"]["name"] for v in cluster.items("pv")}), 120, interval=2)
