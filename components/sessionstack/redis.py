"""RedisSessionStore: the twelve-factor session store, in the cluster.

Three modes (RedisMode): ``sentinel`` (the default) runs an odd number of pods, each with Redis and a
Sentinel next to it, and the Sentinels promote a replica when the primary fails or leaves
(redis_sentinel.py, redis_sentinel_config.py); ``cluster`` runs a Redis Cluster, the sessions
spread over 3+ primaries each with a replica, formed by a bootstrap Job (redis_cluster.py,
redis_cluster_config.py); ``standalone`` runs one pod. Either way: a StatefulSet with its governing
headless Service (stable pod DNS, the thing field setups forget), a client Service, a
PersistentVolumeClaim per pod for the append-only file, redis.conf from a ConfigMap and the password
from a generated Secret (the requirepass line reaches Redis as an included file from that Secret, so
no ConfigMap and no command line ever holds it), probes, a PDB, a NetworkPolicy that admits only the
session clients, and a non-root, read-only container. The AWS counterpart with the same outputs is
``sessionstack.elasticache.ElastiCacheSessionStore``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from sessionstack import k8s_common, redis_cluster_config, redis_sentinel_config
from sessionstack.children import Children
from sessionstack.redis_cluster import BOOTSTRAP_COMPONENT, bootstrap_job, cluster_redis_container
from sessionstack.redis_cluster_config import BUS_PORT, ClusterLayout, cluster_conf
from sessionstack.redis_config import (
    AUTH_DIR,
    CLUSTER_DOMAIN,
    CONFIG_DIR,
    CONFIG_FILE,
    DATA_DIR,
    REDIS_IMAGE,
    REDIS_PORT,
    REDIS_UID,
    SECRET_AUTH_CONF_KEY,
    SECRET_PASSWORD_KEY,
    RedisMode,
    auth_conf,
    redis_conf,
    server_args,
)
from sessionstack.redis_sentinel import sentinel_container, sentinel_redis_container
from sessionstack.redis_sentinel_config import (
    PAUSE_MS,
    SECRET_SENTINEL_AUTH_KEY,
    SENTINEL_CONFIG_FILE,
    SENTINEL_PORT,
    SentinelLayout,
    replication_conf,
    sentinel_auth_conf,
    sentinel_conf,
)

STATEFULSET_POD_LABEL = "statefulset.kubernetes.io/pod-name"
"""Label the StatefulSet controller puts on each pod, with the pod's name."""
_QUANTITY = re.compile(r"^[1-9][0-9]*(Mi|Gi|Ti)$")


