"""WildFly clustering rules: what JGroups advertises, and what KUBE_PING may ask the API server.

Both rules encode a failure from the field reports: KUBE_PING lists every pod, yet each pod forms
a singleton cluster because JGroups advertises 0.0.0.0 (or 127.0.0.1) as its address; and
KUBE_PING gets 403 Forbidden because the pods run under the default ServiceAccount, or it works
only because someone granted a ClusterRole (or write verbs) to make the error go away.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.k8s import (
    Container,
    K8sObject,
    Resource,
    StackView,
    Workload,
    is_wildfly,
    k8s_kind,
    option_values,
    same_name,
    same_namespace,
    WORKLOAD_KINDS,
)
from policy.props import UNKNOWN, as_dict, as_list, dig, truthy

JAVA_OPTION_ENV = ("JAVA_OPTS", "JAVA_OPTS_APPEND", "JBOSS_OPTS", "SERVER_OPTS")
"""Env vars whose value standalone.sh (or an entrypoint) passes on as server/JVM options."""

_HA_CONFIG = re.compile(r"(?:^|[-_])ha(?:[-_.]|$)")
_VAR_REF = re.compile(r"^\$\((\w+)\)$|^\$\{(\w+)\}$|^\$(\w+)$")
_HOSTNAME_IP = re.compile(r"^(?:\$\(|`)\s*hostname\s+(?:-i|-I|--ip-address|--all-ip-addresses)\b")
_WILDCARDS = {"0.0.0.0", "::", "0:0:0:0:0:0:0:0", "*"}

FIX_BIND = (
    "Fix: add env POD_IP with valueFrom.fieldRef.fieldPath status.podIP and start the server with "
    "-bprivate=$(POD_IP) (JGroups binds to, and advertises, the private interface)."
)


def workload_from_args(args: ResourceValidationArgs) -> Workload | None:
    gv_kind = k8s_kind(args.resource_type)
    if gv_kind is None or gv_kind[1] not in WORKLOAD_KINDS:
        return None
    return Workload(Resource.from_args(args), *gv_kind)


# --------------------------------------------------------------------------------------------
# What the server runs with
# --------------------------------------------------------------------------------------------


def server_config(container: Container) -> str | None:
    """The standalone configuration file the container starts (last -c/--server-config wins)."""
    text = container.command_text(JAVA_OPTION_ENV)
    values = option_values(text, "-c", "--server-config", "-Djboss.server.config.file.name")
    values = [v for v in values if v.endswith(".xml")]
    return values[-1] if values else None


def is_clustered_profile(config: str | None) -> bool:
    if not config:
        return False
    base = config.rsplit("/", 1)[-1][: -len(".xml")] if config.endswith(".xml") else config
    return bool(_HA_CONFIG.search(base))


def private_bind(container: Container) -> str | None:
    """The private interface address the server is started with (last option wins)."""
    text = container.command_text(JAVA_OPTION_ENV)
    values = option_values(text, "-bprivate", "-Djboss.bind.address.private")
    return values[-1] if values else None


@dataclass(frozen=True)
class Verdict:
    ok: bool | None
    """True: the pod IP; False: wrong; None: cannot tell yet (value unknown during preview)."""
    detail: str


def judge_bind(container: Container, value: Any, depth: int = 0) -> Verdict:
    """Whether ``value`` (an address or a $(VAR) reference) ends up as the pod's own IP."""
    if value is UNKNOWN:
        return Verdict(None, "unknown until the update")
    if value is None:
        return Verdict(
            False,
            "no -bprivate / -Djboss.bind.address.private, so the private interface keeps its default "
            "(127.0.0.1 in standalone-ha.xml): JGroups listens on loopback and no other pod can reach it",
        )
    if not isinstance(value, str) or not value.strip():
        return Verdict(False, "an empty private bind address")
    value = value.strip()
    if _HOSTNAME_IP.match(value):
        return Verdict(True, "the pod IP from `hostname -i`")
    ref = _VAR_REF.match(value)
    if ref:
        var = next(g for g in ref.groups() if g)
        if var == "HOSTNAME":
            return Verdict(True, "the pod's host name, which resolves to the pod IP")
        entry = container.env_entry(var)
        if entry is None:
            return Verdict(
                False,
                f"-bprivate={value} refers to env {var}, which the container does not define: "
                "the server receives the literal text instead of an address",
            )
        source = entry.get("valueFrom")
        if source is UNKNOWN:
            return Verdict(None, "unknown until the update")
        if isinstance(source, dict):
            field_path = dig(source, "fieldRef", "fieldPath")
            if field_path is UNKNOWN:
                return Verdict(None, "unknown until the update")
            if field_path == "status.podIP":
                return Verdict(True, f"the pod IP from env {var}")
            if field_path:
                return Verdict(False, f"env {var} comes from fieldRef {field_path}, not status.podIP")
            origin = "a ConfigMap" if "configMapKeyRef" in source else "a Secret" if "secretKeyRef" in source else "a resource field"
            return Verdict(False, f"env {var} comes from {origin}, which holds the same value for every pod")
        if depth < 5:
            inner = judge_bind(container, entry.get("value"), depth + 1)
            return Verdict(inner.ok, f"env {var} = {entry.get('value')!r}: {inner.detail}") if inner.ok is False else inner
        return Verdict(False, f"env {var} refers to itself")
    literal = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    if literal in _WILDCARDS:
        return Verdict(
            False,
            f"-bprivate={value}: JGroups binds to the wildcard address and advertises it, peers cannot connect to "
            f"{value}:7600, and KUBE_PING finds every pod while each pod forms a singleton cluster",
        )
    if literal == "localhost":
        return Verdict(False, "-bprivate=localhost: JGroups listens on loopback and no other pod can reach it")
    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        return Verdict(False, f"-bprivate={value} is a fixed host name, the same in every replica of the pod template")
    if address.is_loopback:
        return Verdict(False, f"-bprivate={value} is loopback: JGroups listens where no other pod can reach it")
    return Verdict(False, f"-bprivate={value} is a fixed address, the same in every replica, and not the pod's own IP")


