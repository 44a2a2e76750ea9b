#!/usr/bin/env python3
"""Benchmark: sessions blocked during rebalances (WildFly 39 / Infinispan 16.0.5), on the real cluster.

Starts its own single-node Kubernetes (tools/cluster/start), deploys the cluster stack with the
real engine (tests/cluster/deployments.deploy: Infinispan backend, WildFly 39 with the JSP demo)
with ``wildfly.replicas`` 3 (and ``wildfly.maxReplicas`` 3, so the HPA keeps 3 pods; the pods' CPU
request is patched from 500m to 250m so a rollout's surge pod fits on the 2-core node), and for
each configuration and routing runs, under one heavy session load (``--sessions`` cookie-jar
users on ``--workers`` threads, each sending its next request as soon as the last is answered):

- floor: the load alone for ``--floor-minutes`` (default ``--minutes``) on the 3 settled pods (no
  pod replaced);
- rollouts: the same load while the Deployment controller replaces the pods one at a time
  (repeated `kubectl rollout restart deployment/wildfly` + `kubectl rollout status`: maxSurge 1,
  maxUnavailable 0, preStop, grace period; each rollout replaces all 3 pods one by one, every
  join and leave rebalances the web-session cache) until ``--minutes`` have passed and the
  rollout under way is done; replacements are counted from the pods that went.

Routing: ``round-robin`` sends every request to a NodePort of the WildFly Service
(tests/cluster/kube.node_port): kube-proxy picks a ready pod per connection, and every request is
a new connection (SessionClient sends ``Connection: close``), so any request may land on any pod.
``affinity`` sends them through the tests' router (tests/cluster/router.py: nginx in the router's
namespace, cookie affinity, backends re-synced from the EndpointSlices every second by
``Router.following``, as its controller would), reached by NodePort: a session moves only when its pod leaves.

Measured per phase: requests, failed requests, and which of them are session-lock timeouts (HTTP
500 after the full 15 s lock wait while a pod logged ISPN000299 within the request's window: the
500 answers name no pod, so the match is by time; every pod's log is kept by
tests/cluster/pod_logs.kept_logs, pods that are gone included); lock holders (distinct
transactions the logs name as holding a lock a request timed out on); per affected session the
outage (first failed request to next good answer; sessions still failing when the load stops are
retried for up to 200 s); lost sessions and counter regressions; the good answers' time
(p50, p99, max: a lock wait that ends in time is an answer, but a slow one); local
transactions a pod's cache stop found unfinished (``ISPN000100``; its requests had drained, so
nobody closes them: "open" in the table), remote ones beside them; the log lines with
``ISPN000482`` (a command refused as of a completed transaction) and ``ISPN000097`` (a commit
that failed after the answer: a lost write); while the load runs, thread
dumps of every pod as soon as a log names a new lock-holding transaction, then of its pod again
while the logs keep naming it (bench/holders_watch.py; kept under ``--keep`` with every pod's log),
and per holder when the logs named it first and last; with ``--evict-holders-after S``, the
holder's pod is deleted once the logs have named it for S seconds, and the timeline says whether
that freed the lock (the README's runbook, measured); and at the end, with no load,
threads per live pod parked in a session write (CacheEntryMutator.run) in a thread dump (the
image ships a JRE without jcmd/jstack: SIGQUIT to the JVM through `kubectl exec`, read back from
the container log).

``--configs`` (run in this order, each round): a configuration is applied on the live cluster by
a ConfigMap whose configure.cli is the rendered one plus jboss-cli lines before `run-batch`, and
the Deployment's ``scripts`` volume patched to it (this rolls the pods; not a product setting):

- ``rendered``: what the component renders: no file store for web sessions (since
  sessionstack-components 1.1.0: sessions in memory only, on their owners); no request
  controller and ``complete-timeout`` 1 s (since the release after 1.4.1;
  configure-infinispan.cli says why: the session lock a second lookup after a failed one leaves
  held, and a joiner's stale copy of a finished transaction's lock, reaped after
  ``complete-timeout`` plus up to 30 s);
- ``file-store``: the web-session cache with WildFly 39's default passivating file store put back;
- ``request-controller``: the request-controller subsystem put back (WildFly's default);
- ``complete-timeout-60s``: the transaction ``complete-timeout`` back at its default, 60 s;
- ``complete-timeout-20s``: ``complete-timeout`` 20 s, more than a session lock wait (15 s) plus
  its commit: fewer transactions taken for completed ones (``ISPN000482``), stale copies 20-50 s;
- ``stop-timeout``: the transaction ``stop-timeout`` raised from 10 s to 30 s;
- ``non-transactional``: the cache with transaction mode NONE (loses updates; for comparison).
- ``replicated``: the web-session cache replicated to every pod instead of distributed, its
  ``complete-timeout`` at the default 60 s (REPLICATED says why).

Candidates combine with ``+``: ``request-controller+complete-timeout-60s`` is what
sessionstack-components 1.4.1 rendered.

Run as root, with no node running (it starts and stops its own), under the cluster lock:

    sudo .venv/bin/python bench/session_hangs.py \\
        [--minutes 3] [--floor-minutes M] [--rounds 1] [--routing round-robin|affinity|both] \\
        [--configs rendered,file-store] [--sessions 60] [--workers 12] [--keep DIR] \\
        [--evict-holders-after S] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "cluster"), str(ROOT / "bench")]

from own_cluster import deployed_stack, own_node  # noqa: E402
from deployments import NAMESPACE, WILDFLY, router_namespace  # noqa: E402
from kube import Cluster, node_port  # noqa: E402
from holders_watch import HoldersWatch, holder_timelines, lock_holders, logged_errors, unfinished_at_stop  # noqa: E402
from pod_logs import kept_logs  # noqa: E402
from router import Router  # noqa: E402
from session_traffic import SessionLoad, session_lock_timeouts  # noqa: E402
from thread_dumps import parked_or_why  # noqa: E402
from sessionstack.routing_rules import RoutingRules  # noqa: E402

REPLICAS = 3
SETTINGS = {"wildfly.replicas": str(REPLICAS), "wildfly.maxReplicas": str(REPLICAS)}
DEPLOYMENT = "wildfly"
ROLLOUT_TIMEOUT_S = 900
CPU_REQUEST = "250m"
"""The WildFly pods' CPU request on this 2-core node: with the rendered 500m, 3 pods plus the
rollout's surge pod do not fit (1 Insufficient cpu: the 4th pod stays Pending and the rollout never
moves). Patched on the live Deployment before the first measurement, in the same patch as the
first configuration (not a product setting); that one roll runs with maxUnavailable 1."""
BENCH_LABEL = {"app.kubernetes.io/part-of": "sessionstack-bench"}
DIST = "/subsystem=infinispan/cache-container=web/distributed-cache=dist"
FILE_STORE = f"{DIST}/store=file:add(passivation=true, purge=true)"
STOP_TIMEOUT = f"{DIST}/component=transaction:write-attribute(name=stop-timeout, value=30000)"
NON_TRANSACTIONAL = f"{DIST}/component=transaction:write-attribute(name=mode, value=NONE)"
DEFAULT_COMPLETE_TIMEOUT = f"{DIST}/component=transaction:undefine-attribute(name=complete-timeout)"
COMPLETE_TIMEOUT_20S = f"{DIST}/component=transaction:write-attribute(name=complete-timeout, value=20000)"
REQUEST_CONTROLLER = ["/extension=org.wildfly.extension.request-controller:add()", "/subsystem=request-controller:add()"]
REPL = "/subsystem=infinispan/cache-container=web/replicated-cache=dist"
REPLICATED = [f"{DIST}:remove()", f"{REPL}:add()", f"{REPL}/component=locking:add(isolation=REPEATABLE_READ)",
              f"{REPL}/component=transaction:add(mode=BATCH)", f"{REPL}/component=expiration:add(interval=0)"]
"""The web-session cache as a replicated cache under the same name (so the container's default),
with WildFly's other settings for it (no store, complete-timeout back at 60 s). Infinispan sends a
replicated cache's completion message to every member, a distributed one's only to the owners of
the keys the transaction wrote and the nodes it locked on. Measured worse (README, run 7)."""
CONFIGS: dict[str, list[str]] = {
    # name: jboss-cli lines added to the rendered batch
    "rendered": [],
    "file-store": [FILE_STORE],  # WildFly 39's default, what sessionstack rendered before 1.1.0
    "request-controller": REQUEST_CONTROLLER,  # WildFly's default, rendered up to 1.4.1
    "complete-timeout-60s": [DEFAULT_COMPLETE_TIMEOUT],  # Infinispan's default, rendered up to 1.4.1
    "complete-timeout-20s": [COMPLETE_TIMEOUT_20S],  # longer than a lock wait (15 s) plus a commit
    "stop-timeout": [STOP_TIMEOUT],
    "non-transactional": [NON_TRANSACTIONAL],
    "replicated": REPLICATED,
}


def config_lines(name: str) -> list[str]:
    """The jboss-cli lines of a configuration; ``a+b`` is both candidates' lines."""
    return [line for part in name.split("+") for line in CONFIGS[part]]


def wait_settled(cluster: Cluster) -> list[str]:
    """REPLICAS ready WildFly pods and no other (none terminating, none pending); their names."""
    return sorted(p["metadata"]["name"] for p in cluster.settled_pods(NAMESPACE, WILDFLY, REPLICAS, ROLLOUT_TIMEOUT_S))


def rollout_status(cluster: Cluster) -> None:
    cluster.kubectl("rollout", "status", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE, f"--timeout={ROLLOUT_TIMEOUT_S}s",
                    timeout=ROLLOUT_TIMEOUT_S + 60)


def scripts_volume(cluster: Cluster) -> tuple[int, str]:
    """(index, ConfigMap name) of the Deployment's ``scripts`` volume."""
    volumes = cluster.get("deployment", "-n", NAMESPACE, DEPLOYMENT)["spec"]["template"]["spec"]["volumes"]
    (found,) = [(i, v["configMap"]["name"]) for i, v in enumerate(volumes) if v["name"] == "scripts"]
    return found


def cpu_request_op(cluster: Cluster) -> list[dict]:
    """The JSON patch that sets the WildFly container's CPU request to CPU_REQUEST (none if it is)."""
    containers = cluster.get("deployment", "-n", NAMESPACE, DEPLOYMENT)["spec"]["template"]["spec"]["containers"]
    (index,) = [i for i, c in enumerate(containers) if c["name"] == "wildfly"]
    if containers[index]["resources"]["requests"].get("cpu") == CPU_REQUEST:
        return []
    return [{"op": "replace", "path": f"/spec/template/spec/containers/{index}/resources/requests/cpu", "value": CPU_REQUEST}]


def apply_config(cluster: Cluster, rendered_configmap: str, name: str) -> None:
    """Point the ``scripts`` volume at the rendered ConfigMap (``rendered``) or at a copy whose
    configure.cli has the configuration's lines before ``run-batch`` (with the first one, lower
    the CPU request: one roll for both); wait for the pods it rolls."""
    lines, target = config_lines(name), rendered_configmap
    if lines:
        target = f"{DEPLOYMENT}-scripts-{name.replace('+', '-')}"
        data = cluster.get("configmap", "-n", NAMESPACE, rendered_configmap)["data"]
        cli = data["configure.cli"]
        if "\nrun-batch" not in cli:
            raise SystemExit("the rendered configure.cli has no batch")
        data = {**data, "configure.cli": cli.replace("\nrun-batch", "\n" + "\n".join(lines) + "\nrun-batch", 1)}
        cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": target, "namespace": NAMESPACE, "labels": BENCH_LABEL},
                       "data": data})
    index, current = scripts_volume(cluster)
    cpu = cpu_request_op(cluster)
    patch = cpu + ([{"op": "replace", "path": f"/spec/template/spec/volumes/{index}/configMap/name", "value": target}]
                   if current != target else [])
    if patch:
        setup_roll(cluster, patch, one_down=bool(cpu), recreate=replicated(cluster, current) != replicated(cluster, target))
    wait_settled(cluster)


