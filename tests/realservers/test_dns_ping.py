"""DNS_PING variant: the local stack rendered with wildfly.discovery=dns_ping forms a cluster.

The pods resolve the headless Service name from the rendered JGROUPS_DNS_QUERY through the
cluster-DNS stand-in (their /etc/resolv.conf), which lists every pod (publishNotReadyAddresses).
No pod-list request is made.
"""

from __future__ import annotations

import pytest

from sessionstack import wildfly_config as wc
from harness import ClusterHarness, PodTemplate, SessionClient
from harness.wildfly import expand_k8s_refs


@pytest.fixture(scope="module")
def dns_template(realserver_prereqs) -> PodTemplate:
    from offline import mockrun

    objects = mockrun.run_stack("local", overrides={"wildfly.discovery": "dns_ping"}).kubernetes_objects()
    return PodTemplate.from_rendered(objects)


def test_dns_ping_forms_a_cluster_through_the_headless_service(dns_template, figure):
    env = {e["name"]: e for e in dns_template.env}
    assert env["JGROUPS_DISCOVERY"]["value"] == "dns_ping"
    with ClusterHarness(dns_template) as cluster:
        query = expand_k8s_refs(env["JGROUPS_DNS_QUERY"]["value"], {"POD_NAMESPACE": cluster.namespace})
        pods = cluster.start_pods(2)
        last_start = max(p.started_at for p in pods)
        formed = cluster.wait_view(pods, timeout=300) - last_start
        cluster.wait_ready(pods, timeout=300)
        for pod in pods:
            config = next(pod.dir.glob("emptydir*/configuration/standalone-ha.xml"))
            assert "dns.DNS_PING" in config.read_text()
            asked = [name for client, name, _ in cluster.dns.queries if client == pod.ip]
            assert query.rstrip(".").lower() in asked, asked
            assert not cluster.kubeapi.requests_from(pod.ip)
        client = SessionClient("dns")
        for i in range(4):
            r = client.get(pods[i % 2].ip, wc.HTTP_PORT, wc.DEMO_CONTEXT_PATH)
            assert r.counter == i + 1
    figure("dns_ping: last pod start -> view of 2", round(formed, 2), "s")
