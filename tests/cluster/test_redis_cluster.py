"""The cluster stack's Redis variant in cluster mode (`redis.mode cluster`): a Redis Cluster of
three primaries, each with a replica, formed by the component's bootstrap Job, and the Spring
Session demo connected with Lettuce's cluster client.

The same stack file and settings as test_redis_stack.py plus `redis.mode cluster`; requests run
through kube-proxy with no affinity, so only Redis keeps the sessions. Shown here: the sessions
spread over every primary; a plain client that does not follow redirects gets MOVED naming the
node by its host name (the negative control); a slot moved between primaries under load (the
client follows ASK, then MOVED); a primary stopped (hung) and one killed with SIGKILL; a rolling
restart of every node, each under load, and nothing lost.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from deployments import NAMESPACE, Deployed, deploy, destroy_every_stack, destroy_if_left
from kube import Cluster, node_port, restarts, verify, wait_until
from pod_logs import kept_logs
from redis_cluster_set import DOMAIN, PODS, nodes, session_keys, settled, slot_owner
from redis_set import REDIS, SETTINGS, container_id, redis_cli, redis_pods, what_happened
from session_load import assert_no_session_lost, failure_window, load_while
from verify.check import SessionCheck

CLUSTER_SETTINGS = {**SETTINGS, "redis.mode": "cluster"}


@pytest.fixture(scope="module")
def stack(cluster: Cluster, engine_bin: Path, tmp_path_factory) -> Deployed:
    destroy_every_stack(cluster)
    deployed = deploy(cluster, engine_bin, tmp_path_factory.mktemp("cluster-redis-cluster"), CLUSTER_SETTINGS)
    yield deployed
    destroy_if_left(cluster, deployed)


def _load(url: str) -> SessionCheck:
    check = SessionCheck(url, sessions=50, concurrency=50, min_pods=2, timeout=20)
    check.rounds(2)
    return check


def _report(what: str, check: SessionCheck, facts: dict) -> None:
    failed, window = failure_window(check)
    slowest = check.report().to_dict()["latency_ms"]["max"]
    print(f"redis cluster, {what}: {failed} of {facts['total_requests']} requests failed within {window:.1f} s, the slowest answer took {slowest:.0f} ms")


def test_cluster_up_forms_three_primaries_each_with_a_replica_announced_by_host_name(stack: Deployed, cluster: Cluster):
    assert stack.up.returncode == 0, str(stack.up)
    (job,) = cluster.items("jobs", "-n", NAMESPACE)
    assert job["status"].get("succeeded") == 1, job["status"]
    pairs = settled(cluster)
    assert len(pairs) == 3 and len(set(pairs) | set(pairs.values())) == PODS
    info = redis_cli(cluster, redis_pods(cluster)[0], "cluster", "info")
    assert "cluster_state:ok" in info and "cluster_slots_assigned:16384" in info and "cluster_size:3" in info, info
    # Every node is known by its pod's own Service: the name clients are sent to, and its ClusterIP.
    services = {s["metadata"]["name"]: s["spec"]["clusterIP"] for s in cluster.items("services", "-n", NAMESPACE)}
    for node in nodes(cluster, redis_pods(cluster)[0]):
        assert node.host == f"{node.pod}.{DOMAIN}"
    view = redis_cli(cluster, redis_pods(cluster)[0], "cluster", "nodes")
    for pod in redis_pods(cluster):
        assert f"{services[pod]}:6379@16379,{pod}.{DOMAIN}" in view, view
    (wildfly, *_) = cluster.pods(NAMESPACE, "app.kubernetes.io/name=wildfly")
    env = {e["name"]: e.get("value") for e in wildfly["spec"]["containers"][0]["env"]}
    assert env["SPRING_DATA_REDIS_CLUSTER_NODES"] == ",".join(f"{p}.{DOMAIN}:6379" for p in redis_pods(cluster))


def test_cluster_second_up_reports_no_changes_and_the_bootstrap_finds_the_cluster_formed(stack: Deployed, cluster: Cluster):
    step = stack.pulumi("up", "--yes", "--expect-no-changes")
    assert step.returncode == 0, str(step)
    # The Job run again (as a replacement would) leaves a formed cluster alone.
    (job,) = cluster.items("jobs", "-n", NAMESPACE)
    template = job["spec"]["template"]
    rerun = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "bootstrap-again", "namespace": NAMESPACE},
             "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": {k: v for k, v in template["metadata"]["labels"].items()
                                                                             if k.startswith("app.kubernetes.io/")}},
                                                     "spec": template["spec"]}}}
    cluster.apply(rerun)
    try:
        wait_until("the second bootstrap to finish", lambda: cluster.get("job", "-n", NAMESPACE, "bootstrap-again")["status"].get("succeeded"), 120)
        log = cluster.kubectl("logs", "-n", NAMESPACE, "job/bootstrap-again").stdout
        assert "formed already" in log and "forming" not in log, log
    finally:
        cluster.kubectl("delete", "job", "-n", NAMESPACE, "bootstrap-again", "--wait=false", check=False)


def test_cluster_sessions_spread_over_every_primary_and_survive_round_robin(stack: Deployed, cluster: Cluster):
    with node_port(cluster, NAMESPACE, "wildfly") as url:
        verify(url, sessions=50)
    pairs = settled(cluster)
    held = {primary: len(session_keys(cluster, primary)) for primary in pairs}
    print("session keys per primary:", held)
    assert all(count > 0 for count in held.values()), held
    # Replicas hold copies, never a slot of their own.
    assert all(not n.slots for n in nodes(cluster, redis_pods(cluster)[0]) if not n.is_primary)


def test_cluster_client_that_ignores_redirects_gets_moved_to_a_host_name(stack: Deployed, cluster: Cluster):
    """The negative control: redis-cli without -c asked a primary for a session that another
    primary holds answers MOVED, naming that node by its Service's host name; with -c it follows."""
    pairs = settled(cluster)
    holder, other = sorted(pairs)[:2]
    key = session_keys(cluster, holder)[0]
    answer = redis_cli(cluster, other, "hlen", key)
    match = re.search(r"MOVED (\d+) (\S+):6379", answer)
    assert match and match.group(2) == f"{holder}.{DOMAIN}", answer
    assert int(redis_cli(cluster, other, "-c", "hlen", key).strip()) > 0


