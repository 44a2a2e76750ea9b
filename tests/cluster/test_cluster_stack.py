"""`pulumi up -s cluster` onto the real single-node Kubernetes, with the real engine and providers.

The stack is deployed once (the `cluster_stack` fixture: a copy of the project, its own Pulumi
state); this module judges what the real API server, controllers, kubelet and kube-proxy made of
it; test_cluster_stack_sessions.py then puts sessions through it and destroys it. What the
retired process harness (a pod-list and a DNS stand-in) could not show is the point here: server-side validation, Pod
Security admission, the RBAC authorizer in front of KUBE_PING, the Helm release with its CRDs
before the custom resources, the Deployment controller's rollout.
"""

from __future__ import annotations

import base64
import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile

from sessionstack import wildfly_config as wc

from deployments import NAMESPACE, WILDFLY, Deployed, router_namespace
from kube import IMAGES, TOOLBOX, Cluster, is_ready, node_port, pod, restarts, restricted_container, run_to_completion, verify, wait_until
from wildfly_log import kube_ping_failures, last_view, node_name


def wildfly_pods(cluster: Cluster) -> list[dict]:
    return cluster.live_pods(NAMESPACE, WILDFLY)


def test_up_creates_every_resource_and_every_await_passes(cluster_stack: Deployed, cluster: Cluster):
    assert cluster_stack.up.returncode == 0, str(cluster_stack.up)
    created = re.search(r"^\s+\+ (\d+) created$", cluster_stack.up.output, re.MULTILINE)
    assert created and int(created.group(1)) >= 25, str(cluster_stack.up)
    # The provider awaited each workload; the cluster agrees.
    for deploy in cluster.items("deployments", "-n", NAMESPACE):
        st = deploy["status"]
        assert st.get("availableReplicas") == deploy["spec"]["replicas"] == st.get("readyReplicas"), deploy["metadata"]["name"]
    for svc in cluster.items("services", "-n", NAMESPACE):
        if svc["spec"].get("clusterIP") == "None" or svc["spec"].get("type") == "ExternalName":
            continue
        name = svc["metadata"]["name"]
        if "envoy" in name:
            continue  # the data plane's own Service; Envoy cannot run here (see README)
        slices = cluster.items("endpointslices", "-n", NAMESPACE, "-l", f"kubernetes.io/service-name={name}")
        ready = [e for s in slices for e in s.get("endpoints") or [] if e.get("conditions", {}).get("ready")]
        assert ready, f"Service {name} has no ready endpoint"


def test_pods_are_admitted_under_restricted_and_do_not_restart(cluster_stack: Deployed, cluster: Cluster):
    ns = cluster.get("namespace", NAMESPACE)
    assert ns["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "restricted"
    pods = cluster.items("pods", "-n", NAMESPACE)
    app_pods = [p for p in pods if p["metadata"]["labels"].get("app.kubernetes.io/part-of") == "sessionstack"]
    assert len(app_pods) >= 4, [p["metadata"]["name"] for p in pods]
    for p in app_pods:
        assert p["status"]["phase"] == "Running" and is_ready(p), p["metadata"]["name"]
        assert restarts(p) == 0, f"{p['metadata']['name']} restarted {restarts(p)} times"
    # Admission is real: the same namespace refuses a pod that runs as root.
    root_pod = pod("as-root", NAMESPACE, [{"name": "c", "image": IMAGES["busybox"], "command": ["true"]}])
    refused = cluster.kubectl("apply", "-f", "-", input=json.dumps(root_pod), check=False)
    assert refused.returncode != 0 and 'violates PodSecurity "restricted:latest"' in refused.stderr, refused.stderr


def test_second_up_preview_and_refresh_report_no_changes(cluster_stack: Deployed):
    for args in (("up", "--yes", "--expect-no-changes"), ("preview", "--expect-no-changes"), ("refresh", "--yes", "--expect-no-changes")):
        step = cluster_stack.pulumi(*args)
        assert step.returncode == 0, str(step)


def test_wildfly_pods_form_one_view_through_kube_ping(cluster_stack: Deployed, cluster: Cluster):
    pods = [p["metadata"]["name"] for p in wildfly_pods(cluster)]
    assert len(pods) == 2
    logs = {name: cluster.logs(NAMESPACE, name) for name in pods}
    everyone = sorted(node_name(log) for log in logs.values())

    def agreed():
        found = {name: last_view(cluster.logs(NAMESPACE, name)) for name in pods}
        return found if all(view == everyone for view in found.values()) else None

    wait_until(f"every WildFly pod to be in one view of {everyone}", agreed, 120, interval=3)
    ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in wildfly_pods(cluster)}
    for name, log in logs.items():
        assert kube_ping_failures(log) == [], f"KUBE_PING failed in {name}"
        # JGroups bound to and advertises the pod IP (the Downward API's), never the wildcard.
        assert f"via /{ips[name]}:{wc.JGROUPS_PORT}" in log and "0.0.0.0:7600" not in log, name
        assert f"listening on /{ips[name]}:" in log, f"{name}: FD_SOCK2 is not on the pod IP"