@dataclass(frozen=True)
class RedisSessionStoreArgs:
    namespace: pulumi.Input[str]
    """Namespace for all the store's objects; only pods with client_labels in it may connect."""
    mode: RedisMode = RedisMode.SENTINEL
    """sentinel (default): sentinel_pods pods, each Redis + Sentinel, a replica promoted when the
    primary fails or leaves; cluster: a Redis Cluster of cluster_primaries primaries, each with a
    replica (clients need a cluster client); standalone: one pod, every request fails while it
    restarts."""
    sentinel_pods: int = 3
    """sentinel mode: pods in the set, odd, 3 to 9 (the Sentinels' quorum is a majority of them)."""
    cluster_primaries: int = 3
    """cluster mode: primaries (shards), 3 to 16, each with one replica: twice as many pods. Three
    is the least for a failover (a majority of primaries must agree that one is gone)."""
    storage: str = "1Gi"
    """PersistentVolumeClaim size for the append-only file (per pod)."""
    maxmemory_mb: int = 256
    """Redis maxmemory; the container limit is twice this for the AOF rewrite's copy-on-write."""
    image: str = REDIS_IMAGE
    """Redis image, pinned by tag or digest (':latest' and untagged are refused); the pod runs it as
    uid 999 (redis of the official image)."""
    storage_class_name: str | None = None
    """None: the cluster's default StorageClass."""
    client_labels: Mapping[str, str] = field(default_factory=lambda: {"sessionstack.io/redis-client": "true"})
    """Pods with these labels (in the same namespace) may connect; nobody else."""

    def __post_init__(self) -> None:
        if not isinstance(self.mode, RedisMode):
            raise ValueError(f"RedisSessionStoreArgs.mode must be one of {[m.value for m in RedisMode]}, got {self.mode!r}")
        pods = self.sentinel_pods
        if isinstance(pods, bool) or not isinstance(pods, int) or not 3 <= pods <= 9 or pods % 2 == 0:
            raise ValueError(f"RedisSessionStoreArgs.sentinel_pods must be an odd integer from 3 to 9, got {pods!r} (an even count adds no failure tolerance to the quorum)")
        primaries = self.cluster_primaries
        if isinstance(primaries, bool) or not isinstance(primaries, int) or not 3 <= primaries <= 16:
            raise ValueError(f"RedisSessionStoreArgs.cluster_primaries must be an integer from 3 to 16, got {primaries!r} (a failover needs a majority of at least 3 primaries)")
        if not isinstance(self.storage, str) or not _QUANTITY.match(self.storage):
            raise ValueError(f"RedisSessionStoreArgs.storage must be a quantity such as 512Mi or 1Gi, got {self.storage!r}")
        if isinstance(self.maxmemory_mb, bool) or not isinstance(self.maxmemory_mb, int) or not 16 <= self.maxmemory_mb <= 65536:
            raise ValueError(f"RedisSessionStoreArgs.maxmemory_mb must be an integer from 16 to 65536, got {self.maxmemory_mb!r}")
        k8s_common.check_pinned_image("RedisSessionStoreArgs.image", self.image)
        if not self.client_labels:
            raise ValueError("RedisSessionStoreArgs.client_labels must name at least one label, got {} (an empty selector would admit every pod)")

    @property
    def pods(self) -> int:
        return {RedisMode.SENTINEL: self.sentinel_pods, RedisMode.CLUSTER: self.cluster_primaries * 2}.get(self.mode, 1)