def test_cluster_slot_migration_under_load_the_client_follows_ask_then_moved(stack: Deployed, cluster: Cluster):
    """Slots that hold sessions in use move from one primary to another while 50 users keep working
    (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE key by key, SETSLOT NODE). While a slot migrates,
    the source answers ASK for a key it has already handed over: the target counts the ASKING the
    client sends before following it. After SETSLOT NODE the source answers MOVED. No request may
    fail and nothing may be lost."""
    pairs = settled(cluster)
    source, target = sorted(pairs)[:2]
    with node_port(cluster, NAMESPACE, "wildfly") as url:
        check = _load(url)
        ids = {n.pod: n.id for n in nodes(cluster, source)}
        asking_before = _asking(cluster, target)

        def migrate() -> list[int]:
            # Slots with a session in use now (idle under 2 s; earlier tests left sessions nobody uses).
            by_slot: dict[int, list[str]] = {}
            for key in session_keys(cluster, source):
                if int(redis_cli(cluster, source, "object", "idletime", key).strip() or 99) <= 2:
                    by_slot.setdefault(int(redis_cli(cluster, source, "cluster", "keyslot", key).strip()), []).append(key)
            moved = sorted(by_slot)[:4]
            assert moved, f"no session in use on {source}"
            for slot in moved:
                assert redis_cli(cluster, target, "cluster", "setslot", str(slot), "importing", ids[source]).strip() == "OK"
                assert redis_cli(cluster, source, "cluster", "setslot", str(slot), "migrating", ids[target]).strip() == "OK"
                for key in by_slot[slot]:
                    answer = redis_cli(cluster, source, "migrate", f"{target}.{DOMAIN}", "6379", '""', "0", "5000",
                                       "auth", '"$REDIS_PASSWORD"', "keys", key).strip()
                    assert answer in ("OK", "NOKEY"), answer
                time.sleep(3)  # the users keep asking the source for the moved keys: ASK
                for pod in (target, source, *sorted(set(pairs) - {source, target})):
                    assert redis_cli(cluster, pod, "cluster", "setslot", str(slot), "node", ids[target]).strip() == "OK"
            time.sleep(3)  # and now MOVED
            return moved

        moved = load_while(check, migrate)
        check.rounds(2)
    asked = _asking(cluster, target) - asking_before
    facts = assert_no_session_lost(check.report())
    _report(f"{len(moved)} slots moved from {source} to {target}", check, facts)
    print(f"ASKING commands the target received: {asked}")
    assert asked > 0, "no client followed an ASK redirect"
    for slot in moved:
        assert slot_owner(cluster, source, slot) == target and slot_owner(cluster, target, slot) == target
    key = next(k for k in session_keys(cluster, target) if int(redis_cli(cluster, target, "cluster", "keyslot", k).strip()) in moved)
    assert re.search(rf"MOVED \d+ {target}\.{re.escape(DOMAIN)}:6379", redis_cli(cluster, source, "hlen", key))


