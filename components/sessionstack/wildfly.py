"""WildflyCluster: WildFly HA on Kubernetes with sessions that survive losing a pod.

The known ways this goes wrong, and what this component does instead:
- JGroups advertising 0.0.0.0: KUBE_PING finds every pod, yet each forms a singleton cluster
  because peers are told to connect to 0.0.0.0:7600. Here the private interface (the JGroups
  transport) is bound to the pod IP from the downward API, so the pod IP is what is advertised.
- KUBE_PING answered 403: the default ServiceAccount may not list pods. Here KUBE_PING runs under
  its own ServiceAccount with a namespaced Role (pods: get, list) and nothing else.
- Foreign pods joining: the cluster is closed by JGroups AUTH with a generated shared secret, and
  KUBE_PING's label selector matches exactly this cluster's pods.
- Sessions lost on scale-down or rollout: sessions are distributed with two owners; the PDB, the
  rolling update (never below the desired count) and the HPA's scale-down policy each remove at
  most one pod at a time, and the preStop delay (requests in flight) plus the SIGTERM suspend
  timeout let a leaving pod finish its requests and hand its sessions over before it stops.
- A session locked for minutes after a rolling restart (WildFly 39): the server's request
  controller leaves the transaction of a session found again after a failed lookup open, and a
  joining pod can keep a stale copy of a finished transaction's lock. The boot script removes the
  request controller and has stale copies reaped within ~30 s (configure-infinispan.cli).
The text artefacts (jboss-cli script, start script, demo app) come from ``wildfly_config``; the
cluster tests run the same text in WildFly pods.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Mapping

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from sessionstack import k8s_common, validation
from sessionstack.children import Children
from sessionstack.session_store import SessionStore
from sessionstack.wildfly_config import (
    DEMO_APP_DIR,
    DEMO_CONTEXT_PATH,
    HTTP_PORT,
    JGROUPS_FD_PORT,
    JGROUPS_PORT,
    MANAGEMENT_PORT,
    PRESTOP_SLEEP_SECONDS,
    SCRIPTS_DIR,
    SERVER_BASE_DIR,
    SUSPEND_TIMEOUT_SECONDS,
    WILDFLY_IMAGE,
    Discovery,
    SessionBackend,
    demo_app_configmap_data,
    demo_app_items,
    scripts_configmap_data,
    server_args,
)

_check_int = partial(validation.check_int, "WildflyClusterArgs")

WILDFLY_UID = 1000
"""uid/gid of the `jboss` user in the official image."""
REDIS_CLIENT_LABEL = "sessionstack.io/redis-client"
SESSION_HOLDING_LABEL = "sessionstack.io/session-holding"
SESSION_STRATEGY_ANNOTATION = "sessionstack.io/session-strategy"


@dataclass(frozen=True)
class WildflyClusterArgs:
    namespace: pulumi.Input[str]
    """Namespace for all of the cluster's objects; KUBE_PING's Role lists pods in it only."""
    replicas: int = 2
    """Pods in the cluster and the HPA minimum (1-50); 2 or more, or one pod's loss loses its sessions."""
    max_replicas: int = 6
    """HPA maximum, from replicas to 100 (the HPA scales down one pod per two minutes)."""
    discovery: Discovery = Discovery.KUBE_PING
    """How JGroups finds its peers (infinispan backend only): KUBE_PING lists pods through the API
    under its own ServiceAccount; DNS_PING resolves a headless Service."""
    session_backend: SessionBackend = SessionBackend.INFINISPAN
    """INFINISPAN: sessions replicated in the WildFly cluster (session_store None); REDIS: kept by the
    application in session_store (demo_app must be False)."""
    cache_owners: int = 2
    """Copies of each session in the distributed cache: one pod may die without loss."""
    demo_app: bool = True
    """Deploy the session demo WAR from a ConfigMap; False when `image` carries the application."""
    image: str = WILDFLY_IMAGE
    """WildFly image, pinned by tag or digest (':latest' and untagged are refused); the pod runs it as
    uid 1000 (jboss of the official image)."""
    session_store: SessionStore | None = None
    """Required with session_backend redis: where the application keeps its sessions."""
    spread_topology_keys: tuple[str, ...] = ("kubernetes.io/hostname",)
    """Spread pods across these topology keys (add topology.kubernetes.io/zone on EKS)."""
    cpu_request: str = "500m"
    """CPU request per pod (Kubernetes quantity); cpu_target_utilization is a percentage of it."""
    cpu_limit: str = "2"
    """CPU limit per pod (Kubernetes quantity); above it the container is throttled."""
    memory: str = "1536Mi"
    """Memory request and limit per pod (equal: the JVM sizes its heap from the limit, and should not be
    OOM-killed)."""
    cpu_target_utilization: int = 70
    """HPA target: average CPU use in percent of cpu_request (10-100)."""
    prestop_sleep_seconds: int = PRESTOP_SLEEP_SECONDS
    """How long a terminating pod keeps serving before it suspends: the time the router or load
    balancer needs to stop sending it new requests (an ALB needs longer than an in-cluster proxy),
    and, with Infinispan sessions, the time its requests in flight have to finish."""
    http_from: tuple[Mapping[str, Any], ...] = ()
    """NetworkPolicy peers that may reach the HTTP port: the router's pods (for example
    ``({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},)``)
    or the load balancer's network (an ``ipBlock``). Empty: any pod in the cluster."""

    def __post_init__(self) -> None:
        _check_int("replicas", self.replicas, 1, 50)
        _check_int("max_replicas", self.max_replicas, self.replicas, 100)
        _check_int("cache_owners", self.cache_owners, 1, 10)
        _check_int("cpu_target_utilization", self.cpu_target_utilization, 10, 100)
        _check_int("prestop_sleep_seconds", self.prestop_sleep_seconds, 0, 120)
        validation.check_network_peers("WildflyClusterArgs", "http_from", self.http_from)
        if not isinstance(self.discovery, Discovery):
            raise ValueError(f"WildflyClusterArgs.discovery must be one of {[d.value for d in Discovery]}, got {self.discovery!r}")
        if not isinstance(self.session_backend, SessionBackend):
            raise ValueError(f"WildflyClusterArgs.session_backend must be one of {[b.value for b in SessionBackend]}, got {self.session_backend!r}")
        if self.session_backend is SessionBackend.REDIS and self.session_store is None:
            raise ValueError("WildflyClusterArgs.session_store is required when session_backend is 'redis', got None")
        if self.session_backend is SessionBackend.REDIS and self.demo_app:
            raise ValueError(
                "WildflyClusterArgs.demo_app must be False when session_backend is 'redis', got True: the "
                "ConfigMap demo keeps sessions in WildFly; pass an image whose application stores them in Redis"
            )
        if self.session_backend is SessionBackend.INFINISPAN and self.session_store is not None:
            raise ValueError("WildflyClusterArgs.session_store must be None when session_backend is 'infinispan' (sessions replicate in the cluster)")
        k8s_common.check_pinned_image("WildflyClusterArgs.image", self.image)
        if not self.spread_topology_keys:
            raise ValueError("WildflyClusterArgs.spread_topology_keys must name at least one topology key, got ()")


