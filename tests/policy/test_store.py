"""redis-password-from-secret, redis-stays-private and elasticache-auth-and-tls."""

from __future__ import annotations

import pytest

from sessionstack.redis_config import AUTH_CONF_PATH, AUTH_DIR, CONFIG_DIR, REDIS_IMAGE, auth_conf, redis_conf, server_args
from policy.store import elasticache_auth_and_tls, redis_password_from_secret, redis_replicas_need_failover, redis_stays_private
from policy_args import REPLICATION_GROUP, UNKNOWN, check, container, k8s, meta, resource_args, service, stack_args, workload

LABELS = {"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": "sessions"}


def redis_store(conf: str | None = None, secret_data: dict | None = None, args: list[str] | None = None, env=None, mount_secret=True):
    """The RedisSessionStore contract: redis.conf from a ConfigMap includes auth.conf from a Secret."""
    c = container("redis", REDIS_IMAGE, env=env, command=args if args is not None else server_args())
    mounts = [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}]
    volumes = [{"name": "config", "configMap": {"name": "sessions-config"}}]
    if mount_secret:
        mounts.append({"name": "auth", "mountPath": AUTH_DIR, "readOnly": True})
        volumes.append({"name": "auth", "secret": {"secretName": "sessions-auth", "items": [{"key": "auth.conf", "path": "auth.conf"}]}})
    c["volumeMounts"] = mounts
    sts = workload("StatefulSet", "sessions", [c], replicas=1, labels=LABELS, volumes=volumes)
    sts["spec"]["serviceName"] = "sessions-headless"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("sessions-config"), "data": {"redis.conf": conf if conf is not None else redis_conf(256)}}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta("sessions-auth"),
        "stringData": secret_data if secret_data is not None else {"password": "s3cret", "auth.conf": auth_conf("s3cret")},
    }
    return [k8s(sts), k8s(cm), k8s(secret), k8s(service("sessions", LABELS, port=6379))]


def auth(items):
    return check(redis_password_from_secret, stack_args(items))


def private(items):
    return check(redis_stays_private, stack_args(items))


# --------------------------------------------------------------------------------------------
# redis-password-from-secret
# --------------------------------------------------------------------------------------------


def test_the_session_store_contract_passes():
    items = redis_store()
    assert AUTH_CONF_PATH.startswith(AUTH_DIR)  # the include the rule follows
    outcome = auth(items)
    assert outcome.violations == [] and outcome.not_applicable is None


