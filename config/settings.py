"""Stack settings: the only reader of ``pulumi.Config``.

Every key is declared here once (type, default, description) and in ``Pulumi.yaml`` (a test keeps
the two identical). ``load_settings`` reads and validates all of them before the program declares
a single resource, and stops with one message that names the key, the bad value and what is
allowed.
"""

from __future__ import annotations

import difflib
import enum
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Callable, Mapping

from sessionstack.redis_config import RedisMode
from sessionstack.routing import RoutingImplementation
from sessionstack.routing_rules import check_cookie_name
from sessionstack.wildfly_config import WILDFLY_IMAGE, Discovery, SessionBackend

PROJECT = "sessionstack"


class Platform(str, enum.Enum):
    LOCAL = "local"
    """No cluster: the Kubernetes provider renders every object to a directory."""
    DEV = "dev"
    """A kind cluster reached through a kubeconfig context."""
    EKS = "eks"
    """AWS: VPC + EKS + ALB front door, Redis on ElastiCache by default."""


class RedisBackend(str, enum.Enum):
    AUTO = "auto"
    """ElastiCache on eks, a StatefulSet everywhere else."""
    KUBERNETES = "kubernetes"
    ELASTICACHE = "elasticache"


class SettingsError(ValueError):
    """A config value is missing, malformed or not allowed on this platform."""


@dataclass(frozen=True)
class Key:
    name: str
    type: str  # the Pulumi.yaml config type: string | integer | boolean
    default: str | int | bool
    description: str
    platforms: tuple[Platform, ...] = tuple(Platform)
    """Platforms on which a non-default value is allowed."""


_EKS = (Platform.EKS,)
_CLUSTER = (Platform.DEV, Platform.EKS)

