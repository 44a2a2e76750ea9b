"""The cluster stack's Redis variant: `pulumi up` with sessions in Redis, in sentinel mode (the
default): three pods, each Redis and a Sentinel, one primary.

The same stack file as test_cluster_stack.py with the settings README gives for the redis
backend: wildfly.sessionBackend redis, wildfly.demoApp false, wildfly.image the Spring Session
demo built from apps/spring-session-demo/Dockerfile (which connects through the Sentinels). Each
pod's PVC is bound by the local-path provisioner; requests run through kube-proxy with no
affinity, so every request can land on the other WildFly pod and only Redis keeps the sessions.
The faults: the primary's Redis and its Sentinel killed with SIGKILL through containerd, the
primary stopped (SIGSTOP: a hung process), and a rolling restart of every Redis pod (`kubectl rollout
restart`), each under load.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deployments import NAMESPACE, Deployed, deploy, destroy_every_stack, destroy_if_left
from kube import Cluster, is_ready, node_port, restarts, verify, wait_until
from onenode.images import spring_demo_ref
from pod_logs import kept_logs
from policy_probe import from_pod
from redis_set import (
    HANDOVER,
    REDIS,
    SENTINEL_PORT,
    SETTINGS,
    container_id,
    named_by_sentinels,
    redis_cli,
    redis_pods,
    settled,
    what_happened,
)
from session_load import assert_no_session_lost, failure_window, load_while
from verify.check import SessionCheck

@pytest.fixture(scope="module")
def stack(cluster: Cluster, engine_bin: Path, tmp_path_factory) -> Deployed:
    destroy_every_stack(cluster)
    deployed = deploy(cluster, engine_bin, tmp_path_factory.mktemp("cluster-redis"), SETTINGS)
    yield deployed
    destroy_if_left(cluster, deployed)


def test_up_of_the_redis_variant_binds_the_volumes_and_runs_every_pod(stack: Deployed, cluster: Cluster):
    assert stack.up.returncode == 0, str(stack.up)
    sets = cluster.items("statefulsets", "-n", NAMESPACE)
    assert len(sets) == 1 and sets[0]["spec"]["replicas"] == 3 and sets[0]["status"].get("readyReplicas") == 3
    claims = cluster.items("pvc", "-n", NAMESPACE)
    assert len(claims) == 3 and all(c["status"]["phase"] == "Bound" for c in claims), claims
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


def test_redis_and_the_sentinels_answer_only_with_the_password_and_never_evict(stack: Deployed, cluster: Cluster):
    pod = redis_pods(cluster)[0]
    assert "NOAUTH" in redis_cli(cluster, pod, "ping", authenticated=False)
    assert "NOAUTH" in redis_cli(cluster, pod, "ping", authenticated=False, port=SENTINEL_PORT)
    assert redis_cli(cluster, pod, "ping").strip() == "PONG"
    assert redis_cli(cluster, pod, "config", "get", "maxmemory-policy").split() == ["maxmemory-policy", "noeviction"]
    assert redis_cli(cluster, pod, "config", "get", "appendonly").split() == ["appendonly", "yes"]


def test_redis_and_the_sentinels_admit_only_labelled_clients_of_their_namespace(stack: Deployed, cluster: Cluster):
    """The store's NetworkPolicy, enforced by the node's policy agent: the session clients' label
    opens Redis and the Sentinels; the same pod without it, or one in another namespace, is refused."""
    (clients, _own) = cluster.get("networkpolicy", "-n", NAMESPACE, "sessions")["spec"]["ingress"][0]["from"]
    label = clients["podSelector"]["matchLabels"]
    targets = [f"{p['status']['podIP']}:{port}" for p in cluster.pods(NAMESPACE, REDIS) for port in (6379, SENTINEL_PORT)]
    assert all(from_pod(cluster, NAMESPACE, targets, labels=label, expect_open=True).values())
    assert not any(from_pod(cluster, NAMESPACE, targets).values())
    assert not any(from_pod(cluster, "default", targets, labels=label).values())


def test_sentinel_set_has_one_primary_that_every_sentinel_names_by_its_stable_name(stack: Deployed, cluster: Cluster):
    primary = settled(cluster)
    domain = f"{NAMESPACE}.svc.cluster.local"
    assert named_by_sentinels(cluster) == [f"{primary}.{domain}"] * 3
    # Replicas and Sentinels know each other by the pods' DNS names, never by pod IPs.
    replicas = redis_cli(cluster, primary, "sentinel", "replicas", "sessions", port=SENTINEL_PORT)
    sentinels = redis_cli(cluster, primary, "sentinel", "sentinels", "sessions", port=SENTINEL_PORT)
    others = sorted(set(redis_pods(cluster)) - {primary})
    assert sorted(line.split(":")[0] for line in replicas.split("\n") if line.endswith(f".{domain}:6379")) == [f"{p}.{domain}" for p in others], replicas
    assert sum(line.endswith(f".{domain}") for line in sentinels.split("\n")) == 2, sentinels
    for pod in others:
        role = redis_cli(cluster, pod, "role").split("\n")
        assert role[:3] == ["slave", f"{primary}.{domain}", "6379"] and role[3] == "connected", role
    # The application asks the Sentinels, not the client Service.
    (wildfly, *_) = cluster.pods(NAMESPACE, "app.kubernetes.io/name=wildfly")
    env = {e["name"]: e.get("value") for e in wildfly["spec"]["containers"][0]["env"]}
    assert env["SPRING_DATA_REDIS_SENTINEL_MASTER"] == "sessions"
    assert env["SPRING_DATA_REDIS_SENTINEL_NODES"] == ",".join(f"{p}.{domain}:{SENTINEL_PORT}" for p in redis_pods(cluster))


def test_sentinel_promotes_a_replica_when_the_primary_and_its_sentinel_are_killed(stack: Deployed, cluster: Cluster, tmp_path):
    """SIGKILL through containerd of the primary's Redis and of the Sentinel beside it, under load
    from 50 sessions: the other two Sentinels (the quorum) promote a replica, the application
    follows it, the killed pod rejoins as a replica. Failed requests and the window in which users
    saw them are measured (at most one per session); no session may be lost. A write the primary
    acknowledged but had not yet streamed to a replica is lost (replication is asynchronous): the
    next answer repeats that session's counter, counted here."""
    old = settled(cluster)
    victim = cluster.get("pod", "-n", NAMESPACE, old)
    with node_port(cluster, NAMESPACE, "wildfly") as url:
        check = SessionCheck(url, sessions=50, concurrency=50, min_pods=2, timeout=20)
        check.rounds(2)

        def kill_and_recover() -> str:
            for name in ("redis", "sentinel"):
                cluster.in_node("ctr", "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", container_id(victim, name))
            wait_until("the Sentinels to name another primary",
                       lambda: {n.split(".")[0] for n in named_by_sentinels(cluster)} - {old, ""}, 120, interval=1)
            return settled(cluster)

        new = load_while(check, kill_and_recover)
        check.rounds(2)
    what_happened(cluster, tmp_path / "logs")
    assert new != old
    assert restarts(cluster.get("pod", "-n", NAMESPACE, old)) >= 2
    facts = assert_no_session_lost(check.report(), allow_failed=check.sessions, allow_lost_last_write=True)
    failed, window = failure_window(check)
    slowest = check.report().to_dict()["latency_ms"]["max"]
    print(f"sentinel failover after SIGKILL of {old}: primary now {new}; {failed} of {facts['total_requests']} requests failed "
          f"within {window:.1f} s, the slowest answer took {slowest:.0f} ms; {facts['last_write_lost']} sessions repeated their last counter")


