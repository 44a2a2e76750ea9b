#!/usr/bin/env python3
"""Benchmark: sessions blocked during rebalances (WildFly 39 / Infinispan 16.0.5).

Runs the WildFly pod template the local stack renders (3 pods, real servers in network
namespaces) under a heavy session load and replaces one pod at a time (new pod ready and in
the view, then the oldest stopped gracefully) for ``--minutes``; every join and leave
rebalances the web-session cache. Routing is round-robin over the ready pods, or with
``--affinity`` sticky per session like the router's cookie (a session moves only when its pod
leaves). Measured:

- requests, failed requests, and which of them are session-lock timeouts (HTTP 500 after a
  full lock wait, ISPN000299 in that pod's log);
- lock holders: distinct transactions the logs name as holding a lock a request timed out on;
- per affected session, the outage: from its first failed request to its next good answer
  (sessions still failing when the load stops are retried for up to 200 s);
- lost sessions and counter regressions (lost updates);
- at the end, with no load running, threads per live pod still parked in a session write
  (CacheEntryMutator.run, from a SIGQUIT thread dump): requests that never finished.

``--transaction-mode NONE`` runs the web-session cache non-transactional instead of the
rendered BATCH, to compare.

Usage (root, after tests/realservers/setup.sh):
    .venv/bin/python bench/session_hangs.py [--minutes 12] [--affinity] [--transaction-mode NONE] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "realservers")]

from harness import ClusterHarness, PodTemplate  # noqa: E402
from harness.load import Endpoints, SessionLoad, session_lock_timeouts  # noqa: E402

BOOT_TIMEOUT = 300
_HOLDER = re.compile(r"Lock is held by GlobalTransaction\{id=(\d+), addr=([^,]+)")


def with_transaction_mode(template: PodTemplate, mode: str) -> PodTemplate:
    """The template with the web-session cache's transaction mode set to ``mode``."""
    line = ("/subsystem=infinispan/cache-container=web/distributed-cache=dist/component=transaction:"
            f"write-attribute(name=mode, value={mode})\n")
    for data in template.configmaps.values():
        if "configure.cli" in data and "\nrun-batch" in data["configure.cli"]:
            data["configure.cli"] = data["configure.cli"].replace("\nrun-batch", "\n" + line + "run-batch", 1)
            return template
    raise SystemExit("no configure.cli with a batch in the rendered ConfigMaps")


def run(template: PodTemplate, minutes: float, sessions: int, workers: int, affinity: bool) -> dict:
    with ClusterHarness(template) as cluster:
        pods = cluster.start_pods(3)
        cluster.wait_view(pods, timeout=BOOT_TIMEOUT)
        cluster.wait_ready(pods, timeout=BOOT_TIMEOUT)
        endpoints = Endpoints(pods, period=1.0, failure_threshold=template.readiness_failure_threshold)
        load = SessionLoad(endpoints, sessions=sessions, workers=workers, timeout=30, think_time=0.0,
                           affinity=affinity)
        try:
            load.warm_up()
            load.start(duration=minutes * 60 + 600)
            t0, rounds = time.monotonic(), 0
            while time.monotonic() - t0 < minutes * 60:
                cluster.replace_pod(cluster.live_pods[0], endpoints, boot_timeout=BOOT_TIMEOUT)
                rounds += 1
            load.stop()
            still_failing = load.settle(timeout=200)
            hung = {p.name: len(p.stuck_session_writes()) for p in cluster.live_pods}
        finally:
            load.stop()
            endpoints.close()
        st = load.stats
        lock_failures = session_lock_timeouts(st.failures, cluster.pods)
        logs = [p.log_text() for p in cluster.pods]
    holders = {m.groups() for text in logs for m in _HOLDER.finditer(text)}
    return {
        "rounds": rounds, "requests": st.requests, "ok": st.ok, "failed": st.failed,
        "lock_timeout_failures": len(lock_failures),
        "other_failures": [f"{f.pod}: {f.error}" for f in st.failures if f not in lock_failures][:20],
        "lock_holders": len(holders),
        "outages_s": sorted(round(v, 1) for v in st.outages_s.values()),
        "still_failing": still_failing, "lost_sessions": len(st.lost_sessions),
        "hung_session_writes": hung,
        "regressions": st.regressions,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--affinity", action="store_true", help="sticky sessions instead of round-robin")
    parser.add_argument("--transaction-mode", choices=["BATCH", "NONE"], default=None,
                        help="override the web-session cache's transaction mode (rendered: BATCH)")
    parser.add_argument("--sessions", type=int, default=60)
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])

    from offline import mockrun
    template = PodTemplate.from_rendered(mockrun.run_stack("local").kubernetes_objects())
    if args.transaction_mode is not None:
        template = with_transaction_mode(template, args.transaction_mode)
    results = {"command": command, "affinity": args.affinity,
               "transaction_mode": args.transaction_mode or "BATCH",
               **run(template, args.minutes, args.sessions, args.workers, args.affinity)}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"command: {command}")
        print(f"transaction mode {results['transaction_mode']}, {'affinity' if args.affinity else 'round-robin'}, "
              f"{args.sessions} sessions / {args.workers} workers, "
              f"{results['rounds']} pod replacements")
        print(f"requests {results['requests']}, ok {results['ok']}, failed {results['failed']} "
              f"(lock timeouts {results['lock_timeout_failures']}, other {len(results['other_failures'])})")
        print(f"lock holders {results['lock_holders']}; outages per affected session (s): "
              f"{results['outages_s']}; still failing {results['still_failing']}")
        for other in results["other_failures"]:
            print(f"other failure: {other}")
        print(f"lost sessions {results['lost_sessions']}, regressions {results['regressions']}; "
              f"threads stuck in a session write at the end, per live pod: {results['hung_session_writes']}")
    bad = results["other_failures"] or results["still_failing"] or results["lost_sessions"] or results["regressions"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
