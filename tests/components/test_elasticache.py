"""ElastiCacheSessionStore under Pulumi mocks: Multi-AZ replication group with failover, TLS, at-rest
encryption and an AUTH token, cluster mode off (default) or on; the security group; the token
Secret; and the SessionStore outputs it shares with the in-cluster RedisSessionStore."""

from __future__ import annotations

import re
import string
from typing import Any

import pulumi
import pytest

from sessionstack.elasticache import (
    AUTH_TOKEN_SPECIALS,
    ENGINE_VERSIONS,
    ElastiCacheSessionStore,
    ElastiCacheSessionStoreArgs,
    cluster_parameter_group,
    replication_group_id,
)
from sessionstack.redis import RedisSessionStore
from sessionstack.session_store import SessionStore
from tests.components.aws_mocks import aws_extras, settle_failures  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("aws_extras")

NODE_SG = "sg-nodes"
GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"


def make_args(**overrides: Any) -> ElastiCacheSessionStoreArgs:
    base: dict[str, Any] = {
        "namespace": "shop",
        "vpc_id": "vpc-123",
        "subnet_ids": ["subnet-a", "subnet-b"],
        "allowed_security_group_id": NODE_SG,
    }
    return ElastiCacheSessionStoreArgs(**{**base, **overrides})


def one(pulumi_mocks, token: str) -> Any:
    found = [r for r in pulumi_mocks.resources if r.type == token]
    assert len(found) == 1, f"expected one {token}, got {[r.name for r in found]}"
    return found[0]


# --- the replication group ---------------------------------------------------------------------
def test_replication_group_is_multi_az_encrypted_and_authenticated(pulumi_mocks) -> None:
    store = ElastiCacheSessionStore("sessions", make_args())
    group = one(pulumi_mocks, "aws:elasticache/replicationGroup:ReplicationGroup").inputs
    assert group["engine"] == "redis"
    assert group["engineVersion"] == "7.1"
    assert group["numCacheClusters"] >= 2
    assert group["automaticFailoverEnabled"] is True
    assert group["multiAzEnabled"] is True
    assert group["transitEncryptionEnabled"] is True
    assert group["atRestEncryptionEnabled"] is True
    assert group["port"] == 6379
    assert group["authToken"] == pulumi_mocks.value(store.password)
    assert group["authTokenUpdateStrategy"] == "ROTATE"
    assert group["securityGroupIds"] == ["sessions-sg-id"]
    assert "clusterMode" not in group or group["clusterMode"] == "disabled"
    assert not {"numNodeGroups", "replicasPerNodeGroup", "parameterGroupName"} & set(group)

    subnets = one(pulumi_mocks, "aws:elasticache/subnetGroup:SubnetGroup").inputs
    assert subnets["subnetIds"] == ["subnet-a", "subnet-b"]
    assert group["subnetGroupName"] == subnets["name"] == group["replicationGroupId"]


def test_cluster_mode_off_renders_what_the_component_always_did(pulumi_mocks) -> None:
    # The inputs the group had before cluster mode existed: existing stacks see no diff.
    ElastiCacheSessionStore("sessions", make_args(cluster_mode=False, shards=7, replicas_per_shard=4))
    group = one(pulumi_mocks, GROUP).inputs
    assert sorted(group) == [
        "applyImmediately", "atRestEncryptionEnabled", "authToken", "authTokenUpdateStrategy", "autoMinorVersionUpgrade",
        "automaticFailoverEnabled", "description", "engine", "engineVersion", "multiAzEnabled", "nodeType", "numCacheClusters",
        "port", "replicationGroupId", "securityGroupIds", "snapshotRetentionLimit", "subnetGroupName", "tags", "transitEncryptionEnabled",
    ]
    assert group["numCacheClusters"] == 2


