"""The session store: Redis needs a password from a Secret and stays inside the cluster/VPC.

Whoever reaches an unauthenticated Redis can read every session id and forge logins. The
password belongs in a Secret (a ConfigMap or the pod spec shows it to anyone who can read the
namespace), the Redis port is never published through a LoadBalancer or NodePort, and an
ElastiCache replication group encrypts in transit and requires an AUTH token.
"""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.k8s import (
    ELASTICACHE_REPLICATION_GROUP,
    Container,
    Resource,
    StackView,
    Workload,
    is_redis,
    option_values,
)
from policy.props import UNKNOWN, as_list, dig, truthy

REDIS_PORTS = frozenset({6379, 6380, 16379, 26379})
_PASSWORD_ENV = re.compile(r"(?:^|_)(?:REDIS|VALKEY)\w*_(?:PASS|PASSWORD|AUTH|AUTH_TOKEN)$|^REDISCLI_AUTH$")
_REQUIREPASS_LINE = re.compile(r"^\s*(?:requirepass\s+\S+|user\s+\S+.*\s>\S+)", re.MULTILINE)
_INCLUDE_LINE = re.compile(r"^\s*(?:include|aclfile)\s+(\S+)", re.MULTILINE)
_VAR_REF = re.compile(r"^\$\((\w+)\)$|^\$\{(\w+)\}$|^\$(\w+)$")

FIX_AUTH = (
    "Fix: put the password in a Secret and hand it to Redis from there (a Secret-mounted file included by "
    "redis.conf with `requirepass`, or `--requirepass $(REDIS_PASSWORD)` with env REDIS_PASSWORD from "
    "secretKeyRef); clients read the same Secret."
)
FIX_PRIVATE = (
    "Fix: make the Service type ClusterIP (headless for a StatefulSet) and reach Redis from inside the cluster only; "
    "restrict clients with a NetworkPolicy."
)
FIX_ELASTICACHE = "Fix: transitEncryptionEnabled true (transitEncryptionMode 'required') and an authToken from a secret (or userGroupIds)."


def _secret_env(container: Container, name: str) -> bool | None:
    """True: env ``name`` comes from a Secret; False: from a literal or elsewhere; None: undefined."""
    entry = container.env_entry(name)
    if entry is None:
        return None
    source = entry.get("valueFrom")
    return source is UNKNOWN or (isinstance(source, dict) and "secretKeyRef" in source)


def password_env_problems(container: Container) -> list[str]:
    """Password env vars (of servers and clients) whose value is written in the pod spec."""
    problems = []
    for entry in container.env:
        name = entry.get("name")
        if isinstance(name, str) and _PASSWORD_ENV.search(name) and isinstance(entry.get("value"), str) and entry.get("value"):
            problems.append(f"env {name} is a literal value in the pod spec")
    return problems


def redis_auth_problems(view: StackView, workload: Workload, container: Container) -> list[str]:
    """What is wrong with how this Redis container gets its password ([] when it is fine)."""
    problems = password_env_problems(container)
    from_secret = False
    text = container.command_text()
    for value in option_values(text, "--requirepass"):
        ref = _VAR_REF.match(value)
        if ref:
            var = next(g for g in ref.groups() if g)
            secret = _secret_env(container, var)
            if secret:
                from_secret = True
            elif secret is None:
                problems.append(f"--requirepass refers to env {var}, which the container does not define")
        else:
            problems.append("--requirepass carries the password in the container args")
    for name in ("REDIS_PASSWORD", "VALKEY_PASSWORD"):
        if _secret_env(container, name):
            from_secret = True
    if (container.env_value("REDIS_PASSWORD_FILE") or container.env_value("VALKEY_PASSWORD_FILE")) is not None:
        from_secret = True
    allow_empty = container.env_value("ALLOW_EMPTY_PASSWORD")
    if isinstance(allow_empty, str) and allow_empty.lower() in ("yes", "true", "1"):
        problems.append("ALLOW_EMPTY_PASSWORD lets it start without a password")
    secret_paths = view.secret_mount_paths(workload, container)

    def in_secret(path: str) -> bool:
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in secret_paths)

    if any(in_secret(word) for word in text.split()):
        from_secret = True  # redis-server started with a config file that lives in a Secret
    for kind, name, path, content in view.mounted_files(workload, container):
        if not isinstance(content, str):
            continue
        if kind == "ConfigMap" and _REQUIREPASS_LINE.search(content):
            problems.append(f"ConfigMap {name} ({path}) contains the password; ConfigMaps are readable by anyone who can read the namespace")
        for included in _INCLUDE_LINE.findall(content):
            if in_secret(included.strip("\"'")):
                from_secret = True
        if kind == "Secret" and _REQUIREPASS_LINE.search(content):
            from_secret = True
    if not problems and not from_secret:
        problems.append(
            "Redis runs without a password (none reaches it from a Secret): anyone who reaches port 6379 can read "
            "and forge sessions"
        )
    return problems


