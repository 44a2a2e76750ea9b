"""RedisSessionStore on mocks: headless Service, auth from a Secret, private, persistent."""

from __future__ import annotations

import pytest

from sessionstack import redis_cluster_config
from sessionstack.redis import RedisSessionStore, RedisSessionStoreArgs
from sessionstack.redis_config import AUTH_CONF_PATH, CONFIG_PATH, RedisMode
from offline import k8s_checks

STANDALONE = RedisMode.STANDALONE
SENTINEL = RedisMode.SENTINEL
CLUSTER = RedisMode.CLUSTER


def test_statefulset_is_governed_by_a_headless_service_and_keeps_data_on_a_claim(pulumi_mocks):
    RedisSessionStore("sessions", RedisSessionStoreArgs(namespace="shop", storage="2Gi"))
    statefulset = pulumi_mocks.object("StatefulSet", "sessions")
    headless = pulumi_mocks.object("Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    claim = statefulset["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    mounts = {m["name"]: m["mountPath"] for m in statefulset["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/data"


@pytest.mark.parametrize("mode", [STANDALONE, SENTINEL, CLUSTER])
def test_password_lives_only_in_the_secret_and_redis_includes_it_from_there(pulumi_mocks, mode):
    store = RedisSessionStore("sessions", RedisSessionStoreArgs(namespace="shop", mode=mode))
    secret = pulumi_mocks.object("Secret", "sessions-auth")
    password = secret["stringData"]["password"]
    assert f"requirepass \"{password}\"" in secret["stringData"]["auth.conf"]
    config = pulumi_mocks.configmap("sessions-config")
    assert f"include {AUTH_CONF_PATH}" in config["data"]["redis.conf"]
    assert password not in str(config)
    statefulset = pulumi_mocks.object("StatefulSet", "sessions")
    assert password not in str(statefulset)
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    if mode is STANDALONE:
        assert CONFIG_PATH in container["args"]
    elif mode is CLUSTER:
        assert f"masterauth \"{password}\"" in secret["stringData"]["auth.conf"] and "sentinel-auth.conf" not in secret["stringData"]
    else:
        # Replicas authenticate to the primary, the Sentinels to Redis and to each other: same Secret.
        assert f"masterauth \"{password}\"" in secret["stringData"]["auth.conf"]
        sentinel_auth = secret["stringData"]["sentinel-auth.conf"]
        assert f"requirepass \"{password}\"" in sentinel_auth and f"sentinel auth-pass sessions \"{password}\"" in sentinel_auth
    assert pulumi_mocks.is_secret(store.password)
    assert pulumi_mocks.value(store.password_secret_name) == "sessions-auth"
    assert pulumi_mocks.value(store.password_secret_key) == "password"


def test_only_labelled_clients_may_connect_and_nothing_is_exposed_outside(pulumi_mocks):
    RedisSessionStore("sessions", RedisSessionStoreArgs(namespace="shop", mode=STANDALONE, client_labels={"role": "was"}))
    policy = pulumi_mocks.object("NetworkPolicy", "sessions")
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {"matchLabels": {"role": "was"}}}], "ports": [{"port": "redis", "protocol": "TCP"}]}]
    for service in (o for o in pulumi_mocks.objects() if o["kind"] == "Service"):
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"


def test_outputs_describe_the_client_endpoint(pulumi_mocks):
    store = RedisSessionStore("sessions", RedisSessionStoreArgs(namespace="shop", mode=STANDALONE))
    assert pulumi_mocks.value(store.host) == "sessions.shop.svc.cluster.local"
    assert pulumi_mocks.value(store.port) == 6379
    assert pulumi_mocks.value(store.tls) is False
    assert pulumi_mocks.value(store.sentinel_master_name) == "" and pulumi_mocks.value(store.sentinel_nodes) == []
    assert pulumi_mocks.value(store.cluster_nodes) == []


