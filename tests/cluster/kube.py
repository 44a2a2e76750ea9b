"""A handle on the running single-node cluster for the tests: kubectl, waits, throwaway pods.

Everything goes through the real API server with the admin kubeconfig that tools/cluster writes;
commands inside the node (ctr, nft) go through `python3 -m onenode exec`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_TOOLS = ROOT / "tools" / "cluster"
STATE = Path(os.environ.get("SESSIONSTACK_CLUSTER_DIR", "/var/lib/sessionstack-cluster"))

if str(CLUSTER_TOOLS) not in sys.path:
    sys.path.insert(0, str(CLUSTER_TOOLS))

from onenode import images as node_images  # noqa: E402
from onenode.config import Node  # noqa: E402


class KubeError(AssertionError):
    pass


@dataclass
class Cluster:
    kubeconfig: Path
    bin_dir: Path
    node: Node

    @property
    def env(self) -> dict[str, str]:
        """An environment whose kubectl and KUBECONFIG are this cluster's."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}"}

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        done = subprocess.run([str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
                              input=input, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise KubeError(f"kubectl {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def get(self, *args: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def items(self, *args: str) -> list[dict[str, Any]]:
        return self.get(*args)["items"]

    def apply(self, objects: list[dict[str, Any]] | dict[str, Any]) -> None:
        docs = objects if isinstance(objects, list) else [objects]
        self.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))

    def in_node(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "onenode", "exec", "--", *argv], cwd=CLUSTER_TOOLS,
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise KubeError(f"in the node: {' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def exec(self, namespace: str, pod: str, *argv: str) -> bytes:
        """What ``argv`` prints in the pod's first container (``kubectl exec``), as bytes."""
        done = subprocess.run([str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", "exec", "-n", namespace, pod, "--", *argv],
                              capture_output=True, timeout=120)
        if done.returncode != 0:
            raise KubeError(f"kubectl exec {namespace}/{pod} {' '.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
        return done.stdout

    def logs(self, namespace: str, pod: str, container: str | None = None) -> str:
        args = ["logs", "-n", namespace, pod] + (["-c", container] if container else [])
        return self.kubectl(*args).stdout

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return self.items("pods", "-n", namespace, "-l", selector)

    def live_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The pods not being deleted (terminating pods still match their selector)."""
        return [p for p in self.pods(namespace, selector) if not is_terminating(p)]

    def ready_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return [p for p in self.pods(namespace, selector) if is_serving(p)]

    def settled_pods(self, namespace: str, selector: str, count: int, timeout: float = 300) -> list[dict[str, Any]]:
        """Waits until exactly ``count`` (>= 1) pods match, all ready and none terminating or
        pending (a rollout or a scale that has finished), and returns them."""
        def settled() -> list[dict[str, Any]] | None:
            pods = self.pods(namespace, selector)
            return pods if len(pods) == count and all(map(is_serving, pods)) else None
        return wait_until(f"{count} ready pods {selector} in {namespace} and no other", settled, timeout, interval=2)


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def is_terminating(pod: dict[str, Any]) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_serving(pod: dict[str, Any]) -> bool:
    """Ready and not being deleted: a pod its Service sends requests to."""
    return is_ready(pod) and not is_terminating(pod)


def restarts(pod: dict[str, Any]) -> int:
    return sum(c.get("restartCount", 0) for c in pod.get("status", {}).get("containerStatuses", []))


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Polls `check` until it returns something truthy; fails with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise KubeError(f"timed out after {timeout:.0f}s: {what} (last: {last!r})")


def restricted_container(name: str, image: str, command: list[str], uid: int = 65532) -> dict[str, Any]:
    """A container that passes the restricted Pod Security Standard."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": uid, "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
            "readOnlyRootFilesystem": True,
        },
    }


def pod(name: str, namespace: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "sessionstack-tests"}},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": containers, **spec},
    }


IMAGES = node_images.image_refs()
"""Role -> the reference tools/cluster builds and imports (the stack's own images and the tests')."""
TOOLBOX = IMAGES["toolbox"]


def run_to_completion(cluster: Cluster, manifest: dict[str, Any], timeout: float = 120) -> tuple[str, str]:
    """Creates the pod, waits until it has finished, returns (phase, logs) and deletes it."""
    ns, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    cluster.apply(manifest)
    try:
        phase = wait_until(f"pod {ns}/{name} to finish",
                           lambda: (cluster.get("pod", "-n", ns, name)["status"].get("phase") in ("Succeeded", "Failed"))
                           and cluster.get("pod", "-n", ns, name)["status"]["phase"], timeout)
        return phase, cluster.logs(ns, name)
    finally:
        cluster.kubectl("delete", "pod", "-n", ns, name, "--wait=false", check=False)


def verify(url: str, sessions: int = 10, requests: int = 8, min_pods: int = 2, interval: float = 0.2) -> dict[str, Any]:
    """`python -m verify` against `url` (no affinity: each request may land on any pod); its report.
    Fails unless every check passed. ``interval``: a user's think time between requests. WildFly 39
    answers before the session write has reached the second owner (README, "three limits"), so a
    request sent the same instant to the other pod may read the previous value; users think."""
    done = subprocess.run(
        [sys.executable, "-m", "verify", url, "--sessions", str(sessions), "--requests", str(requests), "--min-pods", str(min_pods),
         "--interval", str(interval), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["passed"], report
    return report


@contextlib.contextmanager
def node_port(cluster: Cluster, namespace: str, service: str) -> Iterator[str]:
    """A NodePort Service over the pods of `service` (same selector and target port, no session
    affinity): kube-proxy spreads connections from the host over them. Yields its base URL once
    kube-proxy answers on it; deletes it afterwards.

    The node enforces NetworkPolicies, and the stacks admit HTTP from the router's namespace
    only. A NodePort's packets reach the pod's policy with the client's address (kube-proxy
    masquerades them after the filter has judged them), so a NetworkPolicy of the same name admits
    the host's address to the target port, as a stack does for a load balancer's network
    (``http_from`` with an ipBlock); deleted with the Service."""
    spec = cluster.get("service", "-n", namespace, service)["spec"]
    name = f"{service}-nodeport"
    port = spec["ports"][0]
    cluster.apply([
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
         "spec": {"type": "NodePort", "selector": spec["selector"], "ports": [{"port": port["port"], "targetPort": port["targetPort"]}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace},
         "spec": {"podSelector": {"matchLabels": spec["selector"]}, "policyTypes": ["Ingress"],
                  "ingress": [{"from": [{"ipBlock": {"cidr": f"{cluster.node.host_ip}/32"}}], "ports": [{"port": port["targetPort"]}]}]}},
    ])
    try:
        node_port_number = cluster.get("service", "-n", namespace, name)["spec"]["ports"][0]["nodePort"]
        address = (cluster.node.node_ip, node_port_number)

        def answers() -> bool:
            try:
                socket.create_connection(address, timeout=1).close()
                return True
            except OSError:
                return False

        wait_until(f"kube-proxy to serve NodePort {node_port_number}", answers, 30, interval=0.5)
        yield f"http://{address[0]}:{address[1]}"
    finally:
        cluster.kubectl("delete", "service,networkpolicy", "-n", namespace, name, "--wait=false", check=False)