def test_jgroups_stack_uses_protocols_the_image_ships(cluster_stack: Deployed, cluster: Cluster):
    """The configuration the server runs (configure.cli applied by start.sh) names only protocol
    classes the image's jgroups jars contain, with TCP_NODELAY on the transport; the cache has
    the owners the script asks for; the cluster secret stays an expression in the file."""
    name = wildfly_pods(cluster)[0]["metadata"]["name"]
    text = cluster.exec(NAMESPACE, name, "cat", f"{wc.SERVER_BASE_DIR}/configuration/standalone-ha.xml").decode()
    root = ET.fromstring(text)

    def namespace_of(prefix: str) -> str:
        return next(e.tag[1:].split("}")[0] for e in root.iter() if e.tag.startswith("{urn:jboss:domain:" + prefix))

    jgroups = namespace_of("jgroups:")
    stack = root.find(f".//{{{jgroups}}}stack[@name='tcp']")
    types = [e.get("type") for e in stack if e.get("type")]  # the transport (TCP), then the protocols
    assert "kubernetes.KUBE_PING" in types and "AUTH" in types and "FD_SOCK2" in types, types
    # Nagle off on the cluster's connections (JGroups 5.5.2 leaves it on: a delayed ACK per read).
    transport = stack.find(f"{{{jgroups}}}transport")
    assert transport.get("type") == "TCP" and {e.get("name"): e.text for e in transport}.get("tcp_nodelay") == "true", ET.tostring(transport)
    assert types.index("AUTH") == types.index("pbcast.GMS") - 1, types
    jars = cluster.exec(NAMESPACE, name, "sh", "-c", 'find "$JBOSS_HOME/modules/system/layers/base/org/jgroups" -name "*.jar"').decode().split()
    classes = set()
    for jar in jars:
        with zipfile.ZipFile(io.BytesIO(cluster.exec(NAMESPACE, name, "cat", jar))) as z:
            classes.update(n for n in z.namelist() if n.endswith(".class"))
    missing = [t for t in types if f"org/jgroups/protocols/{t.replace('.', '/')}.class" not in classes]
    assert jars and not missing, (jars, missing)
    script = next(c["data"]["configure.cli"] for c in cluster.items("configmaps", "-n", NAMESPACE) if "configure.cli" in c.get("data", {}))
    owners = re.search(r"distributed-cache=dist:write-attribute\(name=owners, value=(\d+)\)", script).group(1)
    ispn = namespace_of("infinispan:")
    dist = root.find(f".//{{{ispn}}}cache-container[@name='web']/{{{ispn}}}distributed-cache[@name='dist']")
    assert dist is not None and dist.get("owners") == owners
    ref = next(e["valueFrom"]["secretKeyRef"] for e in wildfly_pods(cluster)[0]["spec"]["containers"][0]["env"]
               if e["name"] == "JGROUPS_CLUSTER_PASSWORD")
    secret = base64.b64decode(cluster.get("secret", "-n", NAMESPACE, ref["name"])["data"][ref["key"]]).decode()
    assert "${env.JGROUPS_CLUSTER_PASSWORD}" in text and secret not in text