def replicated(cluster: Cluster, configmap: str) -> bool:
    """Whether that scripts ConfigMap makes the web-session cache a replicated one."""
    return f"{REPL}:add(" in cluster.get("configmap", "-n", NAMESPACE, configmap)["data"]["configure.cli"]


def setup_roll(cluster: Cluster, patch: list[dict], one_down: bool, recreate: bool = False) -> None:
    """Apply ``patch`` and wait for the roll (no load yet). ``one_down``: the old pods still request
    the rendered CPU, so no surge pod fits beside them: this one roll replaces a pod before starting
    its successor (maxUnavailable 1). ``recreate``: the cache changes between distributed and
    replicated under the same name, which the pods of one cluster must agree on (rolled one by
    one, the first replicated pod never got ready: the rollout exceeded its progress deadline), so
    every pod goes before the new ones start. Then the rendered strategy is put back for the
    measured rollouts."""
    strategy = cluster.get("deployment", "-n", NAMESPACE, DEPLOYMENT)["spec"]["strategy"]
    if recreate:
        patch = patch + [{"op": "replace", "path": "/spec/strategy", "value": {"type": "Recreate"}}]
    elif one_down:
        patch = patch + [{"op": "replace", "path": "/spec/strategy/rollingUpdate/maxUnavailable", "value": 1}]
    cluster.kubectl("patch", "deployment", DEPLOYMENT, "-n", NAMESPACE, "--type=json", "-p", json.dumps(patch))
    try:
        rollout_status(cluster)
    finally:
        if one_down or recreate:
            back = [{"op": "replace", "path": "/spec/strategy", "value": strategy}]
            cluster.kubectl("patch", "deployment", DEPLOYMENT, "-n", NAMESPACE, "--type=json", "-p", json.dumps(back))


