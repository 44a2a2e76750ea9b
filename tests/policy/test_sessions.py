"""sessions-need-a-strategy (the login-loop detector), session-affinity-is-not-failover and
alb-target-group-stickiness, called with real StackValidationArgs."""

from __future__ import annotations

import pytest

from sessionstack import wildfly_config as wc
from sessionstack.wildfly_config import DEMO_APP_DIR, SessionBackend, demo_app_configmap_data, demo_app_items, server_args
from policy.alb import alb_target_group_stickiness
from policy.sessions import (
    session_affinity_is_not_failover, sessions_need_a_strategy, web_sessions_without_file_store,
    web_sessions_without_request_controller,
)
from policy_args import (
    TARGET_GROUP,
    UNKNOWN,
    Declared,
    check,
    container,
    k8s,
    meta,
    service,
    stack_args,
    wildfly_container,
    workload,
)

STRATEGY = "sessionstack.io/session-strategy"
HOLDING = "sessionstack.io/session-holding"
SPRING_IMAGE = "ghcr.io/example/petclinic:3.3.0"


def spring_app(replicas=2, annotations=None, env=None, labels=None):
    labels = labels or {"app": "shop", HOLDING: "true"}
    return workload("Deployment", "shop", [container("app", SPRING_IMAGE, env=env)], replicas=replicas, labels=labels, annotations=annotations)


def ingress(name="web", service_name="shop", annotations=None, class_name="nginx"):
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta(name, annotations=annotations),
        "spec": {
            "ingressClassName": class_name,
            "rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service_name, "port": {"number": 8080}}}}]}}],
        },
    }


def http_route(name="web", service_name="shop", persistence=False):
    rule = {"backendRefs": [{"name": service_name, "port": 8080}]}
    if persistence:
        rule["sessionPersistence"] = {"sessionName": "SESSIONSTACK_ROUTE", "type": "Cookie"}
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": meta(name), "spec": {"rules": [rule]}}


def hpa(target, max_replicas=4, min_replicas=1):
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(target),
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}, "minReplicas": min_replicas, "maxReplicas": max_replicas},
    }


def wildfly_cluster(args=None, annotations=None, web_xml=None, replicas=2):
    """The WildflyCluster pod contract: HA args, demo app mounted from a ConfigMap."""
    data = demo_app_configmap_data()
    if web_xml is not None:
        data = {**data, "WEB-INF__web.xml": web_xml}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("was-demo-app"), "data": data}
    c = wildfly_container(args=args if args is not None else server_args(SessionBackend.INFINISPAN))
    c["volumeMounts"] = [{"name": "demo-app", "mountPath": DEMO_APP_DIR, "readOnly": True}]
    volumes = [{"name": "demo-app", "configMap": {"name": "was-demo-app", "items": demo_app_items()}}]
    labels = {"app": "was", HOLDING: "true"}
    deploy = workload("Deployment", "was", [c], replicas=replicas, labels=labels, annotations=annotations, volumes=volumes)
    return [k8s(cm), k8s(deploy), k8s(service("was", {"app": "was"}))]


def strategy(items):
    return check(sessions_need_a_strategy, stack_args(items))


def affinity(items):
    return check(session_affinity_is_not_failover, stack_args(items))


# --------------------------------------------------------------------------------------------
# sessions-need-a-strategy
# --------------------------------------------------------------------------------------------


def test_replicated_wildfly_cluster_passes_both_session_rules():
    items = wildfly_cluster(annotations={STRATEGY: "replicated"}) + [k8s(hpa("was", 6, 2))]
    outcome = strategy(items)
    assert outcome.violations == [] and outcome.not_applicable is None
    replicated = affinity(items)
    assert replicated.violations == [] and replicated.not_applicable is None
    assert affinity([k8s(spring_app(replicas=1)), k8s(service("shop", {"app": "shop"}))]).not_applicable


def test_two_in_memory_pods_behind_round_robin_are_the_login_loop():
    items = [k8s(spring_app()), k8s(service("shop", {"app": "shop"})), k8s(ingress())]
    outcome = strategy(items)
    assert len(outcome.violations) == 1
    message, urn = outcome.violations[0]
    assert "Deployment shop/shop" in message and "2 replicas" in message and "login page" in message
    assert "Ingress web -> Service shop" in message
    assert "standalone-ha.xml" in message and "external-store" in message  # says how to fix
    assert urn.endswith("Deployment::shop")


