"""AwsFrontDoor under Pulumi mocks: lb_cookie stickiness on ip targets, WildFly readiness health
checks on the management port, draining, the static/dynamic listener rules (evaluated the way the
ALB evaluates them), security group rules, and the TargetGroupBindings (checked against the
Services they name, with the project's own reference checks)."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from sessionstack.aws_front_door import (
    ALB_COOKIE,
    AwsFrontDoor,
    AwsFrontDoorArgs,
    elb_name,
)
from sessionstack.routing_rules import STATIC_EXTENSIONS, alb_path_matches, alb_path_patterns
from offline import k8s_checks
from tests.components.aws_mocks import aws_extras, settle_failures  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("aws_extras")

NODE_SG = "sg-nodes"


def make_args(**overrides: Any) -> AwsFrontDoorArgs:
    base: dict[str, Any] = {
        "vpc_id": "vpc-123",
        "public_subnet_ids": ["subnet-a", "subnet-b"],
        "node_security_group_id": NODE_SG,
        "namespace": "shop",
        "wildfly_service_name": "wildfly",
        "wildfly_service_port": 8080,
        "apache_service_name": "apache",
        "apache_service_port": "http",
    }
    return AwsFrontDoorArgs(**{**base, **overrides})


def one(pulumi_mocks, token: str, name: str):
    found = [r for r in pulumi_mocks.resources if r.type == token and r.name == name]
    assert len(found) == 1, f"expected one {token} {name!r}, got {len(found)}"
    return found[0]


def of_type(pulumi_mocks, token: str) -> list:
    return [r for r in pulumi_mocks.resources if r.type == token]


def services(namespace: str = "shop") -> list[dict[str, Any]]:
    """The two Services the bindings point at (port 8080 'http'), with pods behind them and the
    pods' own NetworkPolicy (their component declares it)."""
    objects: list[dict[str, Any]] = []
    for svc in ("wildfly", "apache"):
        labels = {"app": svc}
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": svc, "namespace": namespace},
                "spec": {"selector": labels, "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]},
            }
        )
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": svc, "namespace": namespace},
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": svc, "image": "x:1", "ports": [{"name": "http", "containerPort": 8080}]}]},
                    },
                },
            }
        )
        objects.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": svc, "namespace": namespace},
                "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Ingress"], "ingress": [{"ports": [{"port": "http"}]}]},
            }
        )
    return objects


# --- target groups -----------------------------------------------------------------------------
def test_wildfly_target_group_sticks_with_lb_cookie_to_pod_ips(pulumi_mocks) -> None:
    AwsFrontDoor("door", make_args(stickiness_seconds=7200, deregistration_delay_seconds=90))
    tg = one(pulumi_mocks, "aws:lb/targetGroup:TargetGroup", "door-wildfly-tg").inputs
    assert tg["stickiness"] == {"enabled": True, "type": "lb_cookie", "cookieDuration": 7200}
    assert tg["targetType"] == "ip"
    assert (tg["protocol"], tg["port"], tg["vpcId"]) == ("HTTP", 8080, "vpc-123")
    assert tg["deregistrationDelay"] == 90
    health = tg["healthCheck"]
    assert (health["path"], health["port"], health["protocol"], health["matcher"]) == ("/health/ready", "9990", "HTTP", "200")
    assert health["enabled"] is True
    assert tg["tags"]["sessionstack.io/session-holding"] == "true"


def test_default_stickiness_is_an_hour_and_draining_two_minutes(pulumi_mocks) -> None:
    AwsFrontDoor("door", make_args())
    tg = one(pulumi_mocks, "aws:lb/targetGroup:TargetGroup", "door-wildfly-tg").inputs
    assert tg["stickiness"]["cookieDuration"] == 3600
    assert tg["deregistrationDelay"] == 120


