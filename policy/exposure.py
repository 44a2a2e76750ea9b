"""Which workloads hold sessions, how many pods they run, and what sends traffic to them.

Shared by the session rules and the target-group rule: a workload is "session-holding" when it
runs WildFly or carries the ``sessionstack.io/session-holding: "true"`` label; it is "exposed"
when a Service selects its pods, directly or behind an Ingress, an HTTPRoute or an AWS target
group (TargetGroupBinding). Each exposure also says whether it pins a client to one pod (session
affinity), because affinity changes what the login-loop detector reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from policy.k8s import (
    AWS_TARGET_GROUP_TYPES,
    SESSION_HOLDING_LABEL,
    K8sObject,
    Resource,
    Service,
    StackView,
    Workload,
    is_wildfly,
    same_name,
    same_namespace,
)
from policy.props import UNKNOWN, as_dict, as_int, as_list, dig, truthy

ALB = "alb.ingress.kubernetes.io/"
MAX_STICKINESS_SECONDS = 604800


def session_holding(workload: Workload) -> bool:
    """WildFly, or marked with the session-holding label ("false" opts a workload out)."""
    marker = workload.label_or_annotation(SESSION_HOLDING_LABEL)
    if isinstance(marker, str) and marker.lower() in ("true", "false"):
        return marker.lower() == "true"
    return any(is_wildfly(c) for c in workload.containers())


@dataclass(frozen=True)
class Scale:
    multi: bool
    """More than one pod may serve requests."""
    text: str


def scale(view: StackView, workload: Workload) -> Scale:
    replicas = workload.replicas
    parts: list[str] = []
    multi = False
    if replicas is None:
        parts.append("one pod per node (DaemonSet)")
        multi = True
    elif replicas is UNKNOWN:
        parts.append("a replica count known only at update time")
        multi = True
    else:
        parts.append(f"{replicas} replica{'s' if replicas != 1 else ''}")
        multi = replicas > 1
    for hpa in view.hpas_for(workload):
        high = hpa.spec.get("maxReplicas")
        high_int = as_int(high)
        if high is UNKNOWN or (high_int is not None and high_int > 1):
            parts.append(f"HPA {hpa.name} up to {high_int if high_int is not None else '?'}")
            multi = True
    return Scale(multi, ", ".join(parts))


# --------------------------------------------------------------------------------------------
# Target groups
# --------------------------------------------------------------------------------------------


def target_groups_of_binding(view: StackView, binding: K8sObject) -> list[Resource]:
    """The AWS target groups a TargetGroupBinding registers its Service's pods in.

    Linked by ARN or name when known, otherwise by the dependency the engine records because the
    binding's spec is computed from the target group.
    """
    arn = binding.spec.get("targetGroupARN")
    tg_name = binding.spec.get("targetGroupName")
    found = []
    for tg in view.aws(*AWS_TARGET_GROUP_TYPES):
        tg_arn = tg.props.get("arn")
        if isinstance(arn, str) and isinstance(tg_arn, str) and arn == tg_arn:
            found.append(tg)
        elif isinstance(tg_name, str) and tg.props.get("name") == tg_name:
            found.append(tg)
        elif binding.res.depends_on(tg.urn):
            found.append(tg)
    return found


def tg_stickiness(tg: Resource) -> tuple[bool | None, str]:
    """(enabled, description) of a target group's cookie stickiness."""
    stickiness = tg.props.get("stickiness")
    if stickiness is UNKNOWN:
        return None, "unknown"
    stickiness = as_dict(stickiness)
    if not stickiness:
        return False, "no stickiness block"
    enabled = truthy(stickiness.get("enabled"))
    if stickiness.get("enabled") is UNKNOWN:
        return None, "unknown"
    if enabled is False:
        return False, "stickiness.enabled false"
    kind = stickiness.get("type")
    return True, f"{kind} stickiness" if isinstance(kind, str) else "stickiness"


def alb_annotations(ingress: K8sObject | None, service: Service | None) -> dict[str, Any]:
    """AWS Load Balancer Controller annotations in force for one backend (the Service's win)."""
    merged: dict[str, Any] = {}
    for obj in (ingress, service):
        if obj is not None:
            merged.update({k: v for k, v in obj.annotations.items() if k.startswith(ALB)})
    return merged


def alb_attributes(annotations: dict[str, Any]) -> dict[str, str]:
    raw = annotations.get(ALB + "target-group-attributes")
    attributes = {}
    if isinstance(raw, str):
        for item in raw.split(","):
            key, sep, value = item.strip().partition("=")
            if sep:
                attributes[key.strip()] = value.strip()
    return attributes


def is_alb_ingress(ingress: K8sObject) -> bool:
    return (
        ingress.spec.get("ingressClassName") == "alb"
        or ingress.annotations.get("kubernetes.io/ingress.class") == "alb"
        or any(k.startswith(ALB) for k in ingress.annotations)
    )


# --------------------------------------------------------------------------------------------
# Exposures
# --------------------------------------------------------------------------------------------


@dataclass
class Exposure:
    """One path by which client traffic reaches the workload's pods."""

    description: str
    affinity: str | None = None
    """How this path pins a client to one pod, if it does."""
    service: Service | None = None
    front: K8sObject | None = None
    """The Ingress / HTTPRoute / TargetGroupBinding in front of the Service, if any."""
    target_groups: list[Resource] = field(default_factory=list)