def validate_jgroups_bind(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    workload = workload_from_args(args)
    if workload is None:
        args.not_applicable("not a Kubernetes workload")
        return
    clustered = [(c, server_config(c)) for c in workload.containers() if is_wildfly(c)]
    clustered = [(c, cfg) for c, cfg in clustered if is_clustered_profile(cfg)]
    if not clustered:
        args.not_applicable("no WildFly container on a clustered (-ha) profile")
        return
    for container, config in clustered:
        if container.command_unknown:
            continue  # judged once the values are known (at update time)
        verdict = judge_bind(container, private_bind(container))
        if verdict.ok is False:
            report_violation(f"{workload.describe()}: container '{container.name}' runs {config} with {verdict.detail}. {FIX_BIND}", None)


jgroups_advertises_pod_ip = ResourceValidationPolicy(
    name="jgroups-advertises-pod-ip",
    description="WildFly on an HA profile binds and advertises JGroups on the pod IP, not 0.0.0.0 or the default.",
    validate=validate_jgroups_bind,
    remediation_steps=FIX_BIND,
)


# --------------------------------------------------------------------------------------------
# KUBE_PING and RBAC
# --------------------------------------------------------------------------------------------

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection", "escalate", "bind", "impersonate"})
RBAC_GROUP = "rbac.authorization.k8s.io"

FIX_RBAC = (
    "Fix: run the pods under their own ServiceAccount, bound by a RoleBinding in the pods' namespace to a "
    "namespaced Role with exactly {apiGroups: [''], resources: [pods], verbs: [get, list]}."
)


def uses_kube_ping(container: Container) -> bool:
    discovery = container.env_value("JGROUPS_DISCOVERY")
    if isinstance(discovery, str):
        return discovery.lower().removeprefix("kubernetes.") == "kube_ping"
    env_text = " ".join(v for v in (e.get("value") for e in container.env) if isinstance(v, str))
    if re.search(r"kube_ping", f"{env_text} {container.command_text()}", re.IGNORECASE):
        return True
    return is_wildfly(container) and any(container.env_entry(n) for n in ("KUBERNETES_LABELS", "KUBERNETES_NAMESPACE"))


def _covers(values: list[Any], wanted: str) -> bool:
    return wanted in values or "*" in values


def _rule_lists(rule: dict[str, Any]) -> tuple[list[Any], list[Any], list[Any]]:
    groups = as_list(rule.get("apiGroups")) if "apiGroups" in rule else [""]
    return groups, as_list(rule.get("resources")), [v.lower() if isinstance(v, str) else v for v in as_list(rule.get("verbs"))]


def pod_read_grants(rules: list[Any]) -> set[str]:
    """Which of get/list these rules grant on pods in the core group."""
    granted: set[str] = set()
    for rule in rules:
        if not isinstance(rule, dict):
            continue
        groups, resources, verbs = _rule_lists(rule)
        if not (_covers(groups, "") and _covers(resources, "pods")):
            continue
        for verb in ("get", "list"):
            if _covers(verbs, verb) and not (verb == "list" and as_list(rule.get("resourceNames"))):
                granted.add(verb)
    return granted


def excess_grants(rules: list[Any]) -> list[str]:
    """What these rules grant beyond reading: wildcard verbs/resources and write verbs."""
    problems = []
    for rule in rules:
        if not isinstance(rule, dict):
            continue
        groups, resources, verbs = _rule_lists(rule)
        what = ",".join(str(r) for r in resources) or "?"
        if "*" in verbs:
            problems.append(f"wildcard verbs ['*'] on {what}")
        writes = sorted(v for v in verbs if v in WRITE_VERBS)
        if writes:
            problems.append(f"write verbs {writes} on {what}")
        if "*" in resources:
            problems.append(f"wildcard resources ['*'] (verbs {verbs})")
        if "*" in groups and "*" not in resources:
            problems.append(f"wildcard apiGroups ['*'] on {what}")
    return problems


def _bindings_for(view: StackView, namespace: Any, service_account: Any) -> list[K8sObject]:
    found = []
    for binding in view.of_kind("RoleBinding", "ClusterRoleBinding"):
        if binding.kind == "RoleBinding" and not same_namespace(binding.namespace, namespace):
            continue
        for subject in as_list(binding.props.get("subjects")):
            if not isinstance(subject, dict) or subject.get("kind") != "ServiceAccount":
                continue
            subject_ns = subject.get("namespace", binding.namespace if binding.kind == "RoleBinding" else None)
            if same_name(subject.get("name"), service_account) and same_namespace(subject_ns, namespace):
                found.append(binding)
                break
    return found


def rbac_problems(view: StackView, workload: Workload) -> list[tuple[str, str]]:
    """(message, urn) for everything wrong with the RBAC of a KUBE_PING workload."""
    who = workload.describe()
    spec = workload.pod_spec
    sa = spec.get("serviceAccountName", spec.get("serviceAccount"))
    if sa is UNKNOWN:
        return []
    if not sa or sa == "default":
        return [
            (
                f"{who} uses KUBE_PING on the default ServiceAccount, which may not list pods: KUBE_PING gets "
                f"403 Forbidden and each pod forms a singleton cluster. {FIX_RBAC}",
                workload.urn,
            )
        ]
    problems: list[tuple[str, str]] = []
    accounts = view.find("ServiceAccount", workload.namespace, sa)
    automount = truthy(spec.get("automountServiceAccountToken"))
    if automount is None and accounts:
        automount = truthy(accounts[0].props.get("automountServiceAccountToken"))
    if automount is False:
        problems.append(
            (
                f"{who} uses KUBE_PING with automountServiceAccountToken false: without the token KUBE_PING cannot "
                "authenticate to the API server (401). Fix: mount the ServiceAccount token in these pods.",
                workload.urn,
            )
        )
    bindings = _bindings_for(view, workload.namespace, sa)
    if not bindings:
        problems.append((f"{who} uses KUBE_PING as ServiceAccount '{sa}', but no RoleBinding in this stack grants it anything. {FIX_RBAC}", workload.urn))
        return problems
    read: set[str] = set()
    for binding in bindings:
        ref = as_dict(binding.props.get("roleRef"))
        ref_kind, ref_name = ref.get("kind"), ref.get("name")
        if binding.kind == "ClusterRoleBinding":
            problems.append(
                (
                    f"{who}: ClusterRoleBinding {binding.name} grants ServiceAccount '{sa}' ClusterRole {ref_name} in every "
                    f"namespace: a cluster-wide grant for what KUBE_PING needs in one namespace. {FIX_RBAC}",
                    binding.urn,
                )
            )
        elif ref_kind == "ClusterRole":
            problems.append(
                (
                    f"{who}: RoleBinding {binding.name} binds ServiceAccount '{sa}' to ClusterRole {ref_name}; pod listing "
                    f"for KUBE_PING belongs in a namespaced Role next to the pods. {FIX_RBAC}",
                    binding.urn,
                )
            )
        role_ns = binding.namespace if ref_kind == "Role" else ""
        roles = view.find(ref_kind, role_ns, ref_name) if isinstance(ref_kind, str) else []
        if not roles:
            if ref_name is not UNKNOWN:
                problems.append(
                    (
                        f"{who}: {binding.kind} {binding.name} refers to {ref_kind} {ref_name}, which this stack does not "
                        "declare, so the pack cannot verify what it grants. Declare the Role in the same program.",
                        binding.urn,
                    )
                )
            else:
                read |= {"get", "list"}
            continue
        for role in roles:
            rules = as_list(role.props.get("rules"))
            read |= pod_read_grants(rules)
            for excess in excess_grants(rules):
                problems.append(
                    (f"{who}: {role.describe()} bound to KUBE_PING ServiceAccount '{sa}' grants {excess}. {FIX_RBAC}", role.urn)
                )
    missing = sorted({"get", "list"} - read)
    if missing:
        problems.append(
            (
                f"{who} uses KUBE_PING as ServiceAccount '{sa}', whose roles do not grant {missing} on pods: KUBE_PING "
                f"gets 403 Forbidden and each pod forms a singleton cluster. {FIX_RBAC}",
                workload.urn,
            )
        )
    return problems


def validate_kube_ping_rbac(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(Resource.from_policy_resource(r) for r in args.resources)
    targets = [w for w in view.workloads if any(uses_kube_ping(c) for c in w.containers())]
    if not targets:
        args.not_applicable("no workload uses KUBE_PING")
        return
    for workload in targets:
        for message, urn in rbac_problems(view, workload):
            report_violation(message, urn)


kube_ping_needs_rbac = StackValidationPolicy(
    name="kube-ping-needs-rbac",
    description="Pods using KUBE_PING run under their own ServiceAccount with a namespaced Role that can only get/list pods.",
    validate=validate_kube_ping_rbac,
    remediation_steps=FIX_RBAC,
)


__all__ = [
    "jgroups_advertises_pod_ip",
    "kube_ping_needs_rbac",
    "judge_bind",
    "private_bind",
    "server_config",
    "is_clustered_profile",
    "uses_kube_ping",
    "workload_from_args",
]
