"""Session survival on real WildFly servers, run from the pod template the local stack renders.

One cluster (module fixture) of three "pods", each a WildFly 39 process in its own network
namespace, discovering the others through KUBE_PING against the pod-list stand-in. The tests
run in file order on that cluster and each leaves three ready pods behind:

1. formation   - one view of 3; time from the last pod's start to the full view
2. replication - round-robin without affinity: the counter rises by exactly one per request
3. failover    - kill -9 of the pod that served the last request; the session goes on
The rolling restart under load and the routing path run on the real cluster instead
(tests/cluster/test_cluster_stack_sessions.py: the Deployment controller, kube-proxy,
`python -m verify --rollout`, strict: any failed request fails it;
tests/cluster/test_cluster_stack_routing.py: the routing rules on nginx, fed from the real
EndpointSlices).
"""

from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ET
import zipfile

import pytest

from sessionstack import wildfly_config as wc
from harness import ClusterHarness, SessionClient
from harness.load import Endpoints

REPLICAS = 3
BOOT_TIMEOUT = 300


@pytest.fixture(scope="module")
def cluster(realserver_prereqs, wildfly_template):
    harness = ClusterHarness(wildfly_template)
    try:
        pods = harness.start_pods(REPLICAS)
        last_start = max(p.started_at for p in pods)
        full_view_at = harness.wait_view(pods, timeout=BOOT_TIMEOUT)
        harness.formation_seconds = full_view_at - last_start
        harness.wait_ready(pods, timeout=BOOT_TIMEOUT)
        yield harness
    finally:
        harness.close()


def _live(cluster) -> list:
    return [p for p in cluster.live_pods]


def _replace_dead(cluster, endpoints: Endpoints | None = None) -> None:
    """Bring the cluster back to REPLICAS ready pods in one view (what the ReplicaSet does)."""
    for pod in [p for p in cluster.pods if not p.running and p.host.name in cluster.network.hosts]:
        cluster.stop_pod(pod, graceful=False)
    while len(_live(cluster)) < REPLICAS:
        new = cluster.add_pod()
        cluster.wait_ready([new], timeout=BOOT_TIMEOUT)
        if endpoints:
            endpoints.add(new)
    cluster.wait_view(_live(cluster), timeout=120)


def test_formation_one_view_of_three_from_kube_ping(cluster, wildfly_template, figure):
    pods = _live(cluster)
    assert len(pods) == REPLICAS
    expected = sorted(wc.node_name(p.name) for p in pods)
    for pod in pods:
        # The view names the members by jboss.node.name: start.sh's value == the Python mirror.
        assert sorted(pod.view()) == expected
        assert all(len(n.encode()) <= wc.NODE_NAME_MAX_BYTES for n in pod.view())
        log = pod.log_text()
        # JGroups bound to and advertises the pod IP, never the wildcard address.
        assert f"via /{pod.ip}:{wc.JGROUPS_PORT}" in log, pod.tail()
        assert "0.0.0.0:7600" not in log
        assert "FD_SOCK2] (ServerService Thread Pool -- " in log and f"listening on /{pod.ip}:" in log
        # Discovery really went through the pod-list endpoint and saw all three pods.
        seen = cluster.kubeapi.requests_from(pod.ip)
        assert seen, f"{pod.name} never listed pods"
        assert any(sorted(r.pod_ips) == sorted(p.ip for p in pods) for r in seen)
        assert all(r.selector == wildfly_template.label_selector() for r in seen)
        # Health endpoints answer unauthenticated on the management interface (pod IP).
        for path in ("/health/live", "/health/ready", "/health/started"):
            assert pod.probe(path) == 200, path
    figure("formation: last pod start -> view of 3", round(cluster.formation_seconds, 2), "s")