def _ingress_service_names(ingress: K8sObject) -> list[Any]:
    names = [dig(ingress.spec, "defaultBackend", "service", "name")]
    for rule in as_list(ingress.spec.get("rules")):
        for path in as_list(dig(rule, "http", "paths", default=[])):
            names.append(dig(path, "backend", "service", "name"))
    return [n for n in names if n is not None]


def _route_rules_for(route: K8sObject, service: Service) -> list[dict[str, Any]]:
    rules = []
    for rule in as_list(route.spec.get("rules")):
        for ref in as_list(dig(rule, "backendRefs", default=[])):
            if not isinstance(ref, dict):
                continue
            kind = ref.get("kind", "Service")
            group = ref.get("group", "")
            ref_ns = ref.get("namespace", route.namespace)
            if kind == "Service" and group in ("", "core") and same_name(ref.get("name"), service.name) and same_namespace(ref_ns, service.namespace):
                rules.append(rule)
                break
    return rules


def _lb_policy_affinity(view: StackView, service: Service) -> str | None:
    """Gateway API BackendLBPolicy with sessionPersistence targeting the Service."""
    for policy in view.of_kind("BackendLBPolicy"):
        if not same_namespace(policy.namespace, service.namespace) or not policy.spec.get("sessionPersistence"):
            continue
        for ref in as_list(policy.spec.get("targetRefs")):
            if isinstance(ref, dict) and ref.get("kind", "Service") == "Service" and same_name(ref.get("name"), service.name):
                return f"BackendLBPolicy {policy.name} sessionPersistence"
    return None


def _nginx_affinity(annotations: dict[str, Any]) -> bool:
    return annotations.get("nginx.ingress.kubernetes.io/affinity") == "cookie"


def exposures(view: StackView, workload: Workload) -> list[Exposure]:
    found: list[Exposure] = []
    for service in view.services_selecting(workload):
        svc_affinity = "Service sessionAffinity ClientIP" if service.spec.get("sessionAffinity") == "ClientIP" else None
        fronts = 0
        for ingress in view.of_kind("Ingress"):
            if not same_namespace(ingress.namespace, service.namespace):
                continue
            if not any(same_name(n, service.name) for n in _ingress_service_names(ingress)):
                continue
            fronts += 1
            affinity = svc_affinity
            if _nginx_affinity(ingress.annotations):
                affinity = f"Ingress {ingress.name} nginx cookie affinity"
            attrs = alb_attributes(alb_annotations(ingress, service))
            if attrs.get("stickiness.enabled") == "true":
                affinity = f"Ingress {ingress.name} ALB stickiness"
            found.append(Exposure(f"Ingress {ingress.name} -> Service {service.name}", affinity, service, ingress))
        for route in view.of_kind("HTTPRoute", "GRPCRoute"):
            rules = _route_rules_for(route, service)
            if not rules:
                continue
            fronts += 1
            affinity = svc_affinity or _lb_policy_affinity(view, service)
            if any(isinstance(r, dict) and r.get("sessionPersistence") for r in rules):
                affinity = f"{route.kind} {route.name} sessionPersistence"
            found.append(Exposure(f"{route.kind} {route.name} -> Service {service.name}", affinity, service, route))
        for binding in view.of_kind("TargetGroupBinding"):
            ref = as_dict(binding.spec.get("serviceRef"))
            if not (same_namespace(binding.namespace, service.namespace) and same_name(ref.get("name"), service.name)):
                continue
            fronts += 1
            groups = target_groups_of_binding(view, binding)
            affinity = svc_affinity
            for tg in groups:
                enabled, what = tg_stickiness(tg)
                if enabled:
                    affinity = f"target group {tg.name} {what}"
            found.append(
                Exposure(f"TargetGroupBinding {binding.name} -> Service {service.name}", affinity, service, binding, groups)
            )
        if fronts == 0 and not service.headless:
            affinity = svc_affinity or _lb_policy_affinity(view, service)
            found.append(Exposure(f"Service {service.name} ({service.type})", affinity, service))
    return found


# --------------------------------------------------------------------------------------------
# Session strategy
# --------------------------------------------------------------------------------------------

_DISTRIBUTABLE = re.compile(r"<distributable\s*/>|<distributable>\s*</distributable>")
_STORE_ENV = re.compile(r"(?:^|_)(?:REDIS|VALKEY|MEMCACHED?|HAZELCAST|ELASTICACHE)(?:_|$)|^SPRING_SESSION_")


def web_xml_distributable(view: StackView, workload: Workload) -> bool | None:
    """<distributable/> in a web.xml this stack mounts into the pod; None when none is visible."""
    verdict = None
    for container in workload.containers():
        for _kind, _name, path, content in view.mounted_files(workload, container):
            if path.endswith("web.xml") and isinstance(content, str):
                if not _DISTRIBUTABLE.search(content):
                    return False
                verdict = True
    return verdict


def store_env(workload: Workload) -> list[str]:
    """Env vars that point the application at an external session store."""
    names = []
    for container in workload.containers():
        for entry in container.env:
            name = entry.get("name")
            if isinstance(name, str) and _STORE_ENV.search(name) and ("value" in entry or "valueFrom" in entry):
                names.append(name)
    return names


__all__ = [
    "Exposure",
    "Scale",
    "alb_annotations",
    "alb_attributes",
    "exposures",
    "is_alb_ingress",
    "scale",
    "session_holding",
    "store_env",
    "target_groups_of_binding",
    "tg_stickiness",
    "web_xml_distributable",
]
