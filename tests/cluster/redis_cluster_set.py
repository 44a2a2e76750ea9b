"""The Redis session store in cluster mode on the cluster, as tests/cluster/test_redis_cluster.py
looks at it: each node's view (CLUSTER NODES), who serves which slot, the session keys a primary
holds, and the cluster settled after a fault."""

from __future__ import annotations

from dataclasses import dataclass

from deployments import NAMESPACE
from kube import Cluster, is_ready, wait_until
from redis_set import REDIS, redis_cli, redis_pods

PODS = 6
DOMAIN = f"{NAMESPACE}.svc.cluster.local"
SESSION_KEYS = "sessionstack:session:sessions:*"
"""Spring Session's key per session (the demo's redisNamespace)."""


@dataclass(frozen=True)
class Node:
    id: str
    pod: str
    """The pod the node announces (its host name's first label)."""
    host: str
    flags: frozenset[str]
    primary_id: str
    """'-' for a primary."""
    slots: tuple[str, ...]
    """Slot ranges ('0-5460') a primary serves."""

    @property
    def is_primary(self) -> bool:
        return "master" in self.flags


def nodes(cluster: Cluster, pod: str) -> list[Node]:
    """CLUSTER NODES as ``pod`` sees the cluster."""
    found = []
    for line in redis_cli(cluster, pod, "cluster", "nodes").splitlines():
        fields = line.split()
        if len(fields) < 8 or "," not in fields[1]:
            continue
        host = fields[1].split(",", 1)[1]
        found.append(Node(fields[0], host.split(".")[0], host, frozenset(fields[2].split(",")), fields[3], tuple(fields[8:])))
    return found


def slot_owner(cluster: Cluster, pod: str, slot: int) -> str:
    """The pod that serves ``slot`` as ``pod`` sees it ('' if none)."""
    for node in nodes(cluster, pod):
        for part in node.slots:
            if part.startswith("["):
                continue  # a migration in progress
            low, _, high = part.partition("-")
            if int(low) <= slot <= int(high or low):
                return node.pod
    return ""


def session_keys(cluster: Cluster, pod: str) -> list[str]:
    return [k for k in redis_cli(cluster, pod, "--scan", "--pattern", f"'{SESSION_KEYS}'").split() if k.startswith("sessionstack:")]


def settled(cluster: Cluster) -> dict[str, str]:
    """Waits for every pod ready and every node to see the same whole cluster: 3 primaries, each
    with one connected replica. Returns primary pod -> its replica's pod."""
    found: dict[str, str] = {}

    def whole() -> bool:
        pods = cluster.pods(NAMESPACE, REDIS)
        if len(pods) != PODS or not all(is_ready(p) for p in pods):
            return False
        views = [nodes(cluster, pod) for pod in redis_pods(cluster)]
        if any(len(view) != PODS or any(n.flags & {"fail", "fail?", "handshake", "noaddr"} for n in view) for view in views):
            return False
        primaries = {n.id: n.pod for n in views[0] if n.is_primary and n.slots}
        pairs = {primaries[n.primary_id]: n.pod for n in views[0] if not n.is_primary and n.primary_id in primaries}
        if len(primaries) != PODS // 2 or len(pairs) != PODS // 2:
            return False
        if any({(n.pod, n.is_primary) for n in view} != {(n.pod, n.is_primary) for n in views[0]} for view in views):
            return False
        found.clear()
        found.update(pairs)
        return True

    wait_until("every node to see 3 primaries, each with a replica, and every pod ready", whole, 300, interval=2)
    return dict(found)
