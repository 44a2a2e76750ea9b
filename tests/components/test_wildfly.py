"""WildflyCluster on mocks: what a user relies on when the pods start in a real cluster."""

from __future__ import annotations

import pytest

from sessionstack import k8s_common
from sessionstack.redis_config import RedisMode
from sessionstack.redis import RedisSessionStore, RedisSessionStoreArgs
from sessionstack.wildfly import WildflyCluster, WildflyClusterArgs, kube_ping_selector
from sessionstack.wildfly_config import Discovery, SessionBackend
from offline import k8s_checks


APP_IMAGE = "registry.example/shop-spring-session:2.3.1"


def _container(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _env(container):
    return {e["name"]: e for e in container["env"]}


def _selector_matches(selector: str, labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in (part.split("=", 1) for part in selector.split(",")))


def test_kube_ping_cluster_binds_jgroups_to_the_pod_ip(pulumi_mocks):
    WildflyCluster("was", WildflyClusterArgs(namespace="shop"))
    container = _container(pulumi_mocks.object("Deployment", "was"))
    env = _env(container)
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert "-bprivate=$(POD_IP)" in container["args"]
    assert "-c" in container["args"] and "standalone-ha.xml" in container["args"]
    rendered = str(pulumi_mocks.objects())
    assert "0.0.0.0" not in rendered


def test_kube_ping_gets_its_own_service_account_and_a_namespaced_pod_reader_role(pulumi_mocks):
    WildflyCluster("was", WildflyClusterArgs(namespace="shop"))
    pod_spec = pulumi_mocks.object("Deployment", "was")["spec"]["template"]["spec"]
    assert pod_spec["serviceAccountName"] == "was-jgroups"
    assert pod_spec["automountServiceAccountToken"] is True
    role = pulumi_mocks.object("Role", "was-pod-reader")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    binding = pulumi_mocks.object("RoleBinding", "was-pod-reader")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "was-pod-reader"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "was-jgroups", "namespace": "shop"}]
    assert not [o for o in pulumi_mocks.objects() if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]


def test_kube_ping_label_selector_matches_this_cluster_and_no_other(pulumi_mocks):
    WildflyCluster("was", WildflyClusterArgs(namespace="shop"))
    WildflyCluster("was-b", WildflyClusterArgs(namespace="shop"))
    was = pulumi_mocks.object("Deployment", "was")
    other = pulumi_mocks.object("Deployment", "was-b")
    selector = _env(_container(was))["KUBERNETES_LABELS"]["value"]
    assert selector == kube_ping_selector("was")
    assert _selector_matches(selector, was["spec"]["template"]["metadata"]["labels"])
    assert not _selector_matches(selector, other["spec"]["template"]["metadata"]["labels"])


def test_dns_ping_uses_a_headless_service_that_lists_unready_pods_and_no_api_access(pulumi_mocks):
    WildflyCluster("was", WildflyClusterArgs(namespace="shop", discovery=Discovery.DNS_PING))
    ping = pulumi_mocks.object("Service", "was-ping")
    assert ping["spec"]["clusterIP"] == "None"
    assert ping["spec"]["publishNotReadyAddresses"] is True
    pod_spec = pulumi_mocks.object("Deployment", "was")["spec"]["template"]["spec"]
    assert pod_spec["automountServiceAccountToken"] is False
    assert pod_spec["serviceAccountName"] == "was"
    env = _env(pod_spec["containers"][0])
    assert env["JGROUPS_DISCOVERY"]["value"] == "dns_ping"
    assert env["JGROUPS_DNS_QUERY"]["value"] == "was-ping.shop.svc.cluster.local"
    assert not [o for o in pulumi_mocks.objects() if o["kind"] in ("Role", "RoleBinding", "ClusterRole")]


