"""Real pulumi-policy argument objects for rule tests, and Kubernetes objects in wire form.

``resource_args`` / ``stack_args`` build the same ``ResourceValidationArgs`` / ``StackValidationArgs``
(with unknown-checking proxies around the properties) that the policy analyzer builds from the
engine's Analyze / AnalyzeStack requests; ``check`` calls a policy's ``validate`` with a collecting
``report_violation`` and says whether the policy declared itself not applicable.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy.props import NotApplicable

UNKNOWN = UNKNOWN_STRING_VALUE
"""What a preview sends for a string the engine does not know yet."""

K8S_TYPES = {
    "Deployment": "kubernetes:apps/v1:Deployment",
    "StatefulSet": "kubernetes:apps/v1:StatefulSet",
    "DaemonSet": "kubernetes:apps/v1:DaemonSet",
    "Pod": "kubernetes:core/v1:Pod",
    "Service": "kubernetes:core/v1:Service",
    "ServiceAccount": "kubernetes:core/v1:ServiceAccount",
    "ConfigMap": "kubernetes:core/v1:ConfigMap",
    "Secret": "kubernetes:core/v1:Secret",
    "Role": "kubernetes:rbac.authorization.k8s.io/v1:Role",
    "ClusterRole": "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "RoleBinding": "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    "ClusterRoleBinding": "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    "PodDisruptionBudget": "kubernetes:policy/v1:PodDisruptionBudget",
    "HorizontalPodAutoscaler": "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "Ingress": "kubernetes:networking.k8s.io/v1:Ingress",
    "HTTPRoute": "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
    "TargetGroupBinding": "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding",
}
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"


def _options(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def urn_of(type_token: str, name: str) -> str:
    return f"urn:pulumi:test::sessionstack::{type_token}::{name}"


def resource_args(type_token: str, props: dict[str, Any], name: str = "res", config: dict[str, Any] | None = None) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        type_token, unknown_checking_proxy(copy.deepcopy(props)), urn_of(type_token, name), name, _options(), None, config
    )


@dataclass
class Declared:
    type: str
    name: str
    props: dict[str, Any]
    depends_on: list["Declared"] = field(default_factory=list)

    @property
    def urn(self) -> str:
        return urn_of(self.type, self.name)


def k8s(obj: dict[str, Any], name: str | None = None) -> Declared:
    """A Kubernetes object as a stack resource (resource name = metadata.name unless given)."""
    return Declared(K8S_TYPES[obj["kind"]], name or obj["metadata"]["name"], obj)


def stack_args(items: list[Declared], config: dict[str, Any] | None = None) -> StackValidationArgs:
    built = {
        item.urn: PolicyResource(item.type, unknown_checking_proxy(copy.deepcopy(item.props)), item.urn, item.name, _options(), None, None, [], {})
        for item in items
    }
    for item in items:
        built[item.urn].dependencies = [built[d.urn] for d in item.depends_on]
    return StackValidationArgs(list(built.values()), config)


@dataclass
class Outcome:
    violations: list[tuple[str, str | None]]
    not_applicable: str | None

    @property
    def messages(self) -> list[str]:
        return [m for m, _ in self.violations]

    @property
    def text(self) -> str:
        return "\n".join(self.messages)


def check(policy: Any, args: Any) -> Outcome:
    violations: list[tuple[str, str | None]] = []

    def report_violation(message: str, urn: str | None = None) -> None:
        assert isinstance(message, str) and message
        violations.append((message, urn))

    try:
        policy.validate(args, report_violation)
    except NotApplicable as exc:
        assert not violations, "a policy must not report and then declare itself not applicable"
        return Outcome([], exc.reason or "")
    return Outcome(violations, None)


# --------------------------------------------------------------------------------------------
# Wire-form builders (camelCase, as pulumi_kubernetes sends them)
# --------------------------------------------------------------------------------------------

WILDFLY_IMAGE = "quay.io/wildfly/wildfly:39.0.1.Final-jdk21"
NS = "shop"


def meta(name: str, namespace: str = NS, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        out["labels"] = labels
    if annotations:
        out["annotations"] = annotations
    return out


POD_IP_ENV = {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
PROBES = {
    "readinessProbe": {"httpGet": {"path": "/health/ready", "port": 9990}},
    "livenessProbe": {"httpGet": {"path": "/health/live", "port": 9990}},
}


def container(name: str = "app", image: str = WILDFLY_IMAGE, args: list[str] | None = None, env: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "image": image}
    if args is not None:
        out["args"] = args
    if env is not None:
        out["env"] = env
    out.update(extra)
    return out


def wildfly_container(args: list[str] | None = None, env: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return container(
        "wildfly",
        WILDFLY_IMAGE,
        args if args is not None else ["-c", "standalone-ha.xml", "-b=$(POD_IP)", "-bprivate=$(POD_IP)"],
        env if env is not None else [POD_IP_ENV, {"name": "JGROUPS_DISCOVERY", "value": "kube_ping"}],
        **{**PROBES, **extra},
    )


def workload(
    kind: str,
    name: str,
    containers: list[dict[str, Any]],
    replicas: int | None = 2,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    namespace: str = NS,
    **pod_spec: Any,
) -> dict[str, Any]:
    labels = labels or {"app": name}
    template = {"metadata": {"labels": labels, **({"annotations": annotations} if annotations else {})}, "spec": {"containers": containers, **pod_spec}}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta(name, namespace), **template["metadata"]}, "spec": template["spec"]}
    spec: dict[str, Any] = {"selector": {"matchLabels": labels}, "template": template}
    if replicas is not None and kind != "DaemonSet":
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta(name, namespace), "spec": spec}


def service(name: str, selector: dict[str, str], port: int = 8080, namespace: str = NS, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, namespace),
        "spec": {"selector": selector, "ports": [{"name": "http", "port": port}], **spec},
    }
