"""The namespaced children every Kubernetes component declares, declared the same way.

One ``Children`` per component instance: it names each child ``<name>-<role>``, parents it to the
component, and gives it the component's namespace and labels. The kinds that have the same shape
in every component (content-named ConfigMaps, Services, PodDisruptionBudgets,
HorizontalPodAutoscalers, NetworkPolicies) are declared here once; what differs between
components (the budget, the scaling behaviour, who may connect) stays with the component, next
to the comment that says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from sessionstack import k8s_common


@dataclass(frozen=True)
class Children:
    parent: pulumi.Resource
    """The component: every child is parented to it (providers reach the children through it)."""
    name: str
    """The component name: children are ``<name>-<role>``; most Kubernetes objects are named ``name``."""
    namespace: pulumi.Input[str]
    labels: Mapping[str, str]
    """Labels of every object (k8s_common.standard_labels)."""
    selector: Mapping[str, str]
    """Labels that select exactly this component's pods (k8s_common.selector_labels)."""

    @property
    def opts(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent)

    def meta(self, object_name: str | None = None) -> dict[str, Any]:
        """Metadata of a namespaced object named ``object_name`` (the component name by default)."""
        return {"name": object_name or self.name, "namespace": self.namespace, "labels": dict(self.labels)}

    def config_map(self, role: str, data: Mapping[str, str]) -> k8s.core.v1.ConfigMap:
        """ConfigMap ``<name>-<role>-<hash of data>`` (k8s_common.content_name: a change of
        content rolls the workload in place instead of replacing it)."""
        base = f"{self.name}-{role}"
        return k8s.core.v1.ConfigMap(base, metadata=self.meta(k8s_common.content_name(base, data)), data=dict(data), opts=self.opts)

    def scaled_deployment(
        self, replicas: int, pod_labels: Mapping[str, str], annotations: Mapping[str, str], pod_spec: dict[str, Any], **spec: Any
    ) -> k8s.apps.v1.Deployment:
        """Deployment ``<name>`` whose replica count an HPA owns after creation (Pulumi ignores
        later changes of ``replicas``), rolled one new pod at a time and never below the desired
        count: a new pod is ready before an old one is asked to leave. ``spec`` adds e.g.
        ``minReadySeconds``."""
        return k8s.apps.v1.Deployment(
            f"{self.name}-deployment",
            metadata=self.meta(),
            spec={
                **spec,
                "replicas": replicas,
                "selector": {"matchLabels": dict(self.selector)},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "revisionHistoryLimit": 5,
                "template": {"metadata": {"labels": dict(pod_labels), "annotations": dict(annotations)}, "spec": pod_spec},
            },
            opts=pulumi.ResourceOptions(parent=self.parent, ignore_changes=["spec.replicas"]),
        )

    def service(
        self, role: str, ports: list[dict[str, Any]], object_name: str | None = None, only: Mapping[str, str] | None = None, **spec: Any
    ) -> k8s.core.v1.Service:
        """Service selecting this component's pods (narrowed by the labels ``only``, e.g. one pod of a
        StatefulSet); ``spec`` adds e.g. ``type`` or ``clusterIP``."""
        selector = {**self.selector, **(only or {})}
        return k8s.core.v1.Service(f"{self.name}-{role}", metadata=self.meta(object_name), spec={**spec, "selector": selector, "ports": ports}, opts=self.opts)

    def disruption_budget(self, **budget: int) -> k8s.policy.v1.PodDisruptionBudget:
        """PDB ``<name>`` over this component's pods; ``budget`` is maxUnavailable or minAvailable."""
        return k8s.policy.v1.PodDisruptionBudget(
            f"{self.name}-pdb", metadata=self.meta(), spec={**budget, "selector": {"matchLabels": dict(self.selector)}}, opts=self.opts
        )

    def cpu_autoscaler(
        self, deployment: k8s.apps.v1.Deployment, min_replicas: int, max_replicas: int, target_utilization: int, behavior: dict[str, Any]
    ) -> k8s.autoscaling.v2.HorizontalPodAutoscaler:
        """HPA ``<name>`` scaling ``deployment`` on average CPU use (k8s_common.cpu_autoscaler_spec)."""
        spec = k8s_common.cpu_autoscaler_spec(deployment.metadata.name, min_replicas, max_replicas, target_utilization, behavior)
        return k8s.autoscaling.v2.HorizontalPodAutoscaler(f"{self.name}-hpa", metadata=self.meta(), spec=spec, opts=self.opts)

    def ingress_policy(self, rules: list[dict[str, Any]]) -> k8s.networking.v1.NetworkPolicy:
        """NetworkPolicy ``<name>``: this component's pods accept connections matching ``rules`` only."""
        return k8s.networking.v1.NetworkPolicy(
            f"{self.name}-netpol",
            metadata=self.meta(),
            spec={"podSelector": {"matchLabels": dict(self.selector)}, "policyTypes": ["Ingress"], "ingress": rules},
            opts=self.opts,
        )