class RedisSessionStore(pulumi.ComponentResource):
    host: pulumi.Output[str]
    """Cluster DNS name of the client Service, over the ready pods. In sentinel mode replicas behind
    it refuse writes: connect through the Sentinels (sentinel_master_name, sentinel_nodes). In
    cluster mode a node behind it answers MOVED for keys it does not serve: use a cluster client
    seeded with cluster_nodes."""
    port: pulumi.Output[int]
    """Redis port (6379) on host; plain TCP (tls is False)."""
    tls: pulumi.Output[bool]
    """False: traffic stays inside the cluster network, guarded by the NetworkPolicy."""
    password_secret_name: pulumi.Output[str]
    """Secret ``<name>-auth`` holding the Redis password (key: password_secret_key); mount or read it,
    never export it. In sentinel mode the Sentinels take the same password."""
    password_secret_key: pulumi.Output[str]
    """Key in password_secret_name holding the bare password ('password'); use it in a secretKeyRef."""
    password: pulumi.Output[str]
    """Secret Output; never export it."""
    sentinel_master_name: pulumi.Output[str]
    """sentinel mode: the name the Sentinels know the primary by (the component name); '' otherwise."""
    sentinel_nodes: pulumi.Output[list[str]]
    """sentinel mode: ``host:port`` of every Sentinel, by the names of the pods' own Services; []
    otherwise."""
    cluster_nodes: pulumi.Output[list[str]]
    """cluster mode: ``host:port`` of every node, by the names of the pods' own Services, known once
    the bootstrap Job has formed the cluster; [] otherwise."""
    mode: pulumi.Output[str]
    """'standalone', 'sentinel' or 'cluster'."""
    headless_service_name: pulumi.Output[str]
    """Governing headless Service of the StatefulSet (``<name>-headless``): stable pod DNS names."""
    statefulset_name: pulumi.Output[str]
    """Name of the Redis StatefulSet (the component name), for `kubectl rollout status` or
    `kubectl exec`."""

    def __init__(self, name: str, args: RedisSessionStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        k8s_common.validate_component_name("RedisSessionStore", name)
        super().__init__("sessionstack:redis:RedisSessionStore", name, None, opts)
        selector = k8s_common.selector_labels("redis", name, "session-store")
        labels = k8s_common.standard_labels("redis", name, "session-store", k8s_common.image_tag(args.image))
        kids = Children(self, name, args.namespace, labels, selector)
        mode = args.mode

        password = random.RandomPassword(f"{name}-password", length=40, special=False, opts=kids.opts)
        secret = _secret(kids, mode, password.result)
        config_map = kids.config_map("config", _config_data(args, name))
        ports = [_port("redis", REDIS_PORT)] + ([_port("sentinel", SENTINEL_PORT)] if mode is RedisMode.SENTINEL else [])
        headless = kids.service("headless", ports, f"{name}-headless", clusterIP="None", publishNotReadyAddresses=True)
        client = kids.service("client", ports, name, type="ClusterIP")
        pod_ports = ports + ([_port("bus", BUS_PORT)] if mode is RedisMode.CLUSTER else [])
        for i in range(args.pods if mode is not RedisMode.STANDALONE else 0):
            # Each pod's address in sentinel and cluster mode: a Service of its own, whose ClusterIP
            # outlives the pod. Sentinel resolves a host name once and keeps connecting to that IP
            # (redis/redis#9103), and cluster nodes know each other by address; a pod's name under
            # the headless Service points at a new IP after every restart, and a rolling restart
            # measured here left the Sentinels disagreeing about the primary and clients writing to
            # a replica. Not-ready pods are reachable too (a replica still syncing, a primary
            # restarting, a cluster node before the bootstrap).
            kids.service(f"pod-{i}", pod_ports, f"{name}-{i}", only={STATEFULSET_POD_LABEL: f"{name}-{i}"}, publishNotReadyAddresses=True)
        statefulset = _statefulset(kids, args, secret, headless, config_map)
        # At most one pod away at a time. Standalone: the PDB cannot keep the one pod running through
        # a node drain, so it admits the eviction rather than blocking maintenance forever (the
        # append-only file carries the sessions across). Sentinel: a majority of Sentinels and a
        # replica for the primary's role stay up through any voluntary disruption. Cluster: every
        # shard keeps a node, and a majority of primaries stays to agree on a failover.
        kids.disruption_budget(maxUnavailable=1)
        kids.ingress_policy(_ingress_rules(args, name, selector))

        domain = pulumi.Output.concat(args.namespace, ".svc.", CLUSTER_DOMAIN)
        if mode is RedisMode.CLUSTER:
            # Not a dependency of the StatefulSet: its pods become ready only once the Job has joined
            # them, so both are created (and awaited) side by side. The nodes' addresses are handed
            # out only after the Job completed: a client started earlier would find no cluster.
            job = bootstrap_job(
                f"{name}-bootstrap", kids.meta(f"{name}-bootstrap"), {**labels, "app.kubernetes.io/component": BOOTSTRAP_COMPONENT},
                args.image, config_map.metadata.name, secret.metadata.name, kids.opts,
            )
            self.cluster_nodes = pulumi.Output.all(domain, job.metadata.name).apply(lambda v: [f"{name}-{i}.{v[0]}:{REDIS_PORT}" for i in range(args.pods)])
        else:
            self.cluster_nodes = pulumi.Output.from_input([])
        sentinel = mode is RedisMode.SENTINEL
        self.host = pulumi.Output.concat(client.metadata.name, ".", args.namespace, ".svc.", CLUSTER_DOMAIN)
        self.port = pulumi.Output.from_input(REDIS_PORT)
        self.tls = pulumi.Output.from_input(False)
        self.password_secret_name = secret.metadata.name
        self.password_secret_key = pulumi.Output.from_input(SECRET_PASSWORD_KEY)
        self.password = pulumi.Output.secret(password.result)
        self.mode = pulumi.Output.from_input(mode.value)
        self.sentinel_master_name = pulumi.Output.from_input(name if sentinel else "")
        self.sentinel_nodes = domain.apply(lambda d: [f"{name}-{i}.{d}:{SENTINEL_PORT}" for i in range(args.pods)] if sentinel else [])
        self.headless_service_name = headless.metadata.name
        self.statefulset_name = statefulset.metadata.name
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "tls": self.tls,
                "password_secret_name": self.password_secret_name,
                "password_secret_key": self.password_secret_key,
                "mode": self.mode,
                "sentinel_master_name": self.sentinel_master_name,
                "sentinel_nodes": self.sentinel_nodes,
                "cluster_nodes": self.cluster_nodes,
                "headless_service_name": self.headless_service_name,
                "statefulset_name": self.statefulset_name,
            }
        )


