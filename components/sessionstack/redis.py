"""RedisSessionStore: the twelve-factor session store, in the cluster.

Two modes (RedisMode): ``sentinel`` (the default) runs an odd number of pods, each with Redis and a
Sentinel next to it, and the Sentinels promote a replica when the primary fails or leaves
(redis_sentinel.py, redis_sentinel_config.py); ``standalone`` runs one pod. Either way: a StatefulSet with its governing headless Service (stable pod DNS, the thing field setups forget),
a client Service, a PersistentVolumeClaim per pod for the append-only file, redis.conf from a
ConfigMap and the password from a generated Secret (the requirepass line reaches Redis as an
included file from that Secret, so no ConfigMap and no command line ever holds it), probes, a
PDB, a NetworkPolicy that admits only the session clients, and a non-root, read-only container.
The AWS counterpart with the same outputs is ``sessionstack.elasticache.ElastiCacheSessionStore``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from sessionstack import k8s_common
from sessionstack.children import Children
from sessionstack.redis_config import (
    AUTH_DIR,
    CONFIG_DIR,
    CONFIG_FILE,
    DATA_DIR,
    REDIS_IMAGE,
    REDIS_PORT,
    SECRET_AUTH_CONF_KEY,
    SECRET_PASSWORD_KEY,
    RedisMode,
    auth_conf,
    redis_conf,
    server_args,
)
from sessionstack.redis_sentinel import sentinel_container, sentinel_redis_container
from sessionstack.redis_sentinel_config import (
    CLUSTER_DOMAIN,
    PAUSE_MS,
    SECRET_SENTINEL_AUTH_KEY,
    SENTINEL_CONFIG_FILE,
    SENTINEL_PORT,
    SentinelLayout,
    replication_conf,
    scripts,
    sentinel_auth_conf,
    sentinel_conf,
)

STATEFULSET_POD_LABEL = "statefulset.kubernetes.io/pod-name"
"""Label the StatefulSet controller puts on each pod, with the pod's name."""
REDIS_UID = 999
"""uid/gid of the `redis` user in the official image."""
_QUANTITY = re.compile(r"^[1-9][0-9]*(Mi|Gi|Ti)$")


@dataclass(frozen=True)
class RedisSessionStoreArgs:
    namespace: pulumi.Input[str]
    """Namespace for all the store's objects; only pods with client_labels in it may connect."""
    mode: RedisMode = RedisMode.SENTINEL
    """sentinel (default): sentinel_pods pods, each Redis + Sentinel, a replica promoted when the
    primary fails or leaves; standalone: one pod, every request fails while it restarts."""
    sentinel_pods: int = 3
    """sentinel mode: pods in the set, odd, 3 to 9 (the Sentinels' quorum is a majority of them)."""
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
        if not isinstance(self.storage, str) or not _QUANTITY.match(self.storage):
            raise ValueError(f"RedisSessionStoreArgs.storage must be a quantity such as 512Mi or 1Gi, got {self.storage!r}")
        if isinstance(self.maxmemory_mb, bool) or not isinstance(self.maxmemory_mb, int) or not 16 <= self.maxmemory_mb <= 65536:
            raise ValueError(f"RedisSessionStoreArgs.maxmemory_mb must be an integer from 16 to 65536, got {self.maxmemory_mb!r}")
        k8s_common.check_pinned_image("RedisSessionStoreArgs.image", self.image)
        if not self.client_labels:
            raise ValueError("RedisSessionStoreArgs.client_labels must name at least one label, got {} (an empty selector would admit every pod)")

    @property
    def pods(self) -> int:
        return self.sentinel_pods if self.mode is RedisMode.SENTINEL else 1


