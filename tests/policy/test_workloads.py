"""statefulset-headless-service, images-are-pinned and ha-minimums."""

from __future__ import annotations

import pytest

from policy.workloads import ha_minimums, images_are_pinned, statefulset_headless_service
from policy_args import K8S_TYPES, PROBES, UNKNOWN, check, container, k8s, meta, resource_args, service, stack_args, wildfly_container, workload

# --------------------------------------------------------------------------------------------
# statefulset-headless-service
# --------------------------------------------------------------------------------------------


def statefulset(service_name="db-headless"):
    sts = workload("StatefulSet", "db", [container("db", "postgres:17.2")], replicas=3, labels={"app": "db"})
    if service_name is not None:
        sts["spec"]["serviceName"] = service_name
    return k8s(sts)


def headless(name="db-headless", selector=None, cluster_ip="None"):
    return k8s(service(name, selector or {"app": "db"}, port=5432, clusterIP=cluster_ip))


def sts_check(items):
    return check(statefulset_headless_service, stack_args(items))


def test_statefulset_with_its_headless_service_passes():
    outcome = sts_check([statefulset(), headless()])
    assert outcome.violations == [] and outcome.not_applicable is None


def test_missing_wrong_or_mismatched_service_are_violations():
    missing = sts_check([statefulset()])
    assert len(missing.violations) == 1 and "does not declare" in missing.text and "clusterIP: None" in missing.text
    assert missing.violations[0][1].endswith("StatefulSet::db")
    not_headless = sts_check([statefulset(), headless(cluster_ip=None)])
    assert "not headless" in not_headless.text
    no_name = sts_check([statefulset(service_name=None), headless()])
    assert "no spec.serviceName" in no_name.text
    other_pods = sts_check([statefulset(), headless(selector={"app": "other"})])
    assert "does not match" in other_pods.text
    other_namespace = k8s({**service("db-headless", {"app": "db"}, clusterIP="None"), "metadata": meta("db-headless", "elsewhere")})
    assert "does not declare" in sts_check([statefulset(), other_namespace]).text


def test_unknown_service_name_during_preview_and_no_statefulset():
    assert sts_check([statefulset(service_name=UNKNOWN)]).violations == []
    assert sts_check([headless()]).not_applicable == "no StatefulSet"


# --------------------------------------------------------------------------------------------
# images-are-pinned
# --------------------------------------------------------------------------------------------


def image_check(image, init_image=None, kind="Deployment"):
    extra = {"initContainers": [container("init", init_image)]} if init_image else {}
    obj = workload(kind, "app", [container("app", image)], **extra)
    return check(images_are_pinned, resource_args(K8S_TYPES[kind], obj, "app"))


@pytest.mark.parametrize(
    "image",
    [
        "quay.io/wildfly/wildfly:39.0.1.Final-jdk21",
        "redis:8.2.2-bookworm",
        "localhost:5000/team/app:1.2.3",
        "httpd@sha256:" + "a" * 64,
        "quay.io/wildfly/wildfly:latest@sha256:" + "b" * 64,
    ],
)
def test_pinned_images_pass(image):
    outcome = image_check(image)
    assert outcome.violations == [] and outcome.not_applicable is None


@pytest.mark.parametrize(
    "image, expected",
    [
        ("jboss/wildfly:latest", "'jboss/wildfly:latest'"),
        ("quay.io/wildfly/wildfly", "without a tag"),
        ("localhost:5000/team/app", "without a tag"),
        ("", "has no image"),
    ],
)
def test_unpinned_images_are_violations(image, expected):
    outcome = image_check(image)
    assert len(outcome.violations) == 1 and expected in outcome.text and "digest" in outcome.text


def test_init_containers_and_daemonsets_are_checked():
    outcome = image_check("nginx:1.27.2", init_image="busybox:latest")
    assert len(outcome.violations) == 1 and "init container 'init'" in outcome.text
    assert len(image_check("fluent/fluent-bit", kind="DaemonSet").violations) == 1