def test_sentinel_promotes_a_replica_when_the_primary_hangs(stack: Deployed, cluster: Cluster, tmp_path):
    """The primary's Redis stopped (SIGSTOP through containerd: a hung process, its connections
    open but silent) under load from 50 sessions: the Sentinels find it down after
    down-after-milliseconds (5 s), agree (quorum 2) and promote a replica; the application's
    commands to the stopped primary time out (5 s). Continued right after the promotion (the worst
    moment), the old primary still holds its clients' connections and believes it is the primary
    until a Sentinel turns it into a replica (its next look, up to ~10 s): meanwhile it refuses
    their writes, as it has no replica any more (min-replicas-to-write 1: without it those writes
    would be taken and then discarded, lost sessions). So users see errors for a bounded time, and
    nothing is lost or goes back."""
    old = settled(cluster)
    task = container_id(cluster.get("pod", "-n", NAMESPACE, old), "redis")
    with node_port(cluster, NAMESPACE, "wildfly") as url:
        check = SessionCheck(url, sessions=50, concurrency=50, min_pods=2, timeout=20)
        check.rounds(2)

        def freeze_until_promoted() -> str:
            # SIGSTOP, not `ctr tasks pause`: a cgroup freeze also freezes every probe the kubelet
            # execs into the container, and a fresh-clone CI run saw containerd's shim stuck on
            # one, `kubectl exec` and the resume timing out.
            cluster.in_node("ctr", "-n", "k8s.io", "tasks", "kill", "--signal", "SIGSTOP", task)
            try:
                wait_until("the Sentinels to promote a replica of the stopped primary",
                           lambda: {n.split(".")[0] for n in named_by_sentinels(cluster)} - {old, ""}, 120, interval=1)
            finally:
                cluster.in_node("ctr", "-n", "k8s.io", "tasks", "kill", "--signal", "SIGCONT", task)
            return settled(cluster)

        new = load_while(check, freeze_until_promoted)
        check.rounds(2)
    what_happened(cluster, tmp_path / "logs")
    assert new != old
    assert redis_cli(cluster, old, "role").split("\n")[0] == "slave"
    facts = assert_no_session_lost(check.report(), allow_failed=check.report().to_dict()["total_requests"])
    failed, window = failure_window(check)
    # down-after (5 s) + a command timeout (5 s) + the Sentinels' next look at the thawed primary (10 s)
    assert window <= 30, f"users saw errors for {window:.1f} s"
    slowest = check.report().to_dict()["latency_ms"]["max"]
    print(f"sentinel failover of a stopped primary {old}: primary now {new}; {failed} of {facts['total_requests']} requests failed "
          f"within {window:.1f} s, the slowest answer took {slowest:.0f} ms")