def test_apache_target_group_has_no_stickiness_and_checks_the_health_file(pulumi_mocks) -> None:
    AwsFrontDoor("door", make_args())
    tg = one(pulumi_mocks, "aws:lb/targetGroup:TargetGroup", "door-apache-tg").inputs
    assert tg["stickiness"]["enabled"] is False
    assert tg["targetType"] == "ip"
    assert (tg["healthCheck"]["path"], tg["healthCheck"]["port"]) == ("/healthz", "traffic-port")
    assert "sessionstack.io/session-holding" not in tg["tags"]


def test_names_fit_the_elb_limit_and_differ_per_role(pulumi_mocks) -> None:
    AwsFrontDoor("a-rather-long-front-door-name-for-eks", make_args())
    names = [r.inputs["name"] for r in pulumi_mocks.resources if r.type in ("aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup")]
    assert len(names) == len(set(names)) == 3
    assert all(len(n) <= 32 and not n.startswith("-") and not n.endswith("-") for n in names)


@pytest.mark.parametrize("base", ["door", "x" * 40, "front-door", "a--b"])
def test_elb_name_is_valid_for_any_component_name(base: str) -> None:
    for role in ("alb", "wildfly", "apache"):
        name = elb_name(base, role, "ab12cd")
        assert len(name) <= 32
        assert name.endswith(f"-{role}-ab12cd")
        assert all(c.isalnum() or c == "-" for c in name)


# --- load balancer, security group ---------------------------------------------------------------
def test_alb_is_internet_facing_in_two_public_subnets(pulumi_mocks) -> None:
    door = AwsFrontDoor("door", make_args())
    alb = one(pulumi_mocks, "aws:lb/loadBalancer:LoadBalancer", "door-alb").inputs
    assert alb["internal"] is False
    assert alb["loadBalancerType"] == "application"
    assert alb["subnets"] == ["subnet-a", "subnet-b"]
    assert alb["securityGroups"] == ["door-alb-sg-id"]
    assert alb["dropInvalidHeaderFields"] is True
    dns = pulumi_mocks.value(door.alb_dns_name)
    assert pulumi_mocks.value(door.url) == f"http://{dns}/"
    assert pulumi_mocks.value(door.affinity_cookie_name) == ALB_COOKIE == "AWSALB"


