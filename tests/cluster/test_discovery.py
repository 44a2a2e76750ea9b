"""JGroups discovery on the real cluster: DNS_PING through CoreDNS, and the field reports' failures.

Each case applies what the program declares for the cluster stack (its WildFly objects, rendered
under mocks by offline.mockrun, so exactly what `pulumi up` would send) into a namespace of its
own, with at most one deliberate change, and reads the pods' logs:
- DNS_PING: the headless ping Service, resolved by CoreDNS, forms one view;
- KUBE_PING under the namespace's default ServiceAccount (seeds 000/002): the real RBAC
  authorizer answers 403, and every pod stays alone in its view;
- JGroups bound to 0.0.0.0 (seed 000): discovery lists the peers, yet every view has size 1.
The three cases run side by side, each in a namespace of its own (deleted afterwards), with the
pods' CPU request lowered to DISCOVERY_CPU_REQUEST so that six WildFly pods fit on the node's
two cores (at the stack's 500m only three would): the one change besides each case's own, and
one that discovery does not depend on.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from deployments import destroy_every_stack
from kube import Cluster, wait_until
from offline import mockrun
from wildfly_log import kube_ping_failures, last_view, node_name

REPLICAS = 2
CASES = {
    "dns-ping": {"wildfly.discovery": "dns_ping"},
    "kube-ping-default-sa": {},
    "jgroups-wildcard": {},
}


DISCOVERY_CPU_REQUEST = "200m"


def wildfly_objects(namespace: str, overrides: dict[str, str]) -> list[dict[str, Any]]:
    """The cluster stack's Namespace and WildFly objects, rendered for `namespace`."""
    run = mockrun.run_stack("cluster", overrides={"namespace": namespace, "wildfly.replicas": str(REPLICAS), **overrides})
    out = []
    for obj in run.kubernetes_objects():
        name = obj["metadata"]["name"]
        if obj["kind"] == "Namespace" or (name.startswith("wildfly") and obj["kind"] not in ("HorizontalPodAutoscaler",)):
            out.append(json.loads(json.dumps(obj)))
    return out


def deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Deployment")


def with_default_service_account(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods keep KUBE_PING but run as the namespace's default ServiceAccount (no Role)."""
    kept = [o for o in objects if o["kind"] not in ("ServiceAccount", "Role", "RoleBinding")]
    spec = deployment(kept)["spec"]["template"]["spec"]
    spec["serviceAccountName"] = "default"
    spec["automountServiceAccountToken"] = True
    return kept


def with_wildcard_bind(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    container = deployment(objects)["spec"]["template"]["spec"]["containers"][0]
    changed = ["-bprivate=0.0.0.0" if a.startswith("-bprivate=") else a for a in container["args"]]
    assert changed != container["args"], container["args"]
    container["args"] = changed
    return objects


WORKING = {"dns-ping"}
"""Cases expected to form one view: judged as soon as they have (the others wait SETTLE_S)."""
CHANGES = {"dns-ping": lambda o: o, "kube-ping-default-sa": with_default_service_account, "jgroups-wildcard": with_wildcard_bind}


SETTLE_S = 30
"""After both pods are ready: a MERGE3 round (10-30 s in WildFly's tcp stack) in which pods that
could reach each other would merge their views."""


def start_case(cluster: Cluster, namespace: str) -> None:
    objects = CHANGES[namespace](wildfly_objects(namespace, CASES[namespace]))
    deployment(objects)["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = DISCOVERY_CPU_REQUEST
    cluster.apply(objects)


def wildfly_logs(cluster: Cluster, namespace: str) -> dict[str, str]:
    return {p["metadata"]["name"]: cluster.logs(namespace, p["metadata"]["name"]) for p in cluster.ready_pods(namespace, "app.kubernetes.io/name=wildfly")}


@pytest.fixture(scope="module")
def deployed(cluster: Cluster) -> dict[str, dict[str, str]]:
    """namespace -> {pod name: log} for every case: all started together; once every pod is
    ready, the working case as soon as it shows one view, the negative controls after a MERGE3
    round (SETTLE_S) in which pods that could reach each other would have merged."""
    destroy_every_stack(cluster)
    try:
        for namespace in CASES:
            start_case(cluster, namespace)
        for namespace in CASES:
            wait_until(f"{REPLICAS} ready WildFly pods in {namespace}",
                       lambda: len(cluster.ready_pods(namespace, "app.kubernetes.io/name=wildfly")) == REPLICAS, 420, interval=2)
        ready_at = time.monotonic()
        found = {}
        for namespace in WORKING:
            def one_view():
                logs = wildfly_logs(cluster, namespace)
                return logs if all(len(last_view(log) or []) == REPLICAS for log in logs.values()) else None
            found[namespace] = wait_until(f"one view of {REPLICAS} in {namespace}", one_view, SETTLE_S * 2, interval=2)
        time.sleep(max(0.0, SETTLE_S - (time.monotonic() - ready_at)))
        return {namespace: found.get(namespace) or wildfly_logs(cluster, namespace) for namespace in CASES}
    finally:
        for namespace in CASES:
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        for namespace in CASES:
            cluster.kubectl("wait", "--for=delete", f"namespace/{namespace}", "--timeout=180s", check=False, timeout=200)


def test_dns_ping_forms_one_view_through_coredns_and_the_headless_service(deployed):
    logs = deployed["dns-ping"]
    everyone = sorted(node_name(log) for log in logs.values())
    for name, log in logs.items():
        assert last_view(log) == everyone, (name, last_view(log))
        assert kube_ping_failures(log) == []
    # What made it work: the headless ping Service, and no Kubernetes API access at all.
    objects = wildfly_objects("dns-ping", CASES["dns-ping"])
    ping = next(o for o in objects if o["kind"] == "Service" and o["spec"].get("clusterIP") == "None")
    assert ping["spec"].get("publishNotReadyAddresses") is True
    assert deployment(objects)["spec"]["template"]["spec"].get("automountServiceAccountToken") is False


def test_kube_ping_under_the_default_service_account_is_refused_and_pods_stay_alone(deployed, cluster: Cluster):
    ns = "kube-ping-default-sa"
    for name, log in deployed[ns].items():
        failures = kube_ping_failures(log)
        assert failures and all("403" in f for f in failures), f"{name}: expected KUBE_PING refused with 403, got {failures}"
        assert last_view(log) == [node_name(log)], (name, last_view(log))
    # The authorizer, asked directly, agrees (for any namespace's default ServiceAccount).
    can = cluster.kubectl("auth", "can-i", "--as=system:serviceaccount:default:default", "list", "pods", "-n", "default", check=False)
    assert can.stdout.strip() == "no"


def test_jgroups_on_the_wildcard_address_lists_its_peers_but_forms_singletons(deployed):
    for name, log in deployed["jgroups-wildcard"].items():
        assert "0.0.0.0:7600" in log, f"{name} does not advertise the wildcard address"
        assert kube_ping_failures(log) == [], f"{name}: KUBE_PING failed, so this control would prove nothing"
        assert last_view(log) == [node_name(log)], (name, last_view(log))
