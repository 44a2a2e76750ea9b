#!/usr/bin/env python3
"""Benchmark: WildFly session clustering (Infinispan, JGroups KUBE_PING) on the real cluster.

Starts its own single-node Kubernetes (tools/cluster), deploys the cluster stack with the real
engine (tests/cluster/deployments.deploy: Infinispan sessions, WildFly 39, the JSP demo) with
`wildfly.replicas` 3, lowers the HPA's minReplicas to 1 (no metrics-server here: the HPA only
enforces its bounds, and would scale 1 pod back up to 3), and measures, each figure next to its
floor from the same run:

- boot floor:  Deployment scaled 0 -> 1 (`kubectl scale`): scale -> the pod ready, polled every
               0.25 s, and the pod's own created -> ready (API timestamps, 1 s resolution);
- formation:   scaled 0 -> 3: scale -> every pod's log shows the JGroups view (or the session
               cache's topology) of all 3 (log timestamps), and the first pod's; the 3 pods' own
               created -> ready; and for both, the CPU the pods' cgroups had used when ready
               (bench/cpu_use.py): three boots' CPU over the machine's cores is the least wall
               time any formation can take here;
- throughput:  req/s through the NodePort (kube-proxy spreads connections, no affinity) with 1
               pod and with 3 pods, same sessions, workers and duration, no think time, each after
               as long a warm-up; with affinity (each session pinned to one pod by pod IP, from
               inside the node's network namespace); and 3 pods round-robin once more after the
               visibility and affinity runs (JVMs that have served thousands of requests by then);
               each with the CPU it cost per request answered (bench/cpu_use.py): the serving
               pods' cgroups and the whole machine's, and how busy the cores were;
- visibility:  write on pod A then read the same session on pod B, both addressed by pod IP from
               inside the node's network namespace (this script re-executes itself there with
               `python3 -m onenode exec`), after `--warmup-rounds` rounds of as many pairs, each
               reported and not counted (on fresh JVMs the JIT compilers take most of the 2 cores
               for thousands of requests): the read's latency p50/p99 and stale reads; floors from
               the same place: the TCP round trip to a pod (connect to its HTTP port: SYN/SYN-ACK),
               a plain HTTP request to the same WildFly (a 404 inside the demo context, no session),
               and the writer pod's own answer to the write; and the pods' CPU per request of the
               pairs' session requests and of the plain 404s (bench/cpu_use.py);
- trace:       `--trace` more such pairs with the JGroups messages between the pods captured in
               the node's namespace (bench/jgroups_trace.py): per request, messages, round trips
               the serving pod waited on, and the time before, during and after them (medians);
- failover:    per `--kills`, SIGKILL of the WildFly container that served a session last
               (`ctr -n k8s.io tasks kill` in the node), then the same session through the NodePort
               every 0.1 s: failed requests, time from the kill's return to the first answer and to
               the first that carried the session on (same session, counter + 1); the kubelet
               restarts the container, and the next kill waits for a view of 3 again.

Figures are this run's, on this machine (2 cores run the node, the JVMs and the client alike),
printed with the command; `--json` carries the flat keys visibility_p50_ms, visibility_p99_ms,
rtt_floor_ms, http_floor_ms, formation_s, boot_floor_s, formation_cpu_s, boot_floor_cpu_s,
rps_1pod, rps_3pods_round_robin, rps_3pods_affinity, rps_3pods_round_robin_warm, cpu_ms_per_req_1pod
and cpu_ms_per_req_3pods_affinity (the whole machine's CPU per request answered). Exit 1 if a session was lost or read stale.
Run as root, with no node running (it starts and stops its own):

    sudo .venv/bin/python bench/wildfly_sessions.py \\
        [--kills 2] [--pairs 300] [--warmup-rounds 10] [--trace 100] [--seconds 15] [--sessions 50] [--workers 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import threading
import time
import urllib.parse
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "components"), str(ROOT / "tests" / "cluster")]  # own_cluster adds the node's tools
from cpu_use import cpu_used, pods_cpu_s  # noqa: E402  (bench/, the script's own directory)
from floors import http_status_ms, pct, tcp_connect_ms  # noqa: E402
from own_cluster import deployed_stack, own_node  # noqa: E402
from onenode.config import CGROUP_ROOT  # noqa: E402
from session_client import SessionClient  # noqa: E402
from sessionstack import wildfly_config as wc  # noqa: E402

PATH = wc.DEMO_CONTEXT_PATH
MISSING = PATH + "no-such-page"
WILDFLY = "app.kubernetes.io/name=wildfly"
BOOT_TIMEOUT = 420


def log(msg: str) -> None:
    print(f"bench: {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


# ---- pods, views, timestamps -----------------------------------------------------------------

def stamp(text: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp (kubectl's, nanoseconds cut to microseconds)."""
    text = text.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(text + "+00:00").timestamp()