def rollouts(cluster: Cluster, minutes: float) -> dict:
    """`kubectl rollout restart` + `rollout status` until ``minutes`` have passed (the rollout under
    way finishes); the rollouts and the pods they replaced."""
    t0, count, replaced = time.monotonic(), 0, 0
    while time.monotonic() - t0 < minutes * 60:
        before = {p["metadata"]["name"] for p in cluster.live_pods(NAMESPACE, WILDFLY)}
        cluster.kubectl("rollout", "restart", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE)
        rollout_status(cluster)
        count += 1
        replaced += len(before - {p["metadata"]["name"] for p in cluster.live_pods(NAMESPACE, WILDFLY)})
    return {"rollouts": count, "replacements": replaced, "seconds": round(time.monotonic() - t0, 1)}


def stuck_total(hung: dict) -> int:
    return sum(v for v in hung.values() if isinstance(v, int))


@contextlib.contextmanager
def routed(cluster: Cluster, routing: str) -> Iterator[str]:
    """The URL the load goes to: the WildFly Service's NodePort, or the tests' router's."""
    if routing == "round-robin":
        with node_port(cluster, NAMESPACE, "wildfly") as url:
            yield url
        return
    (route,) = cluster.items("httproutes.gateway.networking.k8s.io", "-n", NAMESPACE)
    (persistence,) = [r["sessionPersistence"] for r in route["spec"]["rules"] if "sessionPersistence" in r]
    router = Router(cluster, router_namespace(cluster), RoutingRules.for_cookie(persistence["sessionName"]))
    router.start()
    try:
        with router.following(), node_port(cluster, router.namespace, "router") as url:
            yield url
    finally:
        router.stop()


