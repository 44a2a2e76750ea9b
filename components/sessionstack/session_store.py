"""What a session store offers its consumers, whichever implementation is behind it.

The in-cluster ``RedisSessionStore`` and the AWS ``ElastiCacheSessionStore`` both satisfy this
protocol, so WildflyCluster (and any other consumer) wires itself to either one the same way: host,
port and TLS flag as plain outputs (or the Sentinels to ask for the primary, or a Redis Cluster's seed nodes), the password only as a reference to a Kubernetes Secret in the
consumer's namespace (and as a secret Output for callers that need the value itself).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pulumi


@runtime_checkable
class SessionStore(Protocol):
    host: pulumi.Output[str]
    """DNS name clients connect to."""
    port: pulumi.Output[int]
    tls: pulumi.Output[bool]
    """Whether clients must speak TLS (ElastiCache transit encryption)."""
    password_secret_name: pulumi.Output[str]
    """Kubernetes Secret, in the application namespace, that holds the password."""
    password_secret_key: pulumi.Output[str]
    password: pulumi.Output[str]
    """The password itself, as a secret Output; never export it."""
    sentinel_master_name: pulumi.Output[str]
    """Non-empty when clients must find the primary through Redis Sentinel (then host:port may
    reach a replica, which refuses writes): the name the Sentinels monitor it under."""
    sentinel_nodes: pulumi.Output[list[str]]
    """``host:port`` of each Sentinel (empty without Sentinels); they take the same password."""
    cluster_nodes: pulumi.Output[list[str]]
    """Non-empty when the store is a Redis Cluster (sharded; clients must use a cluster client that
    follows MOVED/ASK redirects): ``host:port`` of the nodes to learn the topology from."""
