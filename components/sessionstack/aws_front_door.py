"""AwsFrontDoor: the internet-facing Application Load Balancer in front of Apache and WildFly.

One ALB over the public subnets (two zones at least), its security group (HTTP in from the allowed
CIDRs; out only to the node/pod security group on the pods' serving and health-check ports), an
HTTP listener whose rules send static paths to the Apache target group and everything else to the
WildFly target group, and two TargetGroupBindings that let the AWS Load Balancer Controller
register the pods behind the two Services and open the node/pod security group to the ALB.

Sessions: the WildFly target group pins each browser to one pod with the ALB's duration-based
cookie (``lb_cookie``, named AWSALB by AWS; its name cannot be chosen). That is affinity, not
safety: the session itself lives in the replicated Infinispan cache or in Redis, so when a pod goes
away the next request lands on another pod that has the session. Targets are pod IPs
(``target_type="ip"``): with instance targets the ALB would pin a node, and kube-proxy would spread
that node's traffic over every pod. A pod that is being removed is deregistered and drains for
``deregistration_delay_seconds`` (in-flight requests finish; new ones go elsewhere). WildFly is
health-checked on its readiness endpoint on the management port, so a pod is only sent traffic
once it has joined the cluster and deployed the application.

The path patterns come from sessionstack/routing_rules.py, like every other router's, so a path
reaches the same tier on every platform (ALB patterns are case-sensitive: see that module).

Kubernetes children (the bindings) need the controller's CRD and webhook: give this component
``depends_on=[<AwsLoadBalancerController>]`` and the bindings wait for it (Pulumi does not pass a
component's dependencies on to its children by itself; this component does, for those children).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import Any, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from sessionstack import k8s_common, validation
from sessionstack.apache_config import APACHE_PORT, HEALTH_PATH as APACHE_HEALTH_PATH
from sessionstack.routing_rules import STATIC_EXTENSIONS, alb_path_patterns
from sessionstack.wildfly_config import HTTP_PORT, MANAGEMENT_PORT

_fail = partial(validation.fail, "AwsFrontDoorArgs")
_check_int = partial(validation.check_int, "AwsFrontDoorArgs")
_is_ipv4_cidr = validation.is_ipv4_cidr

LISTENER_PORT = 80
ALB_COOKIE = "AWSALB"
"""The cookie AWS names for lb_cookie stickiness (AWSALBCORS is its CORS twin)."""
WILDFLY_READINESS_PATH = "/health/ready"
TGB_API_VERSION = "elbv2.k8s.aws/v1beta1"
SESSION_HOLDING_TAG = "sessionstack.io/session-holding"
STATIC_RULE_FIRST_PRIORITY = 100
_ELB_NAME_MAX = 32


def elb_name(base: str, role: str, suffix: str) -> str:
    """A load balancer / target group name: at most 32 letters, digits and '-', no '-' at either end.

    ``base`` (the component name) is shortened to make room for ``-<role>-<suffix>``; the random
    suffix keeps names unique across stacks in one account, where explicit names would collide.
    """
    room = _ELB_NAME_MAX - len(role) - len(suffix) - 2
    stem = re.sub(r"[^A-Za-z0-9-]", "-", base)[:room].strip("-") or "sessionstack"
    name = f"{stem}-{role}-{suffix}"
    if len(name) > _ELB_NAME_MAX or not re.match(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$", name) or name.startswith("internal-"):
        raise ValueError(f"cannot build an ELB name from base {base!r}, role {role!r} and suffix {suffix!r}: got {name!r}")
    return name


def static_rule_patterns(extensions: tuple[str, ...]) -> list[list[str]]:
    """Path patterns per listener rule (an ALB condition takes at most five values)."""
    return alb_path_patterns(extensions)


@dataclass(frozen=True)
class AwsFrontDoorArgs:
    vpc_id: pulumi.Input[str]
    """VPC of the ALB, its security group and both target groups (EksCluster.vpc_id)."""
    public_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Public subnets in at least two zones (EksCluster.public_subnet_ids)."""
    node_security_group_id: pulumi.Input[str]
    """Security group of the nodes and pods (EksCluster.cluster_security_group_id)."""
    namespace: pulumi.Input[str]
    """Namespace of the two Services; the TargetGroupBindings go there."""
    wildfly_service_name: pulumi.Input[str]
    """WildFly's Service (WildflyCluster.http_service_name) in namespace; its ready pods become
    the WildFly target group's targets."""
    wildfly_service_port: pulumi.Input[Any]
    """Port (number or name) of the WildFly Service, as in the Service's spec.ports."""
    apache_service_name: pulumi.Input[str]
    """Apache's Service (ApacheStaticTier.service_name) in namespace; its ready pods become
    the Apache target group's targets."""
    apache_service_port: pulumi.Input[Any]
    """Port (number or name) of the Apache Service, as in the Service's spec.ports."""
    stickiness_seconds: int = 3600
    """lb_cookie duration: how long the ALB keeps sending a browser to the same WildFly pod."""
    deregistration_delay_seconds: int = 120
    """How long a removed pod keeps serving its in-flight requests before the ALB lets go."""
    wildfly_target_port: int = HTTP_PORT
    """Container port the ALB sends requests to (the pods' IPs are the targets)."""
    wildfly_health_check_port: int = MANAGEMENT_PORT
    """Pod port (1-65535) the ALB health-checks WildFly on: the management port (9990),
    where the readiness endpoint is; the ALB's security group may reach it."""
    wildfly_health_check_path: str = WILDFLY_READINESS_PATH
    """Absolute path (no query, at most 1024 characters) that answers 200 only once the pod
    has joined the cluster and deployed the application."""
    apache_target_port: int = APACHE_PORT
    """Container port (1-65535) the ALB sends static requests to; httpd listens on 8080 (non-root)."""
    apache_health_check_path: str = APACHE_HEALTH_PATH
    """Absolute path (no query, at most 1024 characters) httpd answers 200 on, checked on the
    traffic port (apache_target_port)."""
    static_extensions: tuple[str, ...] = STATIC_EXTENSIONS
    """File extensions served by Apache (routing_rules.STATIC_EXTENSIONS)."""
    allowed_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    """Who may reach the ALB on port 80."""
    idle_timeout_seconds: int = 60
    """ALB idle timeout in seconds (1-4000): a connection idle this long is closed (60: AWS's default)."""

    def __post_init__(self) -> None:
        _check_int("stickiness_seconds", self.stickiness_seconds, 1, 604800)
        _check_int("deregistration_delay_seconds", self.deregistration_delay_seconds, 0, 3600)
        _check_int("idle_timeout_seconds", self.idle_timeout_seconds, 1, 4000)
        for field in ("wildfly_target_port", "wildfly_health_check_port", "apache_target_port"):
            _check_int(field, getattr(self, field), 1, 65535)
        for field in ("wildfly_health_check_path", "apache_health_check_path"):
            path = getattr(self, field)
            if not isinstance(path, str) or not path.startswith("/") or len(path) > 1024 or any(c in path for c in " ?#"):
                _fail(field, path, "an absolute URL path such as '/health/ready' (at most 1024 characters, no query)")
        try:
            static_rule_patterns(self.static_extensions)
        except ValueError as exc:
            _fail("static_extensions", self.static_extensions, f"a tuple of file extensions ({exc})")
        cidrs = self.allowed_cidrs
        if isinstance(cidrs, str) or not isinstance(cidrs, tuple) or not cidrs or not all(_is_ipv4_cidr(c) for c in cidrs):
            _fail("allowed_cidrs", cidrs, "a non-empty tuple of IPv4 CIDRs such as ('0.0.0.0/0',)")
        subnets = self.public_subnet_ids
        if isinstance(subnets, (list, tuple)):
            _check_subnets(subnets)