def measured(load: SessionLoad, logs: dict[str, str], still_failing: list[str]) -> dict:
    st = load.stats
    lock_failures = session_lock_timeouts(st.failures, logs)
    return {
        "requests": st.requests, "ok": st.ok, "failed": st.failed, "lock_timeout_failures": len(lock_failures),
        "other_failures": [f"{f.pod or '?'}: {f.error}" for f in st.failures if f not in lock_failures][:20],
        "other_failed": st.failed - len(lock_failures),
        "sessions_hit": len(st.outages_s) + len(still_failing),
        "outages_s": sorted(round(v, 1) for v in st.outages_s.values()),
        "still_failing": still_failing, "lost_sessions": len(st.lost_sessions), "regressions": st.regressions,
        "answer_ms": {"p50": round(st.percentile(50), 1), "p99": round(st.percentile(99), 1),
                      "max": round(max(st.latencies_ms, default=float("nan")), 1)},
        "events": [what for _, _, what in st.events if not what.startswith("failed")][:20],
    }


def phase(url: str, minutes: float, sessions: int, workers: int, action=None) -> tuple[SessionLoad, dict, list[str]]:
    """A fresh load on ``url``: warmed up, then ``minutes`` alone, or for as long as ``action``
    runs; then stopped, the failing sessions retried. (load, action's result, still failing)."""
    load = SessionLoad(url, sessions=sessions, workers=workers, timeout=30, think_time=0.0)
    load.warm_up()
    t0 = time.monotonic()
    if action is None:
        load.start(duration=minutes * 60)
        load.wait()
        result: dict = {}
    else:
        load.start(duration=minutes * 60 + 2 * ROLLOUT_TIMEOUT_S)
        try:
            result = action()
        finally:
            load.stop()
    result["load_seconds"] = round(time.monotonic() - t0, 1)
    return load, result, load.settle(timeout=200)


