"""Negative control: the rendered pod template with one change, JGroups left on 0.0.0.0.

This is the failure of the field report (000): KUBE_PING finds every pod, but the transport
advertises 0.0.0.0:7600, which is no address a peer can reach, so each pod becomes the
coordinator of a cluster of one, and a session's counter starts over whenever the next
request lands on another pod. The harness is the same as for the working cluster; if these
assertions held there too, the positive tests would prove nothing.
"""

from __future__ import annotations

import time

import pytest

from sessionstack import wildfly_config as wc
from harness import ClusterHarness, SessionClient

REPLICAS = 3


def _private_on_wildcard(args: list[str]) -> list[str]:
    changed = [("-bprivate=0.0.0.0" if a.startswith("-bprivate=") else a) for a in args]
    assert changed != args, f"no -bprivate in the rendered args {args}"
    return changed


@pytest.fixture(scope="module")
def broken_cluster(realserver_prereqs, wildfly_template):
    harness = ClusterHarness(wildfly_template, arg_filter=_private_on_wildcard)
    try:
        pods = harness.start_pods(REPLICAS)
        harness.wait_ready(pods, timeout=300)
        yield harness
    finally:
        harness.close()


def test_wildcard_bind_discovers_peers_but_forms_singleton_clusters(broken_cluster, figure):
    pods = broken_cluster.live_pods
    all_ips = sorted(p.ip for p in pods)
    # Give discovery and MERGE3 time to join what they can (a real cluster forms in seconds).
    time.sleep(15)
    for pod in pods:
        assert "-bprivate=0.0.0.0" in pod.argv
        log = pod.log_text()
        assert f"via /0.0.0.0:{wc.JGROUPS_PORT}" in log, pod.tail()
        # Discovery works: the pod list named every pod...
        assert any(sorted(r.pod_ips) == all_ips for r in broken_cluster.kubeapi.requests_from(pod.ip))
        # ...yet the pod is alone in its view.
        assert pod.view() == [pod.node_name], (pod.name, pod.view())
    figure("negative control: pods / views of size 1", f"{len(pods)} / {sum(p.view() == [p.node_name] for p in pods)}")


def test_wildcard_bind_resets_counters_when_the_pod_changes(broken_cluster, figure):
    pods = broken_cluster.live_pods
    client = SessionClient("broken")
    counters, sessions = [], set()
    for i in range(2 * REPLICAS):
        r = client.get(pods[i % REPLICAS].ip, wc.HTTP_PORT, wc.DEMO_CONTEXT_PATH)
        assert r.status == 200
        counters.append(r.counter)
        sessions.add(r.session)
    # Every change of pod starts the counter over: the session never reached the other pods.
    assert counters[:REPLICAS] == [1] * REPLICAS, counters
    assert counters != list(range(1, 2 * REPLICAS + 1))
    figure("negative control: counters, round robin over 3 pods", counters)