KEYS: tuple[Key, ...] = (
    Key("platform", "string", "local", "Where the stack goes: local (render manifests, no cluster), dev (kind) or eks (AWS)."),
    Key("namespace", "string", "sessionstack", "Kubernetes namespace for every workload (DNS-1123 label)."),
    Key("renderDir", "string", "rendered/local", "local only: directory the Kubernetes objects are rendered to.", (Platform.LOCAL,)),
    Key("kubeContext", "string", "kind-sessionstack", "dev only: kubeconfig context of the kind cluster.", (Platform.DEV,)),
    Key("wildfly.replicas", "integer", 2, "WildFly pods (at least 2 for session failover; the HPA minimum)."),
    Key("wildfly.maxReplicas", "integer", 6, "HPA maximum for WildFly (>= wildfly.replicas)."),
    Key("wildfly.discovery", "string", "kube_ping", "JGroups discovery: kube_ping (Kubernetes API) or dns_ping (headless Service)."),
    Key("wildfly.sessionBackend", "string", "infinispan", "Where sessions live: infinispan (replicated via JGroups) or redis (the Redis session store)."),
    Key("wildfly.cacheOwners", "integer", 2, "Owners of each session in the distributed Infinispan cache (1-10)."),
    Key("wildfly.demoApp", "boolean", True, "Deploy the session demo app from a ConfigMap (false: bring your own image)."),
    Key("wildfly.image", "string", WILDFLY_IMAGE, "WildFly image, pinned by tag or digest (never latest)."),
    Key("apache.replicas", "integer", 2, "Apache httpd pods for static content (2-50; the HPA minimum)."),
    Key("apache.maxReplicas", "integer", 4, "HPA maximum for Apache httpd (>= apache.replicas)."),
    Key("redis.backend", "string", "auto", "Session store: auto (elasticache on eks, kubernetes elsewhere), kubernetes or elasticache (eks only)."),
    Key("redis.mode", "string", "sentinel", "sentinel (redis.sentinelPods pods, a replica promoted when the primary fails; on elasticache: cluster mode disabled, Multi-AZ failover), cluster (Redis Cluster, sessions sharded over redis.clusterPrimaries primaries each with a replica; on elasticache: cluster mode enabled) or standalone (one pod, for development; kubernetes only)."),
    Key("redis.sentinelPods", "integer", 3, "sentinel mode: Redis pods, each with a Sentinel (odd, 3-9; the quorum is a majority)."),
    Key("redis.clusterPrimaries", "integer", 3, "cluster mode: primaries (shards), 3-16, each with one replica (twice as many pods, or ElastiCache shards)."),
    Key("redis.storage", "string", "1Gi", "Persistent volume size per Redis pod (Kubernetes quantity)."),
    Key("redis.maxmemoryMb", "integer", 256, "Redis maxmemory in MiB (16-65536); the pod's memory limit follows it."),
    Key("routing.implementation", "string", "gateway-api", "local/dev routing: gateway-api (Envoy Gateway) or ingress-nginx.", (Platform.LOCAL, Platform.DEV)),
    Key("routing.host", "string", "", "Optional host name the routes answer for (DNS-1123 subdomain); empty: any host."),
    Key("routing.sessionCookie", "string", "SESSIONSTACK_ROUTE", "Name of the affinity cookie set by the router or ALB."),
    Key("routing.installController", "boolean", False, "dev only: install the routing controller (Envoy Gateway or ingress-nginx) into kind.", (Platform.DEV,)),
    Key("routing.controllerChart", "string", "", "dev only: the controller's Helm chart when routing.installController is true: empty for the upstream chart at the pinned version, a local chart directory or .tgz, or the oci:// or https:// address of a mirror.", (Platform.DEV,)),
    Key("eks.stickinessSeconds", "integer", 3600, "eks only: ALB lb_cookie duration in seconds (1-604800).", _EKS),
    Key("eks.deregistrationDelaySeconds", "integer", 120, "eks only: ALB deregistration delay so sessions drain (0-3600).", _EKS),
    Key("eks.availabilityZones", "integer", 2, "eks only: availability zones for the VPC, nodes and ALB (2-6).", _EKS),
    Key("eks.vpcCidr", "string", "10.0.0.0/16", "eks only: VPC CIDR (/16 to /20).", _EKS),
    Key("eks.kubernetesVersion", "string", "1.33", "eks only: EKS control plane version (1.30 or newer).", _EKS),
    Key("eks.nodeInstanceType", "string", "m6i.large", "eks only: instance type of the managed node group.", _EKS),
    Key("eks.nodeCount", "integer", 3, "eks only: nodes in the managed node group (2-100).", _EKS),
    Key("eks.existingClusterName", "string", "", "eks only: use this existing EKS cluster instead of creating VPC + cluster.", _EKS),
)