def test_requirepass_from_a_secret_env_var_passes():
    env = [{"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "sessions-auth", "key": "password"}}}]
    items = redis_store(conf="port 6379\n", args=["redis-server", "--requirepass", "$(REDIS_PASSWORD)"], env=env, mount_secret=False)
    assert auth(items).violations == []


def test_redis_without_a_password_is_a_violation():
    items = redis_store(conf="port 6379\nprotected-mode no\n", args=["redis-server", "/etc/redis/redis.conf"], mount_secret=False)
    outcome = auth(items)
    assert len(outcome.violations) == 1
    message, urn = outcome.violations[0]
    assert "without a password" in message and "Secret" in message and urn.endswith("StatefulSet::sessions")


def test_password_in_a_configmap_is_a_violation():
    items = redis_store(conf="port 6379\nrequirepass hunter2\n", mount_secret=False)
    outcome = auth(items)
    assert len(outcome.violations) == 1 and "ConfigMap sessions-config" in outcome.text


def test_literal_passwords_are_violations():
    args = auth(redis_store(conf="port 6379\n", args=["redis-server", "--requirepass", "hunter2"], mount_secret=False))
    assert "container args" in args.text
    env = [{"name": "REDIS_PASSWORD", "value": "hunter2"}]
    literal_env = auth(redis_store(env=env))
    assert "REDIS_PASSWORD is a literal value" in literal_env.text
    empty = auth(redis_store(env=[{"name": "ALLOW_EMPTY_PASSWORD", "value": "yes"}]))
    assert "ALLOW_EMPTY_PASSWORD" in empty.text


def test_client_with_a_literal_redis_password_is_a_violation():
    client = workload("Deployment", "shop", [container("app", "ghcr.io/example/shop:1.0.0", env=[{"name": "SPRING_DATA_REDIS_PASSWORD", "value": "hunter2"}])])
    outcome = auth(redis_store() + [k8s(client)])
    assert len(outcome.violations) == 1 and "SPRING_DATA_REDIS_PASSWORD" in outcome.text and "shop/shop" in outcome.text


def test_no_redis_is_not_applicable():
    web = workload("Deployment", "web", [container("nginx", "nginx:1.27.2")])
    assert auth([k8s(web)]).not_applicable
    exporter = workload("Deployment", "metrics", [container("exp", "oliver006/redis_exporter:v1.62.0")])
    assert auth([k8s(exporter)]).not_applicable


# --------------------------------------------------------------------------------------------
# redis-stays-private
# --------------------------------------------------------------------------------------------


def test_cluster_ip_service_passes():
    outcome = private(redis_store())
    assert outcome.violations == [] and outcome.not_applicable is None


@pytest.mark.parametrize("spec, expected", [({"type": "LoadBalancer"}, "type LoadBalancer"), ({"type": "NodePort"}, "type NodePort"), ({"externalIPs": ["203.0.113.7"]}, "externalIPs")])
def test_published_redis_is_a_violation(spec, expected):
    items = redis_store()[:-1] + [k8s(service("sessions", LABELS, port=6379, **spec))]
    outcome = private(items)
    assert len(outcome.violations) == 1
    message, urn = outcome.violations[0]
    assert expected in message and "StatefulSet shop/sessions" in message and urn.endswith("Service::sessions")


def test_load_balancer_on_the_redis_port_without_a_declared_redis_pod_is_caught():
    outcome = private([k8s(service("cache", {"app": "elsewhere"}, port=6379, type="LoadBalancer"))])
    assert len(outcome.violations) == 1 and "publishes a Redis port" in outcome.text


def test_public_web_services_are_not_redis():
    web = workload("Deployment", "web", [container("nginx", "nginx:1.27.2")])
    assert private([k8s(web), k8s(service("web", {"app": "web"}, port=80, type="LoadBalancer"))]).not_applicable


# --------------------------------------------------------------------------------------------
# elasticache-auth-and-tls
# --------------------------------------------------------------------------------------------


def elasticache(**props):
    base = {"engine": "redis", "nodeType": "cache.t4g.small", "numCacheClusters": 2, "transitEncryptionEnabled": True, "authToken": "x" * 32}
    base.update(props)
    return check(elasticache_auth_and_tls, resource_args(REPLICATION_GROUP, {k: v for k, v in base.items() if v is not None}, "sessions"))


def test_encrypted_replication_group_with_token_passes():
    assert elasticache().violations == []
    assert elasticache(authToken=None, userGroupIds=["sessions-users"]).violations == []
    assert elasticache(authToken=UNKNOWN).violations == []  # a generated token, known at update time


def test_missing_tls_or_token_are_violations():
    no_tls = elasticache(transitEncryptionEnabled=None)
    assert len(no_tls.violations) == 1 and "transitEncryptionEnabled" in no_tls.text
    no_token = elasticache(authToken=None)
    assert len(no_token.violations) == 1 and "no authToken" in no_token.text
    both = elasticache(transitEncryptionEnabled=False, authToken=None)
    assert "transitEncryptionEnabled" in both.text and "no authToken" in both.text
    preferred = elasticache(transitEncryptionMode="preferred")
    assert "preferred" in preferred.text


def test_other_resources_are_not_applicable():
    assert check(elasticache_auth_and_tls, resource_args("aws:s3/bucket:Bucket", {}, "b")).not_applicable
    assert elasticache(engine="memcached").not_applicable


# --------------------------------------------------------------------------------------------
# redis-replicas-need-failover
# --------------------------------------------------------------------------------------------


def failover(items):
    return check(redis_replicas_need_failover, stack_args(items))


def with_replicas(items, replicas: int, extra_container: dict | None = None):
    spec = items[0].props["spec"]
    spec["replicas"] = replicas
    if extra_container:
        spec["template"]["spec"]["containers"].append(extra_container)
    return items


def test_one_redis_pod_needs_no_sentinel():
    outcome = failover(redis_store())
    assert outcome.violations == [] and outcome.not_applicable is None


def test_several_redis_pods_without_sentinel_or_cluster_is_a_violation():
    outcome = failover(with_replicas(redis_store(), 3))
    (message, urn), = outcome.violations
    assert "3 Redis pods" in message and "Two primaries are worse than one" in message and urn.endswith("StatefulSet::sessions")


def test_a_sentinel_beside_each_redis_passes():
    sentinel = container("sentinel", REDIS_IMAGE, command=["sh", "/etc/redis/start-sentinel.sh"])
    assert failover(with_replicas(redis_store(), 3, sentinel)).violations == []


def test_redis_cluster_mode_passes():
    items = with_replicas(redis_store(conf=redis_conf(256) + "cluster-enabled yes\n"), 6)
    assert failover(items).violations == []


def test_sentinels_in_a_workload_of_their_own_pass():
    sentinels = workload("StatefulSet", "sentinels", [container("sentinel", REDIS_IMAGE, command=["redis-server", "/conf/sentinel.conf", "--sentinel"])], replicas=3)
    assert failover(with_replicas(redis_store(), 3) + [k8s(sentinels)]).violations == []


def test_failover_rule_without_redis_is_not_applicable():
    assert failover([k8s(service("web", {"app": "web"}, port=80))]).not_applicable
