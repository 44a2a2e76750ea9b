"""JGroups discovery on the real cluster: DNS_PING through CoreDNS, and the field reports' failures.

Each case applies what the program declares for the cluster stack (its WildFly objects, rendered
under mocks by offline.mockrun, so exactly what `pulumi up` would send) into a namespace of its
own, with at most one deliberate change, and reads the pods' logs:
- DNS_PING: the headless ping Service, resolved by CoreDNS, forms one view; a user alternating
  over the pods' IPs keeps one counter going (the positive control); a seventh pod with the
  wrong JGroups AUTH password finds the members, is refused and never gets ready;
- KUBE_PING under the namespace's default ServiceAccount (seeds 000/002): the real RBAC
  authorizer answers 403, and every pod stays alone in its view;
- JGroups bound to 0.0.0.0 (seed 000): discovery lists the peers, yet every view has size 1, and
  the same user's counter starts over whenever the pod changes.
The three cases run side by side, each in a namespace of its own (deleted afterwards), with the
pods' CPU request lowered to DISCOVERY_CPU_REQUEST so that seven WildFly pods fit on the node's
two cores (at the stack's 500m only three would): the one change besides each case's own, and
one that discovery does not depend on. The cases keep the stack's NetworkPolicy, which the
node's policy agent enforces: JGroups flows between the case's WildFly pods only, and HTTP from
the router's namespace only, so the user's requests come from the node itself (admitted like
the kubelet's probes).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import pytest

from sessionstack import wildfly_config as wc

from deployments import WILDFLY, destroy_every_stack
from kube import Cluster, is_ready, wait_until
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


WORKING = "dns-ping"
"""The case expected to form one view: judged as soon as it has (the others wait SETTLE_S)."""
CHANGES = {"dns-ping": lambda o: o, "kube-ping-default-sa": with_default_service_account, "jgroups-wildcard": with_wildcard_bind}


SETTLE_S = 30
"""After both pods are ready: a MERGE3 round (10-30 s in WildFly's tcp stack) in which pods that
could reach each other would merge their views."""
INTRUDER_PASSWORD = "not-the-cluster-secret"


def start_case(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    objects = CHANGES[namespace](wildfly_objects(namespace, CASES[namespace]))
    deployment(objects)["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = DISCOVERY_CPU_REQUEST
    cluster.apply(objects)
    return objects


def intruder(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """A pod of the same template (labels, so DNS_PING finds it and it finds the members) whose
    JGroups AUTH password is not the cluster's. No pod-template-hash label: no ReplicaSet adopts it."""
    template = json.loads(json.dumps(deployment(objects)["spec"]["template"]))
    container = template["spec"]["containers"][0]
    container["env"] = [{"name": e["name"], "value": INTRUDER_PASSWORD} if e["name"] == "JGROUPS_CLUSTER_PASSWORD" else e
                        for e in container["env"]]
    assert {"name": "JGROUPS_CLUSTER_PASSWORD", "value": INTRUDER_PASSWORD} in container["env"]
    namespace = deployment(objects)["metadata"]["namespace"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {**template["metadata"], "name": "wildfly-intruder", "namespace": namespace},
            "spec": template["spec"]}


def wildfly_logs(cluster: Cluster, namespace: str) -> dict[str, str]:
    return {p["metadata"]["name"]: cluster.logs(namespace, p["metadata"]["name"]) for p in cluster.ready_pods(namespace, WILDFLY)}


SESSION_PROBE = """
cookie=""
for ip in "$@"; do
  sleep 0.5
  head=$(curl -sS --max-time 20 -H "Cookie: $cookie" -D - -o /dev/null "http://$ip:%(port)d%(path)s") || exit 1
  echo "$head"
  new=$(echo "$head" | tr -d '\\r' | sed -n 's/^[Ss]et-[Cc]ookie: \\([^;]*\\).*/\\1/p' | head -n 1)
  if [ -n "$new" ]; then cookie=$new; fi
done
"""
"""One user: the session cookie goes with every request whatever the pod's address (a browser
sends it to one host name; a cookie jar would keep one per IP, and so one session per pod)."""


def counters_across_pods(cluster: Cluster, namespace: str, rounds: int = 2) -> list[tuple[str, int]]:
    """One user's requests, from the node, to each ready WildFly pod's IP in `namespace` in turn
    (`rounds` times) with a think time: (serving pod, counter) for each answer."""
    ips = sorted(p["status"]["podIP"] for p in cluster.ready_pods(namespace, WILDFLY))
    script = SESSION_PROBE % {"port": wc.HTTP_PORT, "path": wc.DEMO_CONTEXT_PATH}
    log = cluster.in_node("sh", "-c", script, "sh", *ips * rounds, timeout=120).stdout
    pods = re.findall(r"(?im)^x-sessionstack-pod: (\S+)", log)
    counters = [int(c) for c in re.findall(r"(?im)^x-sessionstack-counter: (\d+)", log)]
    assert len(pods) == len(counters) == len(ips) * rounds, log
    return list(zip(pods, counters))


@dataclass
class Outcome:
    logs: dict[str, dict[str, str]]
    """namespace -> {ready pod: its log}, once judged."""
    counters: dict[str, list[tuple[str, int]]]
    """namespace -> one user's (pod, counter) answers, alternating over the pods."""
    intruder_log: str
    intruder_ready: bool
    members_after_intruder: dict[str, str]
    """The working case's ready pods and their logs once the intruder has booted."""


@pytest.fixture(scope="module")
def deployed(cluster: Cluster) -> Outcome:
    """Every case started together. Once every pod is ready: the working case as soon as it
    shows one view (then a user's requests alternate over its pods, and a pod with the wrong
    AUTH password joins it), the negative controls after a MERGE3 round (SETTLE_S) in which pods
    that could reach each other would have merged."""
    destroy_every_stack(cluster)
    try:
        objects = {namespace: start_case(cluster, namespace) for namespace in CASES}
        for namespace in CASES:
            wait_until(f"{REPLICAS} ready WildFly pods in {namespace}",
                       lambda: len(cluster.ready_pods(namespace, WILDFLY)) == REPLICAS, 420, interval=2)
        ready_at = time.monotonic()

        def one_view():
            logs = wildfly_logs(cluster, WORKING)
            return logs if all(len(last_view(log) or []) == REPLICAS for log in logs.values()) else None
        logs = {WORKING: wait_until(f"one view of {REPLICAS} in {WORKING}", one_view, SETTLE_S * 2, interval=2)}
        counters = {WORKING: counters_across_pods(cluster, WORKING)}
        cluster.apply(intruder(objects[WORKING]))
        time.sleep(max(0.0, SETTLE_S - (time.monotonic() - ready_at)))
        logs.update({namespace: wildfly_logs(cluster, namespace) for namespace in CASES if namespace != WORKING})
        counters["jgroups-wildcard"] = counters_across_pods(cluster, "jgroups-wildcard")

        def intruder_booted() -> str | None:
            log = cluster.logs(WORKING, "wildfly-intruder")
            return log if re.search(r"WFLYSRV002[56]", log) else None
        booted = wait_until("the intruder to finish booting (WFLYSRV0025/0026)", intruder_booted, 300, interval=2)
        return Outcome(logs=logs, counters=counters, intruder_log=booted,
                       intruder_ready=is_ready(cluster.get("pod", "-n", WORKING, "wildfly-intruder")),
                       members_after_intruder=wildfly_logs(cluster, WORKING))
    finally:
        for namespace in CASES:
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        for namespace in CASES:
            cluster.kubectl("wait", "--for=delete", f"namespace/{namespace}", "--timeout=180s", check=False, timeout=200)


def test_dns_ping_forms_one_view_through_coredns_and_the_headless_service(deployed: Outcome):
    logs = deployed.logs["dns-ping"]
    everyone = sorted(node_name(log) for log in logs.values())
    for name, log in logs.items():
        assert last_view(log) == everyone, (name, last_view(log))
        assert kube_ping_failures(log) == []
    # What made it work: the headless ping Service, and no Kubernetes API access at all.
    objects = wildfly_objects("dns-ping", CASES["dns-ping"])
    ping = next(o for o in objects if o["kind"] == "Service" and o["spec"].get("clusterIP") == "None")
    assert ping["spec"].get("publishNotReadyAddresses") is True
    assert deployment(objects)["spec"]["template"]["spec"].get("automountServiceAccountToken") is False


def test_kube_ping_under_the_default_service_account_is_refused_and_pods_stay_alone(deployed: Outcome, cluster: Cluster):
    ns = "kube-ping-default-sa"
    for name, log in deployed.logs[ns].items():
        failures = kube_ping_failures(log)
        assert failures and all("403" in f for f in failures), f"{name}: expected KUBE_PING refused with 403, got {failures}"
        assert last_view(log) == [node_name(log)], (name, last_view(log))
    # The authorizer, asked directly, agrees (for any namespace's default ServiceAccount).
    can = cluster.kubectl("auth", "can-i", "--as=system:serviceaccount:default:default", "list", "pods", "-n", "default", check=False)
    assert can.stdout.strip() == "no"


def test_jgroups_on_the_wildcard_address_lists_its_peers_but_forms_singletons(deployed: Outcome):
    for name, log in deployed.logs["jgroups-wildcard"].items():
        assert "0.0.0.0:7600" in log, f"{name} does not advertise the wildcard address"
        assert kube_ping_failures(log) == [], f"{name}: KUBE_PING failed, so this control would prove nothing"
        assert last_view(log) == [node_name(log)], (name, last_view(log))


def test_a_session_goes_on_across_the_pods_of_one_view(deployed: Outcome):
    """The positive control of the next test: the same user, alternating over the pods' IPs."""
    answers = deployed.counters["dns-ping"]
    print(f"one view: {answers}")
    assert len({pod for pod, _ in answers}) == REPLICAS, answers
    assert [c for _, c in answers] == list(range(1, len(answers) + 1)), answers


def test_jgroups_on_the_wildcard_address_starts_the_counter_over_when_the_pod_changes(deployed: Outcome):
    """Seed 000's symptom as users see it: the session never reached the other pod."""
    answers = deployed.counters["jgroups-wildcard"]
    print(f"0.0.0.0: {answers}")
    assert len({pod for pod, _ in answers}) == REPLICAS, answers
    counters = [c for _, c in answers]
    assert counters[:REPLICAS] == [1] * REPLICAS and counters != list(range(1, len(answers) + 1)), answers


def test_a_pod_with_the_wrong_cluster_secret_finds_the_members_and_is_refused(deployed: Outcome):
    """JGroups AUTH: the intruder (DNS_PING lists it with the members) asks to join, is refused,
    starts with errors and never gets ready; the members' view stays theirs."""
    log = deployed.intruder_log
    assert "SecurityException: authentication failed" in log, log[-4000:]
    assert "WFLYSRV0026" in log, log[-4000:]  # started with errors: the clustered services are down
    assert not deployed.intruder_ready
    members = deployed.members_after_intruder
    assert sorted(members) == sorted(deployed.logs["dns-ping"]), "the intruder got ready, or a member did not stay ready"
    everyone = sorted(node_name(m) for m in members.values())
    assert node_name(log) not in everyone
    for name, member_log in members.items():
        assert last_view(member_log) == everyone, (name, last_view(member_log))