def test_unknown_image_and_non_workloads():
    assert image_check(UNKNOWN).violations == []
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("c"), "data": {"image": "x:latest"}}
    assert check(images_are_pinned, resource_args(K8S_TYPES["ConfigMap"], cm, "c")).not_applicable


# --------------------------------------------------------------------------------------------
# ha-minimums
# --------------------------------------------------------------------------------------------


def ha_tier(replicas=2, pdb=None, probes=True, image="httpd:2.4.62", hpa_min=None):
    c = container("httpd", image, **(PROBES if probes else {}))
    items = [k8s(workload("Deployment", "static", [c], replicas=replicas, labels={"app": "static"}))]
    if pdb is not False:
        spec = pdb or {"maxUnavailable": 1}
        items.append(k8s({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta("static"), "spec": {**spec, "selector": {"matchLabels": {"app": "static"}}}}))
    if hpa_min is not None:
        items.append(
            k8s(
                {
                    "apiVersion": "autoscaling/v2",
                    "kind": "HorizontalPodAutoscaler",
                    "metadata": meta("static"),
                    "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "static"}, "minReplicas": hpa_min, "maxReplicas": 4},
                }
            )
        )
    return items


def ha(items, config=None):
    return check(ha_minimums, stack_args(items, config))


def test_production_tier_with_replicas_pdb_and_probes_passes():
    outcome = ha(ha_tier())
    assert outcome.violations == [] and outcome.not_applicable is None
    assert ha(ha_tier(pdb={"minAvailable": 1})).violations == []
    assert ha(ha_tier(pdb={"maxUnavailable": "50%"})).violations == []


def test_each_missing_minimum_is_reported():
    single = ha(ha_tier(replicas=1))
    assert "replicas 1 (< 2)" in single.text
    no_pdb = ha(ha_tier(pdb=False))
    assert "no PodDisruptionBudget" in no_pdb.text
    useless_pdb = ha(ha_tier(pdb={"maxUnavailable": 2}))
    assert "lets every pod be evicted" in useless_pdb.text
    zero = ha(ha_tier(pdb={"minAvailable": 0}))
    assert "lets every pod be evicted" in zero.text
    no_probes = ha(ha_tier(probes=False))
    assert "no readinessProbe and no livenessProbe" in no_probes.text
    everything = ha(ha_tier(replicas=1, pdb=False, probes=False))
    assert len(everything.violations) == 1 and "(Apache httpd)" in everything.text
    assert everything.violations[0][1].endswith("Deployment::static")


def test_hpa_minimum_is_what_counts():
    assert "HPA minReplicas 1" in ha(ha_tier(replicas=3, hpa_min=1)).text
    assert ha(ha_tier(replicas=1, hpa_min=2)).violations == []


def test_wildfly_probes_are_required_too():
    items = [k8s(workload("Deployment", "was", [wildfly_container(readinessProbe=None)], labels={"app": "was"}))]
    items[0].props["spec"]["template"]["spec"]["containers"][0].pop("readinessProbe")
    items += ha_tier()[1:]
    items[1].props["spec"]["selector"]["matchLabels"] = {"app": "was"}
    outcome = ha(items)
    assert len(outcome.violations) == 1 and "(WildFly)" in outcome.text and "no readinessProbe" in outcome.text


def test_config_decides_production_and_minimum():
    assert len(ha(ha_tier(replicas=1)).violations) == 1  # production unless the config says otherwise
    assert ha(ha_tier(replicas=1), config={"production": False}).not_applicable
    assert "replicas 2 (< 3)" in ha(ha_tier(), config={"minReplicas": 3}).text


def test_other_workloads_are_not_applicable():
    items = [k8s(workload("Deployment", "api", [container("api", "ghcr.io/example/api:1.0.0")], replicas=1))]
    assert ha(items).not_applicable == "no WildFly or Apache workload"
