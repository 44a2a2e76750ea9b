"""tools/cluster/onenode's pure parts: the node's layout, its configuration texts, the add-on
changes to upstream manifests, the certificates' extensions and the image builder's reading of the
Spring Session demo's Dockerfile. No root, no cluster: tests/cluster runs the real thing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "cluster"))

from onenode import addons, config, images, oci, pki  # noqa: E402
from onenode.config import Node  # noqa: E402

NODE = Node(state=Path("/var/lib/sessionstack-cluster"))


def test_node_addresses_come_from_its_link_and_service_range():
    assert (NODE.host_ip, NODE.node_ip, NODE.prefix) == ("10.213.0.1", "10.213.0.2", 30)
    assert (NODE.api_service_ip, NODE.dns_ip) == ("10.96.0.1", "10.96.0.10")
    assert NODE.server == "https://10.213.0.2:6443"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"link": "10.213.0.0/29"}, "link must be a /30"),
    ({"state": Path("/" + "x" * 70)}, "state dir must be at most 60 characters"),
])
def test_node_refuses_a_layout_it_cannot_run(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Node(**{"state": NODE.state, **kwargs})


def test_kubelet_keeps_its_images_and_its_pods_below_the_node_cgroup():
    kc = config.kubelet_config(NODE, "/etc/resolv.conf")
    assert kc["imageGCHighThresholdPercent"] == 100, "images that cannot be pulled again must never be collected"
    assert kc["cgroupDriver"] == "cgroupfs" and kc["cgroupRoot"] == config.CGROUP_ROOT and kc["failCgroupV1"] is False
    assert kc["clusterDNS"] == [NODE.dns_ip]
    assert kc["authentication"]["anonymous"]["enabled"] is False and kc["authorization"]["mode"] == "Webhook"


def test_api_server_enforces_node_authorization_rbac_and_admission():
    args = config.apiserver_args(NODE)
    assert "--authorization-mode=Node,RBAC" in args
    assert "--enable-admission-plugins=NodeRestriction" in args
    assert "--anonymous-auth=false" in args
    assert not any(a.startswith("--disable-admission-plugins") for a in args), "PodSecurity must stay on"


def test_pods_route_through_the_node_and_nothing_leaves_it():
    cni = config.cni_config(NODE)
    ptp = cni["plugins"][0]
    assert ptp["type"] == "ptp" and ptp["ipMasq"] is False
    assert ptp["ipam"]["ranges"] == [[{"subnet": NODE.pod_cidr}]]
    assert "nameserver" not in config.resolv_conf(NODE)
    proxy = config.kube_proxy_config(NODE)
    assert proxy["mode"] == "nftables" and proxy["conntrack"]["maxPerCore"] == 0


def test_policy_agent_runs_kube_routers_firewall_and_nothing_else():
    args = config.kube_router_args(NODE)
    assert {"--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--run-loadbalancer=false"} <= set(args)
    assert f"--service-cluster-ip-range={NODE.service_cidr}" in args and f"--hostname-override={NODE.name}" in args
    assert f"--kubeconfig={NODE.path('kube-router.kubeconfig')}" in args


def test_policy_agent_may_read_what_it_watches_and_change_nothing():
    (role, binding) = json.loads(addons.policy_agent_rbac())["items"]
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert verbs == {"get", "list", "watch"}
    resources = {res for rule in role["rules"] for res in rule["resources"]}
    assert {"pods", "namespaces", "networkpolicies", "nodes"} <= resources
    certs = {c.name: c for c in pki.certificates(NODE)}
    assert binding["subjects"][0]["name"] == certs["kube-router"].cn == addons.POLICY_AGENT_USER
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_containerd_clamps_oom_score_and_uses_the_local_sandbox_image():
    text = config.containerd_config(NODE, "sessionstack.local/pause:1")
    assert "restrict_oom_score_adj = true" in text
    assert 'sandbox_image = "sessionstack.local/pause:1"' in text
    assert "SystemdCgroup = false" in text


def test_kubeconfig_names_its_context_and_the_node_ca():
    doc = json.loads(config.kubeconfig(NODE, "admin", Path("/x/admin.crt"), Path("/x/admin.key")))
    assert doc["current-context"] == NODE.context == "sessionstack-cluster"
    assert doc["clusters"][0]["cluster"] == {"server": NODE.server, "certificate-authority": str(NODE.pki / "ca.crt")}


def test_certificates_carry_kubernetes_identities_and_the_right_usages():
    certs = {c.name: c for c in pki.certificates(NODE)}
    assert certs["kubelet-client"].cn == f"system:node:{NODE.name}" and certs["kubelet-client"].orgs == ("system:nodes",)
    assert certs["kube-proxy"].cn == "system:kube-proxy"
    api = pki.extensions(certs["apiserver"])
    assert "extendedKeyUsage=serverAuth" in api and f"IP:{NODE.api_service_ip}" in api and "DNS:kubernetes.default.svc" in api
    assert "subjectAltName" not in pki.extensions(certs["admin"])
    assert "extendedKeyUsage=clientAuth" in pki.extensions(certs["admin"])


COREDNS = """data:
  Corefile: |
    .:53 {
        kubernetes __DNS__DOMAIN__ in-addr.arpa ip6.arpa {
        }
        forward . /etc/resolv.conf {
            max_concurrent 1000
        }
        cache 30
        loop
    }
