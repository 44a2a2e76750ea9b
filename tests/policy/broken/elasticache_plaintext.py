"""ElastiCache for the sessions without transit encryption and without an AUTH token."""

import pulumi_aws as aws

aws.elasticache.ReplicationGroup(
    "sessions",
    description="session store",
    engine="redis",
    engine_version="7.1",
    node_type="cache.t4g.small",
    num_cache_clusters=2,
    automatic_failover_enabled=True,
)