def _asking(cluster: Cluster, pod: str) -> int:
    stats = redis_cli(cluster, pod, "info", "commandstats")
    match = re.search(r"cmdstat_asking:calls=(\d+)", stats)
    return int(match.group(1)) if match else 0


def test_cluster_replica_takes_over_when_a_primary_hangs(stack: Deployed, cluster: Cluster, tmp_path):
    """A primary's Redis stopped (SIGSTOP through containerd) under load from 50 sessions: after
    cluster-node-timeout (5 s) the other primaries flag it failed and its replica is elected in its
    place; the client refreshes its view (adaptive triggers, 5 s period) and follows. Continued,
    the old primary learns it was replaced and becomes the new primary's replica. No session lost."""
    pairs = settled(cluster)
    old = sorted(pairs)[-1]
    replica = pairs[old]
    task = container_id(cluster.get("pod", "-n", NAMESPACE, old), "redis")
    with node_port(cluster, NAMESPACE, "wildfly") as url:
        check = _load(url)

        def hang_until_replaced() -> None:
            cluster.in_node("ctr", "-n", "k8s.io", "tasks", "kill", "--signal", "SIGSTOP", task)
            try:
                wait_until(f"{replica} to take over from the stopped {old}",
                           lambda: any(n.pod == replica and n.is_primary and n.slots for n in nodes(cluster, replica)), 120, interval=1)
            finally:
                cluster.in_node("ctr", "-n", "k8s.io", "tasks", "kill", "--signal", "SIGCONT", task)

        load_while(check, hang_until_replaced)
        after = settled(cluster)
        check.rounds(2)
    what_happened(cluster, tmp_path / "logs")
    assert after.get(replica) == old, after
    facts = assert_no_session_lost(check.report(), allow_failed=check.report().to_dict()["total_requests"])
    failed, window = failure_window(check)
    _report(f"{old} hung, {replica} took over", check, facts)
    # node timeout (5 s) + election (~1 s) + the client's refresh (5 s) + a command timeout (5 s)
    assert window <= 30, f"users saw errors for {window:.1f} s"


def test_cluster_primary_killed_with_sigkill_loses_no_session(stack: Deployed, cluster: Cluster, tmp_path):
    """SIGKILL through containerd of a primary's Redis under load from 50 sessions. The kubelet
    starts it again at once; it loads its append-only file (the kernel kept every write Redis had
    made, fsynced or not) and, back within cluster-node-timeout, stays the primary; else its replica
    takes over and it rejoins as its replica. Either way no session may be lost; the requests of
    the sessions on that shard fail until it serves again (measured: failed requests, window)."""
    pairs = settled(cluster)
    old = sorted(pairs)[0]
    pod = cluster.get("pod", "-n", NAMESPACE, old)
    with node_port(cluster, NAMESPACE, "wildfly") as url:
        check = _load(url)

        def kill() -> dict[str, str]:
            cluster.in_node("ctr", "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", container_id(pod, "redis"))
            wait_until(f"{old}'s Redis to restart", lambda: restarts(cluster.get("pod", "-n", NAMESPACE, old)) >= 1, 60)
            return settled(cluster)

        after = load_while(check, kill)
        check.rounds(2)
    what_happened(cluster, tmp_path / "logs")
    facts = assert_no_session_lost(check.report(), allow_failed=check.report().to_dict()["total_requests"])
    outcome = "stayed the primary" if old in after else f"was replaced by {pairs[old]}"
    _report(f"{old} killed with SIGKILL ({outcome})", check, facts)
    # Users whose sessions live on that shard see errors until it serves again: the restart, or
    # node timeout (5 s) + election + the client's refresh (5 s) when its replica takes over.
    failed, window = failure_window(check)
    assert window <= 30, f"users saw errors for {window:.1f} s"


