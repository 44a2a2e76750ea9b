"""The whole program, per stack file, under mocks: what `pulumi up` would declare."""

from __future__ import annotations

import json
import subprocess
import sys

import pulumi
import pytest

from offline import k8s_checks, mockrun

STACKS = mockrun.stacks()


@pytest.fixture(scope="module", params=STACKS)
def stack_run(request):
    return mockrun.run_stack(request.param)


def test_every_stack_file_is_covered():
    assert set(STACKS) == {"local", "dev", "cluster", "eks"}


def test_no_two_resources_share_a_urn(stack_run):
    assert stack_run.duplicate_urns == []


def test_rendered_objects_are_valid_kubernetes_1_33_with_resolving_references(stack_run):
    objects = stack_run.kubernetes_objects()
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"} <= kinds
    assert k8s_checks.all_errors(objects) == []


def test_exports_give_the_url_and_demo_path_and_never_a_password(stack_run):
    exports = stack_run.exports
    assert exports["url"].startswith("http")
    assert exports["sessionDemoPath"] == "/session-demo/"
    assert exports["sessionDemoUrl"].endswith("/session-demo/")
    secrets = [r.inputs["stringData"] for r in stack_run.resources if r.inputs.get("kind") == "Secret"]
    secret_values = {v for data in secrets for v in data.values()}
    assert secret_values
    plain_exports = json.dumps({k: v for k, v in exports.items() if k not in stack_run.secret_exports})
    assert not [v for v in secret_values if v in plain_exports]


def test_every_workload_pins_its_images(stack_run):
    for obj in stack_run.kubernetes_objects():
        for container in (obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []):
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image


@pytest.mark.parametrize("stack", ["local", "dev", "cluster"])
def test_local_and_dev_declare_nothing_on_aws_and_never_import_pulumi_aws(stack):
    code = (
        "import json, sys; from offline import mockrun; run = mockrun.run_stack(%r); "
        "print(json.dumps({'aws_types': sorted(t for t in run.types() if t.startswith('aws:')), "
        "'imported': 'pulumi_aws' in sys.modules}))" % stack
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=mockrun.PROJECT_DIR, capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"aws_types": [], "imported": False}


def test_local_renders_to_a_directory_and_dev_targets_the_kind_context():
    local = mockrun.run_stack("local")
    dev = mockrun.run_stack("dev")
    [render] = local.of_type("pulumi:providers:kubernetes")
    assert render.inputs["renderYamlToDirectory"] == "rendered/local"
    [kind] = dev.of_type("pulumi:providers:kubernetes")
    assert kind.inputs["context"] == "kind-sessionstack"
    assert "renderYamlToDirectory" not in kind.inputs


def test_cluster_targets_the_built_cluster_and_installs_the_gateway_chart_from_its_local_path():
    run = mockrun.run_stack("cluster")
    [provider] = run.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == "sessionstack-cluster"
    [release] = run.of_type("kubernetes:helm.sh/v3:Release")
    config = mockrun.load_stack_config("cluster")
    assert release.inputs["chart"] == config["sessionstack:routing.controllerChart"]
    assert "version" not in release.inputs and "repositoryOpts" not in release.inputs


@pytest.mark.parametrize("stack, overrides", [("dev", {}), ("dev", {"routing.implementation": "ingress-nginx"}), ("cluster", {})])
def test_only_the_installed_router_reaches_wildfly_and_apache_http(stack, overrides):
    run = mockrun.run_stack(stack, overrides=overrides)
    [release] = run.of_type("kubernetes:helm.sh/v3:Release")
    router = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": release.inputs["namespace"]}}}]
    policies = {o["metadata"]["name"]: o["spec"] for o in run.kubernetes_objects() if o["kind"] == "NetworkPolicy"}
    for name in ("wildfly", "apache"):
        http = [rule for rule in policies[name]["ingress"] if {"port": "http", "protocol": "TCP"} in rule["ports"]]
        assert [rule.get("from") for rule in http] == [router], name