def _check_subnets(subnets: Sequence[Any]) -> list[Any]:
    """An ALB needs subnets in at least two zones; checked on plain lists and on resolved Outputs."""
    known = [s for s in subnets if isinstance(s, str)]
    if len(subnets) < 2 or len(set(known)) < len(known):
        _fail("public_subnet_ids", list(subnets), "at least two distinct public subnets (one per zone; an ALB spans two zones or more)")
    return list(subnets)


def _health_check(port: str, path: str) -> aws.lb.TargetGroupHealthCheckArgs:
    """HTTP 200 on ``path``: two checks 10 s apart take a pod in or out (about 20 s either way)."""
    return aws.lb.TargetGroupHealthCheckArgs(
        enabled=True,
        protocol="HTTP",
        port=port,
        path=path,
        matcher="200",
        interval=10,
        timeout=5,
        healthy_threshold=2,
        unhealthy_threshold=2,
    )


def target_group_binding(
    name: pulumi.Input[str],
    namespace: pulumi.Input[str],
    target_group_arn: pulumi.Input[str],
    service_name: pulumi.Input[str],
    service_port: pulumi.Input[Any],
    alb_security_group_id: pulumi.Input[str],
    pod_ports: Sequence[int],
    labels: dict[str, str],
) -> dict[str, Any]:
    """A TargetGroupBinding (wire form): register the Service's ready pods by IP, and let the ALB's
    security group reach them on ``pod_ports`` (serving and health-check ports)."""
    return {
        "apiVersion": TGB_API_VERSION,
        "kind": "TargetGroupBinding",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "targetGroupARN": target_group_arn,
            "targetType": "ip",
            "serviceRef": {"name": service_name, "port": service_port},
            "networking": {
                "ingress": [
                    {
                        "from": [{"securityGroup": {"groupID": alb_security_group_id}}],
                        "ports": [{"protocol": "TCP", "port": port} for port in sorted(set(pod_ports))],
                    }
                ]
            },
        },
    }


