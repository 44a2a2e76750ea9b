"""The cluster stack's NetworkPolicies, enforced by the node's policy agent (kube-router's
firewall, tools/cluster), asserted both ways: who gets through and who does not.

Each probe is a plain TCP connect from a pod of a given namespace (tests/cluster/policy_probe.py)
to the pods' own IPs, so kube-proxy plays no part. The node itself reaching every port shows
that a refused port listens, so "closed" means the policy, not an idle port.
"""

from __future__ import annotations

from sessionstack import wildfly_config as wc

from deployments import NAMESPACE, WILDFLY, Deployed, router_namespace
from kube import Cluster, is_terminating
from policy_probe import from_container, from_node, from_pod

APACHE = "app.kubernetes.io/name=apache"


def pod_ports(cluster: Cluster, selector: str, *names: str) -> list[str]:
    """"ip:port" of each named container port of each running pod the selector matches."""
    targets = []
    for p in cluster.pods(NAMESPACE, selector):
        if is_terminating(p) or not p["status"].get("podIP"):
            continue
        ports = {port["name"]: port["containerPort"] for c in p["spec"]["containers"] for port in c.get("ports", [])}
        targets += [f"{p['status']['podIP']}:{ports[name]}" for name in names]
    assert targets, f"no running pod matches {selector}"
    return targets


def test_http_reaches_wildfly_and_apache_from_the_routers_namespace_only(cluster_stack: Deployed, cluster: Cluster):
    http = pod_ports(cluster, WILDFLY, "http") + pod_ports(cluster, APACHE, "http")
    assert all(from_pod(cluster, router_namespace(cluster), http, expect_open=True).values())
    # The application's own namespace is not the router's: a pod there without the tiers' labels
    # gets nowhere (and neither does one in any other namespace).
    assert not any(from_pod(cluster, NAMESPACE, http).values())
    assert not any(from_pod(cluster, "default", http).values())


def test_jgroups_ports_are_open_between_wildfly_pods_only(cluster_stack: Deployed, cluster: Cluster):
    jgroups = pod_ports(cluster, WILDFLY, "jgroups", "jgroups-fd")
    assert str(wc.JGROUPS_PORT) in " ".join(jgroups) and str(wc.JGROUPS_FD_PORT) in " ".join(jgroups)
    assert all(from_node(cluster, jgroups).values()), "the JGroups ports must listen on the pod IPs"
    # Not from the router (it may reach HTTP), not from a pod of the same namespace.
    assert not any(from_pod(cluster, router_namespace(cluster), jgroups).values())
    assert not any(from_pod(cluster, NAMESPACE, jgroups).values())
    # Each WildFly pod reaches the other's (the view they formed went this way too).
    for p in cluster.pods(NAMESPACE, WILDFLY):
        others = [t for t in jgroups if not t.startswith(f"{p['status']['podIP']}:")]
        assert others and all(from_container(cluster, NAMESPACE, p["metadata"]["name"], others).values())
