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

``--configs`` names the configurations to compare; they run side by side in alternating rounds
(round 1: every configuration once per routing, then round 2, ...), so each sees the same machine
load. A configuration is the rendered pod template with a few jboss-cli lines added before
`run-batch` (or, for the shutdown path, another preStop hook):

- ``rendered``: what the component renders today (no file store for web sessions since
  sessionstack-components 1.1.0: sessions in memory only, on their owners);
- ``file-store``: the web-session cache with WildFly 39's default passivating file store, which
  the component rendered before 1.1.0;
- ``stop-timeout``: the transaction ``stop-timeout`` raised from 10 s to 30 s so a leaving pod
  finishes the remote transactions still in flight (ISPN000100 at every stop);
- ``cli-shutdown``: the pod stopped by one management ``:shutdown`` with the suspend timeout
  from its preStop hook instead of the SIGTERM suspend;
- ``non-transactional``: the cache with transaction mode NONE (loses updates; for comparison).

Usage (root, after tests/realservers/setup.sh):
    .venv/bin/python bench/session_hangs.py [--minutes 10] [--rounds 3] [--routing both]
        [--configs rendered,file-store,stop-timeout,cli-shutdown] [--json]
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "realservers"), str(ROOT / "tests" / "cluster"), str(ROOT / "bench")]

from harness import ClusterHarness, PodTemplate  # noqa: E402
from session_traffic import Endpoints, SessionLoad, session_lock_timeouts  # noqa: E402

BOOT_TIMEOUT = 300
_HOLDER = re.compile(r"Lock is held by GlobalTransaction\{id=(\d+), addr=([^,]+)")


DIST = "/subsystem=infinispan/cache-container=web/distributed-cache=dist"
FILE_STORE = f"{DIST}/store=file:add(passivation=true, purge=true)"
STOP_TIMEOUT = f"{DIST}/component=transaction:write-attribute(name=stop-timeout, value=30000)"
NON_TRANSACTIONAL = f"{DIST}/component=transaction:write-attribute(name=mode, value=NONE)"
CLI_SHUTDOWN = ["/bin/sh", "-c", 'sleep 5; exec "$JBOSS_HOME/bin/jboss-cli.sh" --connect --controller="$POD_IP:9990" '
                '--command=":shutdown(suspend-timeout=20)"']
CONFIGS: dict[str, tuple[list[str], list[str] | None]] = {
    # name: (jboss-cli lines added to the batch, preStop command or None for the rendered one)
    "rendered": ([], None),  # no file store since sessionstack-components 1.1.0
    "file-store": ([FILE_STORE], None),  # WildFly 39's default, what sessionstack rendered before
    "stop-timeout": ([STOP_TIMEOUT], None),
    "cli-shutdown": ([], CLI_SHUTDOWN),
    "non-transactional": ([NON_TRANSACTIONAL], None),
}


def configured(template: PodTemplate, name: str) -> PodTemplate:
    """A copy of the rendered template with configuration ``name`` applied."""
    lines, pre_stop = CONFIGS[name]
    template = copy.deepcopy(template)
    if pre_stop is not None:
        template.pre_stop = list(pre_stop)
    if not lines:
        return template
    for data in template.configmaps.values():
        if "configure.cli" in data and "\nrun-batch" in data["configure.cli"]:
            data["configure.cli"] = data["configure.cli"].replace("\nrun-batch", "\n" + "\n".join(lines) + "\nrun-batch", 1)
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
    parser.add_argument("--minutes", type=float, default=10.0, help="per run (one configuration, one routing)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--routing", choices=["round-robin", "affinity", "both"], default="both")
    parser.add_argument("--configs", default="rendered,file-store",
                        help=f"comma-separated, from {', '.join(CONFIGS)}")
    parser.add_argument("--sessions", type=int, default=60)
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; known: {', '.join(CONFIGS)}")
    routings = [False, True] if args.routing == "both" else [args.routing == "affinity"]

    from offline import mockrun
    rendered = PodTemplate.from_rendered(mockrun.run_stack("local").kubernetes_objects())
    runs = []
    for round_no in range(1, args.rounds + 1):
        for affinity in routings:
            for name in names:
                result = {"round": round_no, "config": name, "affinity": affinity,
                          **run(configured(rendered, name), args.minutes, args.sessions, args.workers, affinity)}
                runs.append(result)
                if not args.json:
                    print(line(result), flush=True)
    if args.json:
        print(json.dumps({"command": command, "runs": runs}, indent=2))
    else:
        print(f"command: {command}")
        print(f"{'configuration':<20} {'routing':<12} {'runs':>4} {'requests':>9} {'lock t/o':>8} {'other':>5} {'lost':>4} {'regr':>5} {'stuck':>5}")
        for name in names:
            for affinity in routings:
                rs = [r for r in runs if r["config"] == name and r["affinity"] == affinity]
                print(f"{name:<20} {'affinity' if affinity else 'round-robin':<12} {len(rs):>4} "
                      f"{sum(r['requests'] for r in rs):>9} {sum(r['lock_timeout_failures'] for r in rs):>8} "
                      f"{sum(len(r['other_failures']) for r in rs):>5} {sum(r['lost_sessions'] for r in rs):>4} "
                      f"{sum(r['regressions'] for r in rs):>5} {sum(sum(r['hung_session_writes'].values()) for r in rs):>5}")
    bad = [r for r in runs if r["config"] != "non-transactional"
           and (r["other_failures"] or r["still_failing"] or r["lost_sessions"] or r["regressions"])]
    return 1 if bad else 0


def line(r: dict) -> str:
    """One run, as it finishes."""
    return (f"round {r['round']} {r['config']} {'affinity' if r['affinity'] else 'round-robin'}: "
            f"{r['rounds']} replacements, {r['requests']} requests, {r['failed']} failed "
            f"(lock timeouts {r['lock_timeout_failures']}, other {len(r['other_failures'])}; outages {r['outages_s']}), "
            f"lost {r['lost_sessions']}, regressions {r['regressions']}, stuck writes {r['hung_session_writes']}, "
            f"still failing {r['still_failing']}")


if __name__ == "__main__":
    sys.exit(main())
