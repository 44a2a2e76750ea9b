#!/usr/bin/env python3
"""Session read/write latency: Redis (Spring Session) vs Infinispan replication (WildFly HA).

Both stacks run on the real-server harness (network namespaces, tests/realservers/) from the
objects the program renders for the local stack (offline.mockrun), with
wildfly.sessionBackend redis or infinispan:

- redis:      2 WildFly pods (standalone.xml) with the Spring Session demo WAR, sessions in
              Redis (Debian redis-server from the rendered redis.conf / Secret);
- infinispan: 2 WildFly pods (standalone-ha.xml, KUBE_PING, the ConfigMap JSP demo), sessions
              replicated by Infinispan (cache owners 2).

Each gets the same load through nginx round-robin (no affinity): every demo request reads the
session, increments the counter and writes the session back, so its latency is the session
read/write path as a user sees it (HTTP + app + session store). Measured with verify's checker
after a warm-up; the run fails (exit 1) if any session was lost, since figures from a broken
stack would mean nothing.

Usage (root; after tests/realservers/setup.sh and tests/realservers/redis/setup.sh):
    .venv/bin/python bench/redis_vs_infinispan.py [--sessions 16] [--requests 50] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "realservers" / "redis")]

from redis_stack import NginxFront, RedisStack, render  # noqa: E402
from tests.realservers.harness import ClusterHarness, Network, PodTemplate  # noqa: E402
from verify.check import run_check  # noqa: E402


class InfinispanStack:
    def __init__(self) -> None:
        rendered = render(backend="infinispan")
        template = PodTemplate.from_rendered(rendered.objects, rendered.wildfly_deployment()["metadata"]["name"])
        self.workdir = Path(tempfile.mkdtemp(prefix="sessionstack-bench-"))
        self.workdir.chmod(0o755)
        self.network = Network()
        self.harness = ClusterHarness(template, namespace="sessionstack", network=self.network,
                                      workdir=self.workdir)
        self.front = None
        try:
            pods = self.harness.start_pods(2)
            self.harness.wait_ready(pods, timeout=300)
            self._wait_cluster(pods, timeout=120)
            self.front = NginxFront(self.network.add_host("front"), self.workdir)
            self.front.start([f"{p.ip}:8080" for p in pods])
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _wait_cluster(pods, timeout: float) -> None:
        """Until some pod logged a view with every pod in it. (The coordinator does not log the
        views that others join, so ClusterHarness.wait_view, which wants every pod to have
        logged the full view, can wait forever here; the session check below is the verdict.)"""
        expected = sorted(p.node_name for p in pods)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(sorted(p.view() or []) == expected for p in pods):
                return
            time.sleep(0.2)
        raise RuntimeError(f"no cluster view {expected} after {timeout}s: { {p.name: p.view() for p in pods} }")

    @property
    def url(self) -> str:
        return self.front.url

    @property
    def pods(self):
        return self.harness.live_pods

    def close(self) -> None:
        if self.front:
            self.front.stop()
        self.harness.close()
        self.network.close()


def measure(name: str, factory, args) -> dict:
    t0 = time.monotonic()
    stack = factory()
    try:
        startup = time.monotonic() - t0
        warm = run_check(stack.url, sessions=args.sessions, requests=args.warmup,
                         concurrency=args.concurrency, min_pods=2)
        report = run_check(stack.url, sessions=args.sessions, requests=args.requests,
                           concurrency=args.concurrency, min_pods=2)
        result = {
            "backend": name,
            "startup_s": round(startup, 1),
            "warmup_passed": warm.passed,
            "passed": report.passed,
            "summary": report.summary(),
            "requests": report.total_requests,
            "failed": report.failed_requests,
            "req_per_s": round(report.total_requests / report.duration_s, 1),
            "latency_ms": report.latency_ms,
            "pods": report.pod_counts,
            "affinity": report.affinity["kind"],
        }
    finally:
        stack.close()
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=16)
    p.add_argument("--requests", type=int, default=50, help="measured requests per session")
    p.add_argument("--warmup", type=int, default=10, help="warm-up requests per session (not measured)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--only", choices=["redis", "infinispan"], default=None)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("bench: needs root (network namespaces)", file=sys.stderr)
        return 2

    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    load_before = os.getloadavg()
    results = []
    for name, factory in (("redis", lambda: RedisStack(wildfly_pods=2)), ("infinispan", InfinispanStack)):
        if args.only and name != args.only:
            continue
        print(f"bench: {name}: starting 2 WildFly pods + nginx ...", file=sys.stderr, flush=True)
        results.append(measure(name, factory, args))
    load_after = os.getloadavg()

    if args.json:
        print(json.dumps({"command": command, "cores": os.cpu_count(), "load_before": load_before,
                          "load_after": load_after, "results": results}, indent=2))
    else:
        print(f"command: {command}")
        print(f"machine: {os.cpu_count()} cores, load average {load_before[0]:.2f} before, "
              f"{load_after[0]:.2f} after (shared machine: other work adds noise)")
        print(f"load:    {args.sessions} sessions x {args.requests} requests, {args.concurrency} "
              f"concurrent, nginx round-robin over 2 WildFly pods, after {args.warmup} warm-up "
              f"requests per session")
        print()
        print(f"{'backend':<11} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>8} "
              f"{'failed':>7}  {'verdict'}")
        for r in results:
            lat = r["latency_ms"] or {"p50": "-", "p90": "-", "p99": "-", "max": "-"}
            print(f"{r['backend']:<11} {lat['p50']:>8} {lat['p90']:>8} {lat['p99']:>8} {lat['max']:>8} "
                  f"{r['req_per_s']:>8} {r['failed']:>7}  {r['summary']}")
        print()
        for r in results:
            print(f"{r['backend']}: started in {r['startup_s']} s; pods {r['pods']}; affinity {r['affinity']}")
    return 0 if all(r["passed"] and r["warmup_passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
