"""The routing path on the real cluster: static paths to Apache, everything else to WildFly with
the affinity cookie, and the affinity of a pod that dies moving to a live pod.

Envoy, the data plane of the stack's Gateway, cannot run here (C++, no registry: README). The
router is nginx instead (Debian 12's, image sessionstack.local/router; tests/cluster/router.py),
with the rules every routing implementation of the stack follows (`sessionstack.routing_rules`:
the ingress-nginx variant's behaviour with stock directives) and its backends fed from the real
EndpointSlices of the stack's Services, as an ingress controller feeds its own. It runs in the routing controller's namespace, the one the stack's
NetworkPolicies admit, so the policies are in the path too. What this does not prove: Envoy's
own reading of the HTTPRoute (its `sessionPersistence` cookie) on a data plane.

The stack is the `cluster_stack` of test_cluster_stack.py, still deployed.
"""

from __future__ import annotations

import time

import pytest

from deployments import NAMESPACE, WILDFLY, Deployed, router_namespace
from kube import Cluster, node_port, wait_until
from pod_logs import LOCK_HELD, kept_logs
from router import Router, ready_endpoints
from sessionstack import apache_config
from sessionstack.routing_rules import RoutingRules
from session_client import SessionClient
from session_load import assert_only_lock_timeouts, load_while
from verify.check import SessionCheck


@pytest.fixture(scope="module")
def routed(cluster_stack: Deployed, cluster: Cluster):
    """(router, host, port): the router serving the stack, reached from the host by NodePort."""
    assert cluster_stack.up.returncode == 0, str(cluster_stack.up)
    (route,) = cluster.items("httproutes.gateway.networking.k8s.io", "-n", NAMESPACE)
    (persistence,) = [r["sessionPersistence"] for r in route["spec"]["rules"] if "sessionPersistence" in r]
    rules = RoutingRules.for_cookie(persistence["sessionName"])
    router = Router(cluster, router_namespace(cluster), rules)
    router.start()
    try:
        with node_port(cluster, router.namespace, "router") as url:
            host, port = url.removeprefix("http://").split(":")
            yield router, host, int(port)
    finally:
        router.stop()


def test_static_paths_reach_apache_and_the_rest_wildfly_with_affinity(routed):
    router, host, port = routed
    static = {rel: body for rel, body in apache_config.STATIC_SITE_FILES.items() if router.rules.is_static("/" + rel)}
    assert static
    for rel, body in static.items():
        r = SessionClient().get(host, port, "/" + rel)
        assert r.status == 200 and r.body.decode() == body, rel
        assert "X-Sessionstack-Pod" not in r.headers and router.rules.session_cookie not in r.headers.get("Set-Cookie", "")
        # Apache's caching headers from the rendered httpd.conf, per file type.
        max_age = apache_config.STATIC_TYPES[rel.rsplit(".", 1)[1]][1]
        assert f"max-age={max_age}" in r.headers.get("Cache-Control", "") and "Expires" in r.headers, (rel, r.headers)
    clients = [SessionClient(f"user{i}") for i in range(16)]
    pods = {}
    for c in clients:
        for n in range(1, 5):
            r = c.get(host, port, "/session-demo/")
            assert r.status == 200 and r.counter == n, (c.name, r.status, r.counter)
            assert pods.setdefault(c.name, r.pod) == r.pod, f"{c.name}: affinity broke while every pod was up"
        assert router.rules.session_cookie in c.cookies and "JSESSIONID" in c.cookies
    assert len(set(pods.values())) == 2, f"new sessions all went to {set(pods.values())}"