def kube_ping_selector(name: str) -> str:
    """The KUBE_PING label selector: this cluster's pods and no other."""
    return ",".join(f"{k}={v}" for k, v in k8s_common.selector_labels("wildfly", name, "was").items())


class WildflyCluster(pulumi.ComponentResource):
    http_service_name: pulumi.Output[str]
    """ClusterIP Service that routing sends dynamic requests to."""
    http_port: pulumi.Output[int]
    """Port of http_service_name (named `http`)."""
    deployment_name: pulumi.Output[str]
    """Name of the WildFly Deployment (the component name), for `kubectl rollout status` and checks
    that wait for its pods."""
    service_account_name: pulumi.Output[str]
    """The pods' ServiceAccount: ``<name>-jgroups`` (Role: pods get/list) with KUBE_PING, otherwise
    ``<name>`` with no API token mounted."""
    cluster_secret_name: pulumi.Output[str]
    """Secret with the JGroups shared secret ('' with the redis backend, which has no cluster)."""
    demo_path: pulumi.Output[str]
    """Path of the session demo ('' when the demo app is off)."""
    pod_labels: pulumi.Output[dict]
    """Labels that select exactly this cluster's pods (for NetworkPolicies and target groups)."""

    def __init__(self, name: str, args: WildflyClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        k8s_common.validate_component_name("WildflyCluster", name)
        super().__init__("sessionstack:wildfly:WildflyCluster", name, None, opts)
        selector = k8s_common.selector_labels("wildfly", name, "was")
        labels = k8s_common.standard_labels("wildfly", name, "was", k8s_common.image_tag(args.image))
        kids = Children(self, name, args.namespace, labels, selector)
        clustered = args.session_backend is SessionBackend.INFINISPAN

        service_account = _discovery_identity(kids, args)
        if clustered:
            secret = _cluster_secret(kids)
            env, cluster_secret_name = _cluster_env(kids, args, secret), secret.metadata.name
        else:
            env, cluster_secret_name = _session_store_env(args), pulumi.Output.from_input("")
        deployment = _deployment(kids, args, env, service_account)
        service = kids.service("http", [{"name": "http", "port": HTTP_PORT, "targetPort": "http"}], type="ClusterIP")
        # One voluntary disruption at a time: with two owners per session, losing two pods at
        # once could lose the sessions they both owned.
        kids.disruption_budget(maxUnavailable=1)
        # Scale down one pod per two minutes, after five calm minutes: the cache needs time to
        # re-replicate the leaving pod's sessions to their new second owner.
        kids.cpu_autoscaler(
            deployment,
            args.replicas,
            args.max_replicas,
            args.cpu_target_utilization,
            {
                "scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}]},
                "scaleUp": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]},
            },
        )
        kids.ingress_policy(_ingress_rules(selector, clustered, args.http_from))

        self.http_service_name = service.metadata.name
        self.http_port = pulumi.Output.from_input(HTTP_PORT)
        self.deployment_name = deployment.metadata.name
        self.service_account_name = service_account.metadata.name
        self.cluster_secret_name = cluster_secret_name
        self.demo_path = pulumi.Output.from_input(DEMO_CONTEXT_PATH if args.demo_app else "")
        self.pod_labels = pulumi.Output.from_input(selector)
        self.register_outputs(
            {
                "http_service_name": self.http_service_name,
                "http_port": self.http_port,
                "deployment_name": self.deployment_name,
                "service_account_name": self.service_account_name,
                "cluster_secret_name": self.cluster_secret_name,
                "demo_path": self.demo_path,
                "pod_labels": self.pod_labels,
            }
        )


