"""The routing path on the real cluster: static paths to Apache, everything else to WildFly with
the affinity cookie, and the affinity of a pod that dies moving to a live pod.

Envoy, the data plane of the stack's Gateway, cannot run here (C++, no registry: README). The
router is nginx instead (Debian 12's, image sessionstack.local/router), with the rules every
routing implementation of the stack follows (`sessionstack.routing_rules`, rendered by the
real-server tier's `nginx_conf`: the ingress-nginx variant's behaviour with stock directives) and
its backends fed from the real EndpointSlices of the stack's Services, as an ingress controller
feeds its own. It runs in the routing controller's namespace, the one the stack's
NetworkPolicies admit, so the policies are in the path too. What this does not prove: Envoy's
own reading of the HTTPRoute (its `sessionPersistence` cookie) on a data plane.

The stack is the `cluster_stack` of test_cluster_stack.py, still deployed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from deployments import NAMESPACE, Deployed
from kube import Cluster, node_port, wait_until
from sessionstack import apache_config
from sessionstack.routing_rules import RoutingRules
from tests.realservers.harness.client import SessionClient
from tests.realservers.harness.front import nginx_conf

ROUTER_IMAGE = "sessionstack.local/router:1"
ROUTER_PORT = 8080
RUN_DIR = "/run/router"
NGINX = ["nginx", "-c", f"{RUN_DIR}/nginx.conf", "-p", RUN_DIR, "-e", f"{RUN_DIR}/error.log"]


def ready_endpoints(cluster: Cluster, service: str) -> list[str]:
    """``ip:port`` of every ready, not terminating endpoint of ``service`` (its EndpointSlices)."""
    found = []
    for eps in cluster.items("endpointslices", "-n", NAMESPACE, "-l", f"kubernetes.io/service-name={service}"):
        port = eps["ports"][0]["port"]
        for endpoint in eps.get("endpoints") or []:
            conditions = endpoint.get("conditions", {})
            if conditions.get("ready") and not conditions.get("terminating"):
                found += [f"{address}:{port}" for address in endpoint["addresses"]]
    return sorted(found)


class Router:
    """nginx in a pod of the router's namespace; ``sync`` is what its controller would do."""

    def __init__(self, cluster: Cluster, namespace: str, rules: RoutingRules) -> None:
        self.cluster, self.namespace, self.rules = cluster, namespace, rules
        self.backends: tuple[list[str], list[str]] = ([], [])

    def start(self) -> None:
        labels = {"app.kubernetes.io/name": "sessionstack-test-router"}
        # nginx starts once the first configuration is in place (the first sync says so).
        wait_conf = f"until [ -e {RUN_DIR}/started ]; do sleep 0.2; done; exec {' '.join(NGINX)}"
        self.cluster.apply([
            {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "router", "namespace": self.namespace, "labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "nginx", "image": ROUTER_IMAGE, "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", wait_conf],
                        "ports": [{"name": "http", "containerPort": ROUTER_PORT}],
                        "volumeMounts": [{"name": "run", "mountPath": RUN_DIR}],
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
                                            "readOnlyRootFilesystem": True},
                    }],
                    "volumes": [{"name": "run", "emptyDir": {}}],
                },
            },
            {
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": "router", "namespace": self.namespace},
                "spec": {"selector": labels, "ports": [{"port": ROUTER_PORT, "targetPort": "http"}]},
            },
        ])
        wait_until("the router pod to run", lambda: self.cluster.get("pod", "-n", self.namespace, "router")["status"].get("phase") == "Running", 120)
        self.sync()

    def sync(self) -> tuple[list[str], list[str]]:
        """Renders nginx.conf from the EndpointSlices of Apache and WildFly, checks and (re)loads it."""
        apache, wildfly = ready_endpoints(self.cluster, "apache"), ready_endpoints(self.cluster, "wildfly")
        assert apache and wildfly, (apache, wildfly)
        conf = nginx_conf(self.rules, listen=f"0.0.0.0:{ROUTER_PORT}", apache=apache[0], wildfly=wildfly, prefix=Path(RUN_DIR))
        # One Apache backend is enough for the rules (any pod serves any file): the first ready one.
        script = (f"cat > {RUN_DIR}/next.conf && {' '.join(NGINX).replace('nginx.conf', 'next.conf')} -t -q"
                  f" && mv {RUN_DIR}/next.conf {RUN_DIR}/nginx.conf"
                  f" && if [ -e {RUN_DIR}/started ]; then {' '.join(NGINX)} -s reload; else touch {RUN_DIR}/started; fi")
        self.cluster.kubectl("exec", "-i", "-n", self.namespace, "router", "--", "sh", "-c", script, input=conf)
        self.backends = (apache, wildfly)
        return self.backends

    def stop(self) -> None:
        self.cluster.kubectl("delete", "pod,service", "-n", self.namespace, "router", "--wait=false", check=False)


def router_namespace(cluster: Cluster) -> str:
    (peer,) = cluster.get("networkpolicy", "-n", NAMESPACE, "wildfly")["spec"]["ingress"][0]["from"]
    return peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]


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
    """The pod that half of the users are pinned to is deleted: the router retries their next
    request on the other pod (proxy_next_upstream, the consistent hash ring), their sessions go on
    there (replicated), and they stay there; once the ReplicaSet's new pod is ready and the router
    has its EndpointSlice, every session still goes on."""
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
    deadline = time.monotonic() + 120
    while not (victim_gone() and len(moved) == len(pinned)):
        assert time.monotonic() < deadline, f"after 120 s: victim gone {victim_gone()}, moved {moved}, pinned {pinned}"
        for c in clients:
            r = c.get(host, port, "/session-demo/")
            assert r.status == 200 and r.counter is not None, (c.name, r.status)
            assert r.counter == c.last_counter + 1, f"{c.name}: counter went from {c.last_counter} to {r.counter}"
            c.last_counter = r.counter
            if c.name in pinned and r.pod != victim:
                assert moved.setdefault(c.name, r.pod) == r.pod, f"{c.name} did not stay on its new pod"
            elif c.name not in pinned:
                assert r.pod == pods[c.name], f"{c.name} left a live pod"
        time.sleep(0.5)
    assert victim not in moved.values()
    wait_until("a ready replacement WildFly pod", lambda: len(ready_endpoints(cluster, "wildfly")) == 2, 300, interval=2)
    _, wildfly = router.sync()
    assert len(wildfly) == 2
    for c in clients:
        r = c.get(host, port, "/session-demo/")
        assert r.status == 200 and r.counter == c.last_counter + 1, (c.name, r.counter, c.last_counter)
