#!/usr/bin/env python3
"""Session read/write latency: Redis (Spring Session) vs Infinispan replication (WildFly HA), on
the real cluster.

Starts its own single-node Kubernetes (tools/cluster) and deploys the cluster stack with the real
engine (tests/cluster/deployments.deploy), one stack at a time (one node, one namespace):

- infinispan: the default cluster stack: 2 WildFly pods (standalone-ha.xml, KUBE_PING, the JSP
              demo), sessions replicated by Infinispan (cache owners 2);
- redis:      the redis variant (tests/cluster/redis_set.SETTINGS: wildfly.sessionBackend redis,
              the Spring Session demo image): 2 WildFly pods, sessions in the Redis store in
              its default mode, sentinel (3 pods; the application asks the Sentinels).

Each gets the same load through the WildFly Service's NodePort (kube-proxy, no affinity): every
demo request reads the session, increments the counter and writes it back, so its latency is the
session read/write path as a user sees it (HTTP + app + session store). verify's checker sends it,
after a warm-up (`--warmup` requests per session, not measured); right after, on the same warm
pods and at the same concurrency, the floor: a 404 inside the demo context (no session looked up;
bench/redis_modes.floor_ms). Each backend's figures read as ratios to its own floor.

Rounds: each round deploys, measures and destroys both stacks in turn (alternating which goes
first), so background load falls on both alike; a deployment costs 1-2 min, hence `--rounds 1` by
default. The run fails (exit 1) if any check of verify failed, in the warm-up or the measured
requests (a session lost, a counter that went back), since figures from a broken stack would mean
nothing; the table still prints, with each failure's trail. (`regressed` counts sessions.) Run as root, with no node running (it starts and stops its own), under
the shared cluster lock:

    sudo .venv/bin/python bench/redis_vs_infinispan.py \\
        [--sessions 16] [--requests 25] [--warmup 10] [--concurrency 8] [--rounds 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "cluster")]
from floors import pct  # noqa: E402  (bench/, the script's own directory)
from own_cluster import deployed_stack, own_node  # noqa: E402
from wildfly_sessions import log  # noqa: E402
from redis_modes import floor_ms  # noqa: E402
from verify.check import run_check  # noqa: E402

BACKENDS = ("infinispan", "redis")


def settings(backend: str) -> dict[str, str]:
    from redis_set import SETTINGS
    return dict(SETTINGS) if backend == "redis" else {}


def problems(phase: str, report) -> list[str]:
    out = []
    for r in report.results:
        events = r.lost + r.regressed + r.skipped + [f"request {o.index + 1}: {o.error}" for o in r.errors]
        if events:
            trail = " ".join(f"{o.pod[-5:] if o.pod else '-'}:{o.counter if o.ok else 'ERR'}" for o in r.observations)
            out.append(f"{phase}, user {r.user}: {'; '.join(events)}\n    answers (pod:counter): {trail}")
    return out


def one_round(cluster, backend: str, k: int, args, into: dict) -> None:
    """Deploys ``backend``'s stack, warms it, measures session latency and then its floor, destroys it."""
    from deployments import NAMESPACE
    from kube import node_port
    with deployed_stack(cluster, settings(backend)) as (_, up_s), node_port(cluster, NAMESPACE, "wildfly") as url:
        into["up_s"].append(round(up_s, 1))
        log(f"round {k + 1}: {backend}: warm-up")
        warm = run_check(url, sessions=args.sessions, requests=args.warmup, concurrency=args.concurrency, min_pods=2, timeout=20)
        into["verdicts"].append(warm.summary())
        into["problems"] += problems(f"round {k + 1} warm-up", warm)
        log(f"round {k + 1}: {backend}: measured")
        report = run_check(url, sessions=args.sessions, requests=args.requests, concurrency=args.concurrency, min_pods=2, timeout=20)
        lat = [o.elapsed_ms for o in report.observations if o.ok]
        into["latencies"] += lat
        into["round_p50"].append(round(pct(lat, 50), 2))
        into["requests"] += report.total_requests
        into["failed"] += report.failed_requests
        into["lost"] += len(report.lost_sessions)
        into["regressed"] += len(report.regressed_sessions)
        into["duration_s"] += report.duration_s
        for pod, n in report.pod_counts.items():
            into["pods"][pod[-5:]] = into["pods"].get(pod[-5:], 0) + n
        into["verdicts"].append(report.summary())
        into["problems"] += problems(f"round {k + 1}", report)
        log(f"round {k + 1}: {backend}: floor")
        floor = floor_ms(url.rstrip("/") + "/session-demo", args.concurrency, args.floor_seconds)
        into["floors"].append({key: round(value, 2) for key, value in floor.items()})