def test_jgroups_stack_uses_protocols_the_release_ships(cluster, realserver_prereqs):
    """The configured protocol names exist as classes in the distribution's jgroups jars."""
    pod = _live(cluster)[0]
    config = (pod.dir / "emptydir0" / "configuration" / "standalone-ha.xml")
    if not config.exists():
        config = next(pod.dir.glob("emptydir*/configuration/standalone-ha.xml"))
    root = ET.parse(config).getroot()
    ns = {"j": next(e.tag[1:].split("}")[0] for e in root.iter()
                    if e.tag.startswith("{urn:jboss:domain:jgroups:"))}
    stack = root.find(".//j:stack[@name='tcp']", ns)
    types = [e.get("type") for e in stack if e.get("type")]
    assert "kubernetes.KUBE_PING" in types and "AUTH" in types and "FD_SOCK2" in types
    assert types.index("AUTH") == types.index("pbcast.GMS") - 1
    classes = set()
    for jar in realserver_prereqs.glob("modules/system/layers/base/org/jgroups/**/*.jar"):
        with zipfile.ZipFile(jar) as z:
            classes.update(n for n in z.namelist() if n.endswith(".class"))
    for protocol in types:
        assert f"org/jgroups/protocols/{protocol.replace('.', '/')}.class" in classes, protocol
    # The web-session cache is distributed with the owners the rendered script asks for.
    cli = next(d["configure.cli"] for d in cluster.template.configmaps.values() if "configure.cli" in d)
    owners = re.search(r"distributed-cache=dist:write-attribute\(name=owners, value=(\d+)\)", cli).group(1)
    ispn_ns = next(e.tag[1:].split("}")[0] for e in root.iter()
                   if e.tag.startswith("{urn:jboss:domain:infinispan:"))
    dist = root.find(f".//{{{ispn_ns}}}cache-container[@name='web']/{{{ispn_ns}}}distributed-cache[@name='dist']")
    assert dist is not None and dist.get("owners") == owners, (dist.attrib if dist is not None else None)
    # The secret stays an expression in the file the server runs.
    text = config.read_text()
    assert "${env.JGROUPS_CLUSTER_PASSWORD}" in text
    assert cluster.secrets[(f"{cluster.template.deployment}-jgroups", "password")] not in text


def test_member_with_the_wrong_secret_is_kept_out(cluster, figure):
    """AUTH: a pod with another password finds the members but is refused, and never gets ready."""
    members = _live(cluster)
    intruder = cluster.add_pod(password="not-the-cluster-secret")
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT
        while "WFLYSRV0026" not in intruder.log_text() and "WFLYSRV0025" not in intruder.log_text():
            assert time.monotonic() < deadline, intruder.tail()
            assert intruder.running, intruder.tail()
            time.sleep(0.5)
        log = intruder.log_text()
        # It listed the members (discovery works), asked to join, and was refused.
        assert any(sorted(r.pod_ips) == sorted([*(m.ip for m in members), intruder.ip])
                   for r in cluster.kubeapi.requests_from(intruder.ip))
        assert "SecurityException: authentication failed" in log, intruder.tail()
        assert "WFLYSRV0026" in log  # started with errors: the clustered services are down
        assert intruder.probe("/health/ready") != 200
        for member in members:
            assert sorted(member.view()) == sorted(m.node_name for m in members)
    finally:
        cluster.stop_pod(intruder, graceful=False)
    cluster.wait_view(members, timeout=60)
    # The refused pod's address vanished with it (as a deleted pod's IP does). Members that
    # still send to it (its join attempts made it known) stall until their connects give
    # up: measure how long the cluster takes to answer again, and let it settle.
    t0 = time.monotonic()
    for member in members:
        deadline = t0 + 120
        while True:
            try:
                if SessionClient().get(member.ip, wc.HTTP_PORT, wc.DEMO_CONTEXT_PATH, timeout=30).status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"{member.name} does not answer after the intruder left"
    figure("AUTH: refused joiner deleted -> every member answers again", round(time.monotonic() - t0, 2), "s")


