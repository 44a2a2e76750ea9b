"""Small pure helpers shared by the Kubernetes components: labels, names, security contexts.

Plain dicts in the Kubernetes wire form (camelCase), so that tests read them without mocks and
every component renders the same hardening the same way.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

PART_OF = "sessionstack"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

MAX_COMPONENT_NAME = 40
"""Room for the longest role suffix ("-pod-reader", "-headless") inside a 63-character name."""


def validate_component_name(kind: str, name: str) -> None:
    """Component names become Kubernetes object names: DNS-1123 labels with room for suffixes."""
    if not isinstance(name, str) or len(name) > MAX_COMPONENT_NAME or not _DNS_LABEL.match(name):
        raise ValueError(
            f"{kind} name must be a DNS-1123 label (lower-case letters, digits and '-', starting and "
            f"ending with a letter or digit) of at most {MAX_COMPONENT_NAME} characters, got {name!r}"
        )


def selector_labels(app: str, instance: str, component: str) -> dict[str, str]:
    """The labels that select exactly one component instance's pods."""
    return {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
    }


def standard_labels(app: str, instance: str, component: str, version: str | None = None) -> dict[str, str]:
    labels = {**selector_labels(app, instance, component), "app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}
    if version:
        labels["app.kubernetes.io/version"] = version[:63]
    return labels


def image_tag(image: str) -> str:
    """The tag of an image reference, for the version label ('' for digest-only references)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def check_pinned_image(owner: str, image: object) -> None:
    """Rejects ':latest' and untagged images (a digest pins too); the message names ``owner``."""
    if not isinstance(image, str) or ("@sha256:" not in image and image_tag(image) in ("", "latest")):
        raise ValueError(f"{owner} must be pinned by tag or digest (not ':latest' or untagged), got {image!r}")


def pod_security_context(uid: int, gid: int | None = None) -> dict[str, Any]:
    gid = uid if gid is None else gid
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "fsGroup": gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """Restricted Pod Security Standard: no privilege escalation, no capabilities, read-only root."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def resources(cpu_request: str, cpu_limit: str, memory: str) -> dict[str, Any]:
    """Container resources: memory request equal to its limit (a JVM or Redis sized to its limit
    should not be OOM-killed for using it), CPU from a request up to a limit."""
    return {"requests": {"cpu": cpu_request, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory}}


def spread_constraints(topology_keys: tuple[str, ...], match_labels: dict[str, str]) -> list[dict[str, Any]]:
    """Spread pods across each topology key; best effort so a one-node kind cluster still schedules."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": topology_key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(match_labels)},
        }
        for topology_key in topology_keys
    ]


def cpu_autoscaler_spec(deployment_name: Any, min_replicas: int, max_replicas: int, target_utilization: int, behavior: dict[str, Any]) -> dict[str, Any]:
    """autoscaling/v2 HPA spec scaling a Deployment on average CPU utilisation."""
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment_name},
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target_utilization}}}],
        "behavior": behavior,
    }


def ingress_rule(port_names: list[str], peers: tuple[Mapping[str, Any], ...]) -> dict[str, Any]:
    """A NetworkPolicy ingress rule for named TCP ports, from ``peers`` (from anywhere if empty)."""
    rule: dict[str, Any] = {"ports": [{"port": port, "protocol": "TCP"} for port in port_names]}
    if peers:
        rule["from"] = [dict(peer) for peer in peers]
    return rule


def content_hash(*parts: Mapping[str, str]) -> str:
    """16 hex digits that change when any of ``parts`` changes: the pod template's checksum
    annotation, so a workload rolls when mounted text changes (pods do not reload ConfigMaps)."""
    return hashlib.sha256(json.dumps([dict(p) for p in parts], sort_keys=True).encode()).hexdigest()[:16]


def content_name(base: str, data: Mapping[str, str]) -> str:
    """``<base>-<10 hex digits of data>``: a ConfigMap named after its content.

    A change of content is then a new ConfigMap, created before the old one is deleted, and an
    in-place rolling update of the workload that mounts it. Under a fixed name the provider has
    to delete the old ConfigMap before it can create the new one, and the engine then replaces
    every workload that references it, which deletes all its pods at once."""
    return f"{base}-{content_hash(data)[:10]}"