def _uses_kube_ping(args: WildflyClusterArgs) -> bool:
    return args.session_backend is SessionBackend.INFINISPAN and args.discovery is Discovery.KUBE_PING


def _discovery_identity(kids: Children, args: WildflyClusterArgs) -> k8s.core.v1.ServiceAccount:
    """The pods' ServiceAccount, and what discovery needs from the cluster (seeds 000/002).

    KUBE_PING lists pods: its own ServiceAccount and a namespaced Role with get/list on pods and
    nothing more (the default ServiceAccount gets 403 and every pod stays a singleton). DNS_PING
    resolves a headless Service instead, and the pods never talk to the API server."""
    kube_ping = _uses_kube_ping(args)
    name = kids.name
    service_account = k8s.core.v1.ServiceAccount(
        f"{name}-sa", metadata=kids.meta(f"{name}-jgroups" if kube_ping else name), automount_service_account_token=kube_ping, opts=kids.opts
    )
    if kube_ping:
        role = k8s.rbac.v1.Role(
            f"{name}-pod-reader",
            metadata=kids.meta(f"{name}-pod-reader"),
            rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
            opts=kids.opts,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-pod-reader",
            metadata=kids.meta(f"{name}-pod-reader"),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.name},
            subjects=[{"kind": "ServiceAccount", "name": service_account.metadata.name, "namespace": args.namespace}],
            opts=kids.opts,
        )
    elif args.session_backend is SessionBackend.INFINISPAN:
        # Not-ready pods must be listed too, or a starting pod could never find the cluster it is
        # waiting to join.
        kids.service(
            "ping", [{"name": "jgroups", "port": JGROUPS_PORT, "targetPort": "jgroups"}], f"{name}-ping", clusterIP="None", publishNotReadyAddresses=True
        )
    return service_account