class RedisSessionStore(pulumi.ComponentResource):
    host: pulumi.Output[str]
    """Cluster DNS name of the client Service. In sentinel mode it reaches any pod, and replicas
    refuse writes: connect through the Sentinels (sentinel_master_name, sentinel_nodes)."""
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
    """sentinel mode: the name the Sentinels know the primary by (the component name); '' standalone."""
    sentinel_nodes: pulumi.Output[list[str]]
    """sentinel mode: ``host:port`` of every Sentinel, by the names of the pods' own Services; []
    standalone."""
    mode: pulumi.Output[str]
    """'standalone' or 'sentinel'."""
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
        sentinel = args.mode is RedisMode.SENTINEL
        layout = SentinelLayout(master_name=name, pods=args.pods, client_service=name)

        password = random.RandomPassword(f"{name}-password", length=40, special=False, opts=kids.opts)
        secret_data = {SECRET_PASSWORD_KEY: password.result, SECRET_AUTH_CONF_KEY: password.result.apply(lambda p: auth_conf(p, replicated=sentinel))}
        if sentinel:
            secret_data[SECRET_SENTINEL_AUTH_KEY] = password.result.apply(lambda p: sentinel_auth_conf(p, name))
        secret = k8s.core.v1.Secret(f"{name}-auth", metadata=kids.meta(f"{name}-auth"), type="Opaque", string_data=secret_data, opts=kids.opts)
        ports = [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis"}]
        if sentinel:
            ports.append({"name": "sentinel", "port": SENTINEL_PORT, "targetPort": "sentinel"})
        headless = kids.service("headless", ports, f"{name}-headless", clusterIP="None", publishNotReadyAddresses=True)
        client = kids.service("client", ports, layout.client_service, type="ClusterIP")
        for i in range(args.pods if sentinel else 0):
            # Each pod's address in sentinel mode: a Service of its own, whose ClusterIP outlives the
            # pod. Sentinel resolves a host name once and keeps connecting to that IP
            # (redis/redis#9103); a pod's name under the headless Service points at a new IP after
            # every restart, and a rolling restart measured here left the Sentinels disagreeing
            # about the primary and clients writing to a replica. Not-ready pods are reachable too
            # (a replica still syncing, a primary restarting).
            kids.service(f"pod-{i}", ports, layout.pod_address(i), only={STATEFULSET_POD_LABEL: f"{name}-{i}"}, publishNotReadyAddresses=True)
        statefulset = _statefulset(kids, args, secret, headless, layout)
        # At most one pod away at a time. Standalone: the PDB cannot keep the one pod running through
        # a node drain, so it admits the eviction rather than blocking maintenance forever (the
        # append-only file carries the sessions across). Sentinel: a majority of Sentinels and a
        # replica for the primary's role stay up through any voluntary disruption.
        kids.disruption_budget(maxUnavailable=1)
        port_names = ["redis"] + (["sentinel"] if sentinel else [])
        peers = [{"podSelector": {"matchLabels": dict(args.client_labels)}}]
        if sentinel:
            # Replication and the Sentinels' own traffic: between the store's pods only.
            peers.append({"podSelector": {"matchLabels": dict(selector)}})
        kids.ingress_policy([{"from": peers, "ports": [{"port": p, "protocol": "TCP"} for p in port_names]}])

        domain = pulumi.Output.concat(args.namespace, ".svc.", CLUSTER_DOMAIN)
        self.host = pulumi.Output.concat(client.metadata.name, ".", args.namespace, ".svc.", CLUSTER_DOMAIN)
        self.port = pulumi.Output.from_input(REDIS_PORT)
        self.tls = pulumi.Output.from_input(False)
        self.password_secret_name = secret.metadata.name
        self.password_secret_key = pulumi.Output.from_input(SECRET_PASSWORD_KEY)
        self.password = pulumi.Output.secret(password.result)
        self.mode = pulumi.Output.from_input(args.mode.value)
        self.sentinel_master_name = pulumi.Output.from_input(name if sentinel else "")
        self.sentinel_nodes = domain.apply(lambda d: [f"{layout.pod_address(i)}.{d}:{SENTINEL_PORT}" for i in range(args.pods)] if sentinel else [])
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
                "headless_service_name": self.headless_service_name,
                "statefulset_name": self.statefulset_name,
            }
        )


def _statefulset(kids: Children, args: RedisSessionStoreArgs, secret: k8s.core.v1.Secret, headless: k8s.core.v1.Service, layout: SentinelLayout) -> k8s.apps.v1.StatefulSet:
    """The Redis pods behind the governing headless Service, each with its append-only file on a
    PVC that outlives the pod (and the StatefulSet: retained on delete and on scale-down)."""
    sentinel = args.mode is RedisMode.SENTINEL
    if sentinel:
        config_data = {CONFIG_FILE: redis_conf(args.maxmemory_mb, replication_conf()), SENTINEL_CONFIG_FILE: sentinel_conf(layout), **scripts(layout)}
        auth_items = [SECRET_AUTH_CONF_KEY, SECRET_SENTINEL_AUTH_KEY]
    else:
        config_data = {CONFIG_FILE: redis_conf(args.maxmemory_mb)}
        auth_items = [SECRET_AUTH_CONF_KEY]
    claim = {
        "metadata": {"name": "data", "labels": dict(kids.labels)},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": args.storage}},
            **({"storageClassName": args.storage_class_name} if args.storage_class_name else {}),
        },
    }
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": kids.config_map("config", config_data).metadata.name}},
        {"name": "auth", "secret": {"secretName": secret.metadata.name, "items": [{"key": k, "path": k} for k in auth_items], "defaultMode": 0o400}},
    ]
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # SIGTERM makes Redis flush and fsync the AOF; give it time to (sentinel mode: after the
        # pre-stop hook has handed the primary role over, holding writes back for PAUSE_MS at most).
        "terminationGracePeriodSeconds": 30 + (PAUSE_MS // 1000 if sentinel else 0),
        "securityContext": k8s_common.pod_security_context(REDIS_UID),
        "containers": [_redis_container(args, secret)],
        "volumes": volumes,
    }
    if sentinel:
        pod_spec["containers"].append(sentinel_container(args.image, secret.metadata.name))
        pod_spec["volumes"].append({"name": "sentinel", "emptyDir": {"sizeLimit": "16Mi"}})
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
            # One pod after the other, each ready (a replica: in sync) before the next starts. Also
            # the policy of a standalone store, so turning one into a sentinel set updates the
            # StatefulSet in place (the field is immutable): the new pods sync from pod 0 first.
            "podManagementPolicy": "OrderedReady",
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
        "resources": k8s_common.resources("100m", "1", memory_limit),
        "securityContext": k8s_common.container_security_context(),
        "startupProbe": {"exec": {"command": ping}, "periodSeconds": 2, "failureThreshold": 60, "timeoutSeconds": 2},
        "readinessProbe": {"exec": {"command": ping}, "periodSeconds": 5, "failureThreshold": 2, "timeoutSeconds": 2},
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 2},
    }
    if args.mode is RedisMode.SENTINEL:
        sentinel_redis_container(container, secret.metadata.name)
    return container