def test_sentinel_mode_is_the_default_and_tells_clients_where_the_sentinels_are(pulumi_mocks):
    store = RedisSessionStore("sessions", RedisSessionStoreArgs(namespace="shop", sentinel_pods=5))
    assert pulumi_mocks.value(store.mode) == "sentinel"
    assert pulumi_mocks.value(store.sentinel_master_name) == "sessions"
    assert pulumi_mocks.value(store.sentinel_nodes) == [f"sessions-{i}.shop.svc.cluster.local:26379" for i in range(5)]
    statefulset = pulumi_mocks.object("StatefulSet", "sessions")
    assert statefulset["spec"]["replicas"] == 5
    assert "sentinel monitor sessions __PRIMARY_HOST__ 6379 3" in pulumi_mocks.configmap("sessions-config")["data"]["sentinel.conf"]


def test_sentinel_mode_runs_a_sentinel_next_to_each_redis_and_hands_over_before_stopping(pulumi_mocks):
    RedisSessionStore("sessions", RedisSessionStoreArgs(namespace="shop", client_labels={"role": "was"}))
    statefulset = pulumi_mocks.object("StatefulSet", "sessions")
    pod = statefulset["spec"]["template"]["spec"]
    redis, sentinel = pod["containers"]
    assert (redis["name"], sentinel["name"]) == ("redis", "sentinel")
    assert redis["command"][-1].endswith("/start-redis.sh") and sentinel["command"][-1].endswith("/start-sentinel.sh")
    assert redis["lifecycle"]["preStop"]["exec"]["command"][-1].endswith("/pre-stop.sh")
    config = pulumi_mocks.configmap("sessions-config")["data"]
    assert {"start-redis.sh", "start-sentinel.sh", "pre-stop.sh", "sentinel-lib.sh", "sentinel.conf"} <= set(config)
    assert "min-replicas-to-write 1" in config["redis.conf"]
    # A replica is ready only once it is in sync with the primary (a rollout waits for that).
    assert redis["readinessProbe"]["exec"]["command"][-1].endswith("/ready.sh") and "master_link_status:up" in config["ready.sh"]
    # Peers resolve a pod before it is ready; pods start one after the other.
    headless = pulumi_mocks.object("Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["publishNotReadyAddresses"] is True and statefulset["spec"]["podManagementPolicy"] == "OrderedReady"
    assert sentinel["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in sentinel["volumeMounts"]} >= {"/sentinel", "/etc/redis", "/etc/redis-auth"}
    # Clients reach Redis and the Sentinels; the store's own pods reach each other (replication, gossip).
    policy = pulumi_mocks.object("NetworkPolicy", "sessions")
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"role": "was"}}}, {"podSelector": {"matchLabels": statefulset["spec"]["selector"]["matchLabels"]}}]
    assert rule["ports"] == [{"port": "redis", "protocol": "TCP"}, {"port": "sentinel", "protocol": "TCP"}]