_KEYS_BY_NAME = {k.name: k for k in KEYS}

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUANTITY = re.compile(r"^[1-9][0-9]*(Mi|Gi|Ti)$")
_K8S_VERSION = re.compile(r"^1\.(\d+)$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_IMAGE = re.compile(r"^(?P<repo>[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*)(?P<ref>(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?)$")


@dataclass(frozen=True)
class WildflySettings:
    replicas: int
    max_replicas: int
    discovery: Discovery
    session_backend: SessionBackend
    cache_owners: int
    demo_app: bool
    image: str


@dataclass(frozen=True)
class ApacheSettings:
    replicas: int
    max_replicas: int


@dataclass(frozen=True)
class RedisSettings:
    backend: RedisBackend
    """Resolved: never AUTO."""
    mode: RedisMode
    sentinel_pods: int
    cluster_primaries: int
    storage: str
    maxmemory_mb: int


@dataclass(frozen=True)
class RoutingSettings:
    implementation: RoutingImplementation
    host: str
    session_cookie: str
    install_controller: bool
    controller_chart: str
    """'' (upstream), a local chart path, or a mirror's oci:// or https:// address."""


@dataclass(frozen=True)
class EksSettings:
    stickiness_seconds: int
    deregistration_delay_seconds: int
    availability_zones: int
    vpc_cidr: str
    kubernetes_version: str
    node_instance_type: str
    node_count: int
    existing_cluster_name: str


@dataclass(frozen=True)
class StackSettings:
    platform: Platform
    namespace: str
    render_dir: str
    kube_context: str
    wildfly: WildflySettings
    apache: ApacheSettings
    redis: RedisSettings
    routing: RoutingSettings
    eks: EksSettings


class _Reader:
    """Reads raw string values and turns them into typed values with key-naming errors."""

    def __init__(self, raw: Mapping[str, str | None]) -> None:
        self._raw = raw

    def _value(self, name: str) -> str | None:
        return self._raw.get(name)

    def _fail(self, name: str, value: object, allowed: str) -> SettingsError:
        return SettingsError(f"{PROJECT}:{name} must be {allowed}, got {value!r}")

    def string(self, name: str, check: Callable[[str], bool] | None = None, allowed: str = "") -> str:
        raw = self._value(name)
        value = str(_KEYS_BY_NAME[name].default) if raw is None else raw
        if check is not None and not check(value):
            raise self._fail(name, value, allowed)
        return value

    def integer(self, name: str, low: int, high: int) -> int:
        raw = self._value(name)
        value = _KEYS_BY_NAME[name].default if raw is None else raw
        allowed = f"an integer from {low} to {high}"
        if isinstance(value, bool):
            raise self._fail(name, value, allowed)
        try:
            number = int(str(value).strip(), 10)
        except ValueError:
            raise self._fail(name, value, allowed) from None
        if not low <= number <= high:
            raise self._fail(name, value, allowed)
        return number

    def boolean(self, name: str) -> bool:
        raw = self._value(name)
        if raw is None:
            return bool(_KEYS_BY_NAME[name].default)
        lowered = str(raw).strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise self._fail(name, raw, "true or false")

    def choice(self, name: str, enum_type: type[enum.Enum], hints: Mapping[str, str] | None = None) -> enum.Enum:
        value = self.string(name)
        try:
            return enum_type(value)
        except ValueError:
            allowed = "one of " + ", ".join(repr(m.value) for m in enum_type)
            hint = (hints or {}).get(value.strip().lower())
            message = f"{PROJECT}:{name} must be {allowed}, got {value!r}"
            raise SettingsError(f"{message} ({hint})" if hint else message) from None


def _is_pinned_image(image: str) -> bool:
    match = _IMAGE.match(image)
    if not match or not match.group("ref"):
        return False
    ref = match.group("ref")
    return "@sha256:" in ref or ref.lstrip(":") != "latest"


def _is_affinity_cookie(value: str) -> bool:
    try:
        check_cookie_name(value)
    except ValueError:
        return False
    return True


def _is_vpc_cidr(value: str) -> bool:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return net.version == 4 and 16 <= net.prefixlen <= 20 and net.is_private


def _is_supported_k8s(value: str) -> bool:
    match = _K8S_VERSION.match(value)
    return bool(match) and int(match.group(1)) >= 30


def _is_chart_source(value: str) -> bool:
    # A local path is not checked for existence here: the stack file is also evaluated where the
    # cluster (and its chart) is not, e.g. by the offline policy runner; Helm names a missing one.
    if value.startswith(("oci://", "https://")):
        return len(value) > len("https://")
    return value == "" or ("://" not in value and value.strip() == value and "\n" not in value)


_DISCOVERY_HINTS = {
    mode: "Kubernetes pod networks carry no UDP multicast; use kube_ping or dns_ping"
    for mode in ("multicast", "udp", "mping", "pbcast")
}


def load_settings(raw: Mapping[str, str | None]) -> StackSettings:
    """Validates every key in ``raw`` (unprefixed key -> string value) into StackSettings."""
    unknown = sorted(set(raw) - set(_KEYS_BY_NAME))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(_KEYS_BY_NAME), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else "known keys: " + ", ".join(k.name for k in KEYS)
        raise SettingsError(f"{PROJECT}:{unknown[0]} is not a sessionstack setting; {hint}")
    read = _Reader(raw)
    platform = read.choice("platform", Platform)
    _reject_foreign_keys(raw, platform)

    namespace = read.string("namespace", lambda v: bool(_DNS_LABEL.match(v)), "a DNS-1123 label (lower-case letters, digits, '-', at most 63)")
    replicas = read.integer("wildfly.replicas", 1, 50)
    wildfly = WildflySettings(
        replicas=replicas,
        max_replicas=read.integer("wildfly.maxReplicas", replicas, 100),
        discovery=read.choice("wildfly.discovery", Discovery, _DISCOVERY_HINTS),
        session_backend=read.choice("wildfly.sessionBackend", SessionBackend),
        cache_owners=read.integer("wildfly.cacheOwners", 1, 10),
        demo_app=read.boolean("wildfly.demoApp"),
        image=read.string("wildfly.image", _is_pinned_image, "an image pinned by tag or digest, not ':latest' or untagged"),
    )
    if wildfly.session_backend is SessionBackend.REDIS and wildfly.demo_app:
        raise SettingsError(
            f"{PROJECT}:wildfly.demoApp must be false when {PROJECT}:wildfly.sessionBackend is 'redis', got 'true': "
            "the ConfigMap demo keeps its sessions inside WildFly; set wildfly.image to an application "
            "image that stores sessions in Redis (e.g. apps/spring-session-demo) and wildfly.demoApp to false"
        )
    apache_replicas = read.integer("apache.replicas", 2, 50)
    apache = ApacheSettings(apache_replicas, read.integer("apache.maxReplicas", apache_replicas, 100))

    redis_backend = read.choice("redis.backend", RedisBackend)
    if redis_backend is RedisBackend.AUTO:
        redis_backend = RedisBackend.ELASTICACHE if platform is Platform.EKS else RedisBackend.KUBERNETES
    elif redis_backend is RedisBackend.ELASTICACHE and platform is not Platform.EKS:
        raise SettingsError(
            f"{PROJECT}:redis.backend 'elasticache' needs platform 'eks', got platform {platform.value!r}; "
            "allowed here: 'auto' or 'kubernetes'"
        )
    sentinel_pods = read.integer("redis.sentinelPods", 3, 9)
    if sentinel_pods % 2 == 0:
        raise SettingsError(f"{PROJECT}:redis.sentinelPods must be odd (3, 5, 7 or 9), got {sentinel_pods}: an even count adds no failure tolerance to the quorum")
    redis_mode = read.choice("redis.mode", RedisMode)
    if redis_backend is RedisBackend.ELASTICACHE and redis_mode is RedisMode.STANDALONE:
        raise SettingsError(
            f"{PROJECT}:redis.mode 'standalone' has no ElastiCache counterpart (redis.backend 'elasticache'); "
            "allowed there: 'sentinel' (cluster mode disabled, Multi-AZ failover) or 'cluster' (cluster mode enabled)"
        )
    redis = RedisSettings(
        backend=redis_backend,
        mode=redis_mode,
        sentinel_pods=sentinel_pods,
        cluster_primaries=read.integer("redis.clusterPrimaries", 3, 16),
        storage=read.string("redis.storage", lambda v: bool(_QUANTITY.match(v)), "a quantity such as 512Mi or 1Gi"),
        maxmemory_mb=read.integer("redis.maxmemoryMb", 16, 65536),
    )
    routing = RoutingSettings(
        implementation=read.choice("routing.implementation", RoutingImplementation),
        host=read.string("routing.host", lambda v: v == "" or bool(_DNS_SUBDOMAIN.match(v)), "empty or a DNS-1123 subdomain such as shop.example.com"),
        session_cookie=read.string("routing.sessionCookie", _is_affinity_cookie, "a cookie name of 1-64 token characters (no spaces, ';', ',' or '='), other than the applications' JSESSIONID or SESSION"),
        install_controller=read.boolean("routing.installController"),
        controller_chart=read.string("routing.controllerChart", _is_chart_source, "empty, a local chart path (directory or .tgz), or an oci:// or https:// address"),
    )
    if routing.controller_chart and not routing.install_controller:
        raise SettingsError(
            f"{PROJECT}:routing.controllerChart is used only with {PROJECT}:routing.installController true, got "
            f"{routing.controller_chart!r} with installController false; set both or remove the chart"
        )
    eks = EksSettings(
        stickiness_seconds=read.integer("eks.stickinessSeconds", 1, 604800),
        deregistration_delay_seconds=read.integer("eks.deregistrationDelaySeconds", 0, 3600),
        availability_zones=read.integer("eks.availabilityZones", 2, 6),
        vpc_cidr=read.string("eks.vpcCidr", _is_vpc_cidr, "a private IPv4 CIDR from /16 to /20"),
        kubernetes_version=read.string("eks.kubernetesVersion", _is_supported_k8s, "a version '1.N' with N >= 30"),
        node_instance_type=read.string("eks.nodeInstanceType", lambda v: bool(_INSTANCE_TYPE.match(v)), "an EC2 instance type such as m6i.large"),
        node_count=read.integer("eks.nodeCount", 2, 100),
        existing_cluster_name=read.string("eks.existingClusterName", lambda v: v == "" or bool(re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$", v)), "empty or an EKS cluster name"),
    )
    return StackSettings(
        platform=platform,
        namespace=namespace,
        render_dir=read.string("renderDir", lambda v: v != "" and not v.startswith("/") and ".." not in v.split("/"), "a relative directory inside the project"),
        kube_context=read.string("kubeContext", lambda v: v != "", "a kubeconfig context name"),
        wildfly=wildfly,
        apache=apache,
        redis=redis,
        routing=routing,
        eks=eks,
    )


def _reject_foreign_keys(raw: Mapping[str, str | None], platform: Platform) -> None:
    """A key meant for another platform, set to a non-default value, is a mistake: say so."""
    for key in KEYS:
        value = raw.get(key.name)
        if value is None or platform in key.platforms or value == _as_config_string(key.default):
            continue
        allowed = ", ".join(p.value for p in key.platforms)
        raise SettingsError(
            f"{PROJECT}:{key.name} is a setting for platform {allowed} only, got {value!r} on "
            f"platform {platform.value!r}; remove it from this stack's config"
        )


def _as_config_string(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read_stack_settings() -> StackSettings:
    """Reads this stack's config through pulumi.Config (the one place that does) and validates it.

    Every key set in the ``sessionstack:`` namespace is read, known or not, so that a typo
    (``wildfly.replica``) stops the program instead of leaving the default in place.
    """
    import pulumi
    from pulumi.runtime import config as runtime_config

    config = pulumi.Config(PROJECT)
    every = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    names = set(_flat_names(every)) | {key.name for key in KEYS}
    raw = {name: config.get(name) for name in names}
    present = {name: value for name, value in raw.items() if value is not None}
    return load_settings(present)


def _flat_names(config: Mapping[str, object]) -> list[str]:
    """The dotted names of the ``sessionstack:`` keys. The engine hands the defaults declared in
    Pulumi.yaml over as one object per prefix (``sessionstack:wildfly`` = ``{"replicas": 2, ...}``)
    and keys set in a stack file as they are written (``sessionstack:wildfly.replicas``)."""
    names: list[str] = []

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, str) and value.startswith("{"):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}", inner)
        else:
            names.append(prefix)

    for key, value in config.items():
        if key.startswith(f"{PROJECT}:"):
            walk(key.split(":", 1)[1], value)
    return names