def test_one_replica_that_an_hpa_scales_out_counts():
    items = [k8s(spring_app(replicas=1)), k8s(service("shop", {"app": "shop"})), k8s(hpa("shop", 5))]
    outcome = strategy(items)
    assert len(outcome.violations) == 1 and "HPA shop up to 5" in outcome.text


def test_wildfly_on_standalone_xml_without_annotation_is_a_violation():
    outcome = strategy(wildfly_cluster(args=server_args(SessionBackend.REDIS)))
    assert len(outcome.violations) == 1 and "login page" in outcome.text


def test_declared_replication_must_hold():
    standalone = strategy(wildfly_cluster(args=server_args(SessionBackend.REDIS), annotations={STRATEGY: "replicated"}))
    assert len(standalone.violations) == 1 and "does not cluster" in standalone.text
    plain_web_xml = "<web-app><display-name>demo</display-name></web-app>"
    local = strategy(wildfly_cluster(annotations={STRATEGY: "replicated"}, web_xml=plain_web_xml))
    assert len(local.violations) == 1 and "<distributable/>" in local.text


def test_external_store_needs_a_store_configured():
    env = [{"name": "SPRING_DATA_REDIS_HOST", "value": "redis.shop.svc"}]
    with_store = [k8s(spring_app(annotations={STRATEGY: "external-store"}, env=env)), k8s(service("shop", {"app": "shop"}))]
    assert strategy(with_store).violations == []
    inferred = [k8s(spring_app(env=env)), k8s(service("shop", {"app": "shop"}))]
    assert strategy(inferred).violations == []
    without = [k8s(spring_app(annotations={STRATEGY: "external-store"})), k8s(service("shop", {"app": "shop"}))]
    assert "no container is configured with a session store" in strategy(without).text


def test_unknown_strategy_value_is_a_violation():
    items = [k8s(spring_app(annotations={STRATEGY: "sticky"})), k8s(service("shop", {"app": "shop"}))]
    assert "'sticky' is not one of" in strategy(items).text


def test_not_applicable_cases():
    single = [k8s(spring_app(replicas=1)), k8s(service("shop", {"app": "shop"}))]
    assert strategy(single).not_applicable
    unexposed = [k8s(spring_app())]
    assert strategy(unexposed).not_applicable
    opted_out = [k8s(spring_app(labels={"app": "shop", HOLDING: "false"})), k8s(service("shop", {"app": "shop"}))]
    assert strategy(opted_out).not_applicable
    other_selector = [k8s(spring_app()), k8s(service("shop", {"app": "other"}))]
    assert strategy(other_selector).not_applicable


def test_unknown_strategy_annotation_during_preview_is_not_reported():
    items = [k8s(spring_app(annotations={STRATEGY: UNKNOWN})), k8s(service("shop", {"app": "shop"}))]
    assert strategy(items).violations == []


# --------------------------------------------------------------------------------------------
# affinity alone
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "front, expected",
    [
        ([k8s(service("shop", {"app": "shop"}, sessionAffinity="ClientIP"))], "sessionAffinity ClientIP"),
        (
            [k8s(service("shop", {"app": "shop"})), k8s(ingress(annotations={"nginx.ingress.kubernetes.io/affinity": "cookie"}))],
            "nginx cookie affinity",
        ),
        ([k8s(service("shop", {"app": "shop"})), k8s(http_route(persistence=True))], "sessionPersistence"),
    ],
)
def test_affinity_alone_is_advisory_not_the_login_loop(front, expected):
    items = [k8s(spring_app())] + front
    assert strategy(items).violations == []
    outcome = affinity(items)
    assert len(outcome.violations) == 1
    assert expected in outcome.text and "lost when the pod dies" in outcome.text
    assert session_affinity_is_not_failover.enforcement_level.value == "advisory"


def test_a_second_path_without_affinity_still_loops():
    items = [k8s(spring_app()), k8s(service("shop", {"app": "shop"})), k8s(http_route(persistence=True)), k8s(ingress())]
    outcome = strategy(items)
    assert len(outcome.violations) == 1 and "Ingress web" in outcome.text and "HTTPRoute" not in outcome.text
    assert affinity(items).violations == []  # the login loop, not affinity alone


# --------------------------------------------------------------------------------------------
# alb-target-group-stickiness
# --------------------------------------------------------------------------------------------

TG_ARN = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/was/0123456789abcdef"


