"""ElastiCacheSessionStore: the session store on AWS, with the same outputs as RedisSessionStore.

A Redis OSS replication group, Multi-AZ with automatic failover, TLS in transit, encryption at
rest and an AUTH token generated here, in one of two modes:

- cluster mode off (the default): one shard, a primary and at least one replica in different zones.
  A failover promotes a replica and the primary endpoint's DNS name (``host``) follows it, so
  clients reconnect to the same host name.
- cluster mode on (``cluster_mode=True``): Redis Cluster, the keys split over ``shards`` shards,
  each a primary with ``replicas_per_shard`` replicas. There is no primary endpoint: clients need a
  cluster client (one that follows MOVED/ASK redirects) seeded with the configuration endpoint,
  ``cluster_nodes`` (also ``host``).

It sits in the private subnets behind a security group that admits port 6379 from the node/pod
security group only. The token is also written to a Kubernetes Secret ``<name>-auth`` (key
``password``) in the application namespace, so WildFly pods read it exactly as they read the
in-cluster store's password; with cluster mode off the only difference a client sees is
``tls == True``.

Token changes use the ROTATE strategy: ElastiCache then accepts the old and the new token until
the next change, so running pods keep their connections while the Secret is updated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from sessionstack import k8s_common, validation
from sessionstack.redis_config import REDIS_PORT, SECRET_PASSWORD_KEY

_fail = partial(validation.fail, "ElastiCacheSessionStoreArgs")
_check_int = partial(validation.check_int, "ElastiCacheSessionStoreArgs")

AUTH_TOKEN_SPECIALS = "!&#$^<>-"
"""The only non-alphanumeric characters ElastiCache accepts in an AUTH token."""
AUTH_TOKEN_LENGTH = 48
"""ElastiCache takes 16 to 128 characters."""
ENGINE_VERSIONS = ("6.2", "7.0", "7.1")
"""Redis OSS versions ElastiCache offers with TLS, AUTH and Multi-AZ, cluster mode off or on (each
has a default cluster-on parameter group, see cluster_parameter_group)."""

_NODE_TYPE = re.compile(r"^cache\.[a-z][a-z0-9-]*\.[a-z0-9]+$")
_MAINTENANCE_WINDOW = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun):\d\d:\d\d-(mon|tue|wed|thu|fri|sat|sun):\d\d:\d\d$")
_GROUP_ID_MAX = 40


def cluster_parameter_group(engine_version: str) -> str:
    """The default parameter group with ``cluster-enabled yes`` for an ENGINE_VERSIONS entry:
    'default.redis7.cluster.on' for 7.0 and 7.1, 'default.redis6.x.cluster.on' for 6.2.

    Cluster mode needs one; with cluster mode off no group is named and ElastiCache uses the
    engine's plain default (cluster-enabled no)."""
    family = {"6.2": "redis6.x", "7.0": "redis7", "7.1": "redis7"}.get(engine_version)
    if family is None:
        raise ValueError(f"no cluster-on parameter group for engine version {engine_version!r}; known: {', '.join(ENGINE_VERSIONS)}")
    return f"default.{family}.cluster.on"


def replication_group_id(base: str, suffix: str) -> str:
    """A replication group id: 1-40 lower-case letters, digits and '-', starting with a letter,
    no '--' and no trailing '-'. The random suffix keeps ids unique across stacks in one account."""
    stem = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", base.lower()))
    if not stem[:1].isalpha():
        stem = "s" + stem
    stem = stem[: _GROUP_ID_MAX - len(suffix) - 1].strip("-")
    group_id = f"{stem}-{suffix}"
    if not re.match(r"^[a-z](?!.*--)[a-z0-9-]{0,38}[a-z0-9]$", group_id):
        raise ValueError(f"cannot build a replication group id from {base!r} and {suffix!r}: got {group_id!r}")
    return group_id