def test_cluster_mode_off_ignores_the_shard_knobs(pulumi_mocks) -> None:
    ElastiCacheSessionStore("carts", make_args())
    ElastiCacheSessionStore("logins", make_args(cluster_mode=False, shards=7, replicas_per_shard=4))
    default, explicit = ({k: v for k, v in r.inputs.items() if k not in ("description", "replicationGroupId", "subnetGroupName", "securityGroupIds", "tags")}
                         for r in sorted((r for r in pulumi_mocks.resources if r.type == GROUP), key=lambda r: r.name))
    assert default == explicit


def test_cluster_mode_shards_the_group_and_keeps_failover_tls_and_auth(pulumi_mocks) -> None:
    store = ElastiCacheSessionStore("sessions", make_args(cluster_mode=True, shards=4, replicas_per_shard=2))
    group = one(pulumi_mocks, GROUP).inputs
    assert group["clusterMode"] == "enabled"
    assert group["numNodeGroups"] == 4
    assert group["replicasPerNodeGroup"] == 2
    assert group["parameterGroupName"] == "default.redis7.cluster.on"
    assert "numCacheClusters" not in group  # conflicts with numNodeGroups in the provider
    assert group["automaticFailoverEnabled"] is True and group["multiAzEnabled"] is True
    assert group["transitEncryptionEnabled"] is True and group["atRestEncryptionEnabled"] is True
    assert group["authToken"] == pulumi_mocks.value(store.password)
    assert group["authTokenUpdateStrategy"] == "ROTATE"
    assert group["port"] == 6379 and group["securityGroupIds"] == ["sessions-sg-id"]


def test_cluster_mode_defaults_are_three_shards_of_primary_and_replica(pulumi_mocks) -> None:
    ElastiCacheSessionStore("sessions", make_args(cluster_mode=True, engine_version="6.2"))
    group = one(pulumi_mocks, GROUP).inputs
    assert (group["numNodeGroups"], group["replicasPerNodeGroup"]) == (3, 1)
    assert group["parameterGroupName"] == "default.redis6.x.cluster.on"


@pytest.mark.parametrize("version, expected", [("6.2", "default.redis6.x.cluster.on"), ("7.0", "default.redis7.cluster.on"), ("7.1", "default.redis7.cluster.on")])
def test_cluster_parameter_group_per_engine_version(version: str, expected: str) -> None:
    assert cluster_parameter_group(version) == expected


def test_every_engine_version_has_a_cluster_parameter_group() -> None:
    assert all(cluster_parameter_group(v).endswith(".cluster.on") for v in ENGINE_VERSIONS)
    with pytest.raises(ValueError, match="'5.0.6'"):
        cluster_parameter_group("5.0.6")


def test_auth_token_fits_elasticache_rules_and_stays_secret(pulumi_mocks) -> None:
    store = ElastiCacheSessionStore("sessions", make_args())
    token = one(pulumi_mocks, "random:index/randomPassword:RandomPassword").inputs
    assert 16 <= token["length"] <= 128
    assert token["special"] is True
    assert set(token["overrideSpecial"]) <= set("!&#$^<>-")
    assert pulumi_mocks.is_secret(store.password)
    # A token drawn from the component's alphabet is one ElastiCache accepts.
    alphabet = set(string.ascii_letters + string.digits + AUTH_TOKEN_SPECIALS)
    assert not set('"/@ ') & alphabet


def test_security_group_admits_redis_from_the_node_group_only(pulumi_mocks) -> None:
    ElastiCacheSessionStore("sessions", make_args())
    sg = one(pulumi_mocks, "aws:ec2/securityGroup:SecurityGroup").inputs
    assert sg["vpcId"] == "vpc-123"
    assert "ingress" not in sg and "egress" not in sg
    rule = one(pulumi_mocks, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").inputs
    assert rule["securityGroupId"] == "sessions-sg-id"
    assert rule["referencedSecurityGroupId"] == NODE_SG
    assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 6379, 6379)
    assert "cidrIpv4" not in rule
    assert not [r for r in pulumi_mocks.resources if r.type == "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"]


