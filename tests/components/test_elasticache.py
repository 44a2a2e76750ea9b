"""ElastiCacheSessionStore under Pulumi mocks: Multi-AZ replication group with failover, TLS, at-rest
encryption and an AUTH token; the security group; the token Secret; and the SessionStore outputs
it shares with the in-cluster RedisSessionStore."""

from __future__ import annotations

import re
import string
from typing import Any

import pulumi
import pytest

from sessionstack.elasticache import (
    AUTH_TOKEN_SPECIALS,
    ElastiCacheSessionStore,
    ElastiCacheSessionStoreArgs,
    replication_group_id,
)
from sessionstack.redis import RedisSessionStore
from sessionstack.session_store import SessionStore
from tests.components.aws_mocks import aws_extras, settle_failures  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("aws_extras")

NODE_SG = "sg-nodes"


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

    subnets = one(pulumi_mocks, "aws:elasticache/subnetGroup:SubnetGroup").inputs
    assert subnets["subnetIds"] == ["subnet-a", "subnet-b"]
    assert group["subnetGroupName"] == subnets["name"] == group["replicationGroupId"]


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


def test_same_typed_outputs_as_the_in_cluster_store() -> None:
    # Annotations as written (both modules use postponed evaluation): same names, same types.
    wanted = SessionStore.__annotations__
    assert set(wanted) == {"host", "port", "tls", "password_secret_name", "password_secret_key", "password", "sentinel_master_name", "sentinel_nodes"}
    for store_class in (ElastiCacheSessionStore, RedisSessionStore):
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
    ],
)
def test_bad_args_are_rejected_with_field_value_and_allowed(field: str, value: Any, allowed: str) -> None:
    with pytest.raises(ValueError) as err:
        make_args(**{field: value})
    message = str(err.value)
    assert message.startswith(f"ElastiCacheSessionStoreArgs.{field} must be {allowed}")
    assert message.endswith(f"got {value!r}")


def test_one_subnet_from_an_output_fails_when_resolved(pulumi_mocks) -> None:
    ElastiCacheSessionStore("sessions", make_args(subnet_ids=pulumi.Output.from_input(["subnet-a"])))
    failures = settle_failures(pulumi_mocks)
    assert failures and any("ElastiCacheSessionStoreArgs.subnet_ids must be at least two distinct private subnets" in m for m in failures), failures
