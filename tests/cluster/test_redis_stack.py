"""The cluster stack's Redis variant: `pulumi up` with sessions in the Redis StatefulSet.

The same stack file as test_cluster_stack.py with the settings README gives for the redis
backend: wildfly.sessionBackend redis, wildfly.demoApp false, wildfly.image the Spring Session
demo built from apps/spring-session-demo/Dockerfile. The StatefulSet's PVC is bound by the
local-path provisioner; `verify` runs through kube-proxy with no affinity, so every request can
land on the other WildFly pod and only Redis keeps the sessions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine_support import Engine, copy_project
from kube import Cluster, is_ready, node_port, restarts, verify, wait_until
from onenode.images import spring_demo_ref

STACK = "cluster"
NAMESPACE = "sessionstack"
SETTINGS = {
    "wildfly.sessionBackend": "redis",
    "wildfly.demoApp": "false",
    "wildfly.image": spring_demo_ref(),
}


@pytest.fixture(scope="module")
def stack(cluster: Cluster, engine_bin: Path, tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster-redis")
    project = copy_project(base / "project")
    engine = Engine(engine_bin, base, extra_env={"KUBECONFIG": str(cluster.kubeconfig)})

    def pulumi(*args: str, timeout: float = 1500):
        return engine.run(project, *args, "--stack", STACK, timeout=timeout)

    assert engine.run(project, "stack", "init", STACK).returncode == 0
    for key, value in SETTINGS.items():
        done = pulumi("config", "set", f"sessionstack:{key}", value)
        assert done.returncode == 0, str(done)
    up = pulumi("up", "--yes")
    yield pulumi, up
    if cluster.kubectl("get", "namespace", NAMESPACE, check=False).returncode == 0:
        pulumi("destroy", "--yes")


def test_up_of_the_redis_variant_binds_the_volume_and_runs_every_pod(stack, cluster: Cluster):
    _, up = stack
    assert up.returncode == 0, str(up)
    sets = cluster.items("statefulsets", "-n", NAMESPACE)
    assert len(sets) == 1 and sets[0]["status"].get("readyReplicas") == sets[0]["spec"]["replicas"]
    claims = cluster.items("pvc", "-n", NAMESPACE)
    assert claims and all(c["status"]["phase"] == "Bound" for c in claims), claims
    volume = cluster.get("pv", claims[0]["spec"]["volumeName"])
    assert volume["spec"]["storageClassName"] == "local-path" and volume["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    for p in cluster.items("pods", "-n", NAMESPACE):
        assert p["status"]["phase"] == "Running" and is_ready(p) and restarts(p) == 0, p["metadata"]["name"]
    images = {c["image"] for p in cluster.pods(NAMESPACE, "app.kubernetes.io/name=wildfly") for c in p["spec"]["containers"]}
    assert images == {spring_demo_ref()}


def test_second_up_reports_no_changes(stack):
    pulumi, _ = stack
    step = pulumi("up", "--yes", "--expect-no-changes")
    assert step.returncode == 0, str(step)


def test_sessions_in_redis_survive_round_robin_over_the_was_pods(stack, cluster: Cluster):
    with node_port(cluster, NAMESPACE, "wildfly") as url:
        verify(url)


def test_destroy_removes_the_stack_and_its_volume(stack, cluster: Cluster):
    pulumi, _ = stack
    volumes_before = {v["metadata"]["name"] for v in cluster.items("pv")}
    destroy = pulumi("destroy", "--yes")
    assert destroy.returncode == 0, str(destroy)
    wait_until(f"namespace {NAMESPACE} to be gone", lambda: cluster.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0, 180, interval=2)
    wait_until("the Redis volume to be deleted", lambda: not (volumes_before & {v["metadata"]["name"] for v in cluster.items("pv")}), 120, interval=2)