def test_sentinel_rolling_restart_of_every_redis_pod_under_load_loses_nothing(stack: Deployed, cluster: Cluster, tmp_path):
    """`kubectl rollout restart` of the StatefulSet under load from 50 sessions: each pod leaves in
    turn (highest ordinal first); the primary's pre-stop hook hands its role to a replica before
    Redis stops, the new pod rejoins as a replica. Nothing is lost and no counter goes back. A few
    requests may fail: the promoted replica refuses writes (NOREPLICAS, min-replicas-to-write 1)
    until the other replica follows it, a moment measured at 0 and 1 failed requests in ~2,300."""
    settled(cluster)
    uids = {p["metadata"]["uid"] for p in cluster.pods(NAMESPACE, REDIS)}
    with node_port(cluster, NAMESPACE, "wildfly") as url:
        check = SessionCheck(url, sessions=50, concurrency=50, min_pods=2, timeout=20)
        check.rounds(2)

        def restart_every_pod() -> str:
            cluster.kubectl("rollout", "restart", "statefulset/sessions", "-n", NAMESPACE)
            cluster.kubectl("rollout", "status", "statefulset/sessions", "-n", NAMESPACE, "--timeout=600s", timeout=660)
            return settled(cluster)

        with kept_logs(cluster, NAMESPACE, REDIS, tmp_path / "redis-logs") as logs:  # the pods that leave
            load_while(check, restart_every_pod)
        check.rounds(2)
    handovers = logs.lines(HANDOVER)
    print(f"the replaced Redis pods' logs in {logs.directory}:", *(line for lines in handovers.values() for line in lines), sep="\n  ")
    what_happened(cluster, tmp_path / "logs")
    assert not uids & {p["metadata"]["uid"] for p in cluster.pods(NAMESPACE, REDIS)}, "the rollout replaced no pod"
    failed, window = failure_window(check)
    facts = assert_no_session_lost(check.report(), allow_failed=10)
    slowest = check.report().to_dict()["latency_ms"]["max"]
    print(f"sentinel rolling restart: {failed} of {facts['total_requests']} requests failed within {window:.1f} s, "
          f"the slowest answer took {slowest:.0f} ms")


def test_destroy_removes_the_stack_and_its_volumes(stack: Deployed, cluster: Cluster):
    volumes_before = {v["metadata"]["name"] for v in cluster.items("pv")}
    destroy = stack.pulumi("destroy", "--yes")
    assert destroy.returncode == 0, str(destroy)
    wait_until(f"namespace {NAMESPACE} to be gone", lambda: cluster.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0, 180, interval=2)
    wait_until("the Redis volumes to be deleted", lambda: not (volumes_before & {v["metadata"]["name"] for v in cluster.items("pv")}), 120, interval=2)