def test_replication_round_robin_without_affinity(cluster, figure):
    pods = _live(cluster)
    sessions = [SessionClient(f"rr{i}") for i in range(20)]
    served_by: set[str] = set()
    for step in range(9):
        for i, client in enumerate(sessions):
            pod = pods[(i + step) % len(pods)]
            r = client.get(pod.ip, wc.HTTP_PORT, wc.DEMO_CONTEXT_PATH)
            assert r.status == 200
            assert r.pod == pod.name
            assert r.counter == step + 1, f"{client.name} on {pod.name}: {r.counter} != {step + 1}"
            if step == 0:
                client.session = r.session
            assert r.session == client.session
            served_by.add(r.pod)
    assert served_by == {p.name for p in pods}
    figure("replication: sessions x requests, all counters exact", f"{len(sessions)} x 9")


def test_failover_after_kill_9_of_the_serving_pod(cluster, figure):
    pods = _live(cluster)
    client = SessionClient("failover")
    for i in range(6):
        last = client.get(pods[i % len(pods)].ip, wc.HTTP_PORT, wc.DEMO_CONTEXT_PATH)
        assert last.counter == i + 1
    session_id = last.session
    victim = next(p for p in pods if p.name == last.pod)
    survivors = [p for p in pods if p is not victim]

    # Other users are busy on the victim when it dies: their writes show how old an
    # acknowledged write must be to survive a crash.
    busy = [SessionClient(f"busy{i}") for i in range(12)]
    acked: dict[str, tuple[int, float]] = {}
    stop = threading.Event()

    def hammer(clients):
        while not stop.is_set():
            for c in clients:
                try:
                    r = c.get(victim.ip, wc.HTTP_PORT, wc.DEMO_CONTEXT_PATH, timeout=5)
                except OSError:
                    return
                acked[c.name] = (r.counter, time.monotonic())

    threads = [threading.Thread(target=hammer, args=(busy[i::4],), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(3)
    # The user thinks for a second after the last answer; then the pod is killed.
    killed_at = time.monotonic()
    cluster.kill_pod(victim)
    stop.set()
    for t in threads:
        t.join(timeout=10)

    # Requests keep round-robining over all three addresses until the dead one leaves the
    # endpoints: the ones sent to it fail, the others must carry on the session.
    failed, gap_end = 0, None
    counter = last.counter
    for i in range(12):
        pod = pods[i % len(pods)]
        try:
            r = client.get(pod.ip, wc.HTTP_PORT, wc.DEMO_CONTEXT_PATH, timeout=30)
        except OSError:
            failed += 1
            continue
        assert r.status == 200 and r.session == session_id
        assert r.counter == counter + 1, f"counter {counter} -> {r.counter} after the kill"
        counter = r.counter
        gap_end = gap_end or time.monotonic()
    assert failed == 4, "only the requests sent to the dead pod may fail"
    gap_ms = (gap_end - killed_at) * 1000

    lost_young, lost_old = [], []
    for c in busy:
        if c.name not in acked:
            continue
        seen, at = acked[c.name]
        r = c.get(survivors[0].ip, wc.HTTP_PORT, wc.DEMO_CONTEXT_PATH, timeout=30)
        assert r.counter >= seen, f"{c.name}: counter went back from {seen} to {r.counter - 1}"
        if r.counter == seen:  # the last acknowledged write did not survive
            age_ms = (killed_at - at) * 1000
            (lost_old if age_ms > 1000 else lost_young).append(round(age_ms, 1))
    # A write is committed to the other owner shortly after its response is sent: only
    # writes acknowledged in the last moments before the crash may be lost, never older ones.
    assert not lost_old, f"writes acknowledged > 1 s before the kill were lost: {lost_old}"
    figure("failover: requests failed (sent to the dead pod)", failed)
    figure("failover: kill -> first successful answer", round(gap_ms, 1), "ms")
    figure("failover: busy sessions whose last write (acked < 1 s before kill -9) was lost",
           f"{len(lost_young)} of {len(acked)} (ack ages {sorted(lost_young)} ms)")
    cluster.stop_pod(victim, graceful=False)
    _replace_dead(cluster)