def test_token_secret_lives_in_the_app_namespace(pulumi_mocks) -> None:
    store = ElastiCacheSessionStore("sessions", make_args())
    secret = pulumi_mocks.object("Secret", "sessions-auth")
    assert secret["metadata"]["namespace"] == "shop"
    assert secret["type"] == "Opaque"
    assert secret["stringData"] == {"password": pulumi_mocks.value(store.password)}
    assert pulumi_mocks.value(store.password_secret_name) == "sessions-auth"
    assert pulumi_mocks.value(store.password_secret_key) == "password"


# --- the SessionStore contract -----------------------------------------------------------------
def test_outputs_are_those_of_the_session_store_protocol(pulumi_mocks) -> None:
    store = ElastiCacheSessionStore("sessions", make_args())
    assert isinstance(store, SessionStore)
    host = pulumi_mocks.value(store.host)
    # The primary endpoint of the replication group (the shared mocks name it master.<resource>...).
    assert host.startswith("master.sessions-redis.") and host.endswith(".cache.amazonaws.com")
    port = pulumi_mocks.value(store.port)
    assert port == 6379 and type(port) is int
    assert pulumi_mocks.value(store.tls) is True
    assert not pulumi_mocks.is_secret(store.host)
    assert pulumi_mocks.value(store.cluster_nodes) == []


def test_cluster_mode_outputs_point_at_the_configuration_endpoint(pulumi_mocks) -> None:
    store = ElastiCacheSessionStore("sessions", make_args(cluster_mode=True))
    assert isinstance(store, SessionStore)
    endpoint = pulumi_mocks.value(store.host)
    assert endpoint.startswith("clustercfg.sessions-redis.")  # (the shared mocks name it as AWS does)
    assert pulumi_mocks.value(store.cluster_nodes) == [f"{endpoint}:6379"]
    assert pulumi_mocks.value(store.reader_host) == ""
    assert pulumi_mocks.value(store.port) == 6379
    assert pulumi_mocks.value(store.tls) is True
    assert pulumi_mocks.value(store.sentinel_master_name) == "" and pulumi_mocks.value(store.sentinel_nodes) == []
    assert not pulumi_mocks.is_secret(store.cluster_nodes)


@pytest.mark.parametrize("store_class", [ElastiCacheSessionStore, RedisSessionStore], ids=lambda c: c.__name__)
def test_same_typed_outputs_as_the_in_cluster_store(store_class: type) -> None:
    # Annotations as written (both modules use postponed evaluation): same names, same types.
    wanted = SessionStore.__annotations__
    assert set(wanted) == {"host", "port", "tls", "password_secret_name", "password_secret_key", "password", "sentinel_master_name", "sentinel_nodes", "cluster_nodes"}
    hints = store_class.__annotations__
    assert {k: hints.get(k) for k in wanted} == wanted, store_class.__name__


