"""Pure artefacts of the session store's sentinel mode: the replication lines of redis.conf,
sentinel.conf, the start and pre-stop scripts, and the Sentinels' auth include.

Nothing here imports pulumi. In sentinel mode every pod of the StatefulSet runs Redis (one primary,
the others its replicas) and a Sentinel next to it. The role is not fixed per pod: at every start
``start-redis.sh`` asks the Sentinels which pod is the primary and starts as its replica (or, on the
set's first start, pod 0 is the primary). Pods name each other by the DNS name of each
pod's own Service (a ClusterIP that outlives the pod), so what the Sentinels know and announce to
clients stays valid when a pod is replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionstack import templating
from sessionstack.redis_config import AUTH_DIR, CLUSTER_DOMAIN, CONFIG_DIR, CONFIG_PATH, DATA_DIR, REDIS_PORT, quote_password

SENTINEL_PORT = 26379
SENTINEL_CONFIG_FILE = "sentinel.conf"
"""ConfigMap key of the Sentinel's file (start-sentinel.sh copies it to SENTINEL_DIR)."""
SENTINEL_DIR = "/sentinel"
"""Writable emptyDir where the Sentinel keeps the file it rewrites."""
SECRET_SENTINEL_AUTH_KEY = "sentinel-auth.conf"
"""Secret key holding the Sentinel's requirepass and auth-pass lines."""
SCRIPTS = ("sentinel-lib.sh", "start-redis.sh", "start-sentinel.sh", "pre-stop.sh", "ready.sh")
"""Shell scripts in the ConfigMap, next to redis.conf and sentinel.conf (run with ``sh``)."""

DOWN_AFTER_MS = 5000
"""A primary that does not answer for this long is down (see sentinel.conf)."""
FAILOVER_TIMEOUT_MS = 30000
FAILOVER_WAIT_S = 20
"""How long a leaving or restarting primary waits for the Sentinels to promote a replica."""
PAUSE_MS = (FAILOVER_WAIT_S + 10) * 1000
"""A leaving primary holds writes back this long at most (it stops as soon as it has handed over)."""
SENTINEL_WAIT_S = 60
"""How long a restarting Redis that has data waits for a Sentinel to name the primary."""
MIN_REPLICAS_TO_WRITE = 1
MIN_REPLICAS_MAX_LAG_S = 10


@dataclass(frozen=True)
class SentinelLayout:
    """What the sentinel-mode files need to know about the set."""

    master_name: str
    """The name the Sentinels monitor the primary under (clients ask for it)."""
    pods: int
    """Pods in the StatefulSet, each with Redis and a Sentinel (odd, 3 or more)."""
    client_service: str
    """The Service over the ready pods (Redis and Sentinel ports)."""

    def pod_address(self, ordinal: int) -> str:
        """Name of the Service of pod ``ordinal`` (the pod's own name): its address,
        ``<name>.<namespace>.svc.<domain>``, whose ClusterIP stays when the pod is replaced."""
        return f"{self.master_name}-{ordinal}"

    @property
    def quorum(self) -> int:
        """Sentinels that must agree the primary is down: a majority."""
        return self.pods // 2 + 1


def replication_conf() -> str:
    """redis.conf's lines for sentinel mode, placed before the auth include (templates/redis/replication.conf)."""
    return templating.fill(
        templating.read("redis", "replication.conf"),
        {"MIN_REPLICAS_TO_WRITE": MIN_REPLICAS_TO_WRITE, "MIN_REPLICAS_MAX_LAG": MIN_REPLICAS_MAX_LAG_S},
    )


def sentinel_conf(layout: SentinelLayout) -> str:
    """sentinel.conf with the two pod-specific names (__PRIMARY_HOST__, __ANNOUNCE_HOST__) left for
    start-sentinel.sh to fill in."""
    return templating.fill(
        templating.read("redis", "sentinel.conf"),
        {
            "SENTINEL_PORT": SENTINEL_PORT,
            "SENTINEL_DIR": SENTINEL_DIR,
            "MASTER_NAME": layout.master_name,
            "REDIS_PORT": REDIS_PORT,
            "QUORUM": layout.quorum,
            "PODS": layout.pods,
            "DOWN_AFTER_MS": DOWN_AFTER_MS,
            "FAILOVER_TIMEOUT_MS": FAILOVER_TIMEOUT_MS,
        },
    )


def scripts(layout: SentinelLayout) -> dict[str, str]:
    """File name -> text of the scripts (templates/redis/*.sh)."""
    values = {
        "MASTER_NAME": layout.master_name,
        "REDIS_PORT": REDIS_PORT,
        "SENTINEL_PORT": SENTINEL_PORT,
        "PODS": layout.pods,
        "CLIENT_SERVICE": layout.client_service,
        "DATA_DIR": DATA_DIR,
        "PAUSE_MS": PAUSE_MS,
        "SENTINEL_WAIT_S": SENTINEL_WAIT_S,
        "CLUSTER_DOMAIN": CLUSTER_DOMAIN,
        "SCRIPTS_DIR": CONFIG_DIR,
        "CONFIG_PATH": CONFIG_PATH,
        "SENTINEL_DIR": SENTINEL_DIR,
        "AUTH_DIR": AUTH_DIR,
        "SENTINEL_AUTH_KEY": SECRET_SENTINEL_AUTH_KEY,
        "FAILOVER_WAIT_S": FAILOVER_WAIT_S,
    }
    return {name: templating.fill(templating.read("redis", name), values) for name in SCRIPTS}


def sentinel_auth_conf(password: str, master_name: str) -> str:
    """The Sentinel's auth lines (Secret key SECRET_SENTINEL_AUTH_KEY): clients and the other
    Sentinels authenticate to it with the same password as to Redis, and it authenticates to Redis."""
    if not isinstance(password, str) or not password:
        raise ValueError("password must be a non-empty string")
    quoted = quote_password(password)
    return (
        "# sessionstack: Sentinel passwords (from a Secret, never a ConfigMap)\n"
        f"requirepass {quoted}\n"
        f"sentinel sentinel-pass {quoted}\n"
        f"sentinel auth-pass {master_name} {quoted}\n"
    )