def test_security_group_admits_http_and_reaches_only_the_pods(pulumi_mocks) -> None:
    AwsFrontDoor("door", make_args())
    sg = one(pulumi_mocks, "aws:ec2/securityGroup:SecurityGroup", "door-alb-sg").inputs
    assert sg["vpcId"] == "vpc-123"
    assert "ingress" not in sg and "egress" not in sg  # rules are separate resources
    ingress = [r.inputs for r in of_type(pulumi_mocks, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")]
    assert ingress == [
        {
            "securityGroupId": "door-alb-sg-id",
            "cidrIpv4": "0.0.0.0/0",
            "ipProtocol": "tcp",
            "fromPort": 80,
            "toPort": 80,
            "description": "HTTP from clients",
        }
    ]
    egress = of_type(pulumi_mocks, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert sorted((r.inputs["fromPort"], r.inputs["toPort"]) for r in egress) == [(8080, 8080), (9990, 9990)]
    assert all(r.inputs["referencedSecurityGroupId"] == NODE_SG and r.inputs["ipProtocol"] == "tcp" for r in egress)
    assert all("cidrIpv4" not in r.inputs for r in egress)


def test_restricted_cidrs_get_one_rule_each(pulumi_mocks) -> None:
    AwsFrontDoor("door", make_args(allowed_cidrs=("203.0.113.0/24", "198.51.100.0/24")))
    cidrs = sorted(r.inputs["cidrIpv4"] for r in of_type(pulumi_mocks, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"))
    assert cidrs == ["198.51.100.0/24", "203.0.113.0/24"]


# --- listener and rules --------------------------------------------------------------------------
def _route(rules: list[dict[str, Any]], default: str, path: str) -> str:
    """Which target group the ALB picks: lowest priority whose path pattern matches, else default."""
    for rule in sorted(rules, key=lambda r: r["priority"]):
        patterns = rule["conditions"][0]["pathPattern"]["values"]
        if any(alb_path_matches(p, path) for p in patterns):
            return rule["actions"][0]["targetGroupArn"]
    return default


def test_static_paths_go_to_apache_and_everything_else_to_wildfly(pulumi_mocks) -> None:
    door = AwsFrontDoor("door", make_args())
    listener = one(pulumi_mocks, "aws:lb/listener:Listener", "door-http").inputs
    assert (listener["port"], listener["protocol"]) == (80, "HTTP")
    wildfly_arn = pulumi_mocks.value(door.wildfly_target_group_arn)
    apache_arn = pulumi_mocks.value(door.apache_target_group_arn)
    assert wildfly_arn != apache_arn
    assert listener["defaultActions"] == [{"type": "forward", "targetGroupArn": wildfly_arn}]

    rules = [r.inputs for r in of_type(pulumi_mocks, "aws:lb/listenerRule:ListenerRule")]
    assert len({r["priority"] for r in rules}) == len(rules)
    assert all(r["listenerArn"] == pulumi_mocks.value(door.listener_arn) for r in rules)
    assert all(r["actions"] == [{"type": "forward", "targetGroupArn": apache_arn}] for r in rules)
    assert all(len(r["conditions"][0]["pathPattern"]["values"]) <= 5 for r in rules)
    # Same patterns as routing_rules gives every router.
    assert sorted(p for r in rules for p in r["conditions"][0]["pathPattern"]["values"]) == sorted(
        p for chunk in alb_path_patterns(STATIC_EXTENSIONS) for p in chunk
    )

    for path in ("/index.html", "/css/site.css", "/img/LOGO.PNG", "/fonts/a.woff2", "/js/app.mjs"):
        assert _route(rules, wildfly_arn, path) == apache_arn, path
    for path in ("/", "/session-demo/", "/session-demo/index.jsp", "/backend/api", "/health/ready", "/a.png/x"):
        assert _route(rules, wildfly_arn, path) == wildfly_arn, path


def test_extensions_are_configurable(pulumi_mocks) -> None:
    AwsFrontDoor("door", make_args(static_extensions=("css", "js")))
    rules = [r.inputs for r in of_type(pulumi_mocks, "aws:lb/listenerRule:ListenerRule")]
    assert [r["conditions"][0]["pathPattern"]["values"] for r in rules] == [["*.css", "*.CSS", "*.js", "*.JS"]]


# --- TargetGroupBindings -------------------------------------------------------------------------
def test_bindings_register_the_service_pods_and_open_the_node_group_to_the_alb(pulumi_mocks) -> None:
    door = AwsFrontDoor("door", make_args())
    wildfly = pulumi_mocks.object("TargetGroupBinding", "door-wildfly")
    apache = pulumi_mocks.object("TargetGroupBinding", "door-apache")
    sg_id = pulumi_mocks.value(door.alb_security_group_id)
    assert wildfly["apiVersion"] == "elbv2.k8s.aws/v1beta1"
    for binding, arn, service, ports in (
        (wildfly, door.wildfly_target_group_arn, {"name": "wildfly", "port": 8080}, [8080, 9990]),
        (apache, door.apache_target_group_arn, {"name": "apache", "port": "http"}, [8080]),
    ):
        spec = binding["spec"]
        assert binding["metadata"]["namespace"] == "shop"
        assert spec["targetType"] == "ip"
        assert spec["targetGroupARN"] == pulumi_mocks.value(arn)
        assert spec["serviceRef"] == service
        (rule,) = spec["networking"]["ingress"]
        assert rule["from"] == [{"securityGroup": {"groupID": sg_id}}]
        assert [p["port"] for p in rule["ports"]] == ports
        assert all(p["protocol"] == "TCP" for p in rule["ports"])

    objects = pulumi_mocks.objects()
    assert k8s_checks.schema_errors(objects) == []
    assert k8s_checks.reference_errors(objects + services()) == []
    # And the checks do catch a binding to a Service port that does not exist.
    broken = [dict(o, spec={**o["spec"], "serviceRef": {"name": "wildfly", "port": 9999}}) for o in objects[:1]]
    assert k8s_checks.reference_errors(broken + services())


def test_bindings_wait_for_what_the_component_depends_on(pulumi_mocks, aws_extras) -> None:
    class Controller(pulumi.ComponentResource):
        def __init__(self) -> None:
            super().__init__("test:index:Controller", "controller")
            self.chart = pulumi.CustomResource("test:index:Chart", "controller-chart", {}, opts=pulumi.ResourceOptions(parent=self))
            self.register_outputs({})

    controller = Controller()
    AwsFrontDoor("door", make_args(), opts=pulumi.ResourceOptions(depends_on=[controller]))
    pulumi_mocks.settle()
    chart_urn = next(r.urn for r in pulumi_mocks.resources if r.name == "controller-chart")
    for binding in ("door-wildfly-tgb", "door-apache-tgb"):
        assert chart_urn in aws_extras.dependencies[binding], binding
    # The AWS side does not wait for the controller.
    assert chart_urn not in aws_extras.dependencies["door-alb"]


def test_every_child_is_parented_and_named_after_the_component(pulumi_mocks) -> None:
    AwsFrontDoor("door", make_args())
    children = [r for r in pulumi_mocks.resources if r.type != "sessionstack:aws:AwsFrontDoor"]
    assert children and all(r.name.startswith("door-") for r in children)
    assert all("sessionstack:aws:AwsFrontDoor$" in r.urn for r in children)


def test_two_front_doors_in_one_stack_do_not_collide(pulumi_mocks) -> None:
    AwsFrontDoor("blue", make_args())
    AwsFrontDoor("green", make_args())
    assert pulumi_mocks.run.duplicate_urns == []
    names = [r.inputs["name"] for r in pulumi_mocks.resources if r.type.startswith("aws:lb/") and "name" in r.inputs]
    assert len(names) == len(set(names)) == 6
    assert k8s_checks.reference_errors(pulumi_mocks.objects() + services()) == []


# --- Args validation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("stickiness_seconds", 0, "an integer from 1 to 604800"),
        ("stickiness_seconds", 604801, "an integer from 1 to 604800"),
        ("stickiness_seconds", "3600", "an integer from 1 to 604800"),
        ("stickiness_seconds", True, "an integer from 1 to 604800"),
        ("deregistration_delay_seconds", -1, "an integer from 0 to 3600"),
        ("deregistration_delay_seconds", 3601, "an integer from 0 to 3600"),
        ("wildfly_health_check_port", 0, "an integer from 1 to 65535"),
        ("wildfly_health_check_path", "health/ready", "an absolute URL path"),
        ("apache_health_check_path", "/healthz?x=1", "an absolute URL path"),
        ("public_subnet_ids", ["subnet-a"], "at least two distinct public subnets"),
        ("public_subnet_ids", ["subnet-a", "subnet-a"], "at least two distinct public subnets"),
        ("static_extensions", (".png",), "a tuple of file extensions"),
        ("static_extensions", (), "a tuple of file extensions"),
        ("allowed_cidrs", ("0.0.0.0/0", "everyone"), "a non-empty tuple of IPv4 CIDRs"),
        ("allowed_cidrs", "0.0.0.0/0", "a non-empty tuple of IPv4 CIDRs"),
        ("idle_timeout_seconds", 0, "an integer from 1 to 4000"),
    ],
)
def test_bad_args_are_rejected_with_field_value_and_allowed(field: str, value: Any, allowed: str) -> None:
    with pytest.raises(ValueError) as err:
        make_args(**{field: value})
    message = str(err.value)
    assert message.startswith(f"AwsFrontDoorArgs.{field} must be {allowed}")
    assert message.endswith(f"got {list(value) if field == 'public_subnet_ids' else value!r}")


def test_one_subnet_from_an_output_fails_when_resolved(pulumi_mocks) -> None:
    AwsFrontDoor("door", make_args(public_subnet_ids=pulumi.Output.from_input(["subnet-a"])))
    failures = settle_failures(pulumi_mocks)
    assert failures and any("AwsFrontDoorArgs.public_subnet_ids must be at least two distinct public subnets" in m for m in failures), failures
