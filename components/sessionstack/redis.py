"""RedisSessionStore: the twelve-factor session store, in the cluster.

A StatefulSet with its governing headless Service (stable pod DNS, the thing field setups forget),
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
    auth_conf,
    redis_conf,
    server_args,
)

REDIS_UID = 999
"""uid/gid of the `redis` user in the official image."""
_QUANTITY = re.compile(r"^[1-9][0-9]*(Mi|Gi|Ti)$")


@dataclass(frozen=True)
class RedisSessionStoreArgs:
    namespace: pulumi.Input[str]
    """Namespace for all the store's objects; only pods with client_labels in it may connect."""
    storage: str = "1Gi"
    """PersistentVolumeClaim size for the append-only file."""
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
        if not isinstance(self.storage, str) or not _QUANTITY.match(self.storage):
            raise ValueError(f"RedisSessionStoreArgs.storage must be a quantity such as 512Mi or 1Gi, got {self.storage!r}")
        if isinstance(self.maxmemory_mb, bool) or not isinstance(self.maxmemory_mb, int) or not 16 <= self.maxmemory_mb <= 65536:
            raise ValueError(f"RedisSessionStoreArgs.maxmemory_mb must be an integer from 16 to 65536, got {self.maxmemory_mb!r}")
        k8s_common.check_pinned_image("RedisSessionStoreArgs.image", self.image)
        if not self.client_labels:
            raise ValueError("RedisSessionStoreArgs.client_labels must name at least one label, got {} (an empty selector would admit every pod)")


class RedisSessionStore(pulumi.ComponentResource):
    host: pulumi.Output[str]
    """Cluster DNS name of the client Service."""
    port: pulumi.Output[int]
    """Redis port (6379) on host; plain TCP (tls is False)."""
    tls: pulumi.Output[bool]
    """False: traffic stays inside the cluster network, guarded by the NetworkPolicy."""
    password_secret_name: pulumi.Output[str]
    """Secret ``<name>-auth`` holding the Redis password (key: password_secret_key); mount or read it,
    never export it."""
    password_secret_key: pulumi.Output[str]
    """Key in password_secret_name holding the bare password ('password'); use it in a secretKeyRef."""
    password: pulumi.Output[str]
    """Secret Output; never export it."""
    headless_service_name: pulumi.Output[str]
    """Governing headless Service of the StatefulSet (``<name>-headless``): stable pod DNS names."""
    statefulset_name: pulumi.Output[str]
    """Name of the Redis StatefulSet (one pod, the component name), for `kubectl rollout status`
    or `kubectl exec`."""

    def __init__(self, name: str, args: RedisSessionStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        k8s_common.validate_component_name("RedisSessionStore", name)
        super().__init__("sessionstack:redis:RedisSessionStore", name, None, opts)
        selector = k8s_common.selector_labels("redis", name, "session-store")
        labels = k8s_common.standard_labels("redis", name, "session-store", k8s_common.image_tag(args.image))
        kids = Children(self, name, args.namespace, labels, selector)

        password = random.RandomPassword(f"{name}-password", length=40, special=False, opts=kids.opts)
        secret = k8s.core.v1.Secret(
            f"{name}-auth",
            metadata=kids.meta(f"{name}-auth"),
            type="Opaque",
            string_data={SECRET_PASSWORD_KEY: password.result, SECRET_AUTH_CONF_KEY: password.result.apply(auth_conf)},
            opts=kids.opts,
        )
        redis_port = [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis"}]
        headless = kids.service("headless", redis_port, f"{name}-headless", clusterIP="None")
        client = kids.service("client", redis_port, type="ClusterIP")
        statefulset = _statefulset(kids, args, secret, headless)
        # One Redis pod: the PDB cannot keep it running through a node drain, so it admits the
        # eviction (maxUnavailable 1) rather than blocking maintenance forever; the append-only
        # file on the volume is what carries the sessions across the restart.
        kids.disruption_budget(maxUnavailable=1)
        kids.ingress_policy([{"from": [{"podSelector": {"matchLabels": dict(args.client_labels)}}], "ports": [{"port": "redis", "protocol": "TCP"}]}])

        self.host = pulumi.Output.concat(client.metadata.name, ".", args.namespace, ".svc.cluster.local")
        self.port = pulumi.Output.from_input(REDIS_PORT)
        self.tls = pulumi.Output.from_input(False)
        self.password_secret_name = secret.metadata.name
        self.password_secret_key = pulumi.Output.from_input(SECRET_PASSWORD_KEY)
        self.password = pulumi.Output.secret(password.result)
        self.headless_service_name = headless.metadata.name
        self.statefulset_name = statefulset.metadata.name
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "tls": self.tls,
                "password_secret_name": self.password_secret_name,
                "password_secret_key": self.password_secret_key,
                "headless_service_name": self.headless_service_name,
                "statefulset_name": self.statefulset_name,
            }
        )


def _statefulset(kids: Children, args: RedisSessionStoreArgs, secret: k8s.core.v1.Secret, headless: k8s.core.v1.Service) -> k8s.apps.v1.StatefulSet:
    """One Redis pod behind the governing headless Service, its append-only file on a PVC that
    outlives the pod (and the StatefulSet: retained on delete and on scale-down)."""
    config_data = {CONFIG_FILE: redis_conf(args.maxmemory_mb)}
    claim = {
        "metadata": {"name": "data", "labels": dict(kids.labels)},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": args.storage}},
            **({"storageClassName": args.storage_class_name} if args.storage_class_name else {}),
        },
    }
    return k8s.apps.v1.StatefulSet(
        f"{kids.name}-statefulset",
        metadata=kids.meta(),
        spec={
            "serviceName": headless.metadata.name,
            "replicas": 1,
            "selector": {"matchLabels": dict(kids.selector)},
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "volumeClaimTemplates": [claim],
            "template": {
                "metadata": {"labels": dict(kids.labels)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    # SIGTERM makes Redis flush and fsync the AOF; give it time to.
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": k8s_common.pod_security_context(REDIS_UID),
                    "containers": [_redis_container(args, secret)],
                    "volumes": [
                        {"name": "config", "configMap": {"name": kids.config_map("config", config_data).metadata.name}},
                        {"name": "auth", "secret": {"secretName": secret.metadata.name, "items": [{"key": SECRET_AUTH_CONF_KEY, "path": SECRET_AUTH_CONF_KEY}], "defaultMode": 0o400}},
                    ],
                },
            },
        },
        opts=kids.opts,
    )


def _redis_container(args: RedisSessionStoreArgs, secret: k8s.core.v1.Secret) -> dict[str, Any]:
    # Probes authenticate with the password from the Secret's env var (not a flag: it
    # would show in the process list). PING answers PONG only when Redis is serving.
    ping = ["sh", "-c", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p %d ping | grep -q PONG' % REDIS_PORT]
    memory_limit = f"{args.maxmemory_mb * 2 + 64}Mi"
    return {
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