def run(cluster: Cluster, rendered_configmap: str, name: str, routing: str, args, logs_dir: Path) -> dict:
    """One configuration with one routing: the floor, then the rollouts, then the thread dumps."""
    apply_config(cluster, rendered_configmap, name)
    with kept_logs(cluster, NAMESPACE, WILDFLY, logs_dir) as kept, routed(cluster, routing) as url, \
            HoldersWatch(cluster, NAMESPACE, WILDFLY, kept, logs_dir / "holders",
                         evict_after_s=args.evict_holders_after) as watch:
        floor_load, floor_info, floor_failing = phase(url, args.floor_minutes, args.sessions, args.workers)
        load, info, failing = phase(url, args.minutes, args.sessions, args.workers, lambda: rollouts(cluster, args.minutes))
        pods = wait_settled(cluster)
        hung = {pod: parked_or_why(cluster, NAMESPACE, pod) for pod in pods}
        time.sleep(2)  # the followers catch up with the last lines
        logs = {key: path.read_text(errors="replace") for key, path in kept.files.items()}
    holders = lock_holders(logs.values())
    watched = watch.report()
    return {
        "config": name, "routing": routing,
        "floor": {"seconds": floor_info["load_seconds"], **measured(floor_load, logs, floor_failing)},
        "rollouts": {**info, **measured(load, logs, failing)},
        "lock_holders": len(holders), "holders": holder_timelines(logs.values(), watched), "holder_dumps": watched,
        "unfinished_at_stop": unfinished_at_stop(logs.values()), "logged_errors": logged_errors(logs.values()),
        "hung_session_writes": hung, "pods_logged": len(logs),
    }


