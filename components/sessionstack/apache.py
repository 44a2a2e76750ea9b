"""ApacheStaticTier: Apache httpd serving the static files of the 3-tier stack.

Stateless, so it only has to stay available: at least two pods spread over nodes, a rolling update
that never drops below the desired count, a PDB, an HPA on CPU, and a short preStop pause so a
leaving pod is out of the Service endpoints before httpd stops. Configuration and site content
come from ConfigMaps rendered by ``apache_config`` (the same text the tests run in Debian's apache2 and in the cluster's httpd pods), and
the pod passes the restricted Pod Security Standard: non-root on port 8080, read-only root
filesystem with an emptyDir for the pid file, no capabilities, RuntimeDefault seccomp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Mapping

import pulumi
import pulumi_kubernetes as k8s

from sessionstack import k8s_common, validation
from sessionstack.apache_config import (
    APACHE_IMAGE,
    APACHE_PORT,
    APACHE_UID,
    CONF_DIR,
    DOCUMENT_ROOT,
    HEALTH_PATH,
    RUN_DIR,
    STATIC_SITE_FILES,
    config_files,
    configmap_data,
    configmap_items,
    httpd_command,
)
from sessionstack.children import Children

_check_int = partial(validation.check_int, "ApacheStaticTierArgs")

SERVICE_PORT = 80
"""The Service's port; routers address it, the pods listen on APACHE_PORT."""
PRESTOP_SLEEP_SECONDS = 5
"""httpd stops at once on SIGTERM: wait until the endpoint removal has reached the routers."""


@dataclass(frozen=True)
class ApacheStaticTierArgs:
    namespace: pulumi.Input[str]
    """Namespace of all the tier's objects (ConfigMaps, Deployment, Service, PDB, HPA, NetworkPolicy)."""
    replicas: int = 2
    """Pods and the HPA minimum; at least 2 so a node loss or a drain never takes the site down."""
    max_replicas: int = 4
    """HPA maximum, from replicas to 100."""
    image: str = APACHE_IMAGE
    """httpd image, pinned by tag or digest (':latest' and untagged are refused); the pod runs it as
    uid 33 (www-data of the official image) on port 8080."""
    site_files: Mapping[str, str] = field(default_factory=lambda: dict(STATIC_SITE_FILES))
    """Relative path -> content of the static site (a ConfigMap holds at most 1 MiB in total)."""
    spread_topology_keys: tuple[str, ...] = ("kubernetes.io/hostname",)
    """Spread pods across these topology keys (add topology.kubernetes.io/zone on EKS)."""
    cpu_request: str = "50m"
    """CPU request per pod (Kubernetes quantity); cpu_target_utilization is a percentage of it."""
    cpu_limit: str = "500m"
    """CPU limit per pod (Kubernetes quantity); above it the container is throttled."""
    memory: str = "128Mi"
    """Memory request and limit per pod (equal: httpd's memory is bounded by MaxRequestWorkers)."""
    cpu_target_utilization: int = 70
    """HPA target: average CPU use in percent of cpu_request (10-100)."""
    http_from: tuple[Mapping[str, Any], ...] = ()
    """NetworkPolicy peers that may reach httpd: the router's pods or the load balancer's network
    (an ``ipBlock``). Empty: any pod in the cluster."""

    def __post_init__(self) -> None:
        _check_int("replicas", self.replicas, 2, 50)
        validation.check_network_peers("ApacheStaticTierArgs", "http_from", self.http_from)
        _check_int("max_replicas", self.max_replicas, self.replicas, 100)
        _check_int("cpu_target_utilization", self.cpu_target_utilization, 10, 100)
        k8s_common.check_pinned_image("ApacheStaticTierArgs.image", self.image)
        if not isinstance(self.site_files, Mapping) or "index.html" not in self.site_files:
            raise ValueError(
                f"ApacheStaticTierArgs.site_files must map relative paths to content and include 'index.html', "
                f"got {sorted(self.site_files) if isinstance(self.site_files, Mapping) else self.site_files!r}"
            )
        try:
            data = configmap_data(dict(self.site_files))
        except ValueError as exc:
            raise ValueError(f"ApacheStaticTierArgs.site_files: {exc}") from None
        size = sum(len(k) + len(v.encode()) for k, v in data.items())
        if size > 900 * 1024:
            raise ValueError(f"ApacheStaticTierArgs.site_files must total under 900 KiB (a ConfigMap holds 1 MiB), got {size} bytes; ship larger sites in an image")
        if not self.spread_topology_keys:
            raise ValueError("ApacheStaticTierArgs.spread_topology_keys must name at least one topology key, got ()")