def summarize(r: dict) -> dict:
    lat = r.pop("latencies")
    r["latency_ms"] = {"p50": round(pct(lat, 50), 2), "p90": round(pct(lat, 90), 2), "p99": round(pct(lat, 99), 2),
                       "max": round(max(lat), 2)} if lat else {}
    floor_p50 = sorted(f["p50"] for f in r["floors"])[len(r["floors"]) // 2] if r["floors"] else float("nan")
    r["floor_p50_ms"] = floor_p50
    r["ratio_p50_to_floor"] = round(r["latency_ms"]["p50"] / floor_p50, 2) if lat else None
    r["req_per_s"] = round(r["requests"] / r["duration_s"], 1) if r["duration_s"] else 0.0
    r["passed"] = not r["lost"] and not r["regressed"] and all(v == "PASS" for v in r["verdicts"])
    return r


def print_table(out: dict, args) -> None:
    print(f"command: {out['command']}")
    print(f"machine: {os.cpu_count()} cores, load average {out['load_before'][0]:.2f} before, {out['load_after'][0]:.2f} after; "
          f"one stack at a time on the one node")
    print(f"load:    {args.sessions} sessions x {args.requests} requests x {args.rounds} round(s) per backend, {args.concurrency} "
          f"concurrent, NodePort (kube-proxy, no affinity) over 2 WildFly pods, after {args.warmup} warm-up requests per session; "
          f"floor: a 404 in the demo context, {args.concurrency} concurrent, {args.floor_seconds:.0f} s, right after")
    print()
    print(f"{'backend':<11} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'floor p50/p99 ms':>17} {'p50/floor':>9} "
          f"{'req/s':>7} {'failed':>6} {'lost':>4} {'regressed':>9}  verdict")
    for r in out["results"]:
        lat = r["latency_ms"] or {"p50": "-", "p90": "-", "p99": "-", "max": "-"}
        floors = "; ".join(f"{f['p50']}/{f['p99']}" for f in r["floors"])
        verdict = "PASS" if r["passed"] else next((v for v in r["verdicts"] if v != "PASS"), "FAIL")
        print(f"{r['backend']:<11} {lat['p50']:>8} {lat['p90']:>8} {lat['p99']:>8} {lat['max']:>8} {floors:>17} "
              f"{r['ratio_p50_to_floor']:>9} {r['req_per_s']:>7} {r['failed']:>6} {r['lost']:>4} {r['regressed']:>9}  {verdict}")
    print()
    for r in out["results"]:
        print(f"{r['backend']}: pulumi up {r['up_s']} s; p50 per round {r['round_p50']}; requests per pod {r['pods']}")
        for line in r["problems"][:10]:
            print(f"{r['backend']} problem: {line}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=16)
    p.add_argument("--requests", type=int, default=25, help="measured requests per session and round")
    p.add_argument("--warmup", type=int, default=10, help="warm-up requests per session (not measured)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--floor-seconds", type=float, default=10.0, help="how long the floor's 404s are sent")
    p.add_argument("--rounds", type=int, default=1, help="rounds; each deploys both stacks in turn, alternating the order")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    command = " ".join(shlex.quote(a) for a in ["bench/redis_vs_infinispan.py", *sys.argv[1:]])
    results = {b: {"backend": b, "up_s": [], "latencies": [], "round_p50": [], "floors": [], "requests": 0, "failed": 0, "lost": 0,
                   "regressed": 0, "duration_s": 0.0, "pods": {}, "verdicts": [], "problems": []} for b in BACKENDS}
    load_before = os.getloadavg()
    started = time.monotonic()
    with own_node() as cluster:
        for k in range(args.rounds):
            for backend in (BACKENDS if k % 2 == 0 else tuple(reversed(BACKENDS))):
                one_round(cluster, backend, k, args, results[backend])
    out = {"command": command, "cores": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg(),
           "wall_s": round(time.monotonic() - started, 1), "results": [summarize(r) for r in results.values()]}
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print_table(out, args)
    return 0 if all(r["passed"] for r in out["results"]) else 1


if __name__ == "__main__":
    sys.exit(main())
