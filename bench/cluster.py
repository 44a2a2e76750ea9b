"""Benchmark: the single-node Kubernetes of tools/cluster and `pulumi up -s cluster` onto it.

Each figure comes with its floor, measured in the same run, so it reads as a ratio:
- `prepare (warm)`: tools/cluster/prepare with everything cached (what every start pays);
- with --cold: `build.sh` and the image build from empty Go, module and cluster caches in a
  temporary directory (downloads included; the machine's own caches are untouched; long);
- `start`: tools/cluster/start from nothing to a Ready node with CoreDNS and the provisioner
  available, and `stop`; floor: starting the same control plane's etcd + API server alone is not
  separable here, so the floor given is one pod's time to Running on the started node;
- `pulumi up -s cluster` from an empty stack to every resource ready (WildFly pods formed and
  ready, Envoy Gateway installed), and `pulumi destroy`; floors: `pulumi up` of an empty Python
  program against the same cluster (engine, language host, provider start), and one WildFly pod
  of the deployed stack from created to ready (delete one, time its replacement): the JVM boot
  that `up` cannot beat.
Run as root, with no node running (it starts and stops its own):

    sudo .venv/bin/python bench/cluster.py [--repeat 3] [--cold] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools" / "cluster"
sys.path[:0] = [str(ROOT / "tests" / "engine"), str(ROOT / "tests" / "cluster"), str(TOOLS)]
from engine_support import Engine, build_engine, copy_project, write_program  # noqa: E402
from kube import STATE, Cluster, pod, restricted_container, wait_until  # noqa: E402
from onenode.config import Node  # noqa: E402


def timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return elapsed, done


def cold_build() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="cluster-cold-") as tmp:
        env = dict(os.environ, GOCACHE=f"{tmp}/gocache", GOMODCACHE=f"{tmp}/gomodcache", SESSIONSTACK_CLUSTER_CACHE=f"{tmp}/cluster")
        build_s, done = timed(["bash", str(TOOLS / "build.sh")], env=env, timeout=7200)
        bin_dir = done.stdout.strip()
        wildfly = timed(["bash", str(ROOT / "scripts/wildfly-dist")])[1].stdout.strip()
        war = str(ROOT / "apps/spring-session-demo/target/session-demo.war")
        images_s, _ = timed([sys.executable, "-m", "onenode.images", "build", "--bin", bin_dir, "--wildfly-home", wildfly, "--war", war],
                            cwd=TOOLS, env=env, timeout=3600)
        subprocess.run(["chmod", "-R", "u+w", tmp], check=False)  # the module cache is read-only
        return {"build.sh (cold)": build_s, "images (cold)": images_s}


def pod_to_running(cluster: Cluster, n: int) -> float:
    name = f"bench-floor-{n}"
    manifest = pod(name, "default", [restricted_container("sleep", "sessionstack.local/busybox:1.35.0", ["sleep", "3600"])])
    start = time.perf_counter()
    cluster.apply(manifest)
    wait_until("the floor pod to run", lambda: cluster.get("pod", "-n", "default", name)["status"].get("phase") == "Running", 60, interval=0.1)
    elapsed = time.perf_counter() - start
    cluster.kubectl("delete", "pod", "-n", "default", name, "--wait=false")
    return elapsed


def wildfly_pod_boot(cluster: Cluster) -> float:
    selector = "app.kubernetes.io/name=wildfly"
    pods = cluster.ready_pods("sessionstack", selector)
    start = time.perf_counter()
    cluster.kubectl("delete", "pod", "-n", "sessionstack", pods[0]["metadata"]["name"], "--wait=false")
    wait_until("the replacement WildFly pod to be ready", lambda: len([p for p in cluster.ready_pods("sessionstack", selector)
               if p["metadata"]["name"] != pods[0]["metadata"]["name"]]) == len(pods), 300, interval=0.2)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="also build everything from empty caches")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if (STATE / "created.json").exists():
        sys.exit(f"a node is running ({STATE}): stop it first (tools/cluster/stop)")

    samples: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        samples.setdefault(name, []).append(value)

    timed(["bash", str(TOOLS / "prepare")], timeout=7200)  # build whatever is missing, untimed
    add("prepare (warm)", timed(["bash", str(TOOLS / "prepare")], timeout=600)[0])
    if args.cold:
        for name, value in cold_build().items():
            add(name, value)
    bin_dir = Path(timed(["bash", str(TOOLS / "build.sh")])[1].stdout.strip())
    engine_bin = build_engine()
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        base = Path(tmp)
        for i in range(args.repeat):
            elapsed, done = timed(["bash", str(TOOLS / "start")], timeout=1200)
            add("start: nothing -> node Ready + DNS + storage", elapsed)
            kubeconfig = Path(done.stdout.strip().splitlines()[-1])
            cluster = Cluster(kubeconfig=kubeconfig, bin_dir=bin_dir, node=Node(state=STATE))
            add("floor: one pod created -> Running", pod_to_running(cluster, i))
            engine_env = {"KUBECONFIG": str(kubeconfig)}
            project = copy_project(base / f"project-{i}")
            engine = Engine(engine_bin, base / f"pulumi-{i}", extra_env=engine_env)
            assert engine.run(project, "stack", "init", "cluster").returncode == 0
            start = time.perf_counter()
            up = engine.run(project, "up", "--yes", "--stack", "cluster", timeout=1500)
            add("pulumi up -s cluster: empty -> all ready", time.perf_counter() - start)
            if up.returncode != 0:
                sys.exit(str(up))
            add("floor: one WildFly pod created -> ready", wildfly_pod_boot(cluster))
            start = time.perf_counter()
            engine.run(project, "destroy", "--yes", "--stack", "cluster", timeout=900)
            add("pulumi destroy -s cluster", time.perf_counter() - start)
            empty = write_program(base / f"empty-{i}", "empty", "import pulumi\nimport pulumi_kubernetes as k8s\n"
                                  "k8s.Provider('p', context='sessionstack-cluster')\n")
            e2 = Engine(engine_bin, base / f"pulumi-empty-{i}", extra_env=engine_env)
            assert e2.run(empty, "stack", "init", "bench").returncode == 0
            start = time.perf_counter()
            assert e2.run(empty, "up", "--yes", "--stack", "bench").returncode == 0
            add("floor: pulumi up of an empty program (provider only)", time.perf_counter() - start)
            add("stop: node -> host as before", timed(["bash", str(TOOLS / "stop")], timeout=300)[0])

    results = {k: {"median_s": statistics.median(v), "min_s": min(v), "runs": len(v)} for k, v in samples.items()}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"{'measurement':<52} {'median s':>9} {'min s':>9} {'runs':>5}")
    for name, r in results.items():
        print(f"{name:<52} {r['median_s']:>9.2f} {r['min_s']:>9.2f} {r['runs']:>5}")


if __name__ == "__main__":
    main()
