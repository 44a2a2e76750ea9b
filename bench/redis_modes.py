"""Benchmark: the Redis session store in standalone, sentinel and cluster mode, on the real cluster.

One run, one load (``--sessions`` users, each sending its next request as soon as the last one is
answered, for ``--seconds``), through the WildFly Service's NodePort (kube-proxy, no affinity):
- floor: a request the application answers without touching Redis (a 404 inside the Spring
  Session demo's context: no session cookie, no session looked up) at the same concurrency,
  measured right after each mode's session latency, on the same warm pods (each ratio is to its
  own floor: a cold JVM doubles either figure);
- session latency p50/p99 with the store in `standalone` mode (one pod), then in `sentinel`
  mode (3 pods, Redis + Sentinel each; the application asks the Sentinels for the primary), each
  after a warm-up as long as the measurement (fresh WildFly pods answer slower);
- the move between them: `pulumi config set redis.mode sentinel` and `pulumi up` while the users
  keep going (the StatefulSet grows from 1 to 3 pods and every pod is replaced, the WildFly pods
  roll to the Sentinel client): failed requests, lost sessions, counter regressions;
- the failover gaps in sentinel mode: SIGKILL of the primary's Redis and its Sentinel, and a
  `kubectl rollout restart` of the StatefulSet: failed requests, the window in which they
  failed, the slowest answer;
- then a fresh stack in `cluster` mode (Redis Cluster, 3 primaries each with a replica; a store
  does not change to or from cluster mode in place): session latency, the floor again, and the
  gaps of a SIGKILL of a primary's Redis and of a rolling restart.
Run as root, with no node running (it starts and stops its own):

    sudo .venv/bin/python bench/redis_modes.py [--seconds 30] [--sessions 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "cluster")]
from floors import pct  # noqa: E402  (bench/, the script's own directory)
from own_cluster import deployed_stack, own_node  # noqa: E402
from deployments import NAMESPACE, Deployed  # noqa: E402
from kube import Cluster, node_port  # noqa: E402
import redis_cluster_set  # noqa: E402
from redis_set import SETTINGS, container_id, named_by_sentinels, settled  # noqa: E402
from session_load import failure_window, load_while  # noqa: E402
from verify.check import SessionCheck  # noqa: E402


def floor_ms(url: str, sessions: int, seconds: float) -> dict[str, float]:
    """Latency of a request the application answers without Redis, ``sessions`` clients at once."""
    missing = url.rstrip("/") + "/no-such-page"
    samples: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                urllib.request.urlopen(missing, timeout=20).read()
            except urllib.error.HTTPError as err:
                err.read()
                if err.code != 404:
                    raise
            with lock:
                samples.append((time.perf_counter() - start) * 1000)

    threads = [threading.Thread(target=client) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"p50": pct(samples, 50), "p99": pct(samples, 99), "requests": len(samples)}


def session_load(url: str, sessions: int, seconds: float) -> dict[str, float]:
    """Session latency over ``seconds``, after as long a warm-up (the WildFly pods may have just
    started: a cold JVM doubles the figure)."""
    warm = SessionCheck(url, sessions=sessions, concurrency=sessions, min_pods=1, timeout=20)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        warm.rounds(1)
    check = SessionCheck(url, sessions=sessions, concurrency=sessions, min_pods=1, timeout=20)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        check.rounds(1)
    summary = check.report().to_dict()
    return {"p50": summary["latency_ms"]["p50"], "p99": summary["latency_ms"]["p99"], "requests": summary["total_requests"],
            "failed": summary["failed_requests"], "lost": len(summary["lost_sessions"]), "regressed": len(summary["regressed_sessions"])}


def under_load(url: str, sessions: int, action) -> dict[str, float]:
    check = SessionCheck(url, sessions=sessions, concurrency=sessions, min_pods=1, timeout=20)
    check.rounds(1)
    start = time.perf_counter()
    load_while(check, action, pause=0.0)
    took = time.perf_counter() - start
    check.rounds(1)
    summary = check.report().to_dict()
    failed, window = failure_window(check)
    return {"took_s": took, "requests": summary["total_requests"], "failed": failed, "failed_window_s": window,
            "slowest_ms": summary["latency_ms"]["max"], "lost": len(summary["lost_sessions"]),
            "regressed": sum(len(r["events"]) for r in summary["regressed_sessions"])}


def rolling_restart(cluster: Cluster, settle) -> object:
    """`kubectl rollout restart` of the store's StatefulSet, until the store has settled again."""
    cluster.kubectl("rollout", "restart", "statefulset/sessions", "-n", NAMESPACE)
    cluster.kubectl("rollout", "status", "statefulset/sessions", "-n", NAMESPACE, "--timeout=900s", timeout=960)
    return settle(cluster)