def test_wildfly_service_account_lists_pods_here_and_changes_nothing(cluster_stack: Deployed, cluster: Cluster):
    sa = wildfly_pods(cluster)[0]["spec"]["serviceAccountName"]
    who = f"--as=system:serviceaccount:{NAMESPACE}:{sa}"

    def can(*args: str) -> bool:
        return cluster.kubectl("auth", "can-i", who, *args, check=False).stdout.strip() == "yes"

    assert can("list", "pods", "-n", NAMESPACE) and can("get", "pods", "-n", NAMESPACE)
    for verb, resource in (("create", "pods"), ("delete", "pods"), ("patch", "pods"), ("update", "pods"),
                           ("get", "secrets"), ("list", "configmaps"), ("create", "pods/exec"), ("patch", "deployments")):
        assert not can(verb, resource, "-n", NAMESPACE), f"{sa} may {verb} {resource}"
    assert not can("list", "pods", "-n", "default") and not can("list", "pods", "--all-namespaces")


def test_gateway_route_and_session_persistence_are_accepted(cluster_stack: Deployed, cluster: Cluster):
    routes = cluster.items("httproutes.gateway.networking.k8s.io", "-n", NAMESPACE)
    assert len(routes) == 1
    # The experimental-channel CRD keeps the field; the standard one would have pruned it.
    persistence = [r["sessionPersistence"] for r in routes[0]["spec"]["rules"] if "sessionPersistence" in r]
    assert persistence and persistence[0]["type"] == "Cookie", routes[0]["spec"]["rules"]

    def accepted():
        route = cluster.items("httproutes.gateway.networking.k8s.io", "-n", NAMESPACE)[0]
        conds = {c["type"]: c["status"] for parent in route.get("status", {}).get("parents", []) for c in parent["conditions"]}
        return conds if conds.get("Accepted") == "True" and conds.get("ResolvedRefs") == "True" else None

    wait_until("Envoy Gateway to accept the HTTPRoute and resolve its backends", accepted, 120, interval=3)
    classes = cluster.items("gatewayclasses.gateway.networking.k8s.io")
    assert any(c["type"] == "Accepted" and c["status"] == "True" for gc in classes for c in gc.get("status", {}).get("conditions", []))


AGENT_RETRY = ("--retry", "20", "--retry-delay", "1", "--retry-connrefused")
"""The policy agent refuses a new pod until it has added the pod's address (policy_probe.py)."""


def test_session_demo_answers_through_its_service_from_the_routers_namespace(cluster_stack: Deployed, cluster: Cluster):
    url = f"http://wildfly.{NAMESPACE}.svc.cluster.local:8080/session-demo/"
    probe = pod("demo-probe", router_namespace(cluster), [restricted_container("curl", TOOLBOX, ["curl", "-sS", "-D", "-", "-o", "/dev/null", *AGENT_RETRY, url])])
    phase, log = run_to_completion(cluster, probe)
    assert phase == "Succeeded", log
    assert "X-Sessionstack-Pod" in log and "X-Sessionstack-Counter: 1" in log, log


def test_verify_passes_against_the_pods_behind_kube_proxy(cluster_stack: Deployed, cluster: Cluster):
    """The verify command, from the host, through a NodePort: kube-proxy spreads the connections
    over both pods (no affinity), so only replication keeps each session's counter going."""
    with node_port(cluster, NAMESPACE, "wildfly") as url:
        verify(url)