def test_cluster_mode_runs_a_node_per_pod_formed_by_a_job_and_tells_clients_the_nodes(pulumi_mocks):
    store = RedisSessionStore("sessions", RedisSessionStoreArgs(namespace="shop", mode=CLUSTER, cluster_primaries=4, client_labels={"role": "was"}))
    statefulset = pulumi_mocks.object("StatefulSet", "sessions")
    # A primary and a replica per shard, started together: a node is ready only once the Job joined it.
    assert statefulset["spec"]["replicas"] == 8 and statefulset["spec"]["podManagementPolicy"] == "Parallel"
    (redis,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert redis["command"][-1].endswith("/start-cluster.sh") and redis["lifecycle"]["preStop"]["exec"]["command"][-1].endswith("/cluster-pre-stop.sh")
    assert redis["readinessProbe"]["exec"]["command"][-1].endswith("/cluster-ready.sh")
    # The kubelet waits for the pre-stop hook (handover, then its clients moving on) and Redis's stop.
    grace = statefulset["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= redis_cluster_config.FAILOVER_WAIT_S + redis_cluster_config.DRAIN_WAIT_S + 30
    assert {p["name"]: p["containerPort"] for p in redis["ports"]} == {"redis": 6379, "bus": 16379}
    config = pulumi_mocks.configmap("sessions-config")["data"]
    assert "cluster-enabled yes" in config["redis.conf"] and "cluster-preferred-endpoint-type hostname" in config["redis.conf"]
    assert "min-replicas-to-write" not in config["redis.conf"]
    # Each node's own Service carries the bus too, and reaches it before it is ready.
    pod_service = pulumi_mocks.object("Service", "sessions-7")
    assert {p["name"] for p in pod_service["spec"]["ports"]} == {"redis", "bus"} and pod_service["spec"]["publishNotReadyAddresses"] is True
    assert pod_service["spec"]["selector"]["statefulset.kubernetes.io/pod-name"] == "sessions-7"
    job = pulumi_mocks.object("Job", "sessions-bootstrap")
    (bootstrap,) = job["spec"]["template"]["spec"]["containers"]
    assert bootstrap["command"][-1].endswith("/bootstrap-cluster.sh") and bootstrap["image"] == redis["image"]
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "cluster-bootstrap"
    # Clients and the Job reach Redis; the nodes reach each other on Redis and on the bus.
    own = statefulset["spec"]["selector"]["matchLabels"]
    policy = pulumi_mocks.object("NetworkPolicy", "sessions")
    assert policy["spec"]["ingress"] == [
        {"from": [{"podSelector": {"matchLabels": {"role": "was"}}}, {"podSelector": {"matchLabels": {**own, "app.kubernetes.io/component": "cluster-bootstrap"}}}],
         "ports": [{"port": "redis", "protocol": "TCP"}]},
        {"from": [{"podSelector": {"matchLabels": own}}], "ports": [{"port": "redis", "protocol": "TCP"}, {"port": "bus", "protocol": "TCP"}]},
    ]
    assert pulumi_mocks.value(store.mode) == "cluster" and pulumi_mocks.value(store.sentinel_nodes) == []
    assert pulumi_mocks.value(store.cluster_nodes) == [f"sessions-{i}.shop.svc.cluster.local:6379" for i in range(8)]


def test_pod_is_probed_non_root_and_read_only(pulumi_mocks):
    RedisSessionStore("sessions", RedisSessionStoreArgs(namespace="shop", mode=STANDALONE, maxmemory_mb=100))
    pod = pulumi_mocks.object("StatefulSet", "sessions")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "REDISCLI_AUTH" in container["readinessProbe"]["exec"]["command"][-1]
    assert container["resources"]["limits"]["memory"] == "264Mi"
    assert "maxmemory 100mb" in pulumi_mocks.configmap("sessions-config")["data"]["redis.conf"]


@pytest.mark.parametrize("mode", [STANDALONE, SENTINEL, CLUSTER])
def test_two_stores_do_not_collide_and_render_valid_objects(pulumi_mocks, mode):
    RedisSessionStore("a", RedisSessionStoreArgs(namespace="shop", mode=mode))
    RedisSessionStore("b", RedisSessionStoreArgs(namespace="shop", mode=mode))
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
        ({"mode": "sharded"}, "RedisSessionStoreArgs.mode must be one of ['standalone', 'sentinel', 'cluster'], got 'sharded'"),
        ({"cluster_primaries": 2}, "RedisSessionStoreArgs.cluster_primaries must be an integer from 3 to 16, got 2"),
        ({"cluster_primaries": True}, "RedisSessionStoreArgs.cluster_primaries must be an integer from 3 to 16, got True"),
        ({"sentinel_pods": 4}, "RedisSessionStoreArgs.sentinel_pods must be an odd integer from 3 to 9, got 4"),
        ({"sentinel_pods": 1}, "RedisSessionStoreArgs.sentinel_pods must be an odd integer from 3 to 9, got 1"),
    ],
)
def test_bad_args_are_rejected(kwargs, message):
    with pytest.raises(ValueError) as info:
        RedisSessionStoreArgs(namespace="shop", **kwargs)
    assert message in str(info.value)