spec:
      containers:
      - name: coredns
        image: registry.k8s.io/coredns/coredns:v1.12.1
        resources:
          limits:
            memory: __DNS__MEMORY__LIMIT__
  clusterIP: __DNS__SERVER__
"""


def test_coredns_changes_drop_the_upstream_forwarder_and_fill_in_the_node():
    text = addons.coredns(COREDNS, NODE, "sessionstack.local/coredns:v1.15.0")
    assert "forward" not in text and "loop" not in text
    assert "kubernetes cluster.local in-addr.arpa" in text and f"clusterIP: {NODE.dns_ip}" in text
    assert "image: sessionstack.local/coredns:v1.15.0" in text and "registry.k8s.io" not in text


def test_an_upstream_manifest_that_no_longer_fits_stops_the_start():
    with pytest.raises(ValueError, match="expected exactly one '__DNS__SERVER__'"):
        addons.coredns(COREDNS.replace("clusterIP: __DNS__SERVER__", ""), NODE, "x:1")
    with pytest.raises(ValueError, match="found 2"):
        addons.substitute("a a", [("a", "b")], "test")


def test_images_are_named_as_containerd_names_them():
    assert oci.normalize("redis:8.2.2-bookworm") == "docker.io/library/redis:8.2.2-bookworm"
    assert oci.normalize("sessionstack/spring-session-demo:1.2.0") == "docker.io/sessionstack/spring-session-demo:1.2.0"
    assert oci.normalize("quay.io/wildfly/wildfly:39.0.1.Final-jdk21") == "quay.io/wildfly/wildfly:39.0.1.Final-jdk21"


def test_the_stack_images_are_the_ones_the_components_pin():
    from sessionstack.apache_config import APACHE_IMAGE
    from sessionstack.redis_config import REDIS_IMAGE
    from sessionstack.wildfly_config import WILDFLY_IMAGE

    refs = images.image_refs()
    assert (refs["wildfly"], refs["httpd"], refs["redis"]) == (WILDFLY_IMAGE, APACHE_IMAGE, REDIS_IMAGE)
    assert refs["spring-session-demo"] == "sessionstack/spring-session-demo:1.2.0"


def test_the_demo_dockerfile_is_built_as_written_and_nothing_else(tmp_path, monkeypatch):
    dockerfile = tmp_path / "apps/spring-session-demo/Dockerfile"
    dockerfile.parent.mkdir(parents=True)
    real = (ROOT / "apps/spring-session-demo/Dockerfile").read_text()
    dockerfile.write_text(real + "RUN apt-get install -y curl\n")
    monkeypatch.setattr(images, "REPO", tmp_path)
    inputs = images.Inputs(bin_dir=tmp_path, wildfly_home=tmp_path, war=tmp_path / "app.war")
    (tmp_path / "app.war").write_bytes(b"war")
    with pytest.raises(SystemExit, match="RUN is not supported"):
        images.build_spring_demo(tmp_path, inputs, {})