def test_wildfly_consumes_it_like_the_in_cluster_store(pulumi_mocks) -> None:
    from sessionstack.wildfly import WildflyCluster, WildflyClusterArgs
    from sessionstack.wildfly_config import SessionBackend

    store = ElastiCacheSessionStore("sessions", make_args())
    WildflyCluster("wildfly", WildflyClusterArgs(namespace="shop", session_backend=SessionBackend.REDIS, session_store=store, demo_app=False))
    deployment = pulumi_mocks.object("Deployment", "wildfly")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SPRING_DATA_REDIS_SSL_ENABLED"]["value"] == "true"
    assert env["SPRING_DATA_REDIS_PORT"]["value"] == "6379"
    assert env["SPRING_DATA_REDIS_HOST"]["value"] == pulumi_mocks.value(store.host)
    assert env["SPRING_DATA_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "sessions-auth", "key": "password"}
    # No Sentinels: the application connects to the primary endpoint.
    assert env["SPRING_DATA_REDIS_SENTINEL_MASTER"]["value"] == "" and env["SPRING_DATA_REDIS_SENTINEL_NODES"]["value"] == ""


# --- names -------------------------------------------------------------------------------------
@pytest.mark.parametrize("base", ["sessions", "0store", "a" * 40, "x--y", "Sessions"])
def test_replication_group_ids_are_valid(base: str) -> None:
    group_id = replication_group_id(base, "ab12cd")
    assert re.match(r"^[a-z][a-z0-9-]*[a-z0-9]$", group_id) and len(group_id) <= 40 and "--" not in group_id
    assert group_id.endswith("-ab12cd")


def test_every_child_is_parented_and_named_after_the_component(pulumi_mocks) -> None:
    ElastiCacheSessionStore("sessions", make_args())
    children = [r for r in pulumi_mocks.resources if r.type != "sessionstack:aws:ElastiCacheSessionStore"]
    assert children and all(r.name.startswith("sessions-") for r in children)
    assert all("sessionstack:aws:ElastiCacheSessionStore$" in r.urn for r in children)


def test_two_stores_in_one_stack_do_not_collide(pulumi_mocks) -> None:
    ElastiCacheSessionStore("carts", make_args())
    ElastiCacheSessionStore("logins", make_args())
    assert pulumi_mocks.run.duplicate_urns == []
    ids = [r.inputs["replicationGroupId"] for r in pulumi_mocks.resources if r.type == "aws:elasticache/replicationGroup:ReplicationGroup"]
    assert len(ids) == len(set(ids)) == 2
    secrets = sorted(o["metadata"]["name"] for o in pulumi_mocks.objects() if o["kind"] == "Secret")
    assert secrets == ["carts-auth", "logins-auth"]


# --- Args validation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("num_cache_clusters", 1, "an integer from 2 to 6"),
        ("num_cache_clusters", 7, "an integer from 2 to 6"),
        ("node_type", "t4g.small", "a current ElastiCache node type"),
        ("node_type", "cache.t1.micro", "a current ElastiCache node type"),
        ("engine_version", "5.0.6", "one of '6.2', '7.0', '7.1'"),
        ("engine_version", 7.1, "one of '6.2', '7.0', '7.1'"),
        ("snapshot_retention_days", 36, "an integer from 0 to 35"),
        ("maintenance_window", "sunday 5am", "None or 'ddd:hh:mm-ddd:hh:mm'"),
        ("apply_immediately", "yes", "True or False"),
        ("subnet_ids", ["subnet-a"], "at least two distinct private subnets"),
        ("cluster_mode", "enabled", "True or False"),
        ("shards", 0, "an integer from 1 to 500"),
        ("shards", 501, "an integer from 1 to 500"),
        ("shards", True, "an integer from 1 to 500"),
        ("shards", 3.0, "an integer from 1 to 500"),
        ("replicas_per_shard", 0, "an integer from 1 to 5"),
        ("replicas_per_shard", 6, "an integer from 1 to 5"),
    ],
)
def test_bad_args_are_rejected_with_field_value_and_allowed(field: str, value: Any, allowed: str) -> None:
    with pytest.raises(ValueError) as err:
        make_args(**{field: value})
    message = str(err.value)
    assert message.startswith(f"ElastiCacheSessionStoreArgs.{field} must be {allowed}")
    assert message.endswith(f"got {value!r}")


@pytest.mark.parametrize("field, value", [("shards", 0), ("shards", True), ("replicas_per_shard", 0)])
def test_bad_shard_knobs_are_rejected_with_cluster_mode_on(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=rf"^ElastiCacheSessionStoreArgs\.{field} must be an integer from 1 to \d+, got {value!r}$"):
        make_args(cluster_mode=True, **{field: value})


def test_one_subnet_from_an_output_fails_when_resolved(pulumi_mocks) -> None:
    ElastiCacheSessionStore("sessions", make_args(subnet_ids=pulumi.Output.from_input(["subnet-a"])))
    failures = settle_failures(pulumi_mocks)
    assert failures and any("ElastiCacheSessionStoreArgs.subnet_ids must be at least two distinct private subnets" in m for m in failures), failures
