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

from deployments import NAMESPACE, Deployed, deploy, destroy_every_stack, destroy_if_left
from kube import Cluster, is_ready, node_port, restarts, verify, wait_until
from onenode.images import spring_demo_ref
from verify.check import SessionCheck

SETTINGS = {
    "wildfly.sessionBackend": "redis",
    "wildfly.demoApp": "false",
    "wildfly.image": spring_demo_ref(),
}


@pytest.fixture(scope="module")
def stack(cluster: Cluster, engine_bin: Path, tmp_path_factory) -> Deployed:
    destroy_every_stack(cluster)
    deployed = deploy(cluster, engine_bin, tmp_path_factory.mktemp("cluster-redis"), SETTINGS)
    yield deployed
    destroy_if_left(cluster, deployed)


def redis_pod(cluster: Cluster) -> str:
    (statefulset,) = cluster.items("statefulsets", "-n", NAMESPACE)
    return f"{statefulset['metadata']['name']}-0"


def redis_cli(cluster: Cluster, *args: str, authenticated: bool = True) -> str:
    """redis-cli inside the Redis pod, with the password from the pod's env (never on a command
    line) or without any."""
    auth = 'REDISCLI_AUTH="$REDIS_PASSWORD" ' if authenticated else ""
    command = auth + "redis-cli -h 127.0.0.1 " + " ".join(args)
    done = cluster.kubectl("exec", "-n", NAMESPACE, redis_pod(cluster), "-c", "redis", "--", "sh", "-c", command, check=False)
    return done.stdout + done.stderr


def test_up_of_the_redis_variant_binds_the_volume_and_runs_every_pod(stack: Deployed, cluster: Cluster):
    assert stack.up.returncode == 0, str(stack.up)
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


def test_second_up_reports_no_changes(stack: Deployed):
    step = stack.pulumi("up", "--yes", "--expect-no-changes")
    assert step.returncode == 0, str(step)


def test_sessions_in_redis_survive_round_robin_over_the_was_pods(stack: Deployed, cluster: Cluster):
    with node_port(cluster, NAMESPACE, "wildfly") as url:
        verify(url)


def test_redis_answers_only_with_the_password_and_never_evicts(stack: Deployed, cluster: Cluster):
    assert "NOAUTH" in redis_cli(cluster, "ping", authenticated=False)
    assert redis_cli(cluster, "ping").strip() == "PONG"
    assert redis_cli(cluster, "config", "get", "maxmemory-policy").split() == ["maxmemory-policy", "noeviction"]
    assert redis_cli(cluster, "config", "get", "appendonly").split() == ["appendonly", "yes"]


def test_sessions_survive_a_restart_of_the_redis_pod(stack: Deployed, cluster: Cluster):
    """`kubectl delete pod` of Redis: SIGTERM makes it fsync the append-only file on its volume;
    the StatefulSet's new pod mounts the same claim and loads it, so every session is still there
    with its last value. (While Redis is down the application answers errors: not measured here.)"""
    pod = redis_pod(cluster)
    uid_before = cluster.get("pod", "-n", NAMESPACE, pod)["metadata"]["uid"]
    with node_port(cluster, NAMESPACE, "wildfly") as url:
        check = SessionCheck(url, sessions=20, concurrency=20, min_pods=2, timeout=20)
        check.rounds(3)
        cluster.kubectl("delete", "pod", "-n", NAMESPACE, pod, "--wait=true", timeout=180)

        def back() -> bool:
            found = cluster.kubectl("get", "pod", "-n", NAMESPACE, pod, "-o", "json", check=False)
            return found.returncode == 0 and '"uid": "%s"' % uid_before not in found.stdout and is_ready(cluster.get("pod", "-n", NAMESPACE, pod))

        wait_until("the Redis pod to be back and ready", back, 180, interval=2)
        check.rounds(3)
    summary = check.report().to_dict()
    assert summary["failed_requests"] == 0 and not summary["lost_sessions"] and not summary["regressed_sessions"], summary
    assert summary["total_requests"] == 20 * 6


def test_destroy_removes_the_stack_and_its_volume(stack: Deployed, cluster: Cluster):
    volumes_before = {v["metadata"]["name"] for v in cluster.items("pv")}
    destroy = stack.pulumi("destroy", "--yes")
    assert destroy.returncode == 0, str(destroy)
    wait_until(f"namespace {NAMESPACE} to be gone", lambda: cluster.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0, 180, interval=2)
    wait_until("the Redis volume to be deleted", lambda: not (volumes_before & {v["metadata"]["name"] for v in cluster.items("pv")}), 120, interval=2)