def target_group(target_type="ip", stickiness=None, arn=TG_ARN, tags=None):
    props = {"port": 8080, "protocol": "HTTP", "targetType": target_type, "vpcId": "vpc-1", "arn": arn}
    if stickiness is not None:
        props["stickiness"] = stickiness
    if tags:
        props["tags"] = tags
    return Declared(TARGET_GROUP, "was-tg", props)


def binding(arn=TG_ARN, target_type="ip"):
    spec = {"serviceRef": {"name": "was", "port": 8080}, "targetGroupARN": arn}
    if target_type:
        spec["targetType"] = target_type
    return k8s({"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding", "metadata": meta("was-tgb"), "spec": spec})


LB_COOKIE = {"enabled": True, "type": "lb_cookie", "cookieDuration": 3600}


def alb(items):
    return check(alb_target_group_stickiness, stack_args(items))


def test_ip_target_group_with_lb_cookie_passes_and_counts_as_affinity():
    items = wildfly_cluster(args=server_args(SessionBackend.REDIS)) + [target_group(stickiness=LB_COOKIE), binding()]
    assert alb(items).violations == [] and alb(items).not_applicable is None
    assert "target group was-tg lb_cookie stickiness" in affinity(items).text


def test_instance_target_group_without_stickiness_is_a_violation():
    tg = target_group(target_type="instance")
    outcome = alb(wildfly_cluster(annotations={STRATEGY: "replicated"}) + [tg, binding(target_type=None)])
    assert len(outcome.violations) == 1
    message, urn = outcome.violations[0]
    assert "targetType 'instance'" in message and "pins a node, not a pod" in message and "stickiness is off" in message
    assert urn == tg.urn


@pytest.mark.parametrize(
    "stickiness, expected",
    [
        ({"enabled": True, "type": "lb_cookie", "cookieDuration": 0}, "outside 1-604800"),
        ({"enabled": True, "type": "lb_cookie", "cookieDuration": 604801}, "outside 1-604800"),
        ({"enabled": True, "type": "source_ip"}, "not a cookie"),
        ({"enabled": True, "type": "app_cookie", "cookieDuration": 600}, "without cookieName"),
        ({"enabled": False, "type": "lb_cookie"}, "stickiness is off"),
    ],
)
def test_bad_stickiness_settings(stickiness, expected):
    outcome = alb(wildfly_cluster() + [target_group(stickiness=stickiness), binding()])
    assert len(outcome.violations) == 1 and expected in outcome.text


def test_app_cookie_with_name_and_the_limits_pass():
    for stickiness in (
        {"enabled": True, "type": "app_cookie", "cookieName": "JSESSIONID", "cookieDuration": 1},
        {"enabled": True, "type": "lb_cookie", "cookieDuration": 604800},
        {"type": "lb_cookie"},
    ):
        assert alb(wildfly_cluster() + [target_group(stickiness=stickiness), binding()]).violations == []


def test_binding_with_instance_targets_is_a_violation():
    outcome = alb(wildfly_cluster() + [target_group(stickiness=LB_COOKIE), binding(target_type="instance")])
    assert len(outcome.violations) == 1 and "TargetGroupBinding was-tgb" in outcome.text


def test_target_group_linked_by_dependency_when_the_arn_is_unknown():
    tg = target_group(arn=UNKNOWN)
    tgb = binding(arn=UNKNOWN)
    tgb.depends_on.append(tg)
    outcome = alb(wildfly_cluster() + [tg, tgb])
    assert len(outcome.violations) == 1 and "stickiness is off" in outcome.text


def test_tagged_target_group_is_checked_without_a_binding():
    outcome = alb([target_group(target_type="instance", stickiness=LB_COOKIE, tags={HOLDING: "true"})])
    assert len(outcome.violations) == 1 and "targetType 'instance'" in outcome.text


def test_alb_ingress_annotations():
    good = {
        "alb.ingress.kubernetes.io/target-type": "ip",
        "alb.ingress.kubernetes.io/target-group-attributes": "stickiness.enabled=true,stickiness.lb_cookie.duration_seconds=3600",
    }
    items = [k8s(spring_app()), k8s(service("shop", {"app": "shop"}))]
    assert alb(items + [k8s(ingress(annotations=good, class_name="alb"))]).violations == []
    outcome = alb(items + [k8s(ingress(annotations={}, class_name="alb"))])
    assert len(outcome.violations) == 1
    assert "target-type 'instance'" in outcome.text and "stickiness is off" in outcome.text