def test_cluster_replica_takes_over_from_a_primary_that_crashes_again_while_restarting(stack: Deployed, cluster: Cluster, tmp_path):
    """SIGKILL of a primary's Redis, and again as soon as the kubelet has restarted it: the kubelet
    now waits (crash-loop back-off, 10 s) longer than cluster-node-timeout (5 s), so the replica is
    elected in its place, and the node, back at last, rejoins as its replica. Under load from 50
    sessions: no session lost; the failed requests and their window measured."""
    pairs = settled(cluster)
    old = sorted(pairs)[1]
    replica = pairs[old]
    with node_port(cluster, NAMESPACE, "wildfly") as url:
        check = _load(url)

        def crash_twice() -> dict[str, str]:
            for round in (1, 2):
                pod = cluster.get("pod", "-n", NAMESPACE, old)
                before = restarts(pod)
                cluster.in_node("ctr", "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", container_id(pod, "redis"))
                if round == 1:
                    wait_until(f"{old}'s Redis to run again", lambda: (p := cluster.get("pod", "-n", NAMESPACE, old)) and restarts(p) > before
                               and "running" in p["status"]["containerStatuses"][0]["state"], 60, interval=0.2)
            wait_until(f"{replica} to take over from {old}",
                       lambda: any(n.pod == replica and n.is_primary and n.slots for n in nodes(cluster, replica)), 120, interval=1)
            return settled(cluster)

        after = load_while(check, crash_twice)
        check.rounds(2)
    what_happened(cluster, tmp_path / "logs")
    assert after.get(replica) == old, after
    facts = assert_no_session_lost(check.report(), allow_failed=check.report().to_dict()["total_requests"])
    _report(f"{old} killed twice, {replica} took over", check, facts)
    failed, window = failure_window(check)
    # node timeout (5 s) + election (~1 s) + the client's refresh (5 s) + a command timeout (5 s)
    assert window <= 30, f"users saw errors for {window:.1f} s"


def test_cluster_rolling_restart_of_every_node_under_load_loses_nothing(stack: Deployed, cluster: Cluster, tmp_path):
    """`kubectl rollout restart` of the StatefulSet under load from 50 sessions: each pod leaves in
    turn (highest ordinal first, the next only once the new one is ready: a replica in sync); a
    leaving primary's pre-stop hook hands its slots to its replica (CLUSTER FAILOVER: the replica
    catches up first), clients follow MOVED, and the old primary stops only once they have moved
    on. Nothing lost, no counter back, no request failed."""
    settled(cluster)
    uids = {p["metadata"]["uid"] for p in cluster.pods(NAMESPACE, REDIS)}
    with node_port(cluster, NAMESPACE, "wildfly") as url:
        check = _load(url)

        def restart_every_pod() -> dict[str, str]:
            cluster.kubectl("rollout", "restart", "statefulset/sessions", "-n", NAMESPACE)
            cluster.kubectl("rollout", "status", "statefulset/sessions", "-n", NAMESPACE, "--timeout=900s", timeout=960)
            return settled(cluster)

        with kept_logs(cluster, NAMESPACE, REDIS, tmp_path / "redis-logs") as logs:
            load_while(check, restart_every_pod)
        check.rounds(2)
    handovers = logs.lines(re.compile(r".*sessionstack: .*"))
    print(f"the replaced Redis pods' logs in {logs.directory}:", *(line for lines in handovers.values() for line in lines), sep="\n  ")
    what_happened(cluster, tmp_path / "logs")
    assert not uids & {p["metadata"]["uid"] for p in cluster.pods(NAMESPACE, REDIS)}, "the rollout replaced no pod"
    summary = check.report().to_dict()
    facts = assert_no_session_lost(check.report(), allow_failed=summary["total_requests"])
    _report("rolling restart", check, facts)
    handed = [pod for pod, lines in handovers.items() if any("handed over to" in line for line in lines)]
    assert len(handed) >= 3, handovers
    assert all(any("clients moved on" in line for line in handovers[pod]) for pod in handed), handovers
    # Before the hook waited for its clients: 2 to 22 failed requests per rollout (Connection reset).
    assert facts["failed_requests"] == 0, summary["errors"]


def test_cluster_destroy_removes_the_stack_and_its_volumes(stack: Deployed, cluster: Cluster):
    volumes_before = {v["metadata"]["name"] for v in cluster.items("pv")}
    destroy = stack.pulumi("destroy", "--yes")
    assert destroy.returncode == 0, str(destroy)
    wait_until(f"namespace {NAMESPACE} to be gone", lambda: cluster.kubectl("get", "namespace", NAMESPACE, check=False).returncode != 0, 180, interval=2)
    wait_until("the Redis volumes to be deleted", lambda: not (volumes_before & {v["metadata"]["name"] for v in cluster.items("pv")}), 120, interval=2)