def _cluster_secret(kids: Children) -> k8s.core.v1.Secret:
    """The JGroups AUTH shared secret (generated): pods without it cannot join the cluster."""
    password = random.RandomPassword(f"{kids.name}-jgroups-password", length=32, special=False, opts=kids.opts)
    return k8s.core.v1.Secret(
        f"{kids.name}-jgroups", metadata=kids.meta(f"{kids.name}-jgroups"), type="Opaque", string_data={"password": password.result}, opts=kids.opts
    )


def _cluster_env(kids: Children, args: WildflyClusterArgs, secret: k8s.core.v1.Secret) -> list[dict[str, Any]]:
    """What start.sh needs to join the cluster: the discovery, its query and the shared secret."""
    env = [
        {"name": "JGROUPS_DISCOVERY", "value": args.discovery.value},
        {"name": "JGROUPS_CLUSTER_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret.metadata.name, "key": "password"}}},
    ]
    if _uses_kube_ping(args):
        env.append({"name": "KUBERNETES_LABELS", "value": kube_ping_selector(kids.name)})
    else:
        env.append({"name": "JGROUPS_DNS_QUERY", "value": pulumi.Output.concat(kids.name, "-ping.", args.namespace, ".svc.cluster.local")})
    return env


def _session_store_env(args: WildflyClusterArgs) -> list[dict[str, Any]]:
    """Spring Data Redis settings of the application, from the session store's outputs. With a
    Sentinel master name the application connects through the Sentinels (Spring Boot's
    spring.data.redis.sentinel.master/nodes), with cluster nodes through a cluster client
    (spring.data.redis.cluster.nodes); with both blank to host and port. Same password."""
    store = args.session_store
    assert store is not None  # checked in WildflyClusterArgs
    return [
        {"name": "SPRING_DATA_REDIS_SENTINEL_MASTER", "value": store.sentinel_master_name},
        {"name": "SPRING_DATA_REDIS_SENTINEL_NODES", "value": store.sentinel_nodes.apply(",".join)},
        {"name": "SPRING_DATA_REDIS_CLUSTER_NODES", "value": store.cluster_nodes.apply(",".join)},
        {"name": "SPRING_DATA_REDIS_HOST", "value": store.host},
        {"name": "SPRING_DATA_REDIS_PORT", "value": store.port.apply(str)},
        {"name": "SPRING_DATA_REDIS_SSL_ENABLED", "value": store.tls.apply(lambda t: "true" if t else "false")},
        {"name": "SPRING_DATA_REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": store.password_secret_name, "key": store.password_secret_key}}},
    ]