def test_target_groups_not_in_front_of_session_workloads_are_not_applicable():
    web = workload("Deployment", "was", [container("nginx", "nginx:1.27.2")], labels={"app": "was"})
    items = [k8s(web), k8s(service("was", {"app": "was"})), target_group(target_type="instance"), binding()]
    assert alb(items).not_applicable
    assert alb(wildfly_cluster() + [target_group(arn="arn:other")]).not_applicable
    nlb = target_group(target_type="instance")
    nlb.props["protocol"] = "TCP"
    assert alb(wildfly_cluster() + [nlb, binding(target_type=None)]).violations == []


# --------------------------------------------------------------------------------------------
# web-sessions-without-file-store
# --------------------------------------------------------------------------------------------


def file_store(items):
    return check(web_sessions_without_file_store, stack_args(items))


def with_boot_script(items, script):
    """The WildflyCluster contract plus a jboss-cli script mounted from a ConfigMap."""
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("was-scripts"), "data": {"configure.cli": script}}
    deploy = next(i for i in items if i.type.endswith("Deployment"))
    spec = deploy.props["spec"]["template"]["spec"]
    spec["volumes"].append({"name": "scripts", "configMap": {"name": "was-scripts"}})
    spec["containers"][0]["volumeMounts"].append({"name": "scripts", "mountPath": "/opt/sessionstack/scripts"})
    return items + [k8s(cm)]


def test_a_replicating_wildfly_on_the_default_web_cache_is_told_about_the_file_store():
    outcome = file_store(wildfly_cluster(annotations={STRATEGY: "replicated"}))
    assert len(outcome.violations) == 1
    assert "passivating file store" in outcome.text and "ISPN000299" in outcome.text and "store=file:remove()" in outcome.text
    assert web_sessions_without_file_store.enforcement_level.value == "advisory"


@pytest.mark.parametrize("script", [
    wc.configure_cli(wc.Discovery.KUBE_PING, SessionBackend.INFINISPAN),  # what WildflyCluster mounts
    "/subsystem=distributable-web/infinispan-session-management=default:write-attribute(name=max-active-sessions, value=5000)",
])
def test_a_removed_store_or_bounded_sessions_pass(script):
    outcome = file_store(with_boot_script(wildfly_cluster(annotations={STRATEGY: "replicated"}), script))
    assert outcome.violations == [] and outcome.not_applicable is None


def test_a_script_that_keeps_the_store_is_still_told():
    script = "/subsystem=infinispan/cache-container=web/distributed-cache=dist:write-attribute(name=owners, value=2)"
    assert len(file_store(with_boot_script(wildfly_cluster(annotations={STRATEGY: "replicated"}), script)).violations) == 1


def test_workloads_that_do_not_replicate_with_wildfly_are_not_applicable():
    env = [{"name": "SPRING_DATA_REDIS_HOST", "value": "redis.shop.svc"}]
    items = [k8s(spring_app(env=env)), k8s(service("shop", {"app": "shop"}))]
    assert file_store(items).not_applicable


# --------------------------------------------------------------------------------------------
# web-sessions-without-request-controller
# --------------------------------------------------------------------------------------------


def request_controller(items):
    return check(web_sessions_without_request_controller, stack_args(items))


def test_a_replicating_wildfly_with_the_request_controller_is_told_why_a_session_can_stay_locked():
    outcome = request_controller(wildfly_cluster(annotations={STRATEGY: "replicated"}))
    assert len(outcome.violations) == 1
    assert "request controller" in outcome.text and "ISPN000299" in outcome.text
    assert "/subsystem=request-controller:remove()" in outcome.text and "preStop" in outcome.text
    assert web_sessions_without_request_controller.enforcement_level.value == "advisory"


def test_the_script_wildflycluster_mounts_passes():
    script = wc.configure_cli(wc.Discovery.KUBE_PING, SessionBackend.INFINISPAN)
    outcome = request_controller(with_boot_script(wildfly_cluster(annotations={STRATEGY: "replicated"}), script))
    assert outcome.violations == [] and outcome.not_applicable is None


def test_a_script_that_only_removes_the_file_store_is_still_told():
    script = "/subsystem=infinispan/cache-container=web/distributed-cache=dist/store=file:remove()"
    assert len(request_controller(with_boot_script(wildfly_cluster(annotations={STRATEGY: "replicated"}), script)).violations) == 1


def test_sessions_kept_elsewhere_are_not_its_business():
    outcome = request_controller(wildfly_cluster(annotations={STRATEGY: "external-store"}))
    assert outcome.violations == [] and outcome.not_applicable
