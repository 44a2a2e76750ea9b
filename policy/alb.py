"""ALB target groups in front of session workloads: cookie stickiness, to the pod.

With ``targetType: instance`` the ALB registers nodes; its stickiness cookie pins a user to a
node, and kube-proxy then spreads that node's requests over every pod of the Service, so the
cookie never reaches the pod that holds the session. ``ip`` targets are the pods themselves.
Stickiness must be a cookie (``lb_cookie``, or ``app_cookie`` with the application's cookie name)
with a duration the ALB accepts (1 s to 7 days).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from policy.exposure import (
    ALB,
    MAX_STICKINESS_SECONDS,
    alb_annotations,
    alb_attributes,
    exposures,
    is_alb_ingress,
    session_holding,
)
from policy.k8s import AWS_TARGET_GROUP_TYPES, SESSION_HOLDING_LABEL, Resource, StackView
from policy.props import UNKNOWN, as_dict, as_int, truthy

COOKIE_TYPES = ("lb_cookie", "app_cookie")
FIX_TG = (
    "Fix: targetType 'ip' and stickiness {enabled: true, type: 'lb_cookie', cookieDuration: 3600} "
    f"(1-{MAX_STICKINESS_SECONDS} s; or type 'app_cookie' with the application's cookieName)."
)
FIX_INGRESS = (
    f"Fix: annotate {ALB}target-type: ip and {ALB}target-group-attributes: "
    "stickiness.enabled=true,stickiness.type=lb_cookie,stickiness.lb_cookie.duration_seconds=3600."
)

_INSTANCE_WHY = (
    "the ALB's cookie then pins a node, not a pod, and kube-proxy spreads that node's requests over all pods"
)


def _duration_problem(raw: Any, where: str) -> str | None:
    if raw is None or raw is UNKNOWN:
        return None
    seconds = as_int(raw) if not isinstance(raw, str) else (int(raw) if raw.strip().isdigit() else None)
    if seconds is None or not 1 <= seconds <= MAX_STICKINESS_SECONDS:
        return f"{where} {raw!r} is outside 1-{MAX_STICKINESS_SECONDS} s"
    return None


def target_group_problems(tg: Resource) -> list[str]:
    props = tg.props
    problems = []
    target_type = props.get("targetType", "instance")
    if target_type is not UNKNOWN and target_type != "ip":
        problems.append(f"targetType {target_type!r}: {_INSTANCE_WHY}")
    stickiness = props.get("stickiness")
    if stickiness is UNKNOWN:
        return problems
    stickiness = as_dict(stickiness)
    enabled = stickiness.get("enabled", True) if stickiness else False
    if enabled is UNKNOWN:
        return problems
    if not stickiness or truthy(enabled) is False:
        problems.append("stickiness is off: consecutive requests of one user go to different pods")
        return problems
    kind = stickiness.get("type")
    if kind is not UNKNOWN and kind not in COOKIE_TYPES:
        problems.append(f"stickiness type {kind!r} is not a cookie (lb_cookie or app_cookie)")
    if kind == "app_cookie" and not stickiness.get("cookieName"):
        problems.append("app_cookie stickiness without cookieName")
    duration = _duration_problem(stickiness.get("cookieDuration"), "cookieDuration")
    if duration:
        problems.append(duration)
    return problems


def alb_ingress_problems(annotations: dict[str, Any]) -> list[str]:
    problems = []
    target_type = annotations.get(ALB + "target-type", "instance")
    if target_type is not UNKNOWN and target_type != "ip":
        problems.append(f"{ALB}target-type {target_type!r}: {_INSTANCE_WHY}")
    if annotations.get(ALB + "target-group-attributes") is UNKNOWN:
        return problems
    attrs = alb_attributes(annotations)
    if attrs.get("stickiness.enabled") != "true":
        problems.append("target group stickiness is off (stickiness.enabled=true missing): consecutive requests go to different pods")
        return problems
    kind = attrs.get("stickiness.type", "lb_cookie")
    if kind not in COOKIE_TYPES:
        problems.append(f"stickiness.type {kind!r} is not a cookie (lb_cookie or app_cookie)")
    if kind == "app_cookie" and not attrs.get("stickiness.app_cookie.cookie_name"):
        problems.append("app_cookie stickiness without stickiness.app_cookie.cookie_name")
    duration = _duration_problem(attrs.get(f"stickiness.{kind}.duration_seconds"), f"stickiness.{kind}.duration_seconds")
    if duration:
        problems.append(duration)
    return problems


def _nlb(tg: Resource) -> bool:
    """A Network Load Balancer target group: no cookies there, so this rule is not about it."""
    return tg.props.get("protocol") in ("TCP", "UDP", "TLS", "TCP_UDP", "GENEVE")


def validate_target_groups(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(Resource.from_policy_resource(r) for r in args.resources)
    checked_tgs: dict[str, str] = {}
    checked_ingresses: set[str] = set()
    for workload in view.workloads:
        if not session_holding(workload):
            continue
        for path in exposures(view, workload):
            front = path.front
            if front is None:
                continue
            if front.kind == "TargetGroupBinding":
                binding_type = front.spec.get("targetType")
                if binding_type not in (None, UNKNOWN, "ip") and front.urn not in checked_tgs:
                    report_violation(
                        f"TargetGroupBinding {front.name} in front of session workload {workload.describe()} registers "
                        f"targetType {binding_type!r}: {_INSTANCE_WHY}. {FIX_TG}",
                        front.urn,
                    )
                checked_tgs.setdefault(front.urn, workload.describe())
                for tg in path.target_groups:
                    checked_tgs.setdefault(tg.urn, workload.describe())
            elif front.kind == "Ingress" and is_alb_ingress(front) and front.urn not in checked_ingresses:
                checked_ingresses.add(front.urn)
                problems = alb_ingress_problems(alb_annotations(front, path.service))
                if problems:
                    report_violation(
                        f"ALB Ingress {front.name} in front of session workload {workload.describe()}: {'; '.join(problems)}. {FIX_INGRESS}",
                        front.urn,
                    )
    for tg in view.aws(*AWS_TARGET_GROUP_TYPES):
        if as_dict(tg.props.get("tags")).get(SESSION_HOLDING_LABEL) == "true":
            checked_tgs.setdefault(tg.urn, f"tagged {SESSION_HOLDING_LABEL}")
    target_groups = [
        view.by_urn[u]
        for u in checked_tgs
        if u in view.by_urn and view.by_urn[u].type in AWS_TARGET_GROUP_TYPES and not _nlb(view.by_urn[u])
    ]
    if not target_groups and not checked_ingresses and not checked_tgs:
        args.not_applicable("no ALB target group or ALB Ingress in front of a session workload")
        return
    for tg in target_groups:
        problems = target_group_problems(tg)
        if problems:
            report_violation(
                f"Target group {tg.name} in front of session workload {checked_tgs[tg.urn]}: {'; '.join(problems)}. {FIX_TG}",
                tg.urn,
            )


alb_target_group_stickiness = StackValidationPolicy(
    name="alb-target-group-stickiness",
    description="ALB target groups in front of session workloads use ip targets and lb_cookie/app_cookie stickiness of 1-604800 s.",
    validate=validate_target_groups,
    remediation_steps=FIX_TG,
)