def deployed_runs(cluster: Cluster, args, names: list[str], routings: list[str], tmp: Path, runs: list[dict]) -> None:
    with deployed_stack(cluster, SETTINGS):
        try:
            wait_settled(cluster)
            _, rendered_configmap = scripts_volume(cluster)
            for round_no in range(1, args.rounds + 1):
                for routing in routings:
                    for name in names:
                        result = {"round": round_no, **run(cluster, rendered_configmap, name, routing, args,
                                                            tmp / f"logs-{round_no}-{routing}-{name}")}
                        runs.append(result)
                        if not args.json:
                            print(line(result), flush=True)
        finally:
            cluster.kubectl("delete", "configmap", "-n", NAMESPACE, "-l", "app.kubernetes.io/part-of=sessionstack-bench", check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="rollouts until then (per configuration and routing)")
    parser.add_argument("--floor-minutes", type=float, help="the floor's length (default: --minutes)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--routing", choices=["round-robin", "affinity", "both"], default="round-robin")
    parser.add_argument("--configs", default="rendered,file-store", help=f"comma-separated, from {', '.join(CONFIGS)}; a+b combines two")
    parser.add_argument("--sessions", type=int, default=60)
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--keep", type=Path, help="keep the pods' logs and the lock holders' thread dumps here (default: deleted)")
    parser.add_argument("--evict-holders-after", type=float, metavar="S",
                        help="delete a lock holder's pod once the logs have named it for S seconds (the runbook, measured)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.floor_minutes is None:
        args.floor_minutes = args.minutes
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [n for n in names if any(part not in CONFIGS for part in n.split("+"))]
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; known: {', '.join(CONFIGS)}")
    routings = ["round-robin", "affinity"] if args.routing == "both" else [args.routing]
    runs: list[dict] = []
    t0 = time.monotonic()
    with own_node() as cluster, tempfile.TemporaryDirectory(prefix="session-hangs-") as tmp:
        deployed_runs(cluster, args, names, routings, args.keep or Path(tmp), runs)
    report(command, runs, names, routings, args.json, time.monotonic() - t0)
    bad = [r for r in runs if r["config"] != "non-transactional" and any(
        r[p]["other_failed"] or r[p]["still_failing"] or r[p]["lost_sessions"] or r[p]["regressions"] for p in ("floor", "rollouts"))]
    return 1 if bad else 0


def report(command: str, runs: list[dict], names: list[str], routings: list[str], as_json: bool, wall_s: float) -> None:
    if as_json:
        print(json.dumps({"command": command, "wall_s": round(wall_s), "runs": runs}, indent=2))
        return
    print(f"command: {command}  (wall {wall_s / 60:.1f} min)")
    print(f"{'configuration':<18} {'routing':<12} {'phase':<9} {'min':>5} {'repl':>4} {'requests':>9} {'failed':>6} "
          f"{'lock t/o':>8} {'hit':>4} {'lost':>4} {'regr':>4} {'max s':>5} {'stuck':>5} {'open':>4}")
    for name in names:
        for routing in routings:
            for r in (r for r in runs if r["config"] == name and r["routing"] == routing):
                for p in ("floor", "rollouts"):
                    m = r[p]
                    seconds = m.get("seconds") if p == "floor" else m["load_seconds"]
                    print(f"{name:<18} {routing:<12} {p:<9} {seconds / 60:>5.1f} {m.get('replacements', 0):>4} {m['requests']:>9} "
                          f"{m['failed']:>6} {m['lock_timeout_failures']:>8} {m['sessions_hit']:>4} {m['lost_sessions']:>4} "
                          f"{m['regressions']:>4} {m['answer_ms']['max'] / 1000:>5.1f} "
                          f"{stuck_total(r['hung_session_writes']) if p == 'rollouts' else '':>5} "
                          f"{r['unfinished_at_stop']['local'] if p == 'rollouts' else '':>4}")


def line(r: dict) -> str:
    """One run, as it finishes."""
    f, o, a, u = r["floor"], r["rollouts"], r["rollouts"]["answer_ms"], r["unfinished_at_stop"]
    return (f"round {r['round']} {r['config']} {r['routing']}: floor {f['requests']} requests, {f['failed']} failed "
            f"(lock timeouts {f['lock_timeout_failures']}); rollouts {o['rollouts']} ({o['replacements']} replacements, "
            f"{o['load_seconds']} s), {o['requests']} requests, {o['failed']} failed (lock timeouts {o['lock_timeout_failures']}, "
            f"other {o['other_failed']}; outages {o['outages_s']}), lost {o['lost_sessions']}, regressions {o['regressions']}, "
            f"good answers p50/p99/max {a['p50']}/{a['p99']}/{a['max']} ms, unfinished at stop {u['local']} local and "
            f"{u['remote']} remote transactions ({u['stops']} stops), lines logged {r['logged_errors']}, "
            f"lock holders {r['lock_holders']} {r['holders']} (dumps {r['holder_dumps']}), stuck writes {r['hung_session_writes']}, still failing {o['still_failing']}"
            + "".join(f"; {phase} events {r[phase]['events']}" for phase in ("floor", "rollouts") if r[phase]["events"])
            + "".join(f"; {phase} other failures {r[phase]['other_failures'][:5]}" for phase in ("floor", "rollouts")
                      if r[phase]["other_failures"]))


if __name__ == "__main__":
    sys.exit(main())