def live_pods(cluster) -> list[dict]:
    from deployments import NAMESPACE
    return cluster.live_pods(NAMESPACE, WILDFLY)


def ready_at(pod: dict) -> float:
    """Epoch time of the pod's Ready condition (API timestamp, 1 s resolution)."""
    return stamp(next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")["lastTransitionTime"])


def uids(pods: list[dict]) -> list[str]:
    return [p["metadata"]["uid"] for p in pods]


def created_to_ready(pod: dict) -> float:
    return ready_at(pod) - stamp(pod["metadata"]["creationTimestamp"])


def scale(cluster, replicas: int) -> float:
    """`kubectl scale` of the WildFly Deployment; the wall-clock time it was sent."""
    from deployments import NAMESPACE
    sent = time.time()
    cluster.kubectl("scale", "deployment", "-n", NAMESPACE, "wildfly", f"--replicas={replicas}")
    return sent


def scale_to_zero(cluster) -> None:
    """No WildFly pod left (the old ones removed at once: their graceful stop is not measured)."""
    from deployments import NAMESPACE
    from kube import wait_until
    scale(cluster, 0)
    cluster.kubectl("delete", "pods", "-n", NAMESPACE, "-l", WILDFLY, "--grace-period=0", "--force", "--wait=false", check=False)
    wait_until("no WildFly pod", lambda: not cluster.pods(NAMESPACE, WILDFLY), 180, interval=0.5)


def wait_ready(cluster, count: int, timeout: float = BOOT_TIMEOUT) -> list[dict]:
    """Polls every 0.25 s until ``count`` WildFly pods are ready (and no other is live); them."""
    from kube import is_ready, wait_until

    def ready() -> list[dict] | None:
        pods = live_pods(cluster)
        return pods if len(pods) == count and all(is_ready(p) for p in pods) else None
    return wait_until(f"{count} ready WildFly pods", ready, timeout, interval=0.25)


def view_times(cluster, pods: list[dict]) -> dict[str, float]:
    """Pod name -> the epoch time of its container's first log line showing a view (or session
    cache topology) with every pod of ``pods``; pods that have logged none yet are left out."""
    from deployments import NAMESPACE
    from wildfly_log import last_view, node_name
    logs = {p["metadata"]["name"]: cluster.kubectl("logs", "-n", NAMESPACE, p["metadata"]["name"], "--timestamps", check=False).stdout
            for p in pods}
    everyone = sorted(node_name(text) or "?" for text in logs.values())
    found = {}
    for name, text in logs.items():
        for line in text.splitlines():
            if last_view(line) == everyone:
                found[name] = stamp(line.split(" ", 1)[0])
                break
    return found


def wait_view(cluster, count: int, timeout: float = BOOT_TIMEOUT) -> dict[str, float]:
    """Waits until each of ``count`` pods has logged a view of all; their times (epoch)."""
    from kube import wait_until

    def agreed():
        pods = live_pods(cluster)
        times = view_times(cluster, pods) if len(pods) == count else {}
        return times if len(times) == count else None
    return wait_until(f"a view of {count} in every pod's log", agreed, timeout, interval=1.0)


# ---- load ------------------------------------------------------------------------------------

def run_load(targets: list[tuple[str, int]], sessions: int, workers: int, seconds: float, affinity: bool) -> dict:
    """``sessions`` users, ``workers`` threads, no think time, for ``seconds``: each request goes to
    the next target round-robin, or (``affinity``) always to its session's own target."""
    clients = [SessionClient(f"load{i}") for i in range(sessions)]
    free = list(range(sessions))
    lock = threading.Lock()
    stats = {"ok": 0, "failed": 0, "lost": 0, "regressions": 0}
    latencies: list[float] = []
    turn = [0]
    deadline = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < deadline:
            with lock:
                i = free.pop(0)
                turn[0] += 1
                host, port = targets[i % len(targets)] if affinity else targets[turn[0] % len(targets)]
            client = clients[i]
            try:
                r = client.get(host, port, PATH, timeout=30)
                ok = r.status == 200 and r.counter is not None
            except Exception:  # noqa: BLE001 - any failed request is counted
                ok, r = False, None
            with lock:
                if ok:
                    stats["ok"] += 1
                    latencies.append(r.elapsed_ms)
                    if client.session and r.session != client.session:
                        stats["lost"] += 1
                    elif client.last_counter and r.counter != client.last_counter + 1:
                        stats["regressions"] += 1
                    client.session, client.last_counter = r.session, r.counter
                else:
                    stats["failed"] += 1
                free.append(i)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    return {**stats, "rps": stats["ok"] / elapsed, "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99)}


def throughput(targets: list[tuple[str, int]], pod_uids: list[str], args, affinity: bool = False) -> dict:
    """After a warm-up as long as the measurement (fresh JVMs answer slower); with the CPU the
    measurement cost per request answered: the whole machine's (client, node and pods) and the
    serving pods' (``pod_uids``), and how busy the cores were."""
    run_load(targets, args.sessions, args.workers, args.seconds, affinity)
    with cpu_used(pod_uids, CGROUP_ROOT) as cpu:
        out = run_load(targets, args.sessions, args.workers, args.seconds, affinity)
    answered = max(out["ok"], 1)
    return {**out, "machine_cpu_ms_per_req": cpu["machine_busy_s"] * 1000 / answered,
            "pods_cpu_ms_per_req": cpu["pods_s"] * 1000 / answered, "pods_jit_ms_per_req": cpu["jit_s"] * 1000 / answered,
            "cores_busy": cpu["machine_busy_s"] / (cpu["wall_s"] * cpu["cores"])}


# ---- inside the node: pod IPs ----------------------------------------------------------------

def visibility(ips: list[str], uids: list[str], pairs: int) -> dict:
    """The pairs, one request at a time, and the CPU a session request cost on average over them
    (three per pair), the pods' and the machine's."""
    latencies, own, stale = [], [], 0
    with cpu_used(uids, CGROUP_ROOT) as cpu:
        for i in range(pairs):
            client = SessionClient(f"vis{i}")
            writer, reader = ips[i % len(ips)], ips[(i + 1) % len(ips)]
            first = client.get(writer, wc.HTTP_PORT, PATH)
            write = client.get(writer, wc.HTTP_PORT, PATH)  # the write under test
            own.append(write.elapsed_ms)
            read = client.get(reader, wc.HTTP_PORT, PATH)
            latencies.append(read.elapsed_ms)
            if read.counter != write.counter + 1 or read.session != first.session:
                stale += 1
    return {"pairs": pairs, "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99), "stale": stale,
            "writer_p50_ms": pct(own, 50), "writer_p99_ms": pct(own, 99),
            "pods_cpu_ms_per_request": cpu["pods_s"] * 1000 / (3 * pairs),
            "pods_jit_ms_per_request": cpu["jit_s"] * 1000 / (3 * pairs),
            "machine_cpu_ms_per_request": cpu["machine_busy_s"] * 1000 / (3 * pairs)}


def traced(ips: list[str], pairs: int) -> dict:
    """The visibility pairs again, each request's JGroups messages captured (bench/jgroups_trace.py):
    medians per request, for the write on A and for the read on B."""
    from jgroups_trace import Capture, breakdown
    rows: dict[str, list[tuple[str, float, float]]] = {"write": [], "read": []}
    with Capture(wc.JGROUPS_PORT) as capture:
        for i in range(pairs):
            client = SessionClient(f"trace{i}")
            writer, reader = ips[i % len(ips)], ips[(i + 1) % len(ips)]
            client.get(writer, wc.HTTP_PORT, PATH)
            for kind, ip in (("write", writer), ("read", reader)):
                start = time.time()
                client.get(ip, wc.HTTP_PORT, PATH)
                rows[kind].append((ip, start, time.time()))
    out: dict = {"pairs": pairs}
    for kind, requests in rows.items():
        found = [breakdown(capture.messages, ip, start, end) for ip, start, end in requests]
        out[kind] = {key: pct([f[key] for f in found], 50) for key in found[0]}
    return out


def inside(spec: dict) -> dict:
    """What runs in the node's network namespace: floors, visibility, affinity throughput."""
    ips, rounds = spec["ips"], spec["floor_rounds"]
    tcp = [ms for ip in ips for ms in tcp_connect_ms(ip, wc.HTTP_PORT, rounds)]
    with cpu_used(spec["uids"], CGROUP_ROOT) as cpu:
        web = [ms for ip in ips for ms in http_status_ms(ip, wc.HTTP_PORT, MISSING, rounds)]
    out = {"floors": {"tcp_connect_p50_ms": pct(tcp, 50), "tcp_connect_p99_ms": pct(tcp, 99),
                      "http_404_p50_ms": pct(web, 50), "http_404_p99_ms": pct(web, 99), "rounds_per_pod": rounds,
                      "http_404_pods_cpu_ms": cpu["pods_s"] * 1000 / len(web)}}
    out["visibility_warmup"] = [visibility(ips, spec["uids"], spec["pairs"]) for _ in range(spec["warmup_rounds"])]
    out["visibility"] = visibility(ips, spec["uids"], spec["pairs"])
    if spec["trace"]:
        out["trace"] = traced(ips, spec["trace"])
    if spec["affinity"]:
        load = argparse.Namespace(**spec["load"])
        out["affinity"] = throughput([(ip, wc.HTTP_PORT) for ip in ips], spec["uids"], load, affinity=True)
    return out


def measure_inside(cluster, pods: list[dict], args) -> dict:
    ips = [p["status"]["podIP"] for p in pods]
    spec = {"ips": ips, "uids": uids(pods), "pairs": args.pairs, "warmup_rounds": args.warmup_rounds,
            "floor_rounds": args.floor_rounds, "affinity": not args.no_affinity, "trace": args.trace,
            "load": {"sessions": args.sessions, "workers": args.workers, "seconds": args.seconds}}
    done = cluster.in_node(sys.executable, str(Path(__file__).resolve()), "--inside", json.dumps(spec), timeout=1800)
    return json.loads(done.stdout)


# ---- failover --------------------------------------------------------------------------------

def failover(cluster, node: tuple[str, int]) -> dict:
    """SIGKILL of the container that answered a session last; that session on through the NodePort."""
    from deployments import NAMESPACE
    from kube import wait_until
    host, port = node
    client = SessionClient("bench-failover")
    answers = [client.get(host, port, PATH) for _ in range(6)]
    last = answers[-1]
    if last.status != 200 or not last.pod:
        raise RuntimeError(f"no pod to kill: the session's answers before the kill were {[(a.status, a.pod) for a in answers]}")
    time.sleep(1.0)  # think time after the last answer (a write just acknowledged may not be on the second owner yet)
    victim = cluster.get("pod", "-n", NAMESPACE, last.pod)
    container = victim["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    cluster.in_node("ctr", "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", container)
    killed, killed_wall = time.monotonic(), time.time()
    failed, first_ok, first_on, counter, intact, answered = 0, None, None, last.counter, True, 0
    while answered < 9 and time.monotonic() - killed < 60:
        try:
            r = client.get(host, port, PATH, timeout=30)
            assert r.status == 200 and r.counter is not None, r.status
        except Exception:  # noqa: BLE001 - counted
            failed += 1
            time.sleep(0.1)
            continue
        now = time.monotonic()
        first_ok = first_ok or now
        carried = r.counter == counter + 1 and r.session == last.session
        first_on = first_on or (now if carried else None)
        intact &= carried
        counter, answered = r.counter, answered + 1
        time.sleep(0.1)
    restarts = victim["status"]["containerStatuses"][0]["restartCount"]

    def back() -> bool:
        (status,) = cluster.get("pod", "-n", NAMESPACE, victim["metadata"]["name"])["status"]["containerStatuses"]
        return status["restartCount"] > restarts and bool(status.get("ready"))
    wait_until("the killed container restarted and ready", back, BOOT_TIMEOUT, interval=1)
    restarted = time.monotonic() - killed
    views = wait_view(cluster, 3)
    return {"victim": victim["metadata"]["name"], "failed": failed, "answered": answered,
            "first_answer_ms": (first_ok - killed) * 1000 if first_ok else None,
            "first_carried_on_ms": (first_on - killed) * 1000 if first_on else None, "session_intact": intact,
            "restarted_ready_s": restarted, "view_of_3_again_s": views[victim["metadata"]["name"]] - killed_wall}


# ---- the run ---------------------------------------------------------------------------------

def measure(cluster, node: tuple[str, int], args) -> dict:
    out: dict = {}
    log("scale 0 (remove the deployed pods)")
    scale_to_zero(cluster)
    log("boot floor: scale 0 -> 1")
    sent = scale(cluster, 1)
    (alone,) = wait_ready(cluster, 1)
    out["boot_floor_s"] = time.time() - sent
    out["boot_floor_created_to_ready_s"] = created_to_ready(alone)
    out["boot_floor_cpu_s"] = pods_cpu_s(uids([alone]), CGROUP_ROOT)
    log(f"throughput, 1 pod ({out['boot_floor_s']:.1f} s to ready)")
    out["throughput_1pod"] = throughput([node], uids([alone]), args)
    scale_to_zero(cluster)
    log("formation: scale 0 -> 3")
    sent = scale(cluster, 3)
    views = wait_view(cluster, 3)
    pods = wait_ready(cluster, 3)
    out["formation_s"] = max(views.values()) - sent
    out["formation_first_view_s"] = min(views.values()) - sent
    out["created_to_ready_s"] = sorted(created_to_ready(p) for p in pods)
    out["ready_together_s"] = max(ready_at(p) for p in pods) - sent
    out["formation_cpu_s"] = pods_cpu_s(uids(pods), CGROUP_ROOT)
    log(f"throughput, 3 pods round-robin (view of 3 after {out['formation_s']:.1f} s)")
    out["throughput_3pods_round_robin"] = throughput([node], uids(pods), args)
    log("inside the node: floors, visibility, affinity")
    out["inside"] = measure_inside(cluster, pods, args)
    log("throughput, 3 pods round-robin again (pods warm now)")
    out["throughput_3pods_round_robin_warm"] = throughput([node], uids(pods), args)
    out["failover"] = []
    for k in range(args.kills):
        log(f"failover: kill {k + 1}")
        try:
            out["failover"].append(failover(cluster, node))
        except Exception as exc:  # noqa: BLE001 - reported (and the run fails), the figures so far kept
            out["failover"].append({"error": str(exc)[:500]})
    return out


def flat(out: dict) -> dict:
    inner = out["inside"]
    keys = {"visibility_p50_ms": inner["visibility"]["p50_ms"], "visibility_p99_ms": inner["visibility"]["p99_ms"],
            "rtt_floor_ms": inner["floors"]["tcp_connect_p50_ms"], "http_floor_ms": inner["floors"]["http_404_p50_ms"],
            "rps_1pod": out["throughput_1pod"]["rps"], "rps_3pods_round_robin": out["throughput_3pods_round_robin"]["rps"],
            "rps_3pods_round_robin_warm": out["throughput_3pods_round_robin_warm"]["rps"]}
    if "affinity" in inner:
        keys["rps_3pods_affinity"] = inner["affinity"]["rps"]
        keys["cpu_ms_per_req_3pods_affinity"] = inner["affinity"]["machine_cpu_ms_per_req"]
    keys["cpu_ms_per_req_1pod"] = out["throughput_1pod"]["machine_cpu_ms_per_req"]
    return keys


def report(out: dict, args) -> None:
    inner, f, v = out["inside"], out["inside"]["floors"], out["inside"]["visibility"]
    print(f"command: {out['command']}")
    print(f"stack: cluster stack, wildfly.replicas 3 (HPA minReplicas lowered to 1), WildFly {wc.WILDFLY_VERSION}, Infinispan, JSP demo; "
          f"pulumi up {out['up_s']:.1f} s; load average {out['load_before'][0]:.2f} before, {out['load_after'][0]:.2f} after")
    print(f"floors: TCP connect to a pod p50 {f['tcp_connect_p50_ms']:.3f} ms (p99 {f['tcp_connect_p99_ms']:.3f}), "
          f"plain HTTP 404 from the same WildFly p50 {f['http_404_p50_ms']:.2f} ms (p99 {f['http_404_p99_ms']:.2f}), "
          f"one pod's boot alone (scale 0 -> 1 -> ready) {out['boot_floor_s']:.1f} s "
          f"(created -> ready {out['boot_floor_created_to_ready_s']:.0f} s)")
    print(f"formation (scale 0 -> 3 -> every pod logged the view of 3): {out['formation_s']:.1f} s (first pod's view of 3 "
          f"{out['formation_first_view_s']:.1f} s; {out['formation_s'] / out['boot_floor_s']:.2f}x one pod's boot alone; "
          f"the 3 pods created -> ready {', '.join(f'{s:.0f}' for s in out['created_to_ready_s'])} s, "
          f"all ready {out['ready_together_s']:.0f} s after the scale)")
    cores = os.cpu_count()
    print(f"the boots' CPU (the pods' cgroups when ready): one pod alone {out['boot_floor_cpu_s']:.1f} s of CPU in "
          f"{out['boot_floor_s']:.1f} s ({out['boot_floor_cpu_s'] / out['boot_floor_s']:.2f} cores busy); the three pods together "
          f"{out['formation_cpu_s']:.1f} s of CPU, on {cores} cores no less than {out['formation_cpu_s'] / cores:.1f} s of wall time "
          f"({out['formation_cpu_s'] / cores / out['boot_floor_s']:.2f}x one pod's boot alone)")
    for i, k in enumerate(out["failover"], 1):
        if "error" in k:
            print(f"failover kill {i}: {k['error']}")
            continue
        print(f"failover kill {i} ({k['victim']}): failed requests {k['failed']}, kill -> first answer "
              f"{k['first_answer_ms'] or float('nan'):.0f} ms, -> first answer carrying the session on "
              f"{k['first_carried_on_ms'] or float('nan'):.0f} ms, "
              f"session intact {k['session_intact']}; container back ready after {k['restarted_ready_s']:.0f} s, in the view of 3 "
              f"after {k['view_of_3_again_s']:.0f} s")
    print(f"replication visibility (write on A, read on B by pod IP; {v['pairs']} pairs): p50 {v['p50_ms']:.1f} ms "
          f"({v['p50_ms'] / f['tcp_connect_p50_ms']:.0f}x the TCP floor, {v['p50_ms'] / f['http_404_p50_ms']:.1f}x the HTTP floor, "
          f"{v['p50_ms'] / v['writer_p50_ms']:.1f}x the write on A), p99 {v['p99_ms']:.1f} ms, stale reads {v['stale']}; "
          f"the write itself on A: p50 {v['writer_p50_ms']:.1f} ms; CPU per session request in these pairs (one at a time): "
          f"the pods {v['pods_cpu_ms_per_request']:.2f} ms (their JIT compilers {v['pods_jit_ms_per_request']:.2f}), "
          f"the whole machine {v['machine_cpu_ms_per_request']:.2f} ms; "
          f"per plain 404: the pods {f['http_404_pods_cpu_ms']:.2f} ms")
    for i, w in enumerate(inner["visibility_warmup"], 1):
        print(f"  warm-up round {i} of {len(inner['visibility_warmup'])} before it, not counted: "
              f"p50 {w['p50_ms']:.1f} ms, p99 {w['p99_ms']:.1f} ms, "
              f"stale {w['stale']}; CPU per session request: the pods {w['pods_cpu_ms_per_request']:.2f} ms, their JIT compilers "
              f"{w['pods_jit_ms_per_request']:.2f} ms")
    trace = inner.get("trace", {})
    for kind, where in (("write", "the write on A"), ("read", "the read on B")) if trace else ():
        r = trace[kind]
        print(f"JGroups during {where} ({trace['pairs']} traced pairs, medians): {r['total_ms']:.1f} ms in all; "
              f"{r['messages']:.0f} messages ({r['sent']:.0f} sent) with {r['peers']:.0f} pods, {r['round_trips']:.0f} round trips "
              f"waiting {r['waiting_ms']:.1f} ms; {r['before_first_ms']:.1f} ms before the first message, "
              f"{r['span_ms']:.1f} ms from first to last, {r['after_last_ms']:.1f} ms after the last")
    runs = [("1 pod, NodePort", out["throughput_1pod"]), ("3 pods, NodePort round-robin", out["throughput_3pods_round_robin"])]
    if "affinity" in inner:
        runs.append(("3 pods, affinity by pod IP", inner["affinity"]))
    runs.append(("3 pods, NodePort round-robin again (warm)", out["throughput_3pods_round_robin_warm"]))
    for name, run in runs:
        print(f"throughput {name}, {args.sessions} sessions / {args.workers} workers / {args.seconds:.0f} s: {run['rps']:.0f} req/s "
              f"({run['rps'] / runs[0][1]['rps']:.2f}x 1 pod; p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms, "
              f"failed {run['failed']}, lost {run['lost']}, regressions {run['regressions']}); CPU per request answered: "
              f"the WildFly pods {run['pods_cpu_ms_per_req']:.2f} ms (their JIT compilers {run['pods_jit_ms_per_req']:.2f}), "
              f"the whole machine {run['machine_cpu_ms_per_req']:.2f} ms "
              f"({run['pods_cpu_ms_per_req'] / runs[0][1]['pods_cpu_ms_per_req']:.2f}x / "
              f"{run['machine_cpu_ms_per_req'] / runs[0][1]['machine_cpu_ms_per_req']:.2f}x 1 pod's), cores busy {run['cores_busy']:.0%}")


def bad(out: dict) -> bool:
    runs = [out["throughput_1pod"], out["throughput_3pods_round_robin"], out["throughput_3pods_round_robin_warm"],
            out["inside"].get("affinity", {})]
    stale = out["inside"]["visibility"]["stale"] + sum(w["stale"] for w in out["inside"]["visibility_warmup"])
    return bool(stale or any(r.get("lost") or r.get("regressions") for r in runs)
                or any(not k.get("session_intact") for k in out["failover"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=300, help="visibility write/read pairs")
    parser.add_argument("--warmup-rounds", type=int, default=10,
                        help="rounds of --pairs visibility pairs first, each reported, not counted "
                             "(on fresh JVMs the JIT compilers take most of the CPU)")
    parser.add_argument("--seconds", type=float, default=15.0, help="each throughput run (and its warm-up)")
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--floor-rounds", type=int, default=200, help="TCP and HTTP floor samples per pod")
    parser.add_argument("--no-affinity", action="store_true", help="skip the affinity throughput run")
    parser.add_argument("--trace", type=int, default=100, help="visibility pairs repeated with their JGroups messages captured (0: none)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--inside", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        print(json.dumps(inside(json.loads(args.inside))))
        return 0
    from deployments import NAMESPACE
    from kube import node_port
    out: dict = {"command": " ".join(shlex.quote(a) for a in ["bench/wildfly_sessions.py", *sys.argv[1:]]), "load_before": os.getloadavg()}
    with own_node() as cluster:
        with deployed_stack(cluster, {"wildfly.replicas": "3"}) as (_, up_s):
            out["up_s"] = up_s
            cluster.kubectl("patch", "hpa", "-n", NAMESPACE, "wildfly", "--type=merge", "-p", '{"spec":{"minReplicas":1}}')
            with node_port(cluster, NAMESPACE, "wildfly") as url:
                address = urllib.parse.urlsplit(url)
                out.update(measure(cluster, (address.hostname, address.port), args))
    out["load_after"] = os.getloadavg()
    out.update(flat(out))
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        report(out, args)
    return 1 if bad(out) else 0


if __name__ == "__main__":
    sys.exit(main())
