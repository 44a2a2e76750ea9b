"""Pure artefacts of the session store's cluster mode (Redis Cluster): the cluster lines of
redis.conf and the scripts that start a node, tell when it is ready, hand a leaving primary's slots
to its replica, and form the cluster once (the bootstrap Job).

Nothing here imports pulumi. In cluster mode the StatefulSet runs ``2 x primaries`` pods, every one a
Redis Cluster node; which are primaries is decided by the bootstrap and changes with every failover.
Each node announces its pod's own Service: the DNS name to clients, so a redirect (MOVED, ASK)
names an address that resolves anywhere in the cluster, and the ClusterIP to the other nodes. Both
outlive the pod, so the cluster finds a restarted node where it knew it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionstack import templating
from sessionstack.redis_config import CLUSTER_DOMAIN, CONFIG_DIR, CONFIG_PATH, DATA_DIR, REDIS_PORT

BUS_PORT = REDIS_PORT + 10000
"""The cluster bus (node to node), Redis's default: the client port plus 10000."""
NODE_TIMEOUT_MS = 5000
"""cluster-node-timeout: see templates/redis/cluster.conf."""
FAILOVER_WAIT_S = 20
"""How long a leaving primary waits for its replica to take over its slots."""
DRAIN_WAIT_S = 10
"""How long a primary that handed its slots over then waits for its clients to move on."""
QUIET_S = 2
"""They have moved on when the node answered no redirect for this long (Lettuce renews its view
of the cluster within about a second of a redirect)."""
SCRIPTS = ("cluster-lib.sh", "start-cluster.sh", "cluster-ready.sh", "cluster-pre-stop.sh", "bootstrap-cluster.sh")
"""Shell scripts in the ConfigMap, next to redis.conf (run with ``sh``)."""
SLOTS = 16384


@dataclass(frozen=True)
class ClusterLayout:
    """What the cluster-mode files need to know about the set."""

    statefulset: str
    """Name of the StatefulSet (the component name); pod i is ``<statefulset>-i``."""
    primaries: int
    """Shards: primaries, each with one replica (3 or more, for a majority that survives one loss)."""

    @property
    def pods(self) -> int:
        return self.primaries * 2

    def pod_address(self, ordinal: int) -> str:
        """Name of the Service of pod ``ordinal`` (the pod's own name): the node's host name is
        ``<name>.<namespace>.svc.<domain>``, its address the Service's ClusterIP."""
        return f"{self.statefulset}-{ordinal}"


def cluster_conf(primaries: int) -> str:
    """redis.conf's lines for cluster mode, placed before the auth include (templates/redis/cluster.conf)."""
    return templating.fill(
        templating.read("redis", "cluster.conf"),
        {"PRIMARIES": primaries, "DATA_DIR": DATA_DIR, "NODE_TIMEOUT_MS": NODE_TIMEOUT_MS},
    )


def scripts(layout: ClusterLayout) -> dict[str, str]:
    """File name -> text of the scripts (templates/redis/cluster-*.sh, start-cluster.sh, bootstrap-cluster.sh)."""
    values = {
        "REDIS_PORT": REDIS_PORT,
        "PODS": layout.pods,
        "PRIMARIES": layout.primaries,
        "STATEFULSET": layout.statefulset,
        "CLUSTER_DOMAIN": CLUSTER_DOMAIN,
        "SCRIPTS_DIR": CONFIG_DIR,
        "CONFIG_PATH": CONFIG_PATH,
        "FAILOVER_WAIT_S": FAILOVER_WAIT_S,
        "DRAIN_WAIT_S": DRAIN_WAIT_S,
        "QUIET_S": QUIET_S,
    }
    return {name: templating.fill(templating.read("redis", name), values) for name in SCRIPTS}