def test_cluster_secret_is_generated_kept_in_a_secret_and_never_in_a_configmap(pulumi_mocks):
    cluster = WildflyCluster("was", WildflyClusterArgs(namespace="shop"))
    secret = pulumi_mocks.object("Secret", "was-jgroups")
    password = secret["stringData"]["password"]
    assert len(password) == 32
    env = _env(_container(pulumi_mocks.object("Deployment", "was")))
    assert env["JGROUPS_CLUSTER_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "was-jgroups", "key": "password"}
    for config_map in (o for o in pulumi_mocks.objects() if o["kind"] == "ConfigMap"):
        assert password not in str(config_map)
    assert pulumi_mocks.value(cluster.cluster_secret_name) == "was-jgroups"


def test_rollouts_scale_down_and_disruptions_remove_at_most_one_pod_at_a_time(pulumi_mocks):
    WildflyCluster("was", WildflyClusterArgs(namespace="shop", replicas=3, max_replicas=8))
    deployment = pulumi_mocks.object("Deployment", "was")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    pdb = pulumi_mocks.object("PodDisruptionBudget", "was")
    assert pdb["spec"]["maxUnavailable"] == 1
    hpa = pulumi_mocks.object("HorizontalPodAutoscaler", "was")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 8)
    assert hpa["spec"]["behavior"]["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 120}]
    pod_spec = deployment["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    assert container["lifecycle"]["preStop"]["exec"]["command"]
    # preStop + graceful suspend must fit in the grace period.
    assert container["lifecycle"]["preStop"]["exec"]["command"][-1] == "sleep 5"
    assert pod_spec["terminationGracePeriodSeconds"] >= 5 + 20


def test_a_longer_prestop_for_slow_load_balancers_extends_the_grace_period(pulumi_mocks):
    WildflyCluster("fast", WildflyClusterArgs(namespace="shop"))
    WildflyCluster("alb", WildflyClusterArgs(namespace="shop", prestop_sleep_seconds=20))
    fast, alb = (pulumi_mocks.object("Deployment", n)["spec"]["template"]["spec"] for n in ("fast", "alb"))
    assert alb["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1] == "sleep 20"
    assert alb["terminationGracePeriodSeconds"] - fast["terminationGracePeriodSeconds"] == 15


def test_pods_are_probed_hardened_and_spread(pulumi_mocks):
    WildflyCluster("was", WildflyClusterArgs(namespace="shop", spread_topology_keys=("kubernetes.io/hostname", "topology.kubernetes.io/zone")))
    pod_spec = pulumi_mocks.object("Deployment", "was")["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    assert {container[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")} == {"/health/started", "/health/ready", "/health/live"}
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["limits"]["memory"] == container["resources"]["requests"]["memory"]
    assert [c["topologyKey"] for c in pod_spec["topologySpreadConstraints"]] == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    assert ":latest" not in container["image"]


def test_demo_app_is_a_distributable_war_from_a_configmap_and_can_be_switched_off(pulumi_mocks):
    with_demo = WildflyCluster("was", WildflyClusterArgs(namespace="shop"))
    without = WildflyCluster("own", WildflyClusterArgs(namespace="shop", demo_app=False, image="registry.example/shop:1.4.2"))
    demo = pulumi_mocks.configmap("was-demo-app")
    assert "<distributable/>" in demo["data"]["WEB-INF__web.xml"]
    volumes = {v["name"]: v for v in pulumi_mocks.object("Deployment", "was")["spec"]["template"]["spec"]["volumes"]}
    assert {"key": "WEB-INF__web.xml", "path": "WEB-INF/web.xml"} in volumes["demo-app"]["configMap"]["items"]
    own = pulumi_mocks.object("Deployment", "own")
    assert "DEMO_APP_DIR" not in _env(_container(own))
    assert not [o for o in pulumi_mocks.objects() if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("own-demo-app")]
    assert pulumi_mocks.value(with_demo.demo_path) == "/session-demo/"
    assert pulumi_mocks.value(without.demo_path) == ""


def test_redis_backend_has_no_jgroups_and_reads_the_store_from_its_secret(pulumi_mocks):
    store = RedisSessionStore("sessions", RedisSessionStoreArgs(namespace="shop"))
    WildflyCluster("was", WildflyClusterArgs(namespace="shop", session_backend=SessionBackend.REDIS, session_store=store, demo_app=False, image=APP_IMAGE))
    deployment = pulumi_mocks.object("Deployment", "was")
    container = _container(deployment)
    env = _env(container)
    assert env["SPRING_DATA_REDIS_HOST"]["value"] == "sessions.shop.svc.cluster.local"
    assert env["SPRING_DATA_REDIS_PORT"]["value"] == "6379"
    assert env["SPRING_DATA_REDIS_SSL_ENABLED"]["value"] == "false"
    assert env["SPRING_DATA_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "sessions-auth", "key": "password"}
    assert not [e for e in env if e.startswith("JGROUPS")]
    assert "standalone.xml" in container["args"] and not any(a.startswith("-bprivate") for a in container["args"])
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["sessionstack.io/redis-client"] == "true"
    assert deployment["spec"]["template"]["metadata"]["annotations"]["sessionstack.io/session-strategy"] == "external-store"
    assert not [o for o in pulumi_mocks.objects() if o["kind"] == "Secret" and o["metadata"]["name"] == "was-jgroups"]


def test_redis_backend_hands_the_application_the_sentinels_or_the_cluster_nodes(pulumi_mocks):
    sentinel = RedisSessionStore("a", RedisSessionStoreArgs(namespace="shop", mode=RedisMode.SENTINEL))
    cluster = RedisSessionStore("b", RedisSessionStoreArgs(namespace="shop", mode=RedisMode.CLUSTER))
    for name, store in (("was-a", sentinel), ("was-b", cluster)):
        WildflyCluster(name, WildflyClusterArgs(namespace="shop", session_backend=SessionBackend.REDIS, session_store=store, demo_app=False, image=APP_IMAGE))
    env_a, env_b = (_env(_container(pulumi_mocks.object("Deployment", n))) for n in ("was-a", "was-b"))
    assert env_a["SPRING_DATA_REDIS_SENTINEL_MASTER"]["value"] == "a" and env_a["SPRING_DATA_REDIS_CLUSTER_NODES"]["value"] == ""
    assert env_a["SPRING_DATA_REDIS_SENTINEL_NODES"]["value"].split(",")[0] == "a-0.shop.svc.cluster.local:26379"
    assert env_b["SPRING_DATA_REDIS_SENTINEL_MASTER"]["value"] == "" and env_b["SPRING_DATA_REDIS_SENTINEL_NODES"]["value"] == ""
    assert env_b["SPRING_DATA_REDIS_CLUSTER_NODES"]["value"].split(",") == [f"b-{i}.shop.svc.cluster.local:6379" for i in range(6)]


def test_two_clusters_in_one_stack_do_not_collide_and_render_valid_objects(pulumi_mocks):
    WildflyCluster("was", WildflyClusterArgs(namespace="shop"))
    WildflyCluster("was-b", WildflyClusterArgs(namespace="shop", discovery=Discovery.DNS_PING))
    assert pulumi_mocks.settle().run.duplicate_urns == []
    objects = pulumi_mocks.objects()
    assert k8s_checks.all_errors(objects) == []
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"} == {"was", "was-b"}


def test_config_change_rolls_the_pods(pulumi_mocks):
    WildflyCluster("two", WildflyClusterArgs(namespace="shop", cache_owners=2))
    WildflyCluster("three", WildflyClusterArgs(namespace="shop", cache_owners=3))
    checksums = {
        pulumi_mocks.object("Deployment", n)["spec"]["template"]["metadata"]["annotations"]["sessionstack.io/config-checksum"]
        for n in ("two", "three")
    }
    assert len(checksums) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"replicas": 0}, "WildflyClusterArgs.replicas must be an integer from 1 to 50, got 0"),
        ({"replicas": 3, "max_replicas": 2}, "WildflyClusterArgs.max_replicas must be an integer from 3 to 100, got 2"),
        ({"cache_owners": "2"}, "WildflyClusterArgs.cache_owners must be an integer from 1 to 10, got '2'"),
        ({"image": "quay.io/wildfly/wildfly:latest"}, "WildflyClusterArgs.image must be pinned"),
        ({"image": "quay.io/wildfly/wildfly"}, "WildflyClusterArgs.image must be pinned"),
        ({"discovery": "multicast"}, "WildflyClusterArgs.discovery must be one of ['kube_ping', 'dns_ping'], got 'multicast'"),
        ({"session_backend": SessionBackend.REDIS, "demo_app": False}, "WildflyClusterArgs.session_store is required"),
        ({"session_backend": SessionBackend.REDIS, "session_store": object()}, "WildflyClusterArgs.demo_app must be False when session_backend is 'redis'"),
    ],
)
def test_bad_args_are_rejected_with_the_field_value_and_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=None) as info:
        WildflyClusterArgs(namespace="shop", **kwargs)
    assert message in str(info.value)


