#!/usr/bin/env python3
"""Benchmark: WildFly session clustering on real servers (the tests/realservers harness).

Runs the WildFly pod template the local stack renders (offline.mockrun) as processes in
network namespaces, discovery through the KUBE_PING pod-list stand-in, and measures:

- formation:   time from the last of 3 pods' start to the view of 3 (each pod also boots);
- failover:    per kill -9 of a serving pod: failed requests (round robin over all three
               addresses until the dead one leaves) and the gap from the kill to the first
               answer that carried the session on; the pod is replaced after each kill;
- visibility:  write on one pod, then read on another: latency of that read (it blocks on the
               session lock until the write's commit reached the owners) p50/p99, and how
               many reads did not see the write (stale);
- throughput:  requests/s through 1 pod vs through 3 pods at the same client load
               (same sessions, workers and duration), no think time: round-robin, and with
               cookie affinity (each session stays on one pod, as the router keeps it);
- floors, in the same run (bench/floors.py): one pod's boot to ready alone (for formation),
  the TCP and the plain-HTTP round trip between namespaces (for visibility), and the writer
  pod's own answer to the write (a WildFly request without replication in the way).

Figures are what this run measured on this machine (2 shared cores run the JVMs, the client
and the stand-ins alike), printed with the command that produced them; `--json` also carries
the flat keys visibility_p50_ms, visibility_p99_ms, rtt_floor_ms, http_floor_ms, formation_s,
boot_floor_s, ready_together_s, rps_1pod, rps_3pods_round_robin, rps_3pods_affinity.

Usage (root, after tests/realservers/setup.sh):
    .venv/bin/python bench/realservers.py [--kills 2] [--pairs 300] [--seconds 15] [--json]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "realservers"), str(ROOT / "tests" / "cluster"), str(ROOT / "bench")]

from sessionstack import wildfly_config as wc  # noqa: E402
from harness import ClusterHarness, PodTemplate  # noqa: E402
from session_client import SessionClient  # noqa: E402
from session_traffic import Endpoints, SessionLoad  # noqa: E402
from floors import network_floors, pct  # noqa: E402

BOOT_TIMEOUT = 300


def measure_failover(cluster: ClusterHarness, pods: list) -> dict:
    client = SessionClient("bench-failover")
    last = None
    for i in range(6):
        last = client.get(pods[i % 3].ip, wc.HTTP_PORT, wc.DEMO_CONTEXT_PATH)
    time.sleep(1.0)  # think time after the last answer (see the failover test on in-flight writes)
    victim = next(p for p in pods if p.name == last.pod)
    killed_at = time.monotonic()
    cluster.kill_pod(victim)
    failed, first_ok, counter, intact = 0, None, last.counter, True
    for i in range(9):
        try:
            r = client.get(pods[i % 3].ip, wc.HTTP_PORT, wc.DEMO_CONTEXT_PATH, timeout=30)
        except OSError:
            failed += 1
            continue
        intact &= r.counter == counter + 1 and r.session == last.session
        counter = r.counter
        first_ok = first_ok or time.monotonic()
    cluster.stop_pod(victim, graceful=False)
    return {"failed": failed, "gap_ms": (first_ok - killed_at) * 1000, "session_intact": intact,
            "victim": victim.name}


def measure_visibility(pods: list, pairs: int) -> dict:
    latencies, own, stale = [], [], 0
    for i in range(pairs):
        client = SessionClient(f"vis{i}")
        writer, reader = pods[i % 3], pods[(i + 1) % 3]
        w = client.get(writer.ip, wc.HTTP_PORT, wc.DEMO_CONTEXT_PATH)
        w2 = client.get(writer.ip, wc.HTTP_PORT, wc.DEMO_CONTEXT_PATH)  # the write under test
        own.append(w2.elapsed_ms)
        t0 = time.monotonic()
        r = client.get(reader.ip, wc.HTTP_PORT, wc.DEMO_CONTEXT_PATH)
        latencies.append((time.monotonic() - t0) * 1000)
        if r.counter != w2.counter + 1 or w.session != r.session:
            stale += 1
    return {"pairs": pairs, "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99), "stale": stale,
            "writer_p50_ms": pct(own, 50)}


def measure_throughput(pods: list, seconds: float, sessions: int, workers: int, affinity: bool = False) -> dict:
    endpoints = Endpoints(pods, period=1.0)
    load = SessionLoad(endpoints, sessions=sessions, workers=workers, timeout=30, affinity=affinity)
    try:
        load.warm_up()
        before = load.stats.ok
        t0 = time.monotonic()
        load.start(duration=seconds)
        time.sleep(seconds)
        stats = load.stop()
        elapsed = time.monotonic() - t0
    finally:
        endpoints.close()
    ok = stats.ok - before
    return {"pods": len(pods), "affinity": affinity, "rps": ok / elapsed, "failed": stats.failed,
            "lost": len(stats.lost_sessions), "regressions": stats.regressions,
            "p50_ms": stats.percentile(50), "p99_ms": stats.percentile(99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])

    from offline import mockrun
    template = PodTemplate.from_rendered(mockrun.run_stack("local").kubernetes_objects())
    results: dict = {"command": command, "template": template.source}
    with ClusterHarness(template) as cluster:
        results["floors"] = network_floors(cluster.network, cluster.workdir)
        alone = cluster.add_pod()
        results["boot_floor_s"] = alone.wait_ready(BOOT_TIMEOUT)
        cluster.stop_pod(alone, graceful=False)

        pods = cluster.start_pods(3)
        last_start = max(p.started_at for p in pods)
        # Each pod's own start -> ready, watched while the view forms: what formation costs
        # beyond booting three pods at once on this machine (start.sh's configure step included).
        with ThreadPoolExecutor(len(pods)) as watchers:
            ready = [watchers.submit(p.wait_ready, BOOT_TIMEOUT) for p in pods]
            results["formation_s"] = cluster.wait_view(pods, timeout=BOOT_TIMEOUT) - last_start
            results["ready_together_s"] = max(p.started_at + r.result() for p, r in zip(pods, ready)) - last_start

        results["throughput"] = [
            measure_throughput(pods[:1], args.seconds, args.sessions, args.workers),
            measure_throughput(pods, args.seconds, args.sessions, args.workers),
            measure_throughput(pods, args.seconds, args.sessions, args.workers, affinity=True),
        ]
        # After the throughput runs: every pod has served thousands of requests (JIT-compiled
        # paths, as a server in service has), and the machine is idle again.
        results["visibility"] = measure_visibility(pods, args.pairs)
        kills = []
        for _ in range(args.kills):
            kills.append(measure_failover(cluster, pods))
            pods = [p for p in pods if p.running]
            new = cluster.add_pod()
            cluster.wait_ready([new], timeout=BOOT_TIMEOUT)
            pods.append(new)
            cluster.wait_view(pods, timeout=120)
        results["failover"] = kills

    v, floors, t = results["visibility"], results["floors"], results["throughput"]
    results.update({
        "visibility_p50_ms": v["p50_ms"], "visibility_p99_ms": v["p99_ms"],
        "rtt_floor_ms": floors["tcp_rtt_p50_ms"], "http_floor_ms": floors["http_rtt_p50_ms"],
        "rps_1pod": t[0]["rps"], "rps_3pods_round_robin": t[1]["rps"], "rps_3pods_affinity": t[2]["rps"],
    })
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"command: {command}")
    print(f"template: {results['template']} (WildFly {wc.WILDFLY_VERSION}, 3 pods, cache owners from the rendered config)")
    print(f"floors: TCP round trip p50 {floors['tcp_rtt_p50_ms']:.3f} ms (p99 {floors['tcp_rtt_p99_ms']:.3f}), "
          f"plain HTTP request p50 {floors['http_rtt_p50_ms']:.2f} ms (p99 {floors['http_rtt_p99_ms']:.2f}), "
          f"one pod's boot alone {results['boot_floor_s']:.1f} s")
    print(f"formation (last pod start -> view of 3): {results['formation_s']:.2f} s "
          f"({results['formation_s'] / results['boot_floor_s']:.2f}x one pod's boot alone; the three pods "
          f"were ready {results['ready_together_s']:.2f} s after the last start)")
    for i, k in enumerate(results["failover"], 1):
        print(f"failover kill {i}: failed requests {k['failed']}, kill -> first good answer {k['gap_ms']:.0f} ms, "
              f"session intact {k['session_intact']}")
    print(f"replication visibility (write on A, read on B; {v['pairs']} pairs): "
          f"p50 {v['p50_ms']:.1f} ms ({v['p50_ms'] / floors['tcp_rtt_p50_ms']:.0f}x the TCP floor, "
          f"{v['p50_ms'] / floors['http_rtt_p50_ms']:.1f}x the HTTP floor), p99 {v['p99_ms']:.1f} ms, "
          f"stale reads {v['stale']}; the write itself on A: p50 {v['writer_p50_ms']:.1f} ms")
    for run in t:
        print(f"throughput via {run['pods']} pod(s){' with affinity' if run['affinity'] else ''}, {args.sessions} sessions / "
              f"{args.workers} workers / {args.seconds:.0f} s: {run['rps']:.0f} req/s ({run['rps'] / t[0]['rps']:.2f}x 1 pod; "
              f"p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms, "
              f"failed {run['failed']}, lost {run['lost']}, regressions {run['regressions']})")
    bad = v["stale"] or any(not k["session_intact"] for k in results["failover"]) or any(
        run["lost"] or run["regressions"] for run in t)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
