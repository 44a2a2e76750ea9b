"""The Redis session store's pods on the cluster, as the tests and bench/redis_modes.py look at
them: each pod's Redis and Sentinel through `kubectl exec` and `redis-cli`, the primary, what
every Sentinel names, the set settled after a fault, and the logs that tell what happened."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from deployments import NAMESPACE
from kube import Cluster, is_ready, wait_until
from onenode.images import spring_demo_ref

REDIS = "app.kubernetes.io/name=redis,app.kubernetes.io/component=session-store"
"""The store's pods (in cluster mode not the bootstrap Job's)."""
SENTINEL_PORT = 26379

SETTINGS = {
    # The cluster stack with the redis backend (README): the Spring Session demo image.
    "wildfly.sessionBackend": "redis",
    "wildfly.demoApp": "false",
    "wildfly.image": spring_demo_ref(),
}


def redis_pods(cluster: Cluster) -> list[str]:
    return sorted(p["metadata"]["name"] for p in cluster.pods(NAMESPACE, REDIS))


def redis_cli(cluster: Cluster, pod: str, *args: str, authenticated: bool = True, port: int = 6379, host: str = "127.0.0.1") -> str:
    """redis-cli inside a Redis pod (its Redis, or with port 26379 its Sentinel; or ``host``), with
    the password from the pod's env (never on a command line) or without any. ``args`` are words
    of a shell command line in the pod ("$REDIS_PASSWORD" expands there)."""
    auth = 'REDISCLI_AUTH="$REDIS_PASSWORD" ' if authenticated else ""
    command = auth + f"redis-cli --no-auth-warning -h {host} -p {port} " + " ".join(args)
    container = "sentinel" if port == SENTINEL_PORT else "redis"  # (the other one may be frozen or dead)
    done = cluster.kubectl("exec", "-n", NAMESPACE, pod, "-c", container, "--", "sh", "-c", command, check=False, timeout=30)
    return done.stdout + done.stderr


def primaries(cluster: Cluster) -> list[str]:
    """The pods whose Redis says it is a primary (ROLE)."""
    return [pod for pod in redis_pods(cluster) if redis_cli(cluster, pod, "role").split("\n")[0] == "master"]


def named_by_sentinels(cluster: Cluster) -> list[str]:
    """What each Sentinel answers for the primary's address (its host name), pod by pod ('' for
    anything that is not a pod's name: an error, no answer)."""
    answers = [redis_cli(cluster, pod, "sentinel", "get-master-addr-by-name", "sessions", port=SENTINEL_PORT).split("\n")[0]
               for pod in redis_pods(cluster)]
    return [a if re.fullmatch(rf"sessions-\d+\.{NAMESPACE}\.svc\.cluster\.local", a) else "" for a in answers]


def settled(cluster: Cluster) -> str:
    """Waits for one primary that every Sentinel names and whose replicas are all in sync; returns it."""
    found: dict[str, str] = {}

    def one_primary_in_sync() -> bool:
        pods = cluster.pods(NAMESPACE, REDIS)
        if len(pods) != 3 or not all(is_ready(p) for p in pods):
            return False
        found_primaries = primaries(cluster)
        if len(found_primaries) != 1:
            return False
        primary = found_primaries[0]
        if {name.split(".")[0] for name in named_by_sentinels(cluster)} != {primary}:
            return False
        info = redis_cli(cluster, primary, "info", "replication")
        found["primary"] = primary
        return "connected_slaves:2" in info and info.count("state=online") == 2
    wait_until("one primary, named by every Sentinel, with two replicas online", one_primary_in_sync, 240, interval=2)
    return found["primary"]


HANDOVER = re.compile(r".*(\+switch-master|\+convert-to-slave|sessionstack: ).*")
APP_REDIS_ERRORS = re.compile(r"(NOREPLICAS|READONLY|LOADING|MASTERDOWN|RedisCommandTimeoutException|RedisConnectionFailureException|Unable to connect)")


def what_happened(cluster: Cluster, directory: Path) -> None:
    """Prints the Redis pods' role changes (the Sentinels' and the scripts' lines, also of a
    container that restarted) and the Redis errors the application logged; keeps all in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    lines, errors = [], []
    for selector, pattern, found in ((REDIS, HANDOVER, lines), ("app.kubernetes.io/name=wildfly", APP_REDIS_ERRORS, errors)):
        for pod in cluster.pods(NAMESPACE, selector):
            for container in (c["name"] for c in pod["spec"]["containers"]):
                for previous in ("--previous=false", "--previous=true"):
                    done = cluster.kubectl("logs", "-n", NAMESPACE, pod["metadata"]["name"], "-c", container, previous, "--timestamps", check=False)
                    (directory / f"{pod['metadata']['name']}-{container}{'-previous' if previous.endswith('true') else ''}.log").write_text(done.stdout)
                    found += [f"{pod['metadata']['name']}/{container}: {m.group(0)}" for m in pattern.finditer(done.stdout)]
    print(f"logs in {directory}:", *sorted(lines, key=lambda line: line.split(" ", 2)[1]), sep="\n  ")
    print("Redis errors in the application's logs:", dict(Counter(e.rsplit(" ", 1)[-1] for e in errors)))


def container_id(pod: dict, name: str) -> str:
    (status,) = [c for c in pod["status"]["containerStatuses"] if c["name"] == name]
    return status["containerID"].split("://", 1)[1]