def standalone_then_sentinel(cluster: Cluster, deployed: Deployed, url: str, args) -> dict[str, object]:
    """Standalone latency and floor, the move to sentinel under load, then sentinel's figures."""
    out: dict[str, object] = {}
    out["standalone_ms"] = session_load(url, args.sessions, args.seconds)
    out["floor_standalone_ms"] = floor_ms(url, args.sessions, args.seconds)
    assert deployed.pulumi("config", "set", "sessionstack:redis.mode", "sentinel").returncode == 0
    out["standalone_to_sentinel_up"] = under_load(url, args.sessions, lambda: deployed.pulumi("up", "--yes"))
    settled(cluster)
    out["sentinel_ms"] = session_load(url, args.sessions, args.seconds)
    out["floor_sentinel_ms"] = floor_ms(url, args.sessions, args.seconds)

    def kill_primary() -> str:
        old = settled(cluster)
        victim = cluster.get("pod", "-n", NAMESPACE, old)
        for name in ("redis", "sentinel"):
            cluster.in_node("ctr", "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", container_id(victim, name))
        deadline = time.monotonic() + 120
        while not {n.split(".")[0] for n in named_by_sentinels(cluster)} - {old, ""}:
            assert time.monotonic() < deadline, "no failover"
            time.sleep(0.5)
        return settled(cluster)

    out["sentinel_sigkill_primary"] = under_load(url, args.sessions, kill_primary)
    out["sentinel_rolling_restart"] = under_load(url, args.sessions, lambda: rolling_restart(cluster, settled))
    return out


def redis_cluster(cluster: Cluster, url: str, args) -> dict[str, object]:
    """Cluster mode's latency and floor, then the gaps of a primary's SIGKILL and of a rollout."""
    out: dict[str, object] = {}
    out["cluster_ms"] = session_load(url, args.sessions, args.seconds)
    out["floor_cluster_ms"] = floor_ms(url, args.sessions, args.seconds)

    def kill_cluster_primary() -> dict[str, str]:
        primary = sorted(redis_cluster_set.settled(cluster))[0]
        pod = cluster.get("pod", "-n", NAMESPACE, primary)
        cluster.in_node("ctr", "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", container_id(pod, "redis"))
        time.sleep(2)
        return redis_cluster_set.settled(cluster)

    out["cluster_sigkill_primary"] = under_load(url, args.sessions, kill_cluster_primary)
    out["cluster_rolling_restart"] = under_load(url, args.sessions, lambda: rolling_restart(cluster, redis_cluster_set.settled))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out: dict[str, object] = {"command": " ".join(["bench/redis_modes.py", *sys.argv[1:]]), "sessions": args.sessions, "seconds": args.seconds}
    with own_node() as cluster:
        with deployed_stack(cluster, {**SETTINGS, "redis.mode": "standalone"}) as (deployed, _), \
                node_port(cluster, NAMESPACE, "wildfly") as url:
            out.update(standalone_then_sentinel(cluster, deployed, url, args))
        with deployed_stack(cluster, {**SETTINGS, "redis.mode": "cluster"}) as _, node_port(cluster, NAMESPACE, "wildfly") as url:
            out.update(redis_cluster(cluster, url, args))
    for mode in ("standalone", "sentinel", "cluster"):
        out[f"ratio_p50_{mode}"] = out[f"{mode}_ms"]["p50"] / out[f"floor_{mode}_ms"]["p50"]  # type: ignore[index]
    if args.json:
        print(json.dumps(out, indent=1))
        return
    for key, value in out.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
