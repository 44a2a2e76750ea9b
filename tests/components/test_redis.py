"""RedisSessionStore on mocks: headless Service, auth from a Secret, private, persistent."""

from __future__ import annotations

import pytest

from sessionstack.redis import RedisSessionStore, RedisSessionStoreArgs
from sessionstack.redis_config import AUTH_CONF_PATH, CONFIG_PATH
from offline import k8s_checks


def test_statefulset_is_governed_by_a_headless_service_and_keeps_data_on_a_claim(pulumi_mocks):
    RedisSessionStore("sessions", RedisSessionStoreArgs(namespace="shop", storage="2Gi"))
    statefulset = pulumi_mocks.object("StatefulSet", "sessions")
    headless = pulumi_mocks.object("Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    claim = statefulset["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    mounts = {m["name"]: m["mountPath"] for m in statefulset["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/data"


def test_password_lives_only_in_the_secret_and_redis_includes_it_from_there(pulumi_mocks):
    store = RedisSessionStore("sessions", RedisSessionStoreArgs(namespace="shop"))
    secret = pulumi_mocks.object("Secret", "sessions-auth")
    password = secret["stringData"]["password"]
    assert f"requirepass \"{password}\"" in secret["stringData"]["auth.conf"]
    config = pulumi_mocks.configmap("sessions-config")
    assert f"include {AUTH_CONF_PATH}" in config["data"]["redis.conf"]
    assert password not in str(config)
    container = pulumi_mocks.object("StatefulSet", "sessions")["spec"]["template"]["spec"]["containers"][0]
    assert password not in str(container["args"]) and CONFIG_PATH in container["args"]
    assert pulumi_mocks.is_secret(store.password)
    assert pulumi_mocks.value(store.password_secret_name) == "sessions-auth"
    assert pulumi_mocks.value(store.password_secret_key) == "password"


def test_only_labelled_clients_may_connect_and_nothing_is_exposed_outside(pulumi_mocks):
    RedisSessionStore("sessions", RedisSessionStoreArgs(namespace="shop", client_labels={"role": "was"}))
    policy = pulumi_mocks.object("NetworkPolicy", "sessions")
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {"matchLabels": {"role": "was"}}}], "ports": [{"port": "redis", "protocol": "TCP"}]}]
    for service in (o for o in pulumi_mocks.objects() if o["kind"] == "Service"):
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"


def test_outputs_describe_the_client_endpoint(pulumi_mocks):
    store = RedisSessionStore("sessions", RedisSessionStoreArgs(namespace="shop"))
    assert pulumi_mocks.value(store.host) == "sessions.shop.svc.cluster.local"
    assert pulumi_mocks.value(store.port) == 6379
    assert pulumi_mocks.value(store.tls) is False


def test_pod_is_probed_non_root_and_read_only(pulumi_mocks):
    RedisSessionStore("sessions", RedisSessionStoreArgs(namespace="shop", maxmemory_mb=100))
    pod = pulumi_mocks.object("StatefulSet", "sessions")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "REDISCLI_AUTH" in container["readinessProbe"]["exec"]["command"][-1]
    assert container["resources"]["limits"]["memory"] == "264Mi"
    assert "maxmemory 100mb" in pulumi_mocks.configmap("sessions-config")["data"]["redis.conf"]


def test_two_stores_do_not_collide_and_render_valid_objects(pulumi_mocks):
    RedisSessionStore("a", RedisSessionStoreArgs(namespace="shop"))
    RedisSessionStore("b", RedisSessionStoreArgs(namespace="shop"))
    assert pulumi_mocks.settle().run.duplicate_urns == []
    # The NetworkPolicies admit pods nobody declared here; every other reference must resolve.
    errors = [e for e in k8s_checks.all_errors(pulumi_mocks.objects()) if "ingress peer" not in e]
    assert errors == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"storage": "1GB"}, "RedisSessionStoreArgs.storage must be a quantity such as 512Mi or 1Gi, got '1GB'"),
        ({"maxmemory_mb": 8}, "RedisSessionStoreArgs.maxmemory_mb must be an integer from 16 to 65536, got 8"),
        ({"image": "redis:latest"}, "RedisSessionStoreArgs.image must be pinned"),
        ({"client_labels": {}}, "RedisSessionStoreArgs.client_labels must name at least one label"),
    ],
)
def test_bad_args_are_rejected(kwargs, message):
    with pytest.raises(ValueError) as info:
        RedisSessionStoreArgs(namespace="shop", **kwargs)
    assert message in str(info.value)
