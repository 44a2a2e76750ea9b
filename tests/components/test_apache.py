"""ApacheStaticTier on mocks: what a user relies on once the pods run in a cluster."""

from __future__ import annotations

import pytest

from sessionstack import apache_config as ac
from sessionstack.apache import ApacheStaticTier, ApacheStaticTierArgs
from offline import k8s_checks


def _pod_spec(mocks, name="apache"):
    return mocks.object("Deployment", name)["spec"]["template"]["spec"]


def _container(mocks, name="apache"):
    return _pod_spec(mocks, name)["containers"][0]


def test_objects_are_schema_valid_and_cross_references_resolve(pulumi_mocks):
    ApacheStaticTier("apache", ApacheStaticTierArgs(namespace="shop"))
    objects = pulumi_mocks.objects()
    assert sorted(o["kind"] for o in objects) == sorted(
        ["ConfigMap", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"]
    )
    assert k8s_checks.all_errors(objects) == []
    assert all(o["metadata"]["namespace"] == "shop" for o in objects)


def test_labels_identify_the_static_tier(pulumi_mocks):
    ApacheStaticTier("web", ApacheStaticTierArgs(namespace="shop"))
    labels = pulumi_mocks.object("Deployment", "web")["spec"]["template"]["metadata"]["labels"]
    assert {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component", "app.kubernetes.io/part-of")} == {
        "app.kubernetes.io/name": "apache",
        "app.kubernetes.io/instance": "web",
        "app.kubernetes.io/component": "static",
        "app.kubernetes.io/part-of": "sessionstack",
    }
    assert "sessionstack.io/session-holding" not in labels  # stateless: the policy pack must not treat it as session-holding


def test_runs_the_pinned_image_non_root_on_8080_with_a_read_only_root(pulumi_mocks):
    ApacheStaticTier("apache", ApacheStaticTierArgs(namespace="shop"))
    pod = _pod_spec(pulumi_mocks)
    c = pod["containers"][0]
    assert c["image"] == ac.APACHE_IMAGE and not c["image"].endswith(":latest")
    assert c["command"] == ac.httpd_command()
    assert c["ports"] == [{"name": "http", "containerPort": 8080}]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == ac.APACHE_UID != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False


def test_mounts_config_site_and_a_writable_run_dir_where_httpd_conf_expects_them(pulumi_mocks):
    ApacheStaticTier("apache", ApacheStaticTierArgs(namespace="shop"))
    pod = _pod_spec(pulumi_mocks)
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    conf_text = pulumi_mocks.configmap("apache-config")["data"][ac.CONF_FILE]
    assert f'DocumentRoot "{ac.DOCUMENT_ROOT}"' in conf_text
    assert f'PidFile "{ac.RUN_DIR}/httpd.pid"' in conf_text
    # The conf file the command names is in the config volume.
    assert ac.httpd_command()[2] == f"{ac.CONF_DIR}/{ac.CONF_FILE}"
    config, site = pulumi_mocks.configmap("apache-config"), pulumi_mocks.configmap("apache-site")
    assert volumes[mounts[ac.CONF_DIR]["name"]]["configMap"]["name"] == config["metadata"]["name"] and mounts[ac.CONF_DIR]["readOnly"]
    assert volumes[mounts[ac.DOCUMENT_ROOT]["name"]]["configMap"]["name"] == site["metadata"]["name"] and mounts[ac.DOCUMENT_ROOT]["readOnly"]
    assert "emptyDir" in volumes[mounts[ac.RUN_DIR]["name"]] and not mounts[ac.RUN_DIR].get("readOnly")


def test_site_configmap_items_rebuild_the_site_tree(pulumi_mocks):
    ApacheStaticTier("apache", ApacheStaticTierArgs(namespace="shop"))
    data = pulumi_mocks.configmap("apache-site")["data"]
    items = {v["name"]: v for v in _pod_spec(pulumi_mocks)["volumes"]}["site"]["configMap"]["items"]
    rebuilt = {item["path"]: data[item["key"]] for item in items}
    assert rebuilt == ac.STATIC_SITE_FILES


def test_probes_use_the_health_endpoint_on_the_named_port(pulumi_mocks):
    ApacheStaticTier("apache", ApacheStaticTierArgs(namespace="shop"))
    c = _container(pulumi_mocks)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
    data = pulumi_mocks.configmap("apache-config")["data"]
    assert data[ac.HEALTH_FILE] == "ok\n"
    assert f'Alias "/healthz" "{ac.CONF_DIR}/{ac.HEALTH_FILE}"' in data[ac.CONF_FILE]
    assert c["lifecycle"]["preStop"]["sleep"]["seconds"] < _pod_spec(pulumi_mocks)["terminationGracePeriodSeconds"]


def test_service_maps_80_to_the_http_port_of_exactly_these_pods(pulumi_mocks):
    tier = ApacheStaticTier("apache", ApacheStaticTierArgs(namespace="shop"))
    svc = pulumi_mocks.object("Service", "apache")
    assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    pod_labels = pulumi_mocks.object("Deployment", "apache")["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels[k] == v for k, v in svc["spec"]["selector"].items())
    assert (pulumi_mocks.value(tier.service_name), pulumi_mocks.value(tier.service_port)) == ("apache", 80)
    assert pulumi_mocks.value(tier.deployment_name) == "apache"


def test_availability_pdb_hpa_and_rollout_target_the_deployment(pulumi_mocks):
    ApacheStaticTier("apache", ApacheStaticTierArgs(namespace="shop", replicas=3, max_replicas=7))
    dep = pulumi_mocks.object("Deployment", "apache")
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    pdb = pulumi_mocks.object("PodDisruptionBudget", "apache")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"] == dep["spec"]["selector"]
    hpa = pulumi_mocks.object("HorizontalPodAutoscaler", "apache")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "apache"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 7)
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["resources"]["requests"]["cpu"]  # the HPA's utilization is relative to this request
    assert c["resources"]["requests"]["memory"] == c["resources"]["limits"]["memory"]
    spread = dep["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert [s["topologyKey"] for s in spread] == ["kubernetes.io/hostname"]
    assert spread[0]["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]


def test_zone_spread_can_be_added(pulumi_mocks):
    ApacheStaticTier("apache", ApacheStaticTierArgs(namespace="shop", spread_topology_keys=("kubernetes.io/hostname", "topology.kubernetes.io/zone")))
    spread = _pod_spec(pulumi_mocks)["topologySpreadConstraints"]
    assert [s["topologyKey"] for s in spread] == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]


ROUTER = ({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},)


def test_only_the_router_may_reach_httpd(pulumi_mocks):
    ApacheStaticTier("apache", ApacheStaticTierArgs(namespace="shop", http_from=ROUTER))
    policy = pulumi_mocks.object("NetworkPolicy", "apache")["spec"]
    labels = pulumi_mocks.object("Deployment", "apache")["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in policy["podSelector"]["matchLabels"].items())
    assert policy["policyTypes"] == ["Ingress"]
    assert policy["ingress"] == [{"from": list(ROUTER), "ports": [{"port": "http", "protocol": "TCP"}]}]


def test_without_router_peers_httpd_is_open_to_the_cluster_on_its_port_only(pulumi_mocks):
    ApacheStaticTier("apache", ApacheStaticTierArgs(namespace="shop"))
    assert pulumi_mocks.object("NetworkPolicy", "apache")["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]


def test_changed_site_content_is_a_new_configmap_that_rolls_the_pods(pulumi_mocks):
    """New content, new ConfigMap name: the provider creates it before deleting the old one, and
    the Deployment is updated in place (rolling) instead of replaced with all its pods."""
    ApacheStaticTier("a", ApacheStaticTierArgs(namespace="shop"))
    ApacheStaticTier("b", ApacheStaticTierArgs(namespace="shop", site_files={**ac.STATIC_SITE_FILES, "index.html": "<p>new</p>"}))
    templates = {n: pulumi_mocks.object("Deployment", n)["spec"]["template"] for n in ("a", "b")}
    sites = {n: pulumi_mocks.configmap(f"{n}-site")["metadata"]["name"] for n in ("a", "b")}
    assert sites["a"][len("a-site"):] != sites["b"][len("b-site"):]
    for n in ("a", "b"):
        assert {v["name"]: v for v in templates[n]["spec"]["volumes"]}["site"]["configMap"]["name"] == sites[n]
    annotation = "sessionstack.io/config-checksum"
    assert templates["a"]["metadata"]["annotations"][annotation] != templates["b"]["metadata"]["annotations"][annotation]
    assert pulumi_mocks.configmap("b-site")["data"]["index.html"] == "<p>new</p>"


def test_two_instances_do_not_collide(pulumi_mocks):
    ApacheStaticTier("apache", ApacheStaticTierArgs(namespace="shop"))
    ApacheStaticTier("apache-b", ApacheStaticTierArgs(namespace="shop"))
    objects = pulumi_mocks.objects()
    assert pulumi_mocks.run.duplicate_urns == []
    assert k8s_checks.all_errors(objects) == []
    svc_a, svc_b = pulumi_mocks.object("Service", "apache"), pulumi_mocks.object("Service", "apache-b")
    pods_b = pulumi_mocks.object("Deployment", "apache-b")["spec"]["template"]["metadata"]["labels"]
    assert not all(pods_b.get(k) == v for k, v in svc_a["spec"]["selector"].items())
    assert svc_a["spec"]["selector"] != svc_b["spec"]["selector"]


def test_children_are_parented_to_the_component(pulumi_mocks):
    ApacheStaticTier("apache", ApacheStaticTierArgs(namespace="shop"))
    resources = pulumi_mocks.resources
    component = [r for r in resources if r.type == "sessionstack:apache:ApacheStaticTier"]
    assert len(component) == 1
    children = [r for r in resources if r.type.startswith("kubernetes:")]
    assert children and all(r.parent_urn == component[0].urn for r in children)
    assert all(r.name.startswith("apache-") for r in children)


@pytest.mark.parametrize("kwargs, message", [
    ({"replicas": 1}, "ApacheStaticTierArgs.replicas must be an integer from 2 to 50, got 1"),
    ({"replicas": "2"}, "ApacheStaticTierArgs.replicas must be an integer from 2 to 50, got '2'"),
    ({"replicas": 3, "max_replicas": 2}, "ApacheStaticTierArgs.max_replicas must be an integer from 3 to 100, got 2"),
    ({"image": "httpd:latest"}, "ApacheStaticTierArgs.image must be pinned by tag or digest (not ':latest' or untagged), got 'httpd:latest'"),
    ({"image": "httpd"}, "ApacheStaticTierArgs.image must be pinned by tag or digest (not ':latest' or untagged), got 'httpd'"),
    ({"site_files": {"a.css": ""}}, "ApacheStaticTierArgs.site_files must map relative paths to content and include 'index.html', got ['a.css']"),
    ({"site_files": {"index.html": "", "../etc/passwd": ""}}, "ApacheStaticTierArgs.site_files: site path must be relative"),
    ({"site_files": {"index.html": "x" * (1024 * 1024)}}, "ApacheStaticTierArgs.site_files must total under 900 KiB"),
    ({"spread_topology_keys": ()}, "ApacheStaticTierArgs.spread_topology_keys must name at least one topology key, got ()"),
    ({"cpu_target_utilization": 0}, "ApacheStaticTierArgs.cpu_target_utilization must be an integer from 10 to 100, got 0"),
    ({"http_from": list(ROUTER)}, "ApacheStaticTierArgs.http_from must be a tuple of NetworkPolicy peers"),
    ({"http_from": ({"namespace": "ingress-nginx"},)}, "ApacheStaticTierArgs.http_from must be a tuple of NetworkPolicy peers"),
    ({"http_from": ({"ipBlock": {"cidr": "10.0.0.300/16"}},)}, "ipBlock.cidr an IPv4 network"),
    ({"http_from": ({"ipBlock": {"cidr": "10.0.0.0/16"}, "podSelector": {}},)}, "ApacheStaticTierArgs.http_from must be"),
])
def test_bad_args_are_rejected_with_field_value_and_allowed(kwargs, message):
    with pytest.raises(ValueError) as err:
        ApacheStaticTierArgs(namespace="shop", **kwargs)
    assert message in str(err.value)


def test_bad_component_name_is_rejected():
    with pytest.raises(ValueError, match="ApacheStaticTier name must be a DNS-1123 label.*got 'Web_Tier'"):
        ApacheStaticTier("Web_Tier", ApacheStaticTierArgs(namespace="shop"))