@dataclass(frozen=True)
class ElastiCacheSessionStoreArgs:
    namespace: pulumi.Input[str]
    """Application namespace: the Secret with the token goes there."""
    vpc_id: pulumi.Input[str]
    """VPC of the store's security group (EksCluster.vpc_id); subnet_ids must be in it."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets in at least two zones (EksCluster.private_subnet_ids)."""
    allowed_security_group_id: pulumi.Input[str]
    """The only security group admitted on 6379 (EksCluster.cluster_security_group_id: nodes and pods)."""
    node_type: str = "cache.t4g.small"
    """ElastiCache node type such as 'cache.t4g.small' or 'cache.r7g.large' (cache.t1.* is refused)."""
    num_cache_clusters: int = 2
    """Cluster mode off: primary plus replicas (2-6); each in its own zone as far as the subnets
    allow. Not used with cluster_mode (see shards and replicas_per_shard)."""
    engine_version: str = "7.1"
    """Redis OSS version: '6.2', '7.0' or '7.1' (those with TLS, AUTH and Multi-AZ, in either mode)."""
    snapshot_retention_days: int = 0
    """Daily snapshots kept; 0: none (sessions are short-lived, and snapshots would hold live tokens)."""
    maintenance_window: str | None = None
    """e.g. 'sun:05:00-sun:06:00' (UTC); None: chosen by AWS."""
    apply_immediately: bool = False
    """False: modifications wait for the maintenance window instead of failing over now."""
    cluster_mode: bool = False
    """False: one shard (num_cache_clusters nodes), clients connect to host. True: Redis Cluster
    (shards x (1 + replicas_per_shard) nodes); clients need a cluster client seeded with
    cluster_nodes. On a live store this is no plain update: AWS takes a group from disabled to
    enabled only through 'compatible' (Redis 7+, one way), which this component does not offer."""
    shards: int = 3
    """Cluster mode only: node groups the key space is split over (1-500). Not used otherwise."""
    replicas_per_shard: int = 1
    """Cluster mode only: replicas of each shard's primary (1-5; Multi-AZ failover needs at least
    one). Not used otherwise."""

    def __post_init__(self) -> None:
        if not isinstance(self.node_type, str) or not _NODE_TYPE.match(self.node_type) or self.node_type.startswith("cache.t1."):
            _fail("node_type", self.node_type, "a current ElastiCache node type such as 'cache.t4g.small' or 'cache.r7g.large'")
        _check_int("num_cache_clusters", self.num_cache_clusters, 2, 6)
        if self.engine_version not in ENGINE_VERSIONS:
            _fail("engine_version", self.engine_version, "one of " + ", ".join(repr(v) for v in ENGINE_VERSIONS))
        _check_int("snapshot_retention_days", self.snapshot_retention_days, 0, 35)
        window = self.maintenance_window
        if window is not None and (not isinstance(window, str) or not _MAINTENANCE_WINDOW.match(window)):
            _fail("maintenance_window", window, "None or 'ddd:hh:mm-ddd:hh:mm' such as 'sun:05:00-sun:06:00'")
        if not isinstance(self.apply_immediately, bool):
            _fail("apply_immediately", self.apply_immediately, "True or False")
        if not isinstance(self.cluster_mode, bool):
            _fail("cluster_mode", self.cluster_mode, "True or False")
        # Checked in either mode, so a typo shows now rather than when cluster mode is switched on.
        _check_int("shards", self.shards, 1, 500)
        _check_int("replicas_per_shard", self.replicas_per_shard, 1, 5)
        subnets = self.subnet_ids
        if isinstance(subnets, (list, tuple)):
            _check_subnets(subnets)


def _check_subnets(subnets: Sequence[object]) -> list[object]:
    known = [s for s in subnets if isinstance(s, str)]
    if len(subnets) < 2 or len(set(known)) < len(known):
        _fail("subnet_ids", list(subnets), "at least two distinct private subnets (Multi-AZ needs a second zone)")
    return list(subnets)


