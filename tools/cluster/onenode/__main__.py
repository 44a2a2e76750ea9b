"""Start, stop and inspect the single-node cluster (run as root; see tools/cluster/README.md).

    python3 -m onenode start --bin DIR --images DIR   start (idempotent: a running node is left as is)
    python3 -m onenode stop                           stop every process, undo every host change
    python3 -m onenode status                         exit 0 when the node runs and the API is ready
    python3 -m onenode exec -- CMD...                 run CMD inside the node (e.g. ctr, nft, crictl)

State: $SESSIONSTACK_CLUSTER_DIR (default /var/lib/sessionstack-cluster); the admin kubeconfig is
<state>/kubeconfig, context `sessionstack-cluster`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from onenode import addons, config, host, pki, store
from onenode.config import Node

DEFAULT_STATE = "/var/lib/sessionstack-cluster"
REQUIRED = {
    "containerd": "containerd", "runc": "runc", "ctr": "containerd", "nft": "nftables",
    "nsenter": "util-linux", "unshare": "util-linux", "ip": "iproute2", "openssl": "openssl",
    "iptables": "iptables", "conntrack": "conntrack", "ipset": "ipset",
}


def log(msg: str) -> None:
    print(f"cluster: {msg}", file=sys.stderr, flush=True)


def node_from_env() -> Node:
    return Node(state=Path(os.environ.get("SESSIONSTACK_CLUSTER_DIR", DEFAULT_STATE)))


# --- readiness ----------------------------------------------------------------------------------

def api_get(node: Node, path: str, timeout: float = 3.0) -> tuple[int, str]:
    ctx = ssl.create_default_context(cafile=str(node.pki / "ca.crt"))
    ctx.load_cert_chain(str(node.pki / "admin.crt"), str(node.pki / "admin.key"))
    try:
        with urllib.request.urlopen(f"{node.server}{path}", context=ctx, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:
        return 0, str(exc)


def wait_for(what: str, check, timeout: float, node: Node, logs: tuple[str, ...] = ()) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.25)
    for name in logs:
        tail = node.path("logs", f"{name}.log").read_text(errors="replace").splitlines()[-25:]
        log(f"--- last lines of logs/{name}.log ---\n" + "\n".join(tail))
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def kubectl(node: Node, bin_dir: Path, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bin_dir / "kubectl"), f"--kubeconfig={node.kubeconfig}", *args],
        input=stdin, text=True, capture_output=True, check=check,
    )


def node_ready(node: Node) -> bool:
    status, body = api_get(node, f"/api/v1/nodes/{node.name}")
    if status != 200:
        return False
    conditions = json.loads(body).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def deployment_available(node: Node, namespace: str, name: str) -> bool:
    status, body = api_get(node, f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
    if status != 200:
        return False
    st = json.loads(body).get("status", {})
    return st.get("availableReplicas", 0) >= 1 and st.get("updatedReplicas", 0) >= 1


def policy_agent_ready(record: host.Record) -> bool:
    """kube-router's firewall has made its first pass: its chains hang off the node's FORWARD
    chain (every pod's traffic crosses it: the ptp CNI routes between pods)."""
    forward = subprocess.run(host.in_node(record) + ["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True)
    return forward.returncode == 0 and "-j KUBE-ROUTER-FORWARD" in forward.stdout


# --- start --------------------------------------------------------------------------------------

def write_files(node: Node, images: dict[str, str], share: Path) -> None:
    for d in ("logs", "pids", "etcd", "kubelet", "log", "containerd/opt", "cni/net.d", "cni/ipam", "cni/cache", "storage"):
        node.path(d).mkdir(parents=True, exist_ok=True)
    node.path("etcd").chmod(0o700)
    node.storage.chmod(0o755)
    pki.make_all(node)
    for name, cert in (("admin", "admin"), ("controller-manager", "controller-manager"), ("scheduler", "scheduler"),
                       ("kube-proxy", "kube-proxy"), ("kube-router", "kube-router"), ("kubelet", "kubelet-client")):
        path = node.kubeconfig if name == "admin" else node.path(f"{name}.kubeconfig")
        path.write_text(config.kubeconfig(node, name, node.pki / f"{cert}.crt", node.pki / f"{cert}.key"))
        path.chmod(0o600)
    node.path("resolv.conf").write_text(config.resolv_conf(node))
    node.path("kubelet-config.json").write_text(json.dumps(config.kubelet_config(node, "/etc/resolv.conf"), indent=1))
    node.path("kube-proxy-config.json").write_text(json.dumps(config.kube_proxy_config(node), indent=1))
    node.path("containerd/config.toml").write_text(config.containerd_config(node, images["pause"]))
    node.path("cni/net.d/10-sessionstack.conflist").write_text(json.dumps(config.cni_config(node), indent=1))
    # The Envoy Gateway chart where config/Pulumi.cluster.yaml's routing.controllerChart points.
    shutil.copytree(share / "gateway-helm", node.charts / "gateway-helm")


def start(node: Node, bin_dir: Path, images_dir: Path) -> None:
    if os.geteuid() != 0:
        raise SystemExit("cluster: start needs root (namespaces, cgroups, containerd)")
    missing = [f"{cmd} (apt package {pkg})" for cmd, pkg in REQUIRED.items() if not shutil.which(cmd)]
    missing += [f"{bin_dir / b}" for b in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kube-router", "kubectl") if not (bin_dir / b).exists()]
    if missing:
        raise SystemExit(f"cluster: missing {', '.join(missing)} (tools/cluster/start installs and builds them)")
    if running(node):
        log(f"already running: {node.server} (kubeconfig {node.kubeconfig})")
        return
    if node.state.exists():
        log(f"{node.state} holds a node that is not running: cleaning it up first")
        stop(node)
    image_set = json.loads((images_dir / "images.json").read_text())
    from onenode.images import image_refs

    refs = image_refs()
    share = bin_dir.parent / "share"
    t0 = time.monotonic()
    node.state.mkdir(parents=True, mode=0o711)
    record = host.Record(node)
    try:
        write_files(node, refs, share)
        host.create_network(node, record)
        host.save_sysctls(record)
        host.create_cgroup_root(record)
        host.ensure_mountpoints(node, record)
        host.start_holder(node, record)
        t1 = time.monotonic()
        cloned = store.clone(images_dir / store.GOLDEN, node.path("containerd/root"))
        if cloned:
            log(f"image store cloned in {time.monotonic() - t1:.1f}s")
        else:
            node.path("containerd/root").mkdir()
        b = str(bin_dir)
        host.launch(node, record, "etcd", [f"{b}/etcd", *config.etcd_args(node)])
        host.launch(node, record, "kube-apiserver", [f"{b}/kube-apiserver", *config.apiserver_args(node)])
        host.launch(node, record, "containerd", ["containerd", "--config", str(node.path("containerd/config.toml"))])
        took = wait_for("the API server", lambda: api_get(node, "/readyz")[0] == 200, 90, node, ("etcd", "kube-apiserver"))
        log(f"API server ready after {time.monotonic() - t0:.1f}s ({took:.1f}s waiting)")
        host.launch(node, record, "kube-controller-manager", [f"{b}/kube-controller-manager", *config.controller_manager_args(node)])
        host.launch(node, record, "kube-scheduler", [f"{b}/kube-scheduler", *config.scheduler_args(node)])
        ctr_version = host.in_node(record) + ["ctr", "--address", config.CONTAINERD_SOCKET, "version"]
        wait_for("containerd", lambda: subprocess.run(ctr_version, capture_output=True).returncode == 0, 30, node, ("containerd",))
        if not cloned:
            t1 = time.monotonic()
            store.import_images(host.in_node(record) + ["ctr", "--address", config.CONTAINERD_SOCKET, "--namespace", store.NAMESPACE], image_set)
            log(f"{len(image_set)} images imported in {time.monotonic() - t1:.1f}s")
        host.launch(node, record, "kubelet", [f"{b}/kubelet", *config.kubelet_args(node)])
        host.launch(node, record, "kube-proxy", [f"{b}/kube-proxy", f"--config={node.path('kube-proxy-config.json')}"])
        kubectl(node, bin_dir, "apply", "-f", "-", stdin=addons.bootstrap_rbac())
        # The NetworkPolicy agent: every policy the stacks declare is enforced from here on.
        kubectl(node, bin_dir, "apply", "-f", "-", stdin=addons.policy_agent_rbac())
        host.launch(node, record, "kube-router", [f"{b}/kube-router", *config.kube_router_args(node)])
        kubectl(node, bin_dir, "apply", "-f", "-", stdin=addons.coredns((share / "coredns.yaml.base").read_text(), node, refs["coredns"]))
        kubectl(node, bin_dir, "apply", "-f", "-", stdin=addons.local_path(
            (share / "local-path-storage.yaml").read_text(), node, refs["local-path-provisioner"], refs["busybox"]))
        wait_for(f"node {node.name} Ready", lambda: node_ready(node), 60, node, ("kubelet", "containerd"))
        wait_for("kube-router's firewall", lambda: policy_agent_ready(record), 60, node, ("kube-router",))
        log(f"node Ready after {time.monotonic() - t0:.1f}s")
        wait_for("CoreDNS", lambda: deployment_available(node, "kube-system", "coredns"), 90, node, ("kubelet",))
        wait_for("local-path-provisioner", lambda: deployment_available(node, "local-path-storage", "local-path-provisioner"), 90, node, ("kubelet",))
    except BaseException:
        log("start failed: stopping what was started")
        keep = node.path("logs")
        saved = Path(f"{node.state}-failed-logs")
        shutil.rmtree(saved, ignore_errors=True)
        if keep.exists():
            shutil.copytree(keep, saved)
            log(f"logs kept in {saved}")
        stop(node)
        raise
    log(f"ready in {time.monotonic() - t0:.1f}s: {node.server}, KUBECONFIG={node.kubeconfig} (context {node.context})")


def running(node: Node) -> bool:
    if not node.path("created.json").exists():
        return False
    record = host.Record(node)
    return host.holder_pid(record) is not None and node.path("pki/admin.crt").exists() and api_get(node, "/readyz")[0] == 200


# --- stop ---------------------------------------------------------------------------------------

def stop(node: Node) -> None:
    if not node.state.exists():
        log("not running (no state dir)")
        return
    record = host.Record(node)
    signalled = host.stop_processes(record)
    host.delete_network(record)
    left = host.remove_cgroups(record)
    changed = host.restore_sysctls(record)
    left += host.remove_mountpoints(record)
    shutil.rmtree(node.state)
    for key, (was, now) in changed.items():
        log(f"restored {key}: {was} -> {now}")
    if left:
        raise SystemExit(f"cluster: stopped, but could not remove: {left}")
    log(f"stopped ({len(signalled)} processes), host restored")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="onenode", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("start")
    s.add_argument("--bin", required=True, type=Path, help="tools/cluster/build.sh's bin dir")
    s.add_argument("--images", required=True, type=Path, help="the image set dir from onenode.images build")
    sub.add_parser("stop")
    sub.add_parser("status")
    e = sub.add_parser("exec")
    e.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    node = node_from_env()
    if args.command == "start":
        start(node, args.bin.resolve(), args.images.resolve())
    elif args.command == "stop":
        stop(node)
    elif args.command == "status":
        ok = running(node)
        print(f"{'running' if ok else 'not running'}: {node.server}" + (f", KUBECONFIG={node.kubeconfig}" if ok else ""))
        return 0 if ok else 1
    elif args.command == "exec":
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        return subprocess.run(host.in_node(host.Record(node)) + argv).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