def _deployment(
    kids: Children, args: WildflyClusterArgs, backend_env: list[dict[str, Any]], service_account: k8s.core.v1.ServiceAccount
) -> k8s.apps.v1.Deployment:
    """The WildFly pods: the mounted scripts (and demo app), rolled one pod at a time."""
    scripts = scripts_configmap_data(args.discovery, args.session_backend, args.cache_owners)
    volumes = [
        {"name": "scripts", "configMap": {"name": kids.config_map("scripts", scripts).metadata.name, "defaultMode": 0o555}},
        {"name": "server", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
    ]
    demo_data = demo_app_configmap_data() if args.demo_app else {}
    if args.demo_app:
        volumes.append({"name": "demo-app", "configMap": {"name": kids.config_map("demo-app", demo_data).metadata.name, "items": demo_app_items()}})
    clustered = args.session_backend is SessionBackend.INFINISPAN
    pod_labels = {**kids.labels, SESSION_HOLDING_LABEL: "true", **({} if clustered else {REDIS_CLIENT_LABEL: "true"})}
    annotations = {
        SESSION_STRATEGY_ANNOTATION: "replicated" if clustered else "external-store",
        "sessionstack.io/config-checksum": k8s_common.content_hash(scripts, demo_data),
    }
    # A new pod must be ready (and have received its share of sessions) before an old one is
    # asked to leave, and stay ready for 10 s (a pod that fails right after joining is not
    # counted as available).
    return kids.scaled_deployment(
        args.replicas,
        pod_labels,
        annotations,
        {
            "serviceAccountName": service_account.metadata.name,
            "automountServiceAccountToken": _uses_kube_ping(args),
            # preStop, then the SIGTERM suspend, then leaving the cluster and stopping.
            "terminationGracePeriodSeconds": args.prestop_sleep_seconds + SUSPEND_TIMEOUT_SECONDS + 20,
            "securityContext": k8s_common.pod_security_context(WILDFLY_UID),
            "topologySpreadConstraints": k8s_common.spread_constraints(args.spread_topology_keys, kids.selector),
            "containers": [_wildfly_container(args, backend_env)],
            "volumes": volumes,
        },
        minReadySeconds=10,
    )


def _wildfly_container(args: WildflyClusterArgs, backend_env: list[dict[str, Any]]) -> dict[str, Any]:
    """The WildFly container: start.sh runs the mounted CLI script, then the server; probes on
    the management port; a preStop delay before the SIGTERM suspend."""
    env: list[dict[str, Any]] = [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "SESSION_BACKEND", "value": args.session_backend.value},
        {"name": "SERVER_BASE_DIR", "value": SERVER_BASE_DIR},
    ]
    mounts = [
        {"name": "scripts", "mountPath": SCRIPTS_DIR, "readOnly": True},
        {"name": "server", "mountPath": SERVER_BASE_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if args.demo_app:
        env.append({"name": "DEMO_APP_DIR", "value": DEMO_APP_DIR})
        mounts.append({"name": "demo-app", "mountPath": DEMO_APP_DIR, "readOnly": True})
    ports = [{"name": "http", "containerPort": HTTP_PORT}, {"name": "management", "containerPort": MANAGEMENT_PORT}]
    if args.session_backend is SessionBackend.INFINISPAN:
        ports += [{"name": "jgroups", "containerPort": JGROUPS_PORT}, {"name": "jgroups-fd", "containerPort": JGROUPS_FD_PORT}]
    return {
        "name": "wildfly",
        "image": args.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/bash", f"{SCRIPTS_DIR}/start.sh"],
        "args": server_args(args.session_backend),
        "env": env + backend_env,
        "ports": ports,
        "volumeMounts": mounts,
        "resources": k8s_common.resources(args.cpu_request, args.cpu_limit, args.memory),
        "securityContext": k8s_common.container_security_context(),
        # Boot runs the CLI script first: allow several minutes before liveness applies.
        "startupProbe": {"httpGet": {"path": "/health/started", "port": "management"}, "periodSeconds": 5, "failureThreshold": 60, "timeoutSeconds": 3},
        # Ready only once deployments are up and the server is not suspended (on SIGTERM
        # it suspends first, so it leaves the endpoints before it stops taking requests).
        "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "management"}, "periodSeconds": 5, "failureThreshold": 2, "timeoutSeconds": 3},
        "livenessProbe": {"httpGet": {"path": "/health/live", "port": "management"}, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 5},
        "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", f"sleep {args.prestop_sleep_seconds}"]}}},
    }


def _ingress_rules(selector: dict[str, str], clustered: bool, http_from: tuple[Mapping[str, Any], ...]) -> list[dict[str, Any]]:
    """HTTP from the router (``http_from``; anywhere in the cluster when empty); the management
    port's health checks from anywhere (the kubelet, an ALB's health check); JGroups only from
    this cluster's own pods."""
    if http_from:
        rules = [k8s_common.ingress_rule(["http"], http_from), k8s_common.ingress_rule(["management"], ())]
    else:
        rules = [k8s_common.ingress_rule(["http", "management"], ())]
    if clustered:
        rules.append(
            {
                "from": [{"podSelector": {"matchLabels": dict(selector)}}],
                "ports": [{"port": "jgroups", "protocol": "TCP"}, {"port": "jgroups-fd", "protocol": "TCP"}],
            }
        )
    return rules