def _port(name: str, number: int) -> dict[str, Any]:
    return {"name": name, "port": number, "targetPort": name}


def _secret(kids: Children, mode: RedisMode, password: pulumi.Output[str]) -> k8s.core.v1.Secret:
    """``<name>-auth``: the bare password, Redis's auth include (with masterauth when there are
    replicas) and in sentinel mode the Sentinels' auth include."""
    data = {SECRET_PASSWORD_KEY: password, SECRET_AUTH_CONF_KEY: password.apply(lambda p: auth_conf(p, replicated=mode is not RedisMode.STANDALONE))}
    if mode is RedisMode.SENTINEL:
        data[SECRET_SENTINEL_AUTH_KEY] = password.apply(lambda p: sentinel_auth_conf(p, kids.name))
    return k8s.core.v1.Secret(f"{kids.name}-auth", metadata=kids.meta(f"{kids.name}-auth"), type="Opaque", string_data=data, opts=kids.opts)


def _config_data(args: RedisSessionStoreArgs, name: str) -> dict[str, str]:
    """The ConfigMap: redis.conf, and in sentinel or cluster mode that mode's files and scripts."""
    if args.mode is RedisMode.SENTINEL:
        layout = SentinelLayout(master_name=name, pods=args.pods, client_service=name)
        return {CONFIG_FILE: redis_conf(args.maxmemory_mb, replication_conf()), SENTINEL_CONFIG_FILE: sentinel_conf(layout), **redis_sentinel_config.scripts(layout)}
    if args.mode is RedisMode.CLUSTER:
        layout = ClusterLayout(statefulset=name, primaries=args.cluster_primaries)
        return {CONFIG_FILE: redis_conf(args.maxmemory_mb, cluster_conf(args.cluster_primaries)), **redis_cluster_config.scripts(layout)}
    return {CONFIG_FILE: redis_conf(args.maxmemory_mb)}


def _ingress_rules(args: RedisSessionStoreArgs, name: str, selector: Mapping[str, str]) -> list[dict[str, Any]]:
    """Who may connect: the session clients; in sentinel mode the store's own pods (replication,
    the Sentinels); in cluster mode the nodes to each other (also on the bus) and the bootstrap Job."""
    clients = {"podSelector": {"matchLabels": dict(args.client_labels)}}
    own = {"podSelector": {"matchLabels": dict(selector)}}
    tcp = lambda *names: [{"port": p, "protocol": "TCP"} for p in names]  # noqa: E731
    if args.mode is RedisMode.SENTINEL:
        return [{"from": [clients, own], "ports": tcp("redis", "sentinel")}]
    if args.mode is RedisMode.CLUSTER:
        bootstrap = {"podSelector": {"matchLabels": {**selector, "app.kubernetes.io/component": BOOTSTRAP_COMPONENT}}}
        return [{"from": [clients, bootstrap], "ports": tcp("redis")}, {"from": [own], "ports": tcp("redis", "bus")}]
    return [{"from": [clients], "ports": tcp("redis")}]