class AwsFrontDoor(pulumi.ComponentResource):
    alb_dns_name: pulumi.Output[str]
    """The ALB's public DNS name: point a CNAME or Route 53 alias at it (url is built from it)."""
    url: pulumi.Output[str]
    """``http://<alb dns name>/``"""
    alb_arn: pulumi.Output[str]
    """ARN of the ALB, for what attaches to it outside this component (WAF, access logs, alarms)."""
    alb_security_group_id: pulumi.Output[str]
    """The ALB's security group (HTTP in from allowed_cidrs, out to the pods); reference it in
    other security group rules."""
    listener_arn: pulumi.Output[str]
    """ARN of the HTTP listener on port 80, for adding listener rules (the static rules use
    priorities from 100)."""
    wildfly_target_group_arn: pulumi.Output[str]
    """Target group of the WildFly pod IPs (lb_cookie stickiness): the listener's default action;
    for target-health alarms."""
    apache_target_group_arn: pulumi.Output[str]
    """Target group of the Apache pod IPs (no stickiness) that the static-path rules forward to;
    for target-health alarms."""
    affinity_cookie_name: pulumi.Output[str]
    """The ALB's stickiness cookie (AWSALB), for clients and checkers that follow affinity."""

    def __init__(self, name: str, args: AwsFrontDoorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        k8s_common.validate_component_name("AwsFrontDoor", name)
        super().__init__("sessionstack:aws:AwsFrontDoor", name, None, opts)
        tags = {"app.kubernetes.io/part-of": k8s_common.PART_OF, "sessionstack.io/front-door": name}
        suffix = random.RandomString(f"{name}-suffix", length=6, special=False, upper=False, opts=pulumi.ResourceOptions(parent=self)).result
        door = _Door(self, name, args, tags, suffix)

        sg = door.security_group()
        alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            name=suffix.apply(lambda s: elb_name(name, "alb", s)),
            internal=False,
            load_balancer_type="application",
            ip_address_type="ipv4",
            security_groups=[sg.id],
            subnets=pulumi.Output.from_input(args.public_subnet_ids).apply(_check_subnets),
            idle_timeout=args.idle_timeout_seconds,
            drop_invalid_header_fields=True,  # no request smuggling through malformed headers
            tags={**tags, "Name": f"{name}-alb"},
            opts=door.opts,
        )
        wildfly_tg = door.target_group(
            "wildfly",
            args.wildfly_target_port,
            aws.lb.TargetGroupStickinessArgs(enabled=True, type="lb_cookie", cookie_duration=args.stickiness_seconds),
            _health_check(str(args.wildfly_health_check_port), args.wildfly_health_check_path),
            # Marks the group as fronting session-holding pods (the policy pack checks its stickiness).
            {SESSION_HOLDING_TAG: "true"},
        )
        # Static files need no affinity: any Apache pod serves any file.
        apache_tg = door.target_group(
            "apache", args.apache_target_port, aws.lb.TargetGroupStickinessArgs(enabled=False, type="lb_cookie"), _health_check("traffic-port", args.apache_health_check_path)
        )
        listener = door.listener(alb, wildfly_tg, apache_tg)
        # The bindings need the controller's CRD and webhook: they inherit this component's depends_on.
        binding_opts = pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None)
        door.binding("wildfly", wildfly_tg, sg, args.wildfly_service_name, args.wildfly_service_port, (args.wildfly_target_port, args.wildfly_health_check_port), binding_opts)
        door.binding("apache", apache_tg, sg, args.apache_service_name, args.apache_service_port, (args.apache_target_port,), binding_opts)

        self.alb_dns_name = alb.dns_name
        self.url = alb.dns_name.apply(lambda dns: f"http://{dns}/")
        self.alb_arn = alb.arn
        self.alb_security_group_id = sg.id
        self.listener_arn = listener.arn
        self.wildfly_target_group_arn = wildfly_tg.arn
        self.apache_target_group_arn = apache_tg.arn
        self.affinity_cookie_name = pulumi.Output.from_input(ALB_COOKIE)
        self.register_outputs(
            {
                "alb_dns_name": self.alb_dns_name,
                "url": self.url,
                "alb_arn": self.alb_arn,
                "alb_security_group_id": self.alb_security_group_id,
                "listener_arn": self.listener_arn,
                "wildfly_target_group_arn": self.wildfly_target_group_arn,
                "apache_target_group_arn": self.apache_target_group_arn,
                "affinity_cookie_name": self.affinity_cookie_name,
            }
        )