class ElastiCacheSessionStore(pulumi.ComponentResource):
    host: pulumi.Output[str]
    """Cluster mode off: the primary endpoint, which follows the primary through a failover.
    Cluster mode: the configuration endpoint (there is no primary endpoint), only a seed for a
    cluster client: a plain client sent there gets MOVED for most keys."""
    port: pulumi.Output[int]
    """Redis port (6379) on host, reader_host and cluster_nodes; clients must speak TLS."""
    tls: pulumi.Output[bool]
    """Always True: transit encryption is on, clients must speak TLS."""
    password_secret_name: pulumi.Output[str]
    """Kubernetes Secret ``<name>-auth`` in the application namespace."""
    password_secret_key: pulumi.Output[str]
    """Key in password_secret_name holding the AUTH token ('password'); use it in a secretKeyRef,
    never export the value."""
    password: pulumi.Output[str]
    """The AUTH token, as a secret Output; never export it."""
    sentinel_master_name: pulumi.Output[str]
    """Always '': no Sentinels; ElastiCache's Multi-AZ failover moves the primary endpoint (host)
    or, in cluster mode, the failed shard's slots to its promoted replica."""
    sentinel_nodes: pulumi.Output[list[str]]
    """Always []."""
    cluster_nodes: pulumi.Output[list[str]]
    """Cluster mode: ``['<configuration endpoint>:6379']``, the seed from which a cluster client
    learns the shards. Cluster mode off: []."""
    reader_host: pulumi.Output[str]
    """Cluster mode off: the reader endpoint (the replicas), for read-only clients. Cluster mode:
    '' (there is no reader endpoint; a cluster client reads from replicas itself)."""
    replication_group_id: pulumi.Output[str]
    """Replication group id (name plus a random suffix), for the AWS CLI, console and alarms."""
    security_group_id: pulumi.Output[str]
    """The store's security group (6379 in from allowed_security_group_id only); add rules to
    admit other clients."""

    def __init__(self, name: str, args: ElastiCacheSessionStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        k8s_common.validate_component_name("ElastiCacheSessionStore", name)
        super().__init__("sessionstack:aws:ElastiCacheSessionStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {"app.kubernetes.io/part-of": k8s_common.PART_OF, "sessionstack.io/session-store": name}

        token = random.RandomPassword(
            f"{name}-auth-token",
            length=AUTH_TOKEN_LENGTH,
            special=True,
            override_special=AUTH_TOKEN_SPECIALS,
            min_lower=1,
            min_upper=1,
            min_numeric=1,
            opts=child,
        )
        suffix = random.RandomString(f"{name}-suffix", length=6, special=False, upper=False, opts=child).result
        group_id = suffix.apply(lambda s: replication_group_id(name, s))

        sg, subnet_group = _network_access(self, name, args, tags, group_id)
        group = aws.elasticache.ReplicationGroup(
            f"{name}-redis",
            replication_group_id=group_id,
            description=f"sessionstack session store {name}",
            engine="redis",
            engine_version=args.engine_version,
            node_type=args.node_type,
            port=REDIS_PORT,
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            auth_token=token.result,
            auth_token_update_strategy="ROTATE",
            subnet_group_name=subnet_group.name,
            security_group_ids=[sg.id],
            snapshot_retention_limit=args.snapshot_retention_days,
            maintenance_window=args.maintenance_window,
            apply_immediately=args.apply_immediately,
            auto_minor_version_upgrade=True,
            tags=tags,
            opts=child,
            **_topology(args),
        )
        secret = k8s.core.v1.Secret(
            f"{name}-auth",
            metadata={
                "name": f"{name}-auth",
                "namespace": args.namespace,
                "labels": k8s_common.standard_labels("elasticache", name, "session-store"),
            },
            type="Opaque",
            string_data={SECRET_PASSWORD_KEY: token.result},
            opts=child,
        )

        self.port = group.port.apply(int)  # mocks and JSON hand numbers over as floats
        if args.cluster_mode:
            self.host = group.configuration_endpoint_address
            self.cluster_nodes = pulumi.Output.all(group.configuration_endpoint_address, self.port).apply(lambda a: [f"{a[0]}:{a[1]}"])
            self.reader_host = pulumi.Output.from_input("")
        else:
            self.host = group.primary_endpoint_address
            self.cluster_nodes = pulumi.Output.from_input([])
            self.reader_host = group.reader_endpoint_address
        self.tls = pulumi.Output.from_input(True)
        self.sentinel_master_name = pulumi.Output.from_input("")
        self.sentinel_nodes = pulumi.Output.from_input([])
        self.password_secret_name = secret.metadata.name
        self.password_secret_key = pulumi.Output.from_input(SECRET_PASSWORD_KEY)
        self.password = pulumi.Output.secret(token.result)
        self.replication_group_id = group.replication_group_id
        self.security_group_id = sg.id
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "tls": self.tls,
                "password_secret_name": self.password_secret_name,
                "password_secret_key": self.password_secret_key,
                "password": self.password,
                "sentinel_master_name": self.sentinel_master_name,
                "sentinel_nodes": self.sentinel_nodes,
                "cluster_nodes": self.cluster_nodes,
                "reader_host": self.reader_host,
                "replication_group_id": self.replication_group_id,
                "security_group_id": self.security_group_id,
            }
        )


def _topology(args: ElastiCacheSessionStoreArgs) -> dict[str, object]:
    """The replication group arguments that differ between the modes. Cluster mode off names
    neither cluster_mode nor a parameter group, so existing groups keep exactly their inputs."""
    if not args.cluster_mode:
        return {"num_cache_clusters": args.num_cache_clusters}
    return {
        "cluster_mode": "enabled",
        "num_node_groups": args.shards,
        "replicas_per_node_group": args.replicas_per_shard,
        "parameter_group_name": cluster_parameter_group(args.engine_version),
    }


def _network_access(
    parent: pulumi.Resource, name: str, args: ElastiCacheSessionStoreArgs, tags: dict[str, str], group_id: pulumi.Output[str]
) -> tuple[aws.ec2.SecurityGroup, aws.elasticache.SubnetGroup]:
    """Where the replication group lives (the private subnets) and who may reach it: Redis
    from the cluster's security group only."""
    child = pulumi.ResourceOptions(parent=parent)
    sg = aws.ec2.SecurityGroup(
        f"{name}-sg",
        vpc_id=args.vpc_id,
        description=f"ElastiCache {name}: Redis from the cluster's nodes and pods only",
        tags={**tags, "Name": f"{name}-redis"},
        opts=child,
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{name}-in",
        security_group_id=sg.id,
        referenced_security_group_id=args.allowed_security_group_id,
        ip_protocol="tcp",
        from_port=REDIS_PORT,
        to_port=REDIS_PORT,
        description="Redis (TLS) from nodes and pods",
        opts=child,
    )
    subnet_group = aws.elasticache.SubnetGroup(
        f"{name}-subnets",
        name=group_id,
        description=f"Private subnets of session store {name}",
        subnet_ids=pulumi.Output.from_input(args.subnet_ids).apply(_check_subnets),
        tags=tags,
        opts=child,
    )
    return sg, subnet_group