def test_eks_lets_only_the_vpc_reach_wildfly_and_apache_http():
    run = mockrun.run_stack("eks")
    [vpc] = run.of_type("aws:ec2/vpc:Vpc")
    policies = {o["metadata"]["name"]: o["spec"] for o in run.kubernetes_objects() if o["kind"] == "NetworkPolicy"}
    for name in ("wildfly", "apache"):
        http = [rule for rule in policies[name]["ingress"] if {"port": "http", "protocol": "TCP"} in rule["ports"]]
        assert [rule.get("from") for rule in http] == [[{"ipBlock": {"cidr": vpc.inputs["cidrBlock"]}}]], name


def test_eks_fronts_wildfly_with_sticky_ip_targets():
    run = mockrun.run_stack("eks")
    groups = run.of_type("aws:lb/targetGroup:TargetGroup")
    sticky = [g for g in groups if (g.inputs.get("stickiness") or {}).get("enabled")]
    assert len(sticky) == 1
    assert sticky[0].inputs["stickiness"]["type"] == "lb_cookie"
    assert sticky[0].inputs["stickiness"]["cookieDuration"] == 3600
    assert {g.inputs["targetType"] for g in groups} == {"ip"}
    assert run.secret_exports >= {"kubeconfig"}
    namespace = next(o for o in run.kubernetes_objects() if o["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"
    wildfly = next(o for o in run.kubernetes_objects() if o["kind"] == "Deployment" and o["metadata"]["name"] == "wildfly")
    deregistration = sticky[0].inputs.get("deregistrationDelay")
    prestop = wildfly["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1]
    assert prestop == "sleep 20" and deregistration == 120
    bindings = [o for o in run.kubernetes_objects() if o["kind"] == "TargetGroupBinding"]
    assert {b["spec"]["serviceRef"]["name"] for b in bindings} == {"wildfly", "apache"}


def test_eks_with_the_redis_backend_uses_elasticache_and_exports_only_its_endpoint():
    run = mockrun.run_stack(
        "eks",
        overrides={"wildfly.sessionBackend": "redis", "wildfly.demoApp": "false", "wildfly.image": "registry.example/shop:2.3.1"},
    )
    [group] = run.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    assert group.inputs["transitEncryptionEnabled"] is True
    assert not run.of_type("kubernetes:apps/v1:StatefulSet")
    assert run.exports["redisEndpoint"].endswith(":6379")
    assert run.exports["redisTls"] is True
    assert run.exports["redisPasswordSecret"] == "sessions-auth"
    assert run.exports["redisSentinelMaster"] == "" and run.exports["redisSentinels"] == []
    token = next(r.inputs["stringData"]["password"] for r in run.resources if r.inputs.get("kind") == "Secret" and r.inputs["metadata"]["name"] == "sessions-auth")
    assert token not in json.dumps(run.exports)
    # redis.mode sentinel (the default) is ElastiCache's cluster mode disabled; cluster enables it.
    assert "clusterMode" not in group.inputs and group.inputs["numCacheClusters"] == 2
    sharded = mockrun.run_stack(
        "eks",
        overrides={"wildfly.sessionBackend": "redis", "wildfly.demoApp": "false", "wildfly.image": "registry.example/shop:2.3.1",
                   "redis.mode": "cluster", "redis.clusterPrimaries": "4"},
    )
    [group] = sharded.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    assert (group.inputs["clusterMode"], group.inputs["numNodeGroups"], group.inputs["replicasPerNodeGroup"]) == ("enabled", 4, 1)


def test_dev_with_the_redis_backend_runs_redis_in_the_cluster():
    run = mockrun.run_stack(
        "dev",
        overrides={"wildfly.sessionBackend": "redis", "wildfly.demoApp": "false", "wildfly.image": "registry.example/shop:2.3.1"},
    )
    assert k8s_checks.all_errors(run.kubernetes_objects()) == []
    assert run.exports["redisEndpoint"] == "sessions.sessionstack.svc.cluster.local:6379"
    # The default mode: three Sentinels the application asks for the primary.
    assert run.exports["redisSentinelMaster"] == "sessions"
    assert run.exports["redisSentinels"] == [f"sessions-{i}.sessionstack.svc.cluster.local:26379" for i in range(3)]


def test_redis_settings_are_validated_before_anything_is_declared():
    base = {"wildfly.sessionBackend": "redis", "wildfly.demoApp": "false", "wildfly.image": "registry.example/shop:2.3.1"}
    for overrides, message in (
        ({"redis.mode": "sharded"}, "sessionstack:redis.mode must be one of 'standalone', 'sentinel', 'cluster', got 'sharded'"),
        ({"redis.clusterPrimaries": "17"}, "sessionstack:redis.clusterPrimaries must be an integer from 3 to 16, got '17'"),
        ({"redis.sentinelPods": "4"}, "sessionstack:redis.sentinelPods must be odd (3, 5, 7 or 9), got 4"),
        ({"redis.sentinelPods": "11"}, "sessionstack:redis.sentinelPods must be an integer from 3 to 9, got '11'"),
    ):
        with pytest.raises(pulumi.RunError) as info:
            mockrun.run_stack("dev", overrides={**base, **overrides})
        assert message in str(info.value)
    standalone = mockrun.run_stack("dev", overrides={**base, "redis.mode": "standalone"})
    [statefulset] = [o for o in standalone.kubernetes_objects() if o["kind"] == "StatefulSet"]
    assert statefulset["spec"]["replicas"] == 1 and standalone.exports["redisSentinels"] == []
    cluster = mockrun.run_stack("dev", overrides={**base, "redis.mode": "cluster", "redis.clusterPrimaries": "4"})
    [statefulset] = [o for o in cluster.kubernetes_objects() if o["kind"] == "StatefulSet"]
    assert statefulset["spec"]["replicas"] == 8 and cluster.exports["redisSentinels"] == []
    assert cluster.exports["redisClusterNodes"] == [f"sessions-{i}.{cluster.exports['namespace']}.svc.cluster.local:6379" for i in range(8)]


@pytest.mark.parametrize(
    ("stack", "overrides", "message"),
    [
        ("local", {"wildfly.discovery": "multicast"}, "sessionstack:wildfly.discovery must be one of 'kube_ping', 'dns_ping', got 'multicast'"),
        ("dev", {"wildfly.replicas": "two"}, "sessionstack:wildfly.replicas must be an integer from 1 to 50, got 'two'"),
        ("dev", {"eks.stickinessSeconds": "60"}, "sessionstack:eks.stickinessSeconds is a setting for platform eks only"),
        ("eks", {"eks.stickinessSeconds": "0"}, "sessionstack:eks.stickinessSeconds must be an integer from 1 to 604800, got '0'"),
        ("local", {"namespace": "My_NS"}, "sessionstack:namespace must be a DNS-1123 label"),
    ],
)
def test_bad_input_stops_the_program_before_anything_is_declared(stack, overrides, message):
    # What the user sees: one pulumi.RunError line (no traceback) naming key, value and allowed.
    with pytest.raises(pulumi.RunError) as info:
        mockrun.run_stack(stack, overrides=overrides)
    assert message in str(info.value)
    assert info.value.stack_run.resources == []


def test_eks_on_an_existing_cluster_declares_no_vpc_or_cluster():
    run = mockrun.run_stack("eks", overrides={"eks.existingClusterName": "shop-prod"})
    assert not run.of_type("aws:eks/cluster:Cluster") and not run.of_type("aws:ec2/vpc:Vpc")
    assert run.of_type("aws:lb/loadBalancer:LoadBalancer")
    assert k8s_checks.all_errors(run.kubernetes_objects()) == []
    assert run.exports["clusterName"] == "shop-prod"