def validate_redis_auth(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(Resource.from_policy_resource(r) for r in args.resources)
    applicable = False
    for workload in view.workloads:
        for container in workload.containers():
            if is_redis(container):
                applicable = True
                problems = redis_auth_problems(view, workload, container)
            else:
                problems = password_env_problems(container)
                applicable = applicable or bool(problems)
            if problems:
                report_violation(f"{workload.describe()}, container '{container.name}': {'; '.join(problems)}. {FIX_AUTH}", workload.urn)
    if not applicable:
        args.not_applicable("no Redis container and no Redis password in any pod spec")


redis_password_from_secret = StackValidationPolicy(
    name="redis-password-from-secret",
    description="Redis requires a password, and the password comes from a Secret (never a literal or a ConfigMap).",
    validate=validate_redis_auth,
    remediation_steps=FIX_AUTH,
)


def _service_port_numbers(ports: list[dict[str, Any]]) -> set[int]:
    numbers = set()
    for port in ports:
        for key in ("port", "targetPort"):
            value = port.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                numbers.add(int(value))
    return numbers


def _redis_workloads(view: StackView) -> list[Workload]:
    return [w for w in view.workloads if any(is_redis(c) for c in w.containers())]


def validate_redis_private(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(Resource.from_policy_resource(r) for r in args.resources)
    redis_workloads = _redis_workloads(view)
    applicable = bool(redis_workloads)
    for service in view.services:
        selected = [w for w in redis_workloads if service.selects(w)]
        names = {str(p.get("name", "")).lower() for p in service.ports}
        by_port = bool(_service_port_numbers(service.ports) & REDIS_PORTS) or any("redis" in n for n in names)
        if not selected and not by_port:
            continue
        applicable = True
        public = []
        if service.type in ("LoadBalancer", "NodePort"):
            public.append(f"type {service.type}")
        if [ip for ip in as_list(service.spec.get("externalIPs")) if ip]:
            public.append("externalIPs")
        if public:
            what = f"selects {', '.join(w.describe() for w in selected)}" if selected else "publishes a Redis port"
            report_violation(
                f"{service.describe()} {what} and is reachable from outside the cluster ({', '.join(public)}): the "
                f"session store must stay private. {FIX_PRIVATE}",
                service.urn,
            )
    if not applicable:
        args.not_applicable("no Redis in this stack")


redis_stays_private = StackValidationPolicy(
    name="redis-stays-private",
    description="No LoadBalancer, NodePort or external IP in front of Redis.",
    validate=validate_redis_private,
    remediation_steps=FIX_PRIVATE,
)


FIX_FAILOVER = (
    "Fix: run Sentinels that promote one replica at a time (RedisSessionStore mode 'sentinel': Redis and a "
    "Sentinel in each of 3+ pods, clients asking the Sentinels for the primary), or Redis Cluster; or run one pod."
)
_SENTINEL = re.compile(r"--sentinel\b|\bredis-sentinel\b|\bsentinel\b", re.IGNORECASE)
_SENTINEL_CONF = re.compile(r"^\s*sentinel\s+monitor\s", re.MULTILINE | re.IGNORECASE)
_CLUSTER_ENABLED = re.compile(r"(?:^|\s|--)cluster-enabled\s+yes\b", re.MULTILINE | re.IGNORECASE)


def _runs_sentinel_or_cluster(view: StackView, workload: Workload) -> bool:
    """A Sentinel (by container name, command, or a mounted sentinel.conf) or Redis Cluster mode."""
    for container in workload.containers(include_init=False):
        if _SENTINEL.search(container.name or "") or _SENTINEL.search(container.command_text()) or _CLUSTER_ENABLED.search(container.command_text()):
            return True
        for _kind, _name, _path, content in view.mounted_files(workload, container):
            if isinstance(content, str) and (_SENTINEL_CONF.search(content) or _CLUSTER_ENABLED.search(content)):
                return True
    return False


def validate_redis_failover(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(Resource.from_policy_resource(r) for r in args.resources)
    if not _redis_workloads(view):
        args.not_applicable("no Redis in this stack")
        return
    # Sentinels may run beside Redis or in a workload of their own (on the same image).
    if any(_runs_sentinel_or_cluster(view, w) for w in view.workloads):
        return
    for workload in _redis_workloads(view):
        replicas = workload.replicas
        if not isinstance(replicas, int) or replicas <= 1:
            continue
        report_violation(
            f"{workload.describe()} runs {replicas} Redis pods with neither Sentinels nor Redis Cluster: nothing decides "
            "which one takes writes, so each pod is a primary of its own (clients behind one Service write to any of "
            f"them and read each other's sessions as missing), or replicas wait for a primary that nobody promotes "
            f"when it fails. Two primaries are worse than one. {FIX_FAILOVER}",
            workload.urn,
        )


redis_replicas_need_failover = StackValidationPolicy(
    name="redis-replicas-need-failover",
    description="Redis with more than one pod runs Sentinels or Redis Cluster to decide the primary (advisory).",
    validate=validate_redis_failover,
    remediation_steps=FIX_FAILOVER,
)


def validate_elasticache(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != ELASTICACHE_REPLICATION_GROUP:
        args.not_applicable("not an ElastiCache replication group")
        return
    props = Resource.from_args(args).props
    engine = props.get("engine", "redis")
    if isinstance(engine, str) and engine not in ("redis", "valkey"):
        args.not_applicable(f"engine {engine}")
        return
    problems = []
    tls = props.get("transitEncryptionEnabled")
    if tls is not UNKNOWN and truthy(tls) is not True:
        problems.append("transitEncryptionEnabled is not true: session ids and the AUTH token cross the VPC in clear text")
    elif props.get("transitEncryptionMode") == "preferred":
        problems.append("transitEncryptionMode 'preferred' still accepts unencrypted clients")
    token = props.get("authToken")
    groups = props.get("userGroupIds")
    has_token = token is UNKNOWN or (isinstance(token, str) and token != "")
    has_groups = groups is UNKNOWN or bool(as_list(groups))
    if not has_token and not has_groups:
        problems.append("no authToken (or RBAC userGroupIds): any client in the VPC can read and forge sessions")
    if dig(props, "authTokenUpdateStrategy") == "DELETE":
        problems.append("authTokenUpdateStrategy DELETE removes the AUTH token")
    if problems:
        report_violation(f"ElastiCache replication group {args.name}: {'; '.join(problems)}. {FIX_ELASTICACHE}", None)


elasticache_auth_and_tls = ResourceValidationPolicy(
    name="elasticache-auth-and-tls",
    description="ElastiCache (Redis/Valkey) encrypts in transit and requires an AUTH token.",
    validate=validate_elasticache,
    remediation_steps=FIX_ELASTICACHE,
)
