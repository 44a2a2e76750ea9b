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

Both stacks run side by side and are measured in alternating rounds, so the background load of
a shared machine falls on both alike; the per-round medians show how much it moved.

Usage (root; after tests/realservers/setup.sh and tests/realservers/redis/setup.sh):
    .venv/bin/python bench/redis_vs_infinispan.py [--sessions 16] [--requests 25] [--rounds 4]
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
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "realservers"), str(ROOT / "tests" / "realservers" / "redis")]

from redis_stack import NginxFront, RedisStack, render  # noqa: E402
from harness import ClusterHarness, Network, PodTemplate  # noqa: E402
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


def _problems(phase: str, report) -> list[str]:
    out = []
    for r in report.results:
        events = r.lost + r.regressed + r.skipped + [f"request {o.index + 1}: {o.error}" for o in r.errors]
        if events:
            trail = " ".join(f"{o.pod[-5:] if o.pod else '-'}:{o.counter if o.ok else 'ERR'}" for o in r.observations)
            out.append(f"{phase}, user {r.user}: {'; '.join(events)}\n    answers (pod:counter): {trail}")
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))], 2)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=16)
    p.add_argument("--requests", type=int, default=25, help="measured requests per session and round")
    p.add_argument("--rounds", type=int, default=4,
                   help="measurement rounds; each round measures both backends, alternating, so "
                        "background load on the shared machine hits both alike")
    p.add_argument("--warmup", type=int, default=10, help="warm-up requests per session (not measured)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("bench: needs root (network namespaces)", file=sys.stderr)
        return 2

    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    stacks: dict[str, object] = {}
    results: dict[str, dict] = {}
    try:
        for name, factory in (("redis", lambda: RedisStack(wildfly_pods=2)), ("infinispan", InfinispanStack)):
            print(f"bench: {name}: starting 2 WildFly pods + nginx ...", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            stacks[name] = factory()
            results[name] = {"backend": name, "startup_s": round(time.monotonic() - t0, 1), "latencies": [],
                             "round_p50": [], "requests": 0, "failed": 0, "duration_s": 0.0,
                             "pods": {}, "verdicts": [], "problems": []}
        load_before = os.getloadavg()
        for name, stack in stacks.items():
            warm = run_check(stack.url, sessions=args.sessions, requests=args.warmup,
                             concurrency=args.concurrency, min_pods=2)
            results[name]["verdicts"].append(warm.summary())
            results[name]["problems"] += _problems("warm-up", warm)
        for k in range(args.rounds):
            order = list(stacks) if k % 2 == 0 else list(reversed(stacks))
            for name in order:
                print(f"bench: round {k + 1}/{args.rounds}: {name}", file=sys.stderr, flush=True)
                report = run_check(stacks[name].url, sessions=args.sessions, requests=args.requests,
                                   concurrency=args.concurrency, min_pods=2)
                r = results[name]
                lat = [o.elapsed_ms for o in report.observations if o.ok]
                r["latencies"] += lat
                r["round_p50"].append(percentile(lat, 50) if lat else None)
                r["requests"] += report.total_requests
                r["failed"] += report.failed_requests
                r["duration_s"] += report.duration_s
                for pod, n in report.pod_counts.items():
                    r["pods"][pod] = r["pods"].get(pod, 0) + n
                r["verdicts"].append(report.summary())
                r["problems"] += _problems(f"round {k + 1}", report)
        load_after = os.getloadavg()
    finally:
        for stack in stacks.values():
            stack.close()

    rows = []
    for r in results.values():
        lat = r.pop("latencies")
        r["latency_ms"] = ({"p50": percentile(lat, 50), "p90": percentile(lat, 90), "p99": percentile(lat, 99),
                            "max": round(max(lat), 2)} if lat else {})
        r["req_per_s"] = round(r["requests"] / r["duration_s"], 1) if r["duration_s"] else 0.0
        r["passed"] = all(v == "PASS" for v in r["verdicts"])
        rows.append(r)
    if args.json:
        print(json.dumps({"command": command, "cores": os.cpu_count(), "load_before": load_before,
                          "load_after": load_after, "results": rows}, indent=2))
    else:
        print(f"command: {command}")
        print(f"machine: {os.cpu_count()} cores, load average {load_before[0]:.2f} before, "
              f"{load_after[0]:.2f} after (shared machine: other work adds noise)")
        print(f"load:    {args.sessions} sessions x {args.requests} requests x {args.rounds} rounds per backend "
              f"(alternating), {args.concurrency} concurrent, nginx round-robin over 2 WildFly pods, after "
              f"{args.warmup} warm-up requests per session")
        print()
        print(f"{'backend':<11} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>8} "
              f"{'failed':>7}  {'p50 per round':<28} verdict")
        for r in rows:
            lat = r["latency_ms"] or {"p50": "-", "p90": "-", "p99": "-", "max": "-"}
            verdict = "PASS" if r["passed"] else next(v for v in r["verdicts"] if v != "PASS")
            print(f"{r['backend']:<11} {lat['p50']:>8} {lat['p90']:>8} {lat['p99']:>8} {lat['max']:>8} "
                  f"{r['req_per_s']:>8} {r['failed']:>7}  {str(r['round_p50']):<28} {verdict}")
        print()
        for r in rows:
            print(f"{r['backend']}: started in {r['startup_s']} s; requests per pod {r['pods']}")
        for r in rows:
            for line in r["problems"][:10]:
                print(f"{r['backend']} problem: {line}")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