def test_a_dead_pods_affinity_moves_to_a_live_pod_and_its_sessions_go_on(routed, cluster: Cluster):
    """The pod that half of the users are pinned to is deleted: its endpoint leaves the
    EndpointSlice, the router drops it (the controller's job, done here by `sync`) and sends those
    users to the other pod (the consistent hash ring), where their sessions go on (replicated) and
    where they stay; the others never move until the ReplicaSet's new pod joins; once it has,
    every session still goes on. (A router that kept sending to the terminating pod would get
    WildFly's 404 once the application is undeployed during shutdown: a first CI run of this test,
    without the EndpointSlice following, did.)"""
    router, host, port = routed
    clients = [SessionClient(f"mover{i}") for i in range(16)]
    pods = {}
    for c in clients:
        for _ in range(2):
            r = c.get(host, port, "/session-demo/")
            assert r.status == 200 and r.counter is not None
            c.last_counter = r.counter
        pods[c.name] = r.pod
    victim = pods[clients[0].name]
    pinned = {c.name for c in clients if pods[c.name] == victim}
    cluster.kubectl("delete", "pod", "-n", NAMESPACE, victim, "--wait=false")

    def victim_gone() -> bool:
        return cluster.kubectl("get", "pod", "-n", NAMESPACE, victim, check=False).returncode != 0

    moved: dict[str, str] = {}
    grown = False  # the replacement pod joined the router: affinity may rebalance from then on
    deadline = time.monotonic() + 120
    while not (victim_gone() and len(moved) == len(pinned)):
        assert time.monotonic() < deadline, f"after 120 s: victim gone {victim_gone()}, moved {moved}, pinned {pinned}"
        # What the router's controller does: follow the EndpointSlices (the terminating pod leaves
        # them at once, well inside its preStop delay).
        if ready_endpoints(cluster, "wildfly") != router.backends[1]:
            grown = grown or len(router.sync()[1]) > 1
        for c in clients:
            r = c.get(host, port, "/session-demo/")
            assert r.status == 200 and r.counter is not None, (c.name, r.status)
            assert r.counter == c.last_counter + 1, f"{c.name}: counter went from {c.last_counter} to {r.counter}"
            c.last_counter = r.counter
            if c.name in pinned and r.pod != victim and not grown:
                assert moved.setdefault(c.name, r.pod) == r.pod, f"{c.name} did not stay on its new pod"
            elif c.name in pinned and r.pod != victim:
                moved.setdefault(c.name, r.pod)
            elif not grown:
                assert r.pod == pods[c.name], f"{c.name} left a live pod"
        time.sleep(0.5)
    assert victim not in moved.values()
    wait_until("a ready replacement WildFly pod", lambda: len(ready_endpoints(cluster, "wildfly")) == 2, 300, interval=2)
    _, wildfly = router.sync()
    assert len(wildfly) == 2
    for c in clients:
        r = c.get(host, port, "/session-demo/")
        assert r.status == 200 and r.counter == c.last_counter + 1, (c.name, r.counter, c.last_counter)


def test_a_rolling_restart_through_the_router_loses_no_session(routed, cluster: Cluster, tmp_path):
    """A rolling update on the production path: `kubectl rollout restart` while 80 users go through
    the router (cookie affinity: each user pinned to a pod, moved to a live pod when its pod leaves)
    and the router follows the EndpointSlices. No session lost, no counter back; judged as the
    rollout through kube-proxy is (test_cluster_stack_sessions.py): affinity does not avoid issue
    10's race. Of this test's first three runs, two had no failed request; in the third the pod
    that joined last kept stale copies of two transactions of the pod those users were pinned to
    ("(pending)" in ISPN000299): 3 requests of 2 sessions failed on the lock wait, and one commit
    was refused after its answer (ISPN000482: a repeated counter)."""
    router, host, port = routed
    cluster.settled_pods(NAMESPACE, WILDFLY, 2)
    router.sync()
    before = {p["metadata"]["name"] for p in cluster.live_pods(NAMESPACE, WILDFLY)}
    check = SessionCheck(f"http://{host}:{port}", sessions=80, concurrency=80, min_pods=2, timeout=20)
    check.rounds(2)

    def restart() -> None:
        cluster.kubectl("rollout", "restart", "deployment/wildfly", "-n", NAMESPACE)
        cluster.kubectl("rollout", "status", "deployment/wildfly", "-n", NAMESPACE, "--timeout=600s", timeout=660)

    reloaded_from = len(router.reloads)
    with router.following(), kept_logs(cluster, NAMESPACE, WILDFLY, tmp_path / "wildfly-logs") as logs:
        load_while(check, restart, pause=0.5)
    print(logs.session_errors())
    print("the router's backends, reload by reload:", [(round(t - check.t0, 1), b) for t, b in router.reloads[reloaded_from:]])
    assert not before & {p["metadata"]["name"] for p in cluster.live_pods(NAMESPACE, WILDFLY)}, "the rollout replaced no pod"
    summary = check.report().to_dict()
    print({k: summary[k] for k in ("total_requests", "failed_requests", "pods")})
    assert_only_lock_timeouts(summary, bool(logs.lines(LOCK_HELD)))