class ApacheStaticTier(pulumi.ComponentResource):
    service_name: pulumi.Output[str]
    """ClusterIP Service that routing sends static requests to."""
    service_port: pulumi.Output[int]
    """Port of service_name (named `http`)."""
    deployment_name: pulumi.Output[str]
    """Name of the httpd Deployment (the component name), for `kubectl rollout status` and checks
    that wait for its pods."""

    def __init__(self, name: str, args: ApacheStaticTierArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        k8s_common.validate_component_name("ApacheStaticTier", name)
        super().__init__("sessionstack:apache:ApacheStaticTier", name, None, opts)
        selector = k8s_common.selector_labels("apache", name, "static")
        labels = k8s_common.standard_labels("apache", name, "static", k8s_common.image_tag(args.image))
        kids = Children(self, name, args.namespace, labels, selector)

        deployment = _deployment(kids, args)
        service = kids.service("http", [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}], type="ClusterIP")
        kids.disruption_budget(minAvailable=1)
        kids.cpu_autoscaler(deployment, args.replicas, args.max_replicas, args.cpu_target_utilization, {"scaleDown": {"stabilizationWindowSeconds": 300}})
        # Static content is public, but nothing other than the router needs to reach httpd.
        kids.ingress_policy([k8s_common.ingress_rule(["http"], args.http_from)])

        self.service_name = service.metadata.name
        self.service_port = pulumi.Output.from_input(SERVICE_PORT)
        self.deployment_name = deployment.metadata.name
        self.register_outputs(
            {"service_name": self.service_name, "service_port": self.service_port, "deployment_name": self.deployment_name}
        )


def _deployment(kids: Children, args: ApacheStaticTierArgs) -> k8s.apps.v1.Deployment:
    """httpd serving the site from a ConfigMap, with the configuration from another."""
    conf = config_files()
    site = dict(args.site_files)
    volumes = [
        {"name": "config", "configMap": {"name": kids.config_map("config", conf).metadata.name}},
        {"name": "site", "configMap": {"name": kids.config_map("site", configmap_data(site)).metadata.name, "items": configmap_items(site)}},
        {"name": "run", "emptyDir": {"sizeLimit": "16Mi"}},
    ]
    return kids.scaled_deployment(
        args.replicas,
        kids.labels,
        {"sessionstack.io/config-checksum": k8s_common.content_hash(conf, site)},
        {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 30,
            "securityContext": k8s_common.pod_security_context(APACHE_UID),
            "topologySpreadConstraints": k8s_common.spread_constraints(args.spread_topology_keys, kids.selector),
            "containers": [_httpd_container(args)],
            "volumes": volumes,
        },
    )


def _httpd_container(args: ApacheStaticTierArgs) -> dict[str, Any]:
    probe = {"httpGet": {"path": HEALTH_PATH, "port": "http"}, "timeoutSeconds": 2}
    return {
        "name": "httpd",
        "image": args.image,
        "imagePullPolicy": "IfNotPresent",
        "command": httpd_command(),
        "ports": [{"name": "http", "containerPort": APACHE_PORT}],
        "volumeMounts": [
            {"name": "config", "mountPath": CONF_DIR, "readOnly": True},
            {"name": "site", "mountPath": DOCUMENT_ROOT, "readOnly": True},
            {"name": "run", "mountPath": RUN_DIR},
        ],
        "resources": k8s_common.resources(args.cpu_request, args.cpu_limit, args.memory),
        # Logs go to /proc/self/fd/1 and /2: runc hands the container's stdio to the pod's uid.
        "securityContext": k8s_common.container_security_context(),
        "startupProbe": {**probe, "periodSeconds": 2, "failureThreshold": 30},
        "readinessProbe": {**probe, "periodSeconds": 5, "failureThreshold": 2},
        "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 3},
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SLEEP_SECONDS}}},
    }