@pytest.mark.parametrize("name", ["Was", "was_1", "-was", "w" * (k8s_common.MAX_COMPONENT_NAME + 1)])
def test_component_names_must_be_usable_as_kubernetes_names(pulumi_mocks, name):
    with pytest.raises(ValueError, match="WildflyCluster name must be a DNS-1123 label"):
        WildflyCluster(name, WildflyClusterArgs(namespace="shop"))


def test_http_only_from_the_router_health_from_anywhere_jgroups_only_between_its_pods(pulumi_mocks):
    router = ({"ipBlock": {"cidr": "10.20.0.0/16"}},)
    WildflyCluster("was", WildflyClusterArgs(namespace="shop", http_from=router))
    policy = pulumi_mocks.object("NetworkPolicy", "was")["spec"]
    selector = pulumi_mocks.object("Deployment", "was")["spec"]["selector"]["matchLabels"]
    assert policy["podSelector"]["matchLabels"] == selector
    by_port = {p["port"]: rule.get("from") for rule in policy["ingress"] for p in rule["ports"]}
    assert by_port == {
        "http": list(router),
        "management": None,  # probes: the kubelet, an ALB health check
        "jgroups": [{"podSelector": {"matchLabels": selector}}],
        "jgroups-fd": [{"podSelector": {"matchLabels": selector}}],
    }
    assert k8s_checks.all_errors(pulumi_mocks.objects()) == []


def test_router_peers_must_be_network_policy_peers():
    with pytest.raises(ValueError, match=r"WildflyClusterArgs.http_from must be a tuple of NetworkPolicy peers.*got \[\]"):
        WildflyClusterArgs(namespace="shop", http_from=[])


def test_a_changed_script_is_a_new_configmap_so_the_deployment_rolls_instead_of_being_replaced(pulumi_mocks):
    WildflyCluster("two", WildflyClusterArgs(namespace="shop", cache_owners=2))
    WildflyCluster("three", WildflyClusterArgs(namespace="shop", cache_owners=3))
    names = {n: pulumi_mocks.configmap(f"{n}-scripts")["metadata"]["name"] for n in ("two", "three")}
    assert names["two"][len("two-scripts"):] != names["three"][len("three-scripts"):]
    for n, name in names.items():
        volumes = {v["name"]: v for v in pulumi_mocks.object("Deployment", n)["spec"]["template"]["spec"]["volumes"]}
        assert volumes["scripts"]["configMap"]["name"] == name