def _statefulset(kids: Children, args: RedisSessionStoreArgs, secret: k8s.core.v1.Secret, headless: k8s.core.v1.Service, config_map: k8s.core.v1.ConfigMap) -> k8s.apps.v1.StatefulSet:
    """The Redis pods behind the governing headless Service, each with its append-only file on a
    PVC that outlives the pod (and the StatefulSet: retained on delete and on scale-down)."""
    mode = args.mode
    auth_items = [SECRET_AUTH_CONF_KEY] + ([SECRET_SENTINEL_AUTH_KEY] if mode is RedisMode.SENTINEL else [])
    claim = {
        "metadata": {"name": "data", "labels": dict(kids.labels)},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": args.storage}},
            **({"storageClassName": args.storage_class_name} if args.storage_class_name else {}),
        },
    }
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": config_map.metadata.name}},
        {"name": "auth", "secret": {"secretName": secret.metadata.name, "items": [{"key": k, "path": k} for k in auth_items], "defaultMode": 0o400}},
    ]
    # SIGTERM makes Redis flush and fsync the AOF; give it time to, after the pre-stop hook has
    # handed the primary role over (sentinel mode: holding writes back for PAUSE_MS at most;
    # cluster mode: then waiting for the clients to move on).
    handover_s = {RedisMode.SENTINEL: PAUSE_MS // 1000,
                  RedisMode.CLUSTER: redis_cluster_config.FAILOVER_WAIT_S + redis_cluster_config.DRAIN_WAIT_S}.get(mode, 0)
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 30 + handover_s,
        "securityContext": k8s_common.pod_security_context(REDIS_UID),
        "containers": [_redis_container(args, secret)],
        "volumes": volumes,
    }
    if mode is RedisMode.SENTINEL:
        pod_spec["containers"].append(sentinel_container(args.image, secret.metadata.name))
        pod_spec["volumes"].append({"name": "sentinel", "emptyDir": {"sizeLimit": "16Mi"}})
    if mode is not RedisMode.STANDALONE:
        # Best effort, so a one-node cluster still runs all of them: a node lost takes one pod.
        pod_spec["affinity"] = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": dict(kids.selector)}}}
        ]}}
    return k8s.apps.v1.StatefulSet(
        f"{kids.name}-statefulset",
        metadata=kids.meta(),
        spec={
            "serviceName": headless.metadata.name,
            "replicas": args.pods,
            "selector": {"matchLabels": dict(kids.selector)},
            # Sentinel and standalone: one pod after the other, each ready (a replica: in sync) before
            # the next starts. Also the policy of a standalone store, so turning one into a sentinel
            # set updates the StatefulSet in place (the field is immutable): the new pods sync from
            # pod 0 first. Cluster: all at once, as a node is ready only once the bootstrap has
            # joined it to the others (rolling updates still take one pod at a time).
            "podManagementPolicy": "Parallel" if mode is RedisMode.CLUSTER else "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "volumeClaimTemplates": [claim],
            "template": {"metadata": {"labels": dict(kids.labels)}, "spec": pod_spec},
        },
        opts=kids.opts,
    )


def _redis_container(args: RedisSessionStoreArgs, secret: k8s.core.v1.Secret) -> dict[str, Any]:
    # Probes authenticate with the password from the Secret's env var (not a flag: it
    # would show in the process list). PING answers PONG only when Redis is serving.
    ping = ["sh", "-c", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p %d ping | grep -q PONG' % REDIS_PORT]
    memory_limit = f"{args.maxmemory_mb * 2 + 64}Mi"
    container: dict[str, Any] = {
        "name": "redis",
        "image": args.image,
        "imagePullPolicy": "IfNotPresent",
        "args": server_args(),
        "env": [{"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret.metadata.name, "key": SECRET_PASSWORD_KEY}}}],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "auth", "mountPath": AUTH_DIR, "readOnly": True},
            {"name": "data", "mountPath": DATA_DIR},
        ],
        # Cluster mode: each of the twice-as-many nodes takes a share of the keys (a replica only
        # follows its primary), so each reserves half; the store as a whole reserves 300m, about
        # what a sentinel set of 3 reserves (3 x 100m + 3 x 50m for the Sentinels).
        "resources": k8s_common.resources("50m" if args.mode is RedisMode.CLUSTER else "100m", "1", memory_limit),
        "securityContext": k8s_common.container_security_context(),
        "startupProbe": {"exec": {"command": ping}, "periodSeconds": 2, "failureThreshold": 60, "timeoutSeconds": 2},
        "readinessProbe": {"exec": {"command": ping}, "periodSeconds": 5, "failureThreshold": 2, "timeoutSeconds": 2},
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 2},
    }
    if args.mode is RedisMode.SENTINEL:
        sentinel_redis_container(container, secret.metadata.name)
    elif args.mode is RedisMode.CLUSTER:
        cluster_redis_container(container, secret.metadata.name)
    return container