@dataclass(frozen=True)
class _Door:
    """The AWS objects of one front door, declared as children of the component."""

    parent: pulumi.Resource
    name: str
    args: AwsFrontDoorArgs
    tags: dict[str, str]
    suffix: pulumi.Output[str]
    """Random suffix of the ELB names (they must be unique per account and region)."""

    @property
    def opts(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent)

    def security_group(self) -> aws.ec2.SecurityGroup:
        """The ALB's security group: HTTP in from the allowed CIDRs, out to the pod ports only."""
        name, args = self.name, self.args
        sg = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            vpc_id=args.vpc_id,
            description=f"ALB {name}: HTTP in from the allowed CIDRs, out to the pods",
            tags={**self.tags, "Name": f"{name}-alb"},
            opts=self.opts,
        )
        for i, cidr in enumerate(args.allowed_cidrs):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-alb-in-{i}",
                security_group_id=sg.id,
                cidr_ipv4=cidr,
                ip_protocol="tcp",
                from_port=LISTENER_PORT,
                to_port=LISTENER_PORT,
                description="HTTP from clients",
                opts=self.opts,
            )
        for port in sorted({args.wildfly_target_port, args.wildfly_health_check_port, args.apache_target_port}):
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-alb-out-{port}",
                security_group_id=sg.id,
                referenced_security_group_id=args.node_security_group_id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description="To pods (requests and health checks)",
                opts=self.opts,
            )
        return sg

    def target_group(
        self, role: str, port: int, stickiness: aws.lb.TargetGroupStickinessArgs, health_check: aws.lb.TargetGroupHealthCheckArgs, extra_tags: dict[str, str] | None = None
    ) -> aws.lb.TargetGroup:
        """An IP target group of ``role``'s pods (registered by the controller's TargetGroupBinding)."""
        return aws.lb.TargetGroup(
            f"{self.name}-{role}-tg",
            name=self.suffix.apply(lambda s: elb_name(self.name, role, s)),
            vpc_id=self.args.vpc_id,
            target_type="ip",
            protocol="HTTP",
            port=port,
            deregistration_delay=self.args.deregistration_delay_seconds,
            stickiness=stickiness,
            health_check=health_check,
            tags={**self.tags, "Name": f"{self.name}-{role}", **(extra_tags or {})},
            opts=self.opts,
        )

    def listener(self, alb: aws.lb.LoadBalancer, wildfly_tg: aws.lb.TargetGroup, apache_tg: aws.lb.TargetGroup) -> aws.lb.Listener:
        """HTTP listener: static paths to Apache by rule, everything else to WildFly by default."""
        listener = aws.lb.Listener(
            f"{self.name}-http",
            load_balancer_arn=alb.arn,
            port=LISTENER_PORT,
            protocol="HTTP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=wildfly_tg.arn)],
            tags=self.tags,
            opts=self.opts,
        )
        for i, patterns in enumerate(static_rule_patterns(self.args.static_extensions)):
            aws.lb.ListenerRule(
                f"{self.name}-static-{i}",
                listener_arn=listener.arn,
                priority=STATIC_RULE_FIRST_PRIORITY + i,
                actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=apache_tg.arn)],
                conditions=[aws.lb.ListenerRuleConditionArgs(path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=patterns))],
                tags=self.tags,
                opts=self.opts,
            )
        return listener

    def binding(
        self, role: str, tg: aws.lb.TargetGroup, sg: aws.ec2.SecurityGroup, service_name: Any, service_port: Any, ports: tuple[int, ...], opts: pulumi.ResourceOptions
    ) -> None:
        """The TargetGroupBinding that registers ``role``'s pod IPs in ``tg``."""
        binding = target_group_binding(
            name=f"{self.name}-{role}",
            namespace=self.args.namespace,
            target_group_arn=tg.arn,
            service_name=service_name,
            service_port=service_port,
            alb_security_group_id=sg.id,
            pod_ports=ports,
            labels=k8s_common.standard_labels("aws-front-door", self.name, role),
        )
        k8s.apiextensions.CustomResource(
            f"{self.name}-{role}-tgb", api_version=binding["apiVersion"], kind=binding["kind"], metadata=binding["metadata"], spec=binding["spec"], opts=opts
        )
