"""The login-loop detector: session-holding workloads with several pods need a session strategy.

Two WAS pods behind a round-robin Service, sessions in each pod's memory: every other request
lands on a pod that never saw the session, and the user is back at the login page. The fix is
session replication (WildFly: a clustered ``-ha`` profile and a ``<distributable/>`` web app) or an
external session store (Spring Session + Redis). Sticky sessions hide the loop but lose every
session of a pod when it dies, is scaled down or is replaced by a rollout: that case is reported
by the second, always-advisory rule. The third and fourth (advisory) look at how a replicating
WildFly keeps its sessions: WildFly 39's default web-session cache carries a passivating file store
whose untimed waits can park a session write during a rebalance, and its request controller leaves
the transaction of a session looked up again after a failed lookup open, with the session's lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable
from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from policy.exposure import Exposure, exposures, scale, session_holding, store_env, web_xml_distributable
from policy.jgroups import is_clustered_profile, server_config
from policy.k8s import SESSION_STRATEGIES, SESSION_STRATEGY_ANNOTATION, Resource, StackView, Workload, is_wildfly
from policy.props import UNKNOWN

FIX_STRATEGY = (
    "Fix: replicate sessions (WildFly: -c standalone-ha.xml and <distributable/> in web.xml; "
    f"annotate the pods {SESSION_STRATEGY_ANNOTATION}: replicated) or keep them in an external store such as "
    f"Redis (Spring Session; annotate {SESSION_STRATEGY_ANNOTATION}: external-store)."
)


@dataclass(frozen=True)
class Strategy:
    name: str | None
    """replicated | external-store | None (sessions live in pod memory) | "unknown" (preview)."""
    problem: str | None = None
    """Why a declared strategy does not hold."""


def session_strategy(view: StackView, workload: Workload) -> Strategy:
    declared = workload.label_or_annotation(SESSION_STRATEGY_ANNOTATION)
    if declared is UNKNOWN:
        return Strategy("unknown")
    wildfly = [c for c in workload.containers() if is_wildfly(c)]
    configs = [server_config(c) for c in wildfly]
    clustered = any(is_clustered_profile(cfg) for cfg in configs)
    distributable = web_xml_distributable(view, workload)
    store = store_env(workload)
    if declared is not None and declared not in SESSION_STRATEGIES:
        return Strategy(None, f"annotation {SESSION_STRATEGY_ANNOTATION}={declared!r} is not one of {list(SESSION_STRATEGIES)}")
    if declared == "replicated":
        if wildfly and not clustered:
            running = next((c for c in configs if c), None) or "the image's default standalone.xml"
            return Strategy(None, f"is annotated replicated, but WildFly runs {running}, which does not cluster: sessions stay in each pod")
        if distributable is False:
            return Strategy(None, "is annotated replicated, but its web.xml lacks <distributable/>: WildFly keeps the app's sessions local even on an HA profile")
        return Strategy("replicated")
    if declared == "external-store":
        if not store:
            return Strategy(
                None,
                "is annotated external-store, but no container is configured with a session store "
                "(no REDIS_* / SPRING_SESSION_* / SPRING_DATA_REDIS_* env var)",
            )
        return Strategy("external-store")
    if declared in ("affinity-only", "in-memory"):
        return Strategy(None)
    if wildfly and clustered and distributable is not False:
        return Strategy("replicated")
    if store:
        return Strategy("external-store")
    return Strategy(None)


@dataclass(frozen=True)
class Finding:
    workload: Workload
    scale_text: str
    exposures: list[Exposure]
    strategy: Strategy


def session_findings(view: StackView) -> list[Finding]:
    """Session-holding workloads that run several pods behind something that spreads requests."""
    findings = []
    for workload in view.workloads:
        if not session_holding(workload):
            continue
        sc = scale(view, workload)
        if not sc.multi:
            continue
        paths = exposures(view, workload)
        if not paths:
            continue
        findings.append(Finding(workload, sc.text, paths, session_strategy(view, workload)))
    return findings


def _paths(paths: list[Exposure]) -> str:
    return ", ".join(p.description for p in paths)


def validate_session_strategy(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(Resource.from_policy_resource(r) for r in args.resources)
    findings = session_findings(view)
    if not findings:
        args.not_applicable("no session-holding workload runs several pods behind a Service")
        return
    for finding in findings:
        who = finding.workload.describe()
        strategy = finding.strategy
        if strategy.problem:
            report_violation(f"{who} ({finding.scale_text}) {strategy.problem}. {FIX_STRATEGY}", finding.workload.urn)
            continue
        if strategy.name is not None:
            continue
        round_robin = [p for p in finding.exposures if not p.affinity]
        if not round_robin:
            continue  # affinity everywhere: reported by session-affinity-is-not-failover
        report_violation(
            f"{who} keeps HTTP sessions in each pod's memory and runs {finding.scale_text} behind {_paths(round_robin)}: "
            "requests are spread over the pods, so a user's next request lands on a pod that never saw the session and "
            f"the user is sent back to the login page. {FIX_STRATEGY}",
            finding.workload.urn,
        )


def validate_affinity_only(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(Resource.from_policy_resource(r) for r in args.resources)
    findings = session_findings(view)
    if not findings:
        args.not_applicable("no session-holding workload runs several pods behind a Service")
        return
    in_memory = [f for f in findings if f.strategy.name is None and f.strategy.problem is None]
    for finding in (f for f in in_memory if all(p.affinity for p in f.exposures)):
        how = sorted({p.affinity for p in finding.exposures if p.affinity})
        report_violation(
            f"{finding.workload.describe()} ({finding.scale_text}) relies on {', '.join(how)} to keep each user on one pod, "
            "with the sessions in that pod's memory: they are lost when the pod dies, is scaled down or is replaced by a "
            f"rollout, and its users are logged out. {FIX_STRATEGY}",
            finding.workload.urn,
        )


sessions_need_a_strategy = StackValidationPolicy(
    name="sessions-need-a-strategy",
    description="Session-holding workloads with several pods behind a Service, Ingress, route or target group replicate sessions or use an external store.",
    validate=validate_session_strategy,
    remediation_steps=FIX_STRATEGY,
)

session_affinity_is_not_failover = StackValidationPolicy(
    name="session-affinity-is-not-failover",
    description="Sticky sessions alone are not a session strategy: a pod's sessions die with the pod.",
    validate=validate_affinity_only,
    enforcement_level=EnforcementLevel.ADVISORY,
    remediation_steps=FIX_STRATEGY,
)



def boot_scripts_say(view: StackView, workload: Workload, says: Callable[[str], bool]) -> bool:
    """Some text mounted into the workload's WildFly containers (a jboss-cli script run at boot)
    ``says`` so."""
    return any(isinstance(content, str) and says(content)
               for c in workload.containers() if is_wildfly(c)
               for _, _, _, content in view.mounted_files(workload, c))


def report_replicating_wildflys(args: StackValidationArgs, report_violation: ReportViolation,
                                fixed: Callable[[str], bool], problem: Callable[[Finding], str]) -> None:
    """Reports ``problem`` for every WildFly workload that replicates sessions over several pods
    and whose boot scripts do not say they ``fixed`` it."""
    view = StackView(Resource.from_policy_resource(r) for r in args.resources)
    replicated = [f for f in session_findings(view) if f.strategy.name == "replicated"
                  and any(is_wildfly(c) for c in f.workload.containers())]
    if not replicated:
        args.not_applicable("no WildFly workload replicates sessions over several pods")
        return
    for finding in replicated:
        if not boot_scripts_say(view, finding.workload, fixed):
            report_violation(f"{finding.workload.describe()} ({finding.scale_text}) {problem(finding)}", finding.workload.urn)


FILE_STORE_REMOVED = re.compile(r"cache-container=web/distributed-cache=[^/\s]+/store=file:remove\(\)")
FIX_FILE_STORE = (
    "Fix: remove the store in the server's configuration, e.g. "
    "/subsystem=infinispan/cache-container=web/distributed-cache=dist/store=file:remove() in a jboss-cli "
    "script run at boot (sessionstack's WildflyCluster does). Keep it only if max-active-sessions bounds the "
    "sessions held in memory: then the store holds the sessions moved out of memory (the rule stays quiet), "
    "but the eviction that bound switches on runs every session write through the same untimed ordering."
)


def validate_web_file_store(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """The server runs WildFly's default web-session cache, file store included, unless a boot
    script removes the store or sets max-active-sessions."""
    report_replicating_wildflys(
        args, report_violation,
        lambda text: bool(FILE_STORE_REMOVED.search(text)) or "max-active-sessions" in text,
        lambda _: "replicates sessions with WildFly's default web-session cache, which keeps a passivating file store: "
                  "in WildFly 39 (Infinispan 16.0.5) its untimed waits can park a session write during a rebalance, and "
                  "that session then answers HTTP 500 (ISPN000299, lock held) until the pod stops (bench/session_hangs.py: "
                  f"23 lock timeouts in 10 minutes with the store, 0 without). {FIX_FILE_STORE}")


web_sessions_without_file_store = StackValidationPolicy(
    name="web-sessions-without-file-store",
    description="A replicating WildFly keeps no passivating file store in its web-session cache, or bounds the sessions in memory.",
    validate=validate_web_file_store,
    enforcement_level=EnforcementLevel.ADVISORY,
    remediation_steps=FIX_FILE_STORE,
)


REQUEST_CONTROLLER_REMOVED = re.compile(r"/subsystem=request-controller:remove\(\)")
FIX_REQUEST_CONTROLLER = (
    "Fix: run the server without the request-controller subsystem, e.g. /subsystem=request-controller:remove() "
    "and /extension=org.wildfly.extension.request-controller:remove() in a jboss-cli script run at boot "
    "(sessionstack's WildflyCluster does), and give the pod a preStop delay long enough for its requests in flight: "
    "the SIGTERM suspend no longer waits for them."
)


def validate_request_controller(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """The server keeps WildFly's request controller unless a boot script removes it."""
    report_replicating_wildflys(
        args, report_violation, lambda text: bool(REQUEST_CONTROLLER_REMOVED.search(text)),
        lambda _: "replicates sessions with WildFly's request controller: in WildFly 39 a session whose lookup failed on "
                  "the lock wait is looked up again after the 500 answer, and when that lookup gets the lock its transaction "
                  "is never closed, so the session answers HTTP 500 (ISPN000299, lock held) until the pod stops "
                  "(bench/session_hangs.py on the cluster: 15 such transactions in one 16-minute run of rolling restarts, "
                  f"each counted at its pod's stop). {FIX_REQUEST_CONTROLLER}")


web_sessions_without_request_controller = StackValidationPolicy(
    name="web-sessions-without-request-controller",
    description="A replicating WildFly runs without the request controller, which leaves a session's lock held after a failed lookup.",
    validate=validate_request_controller,
    enforcement_level=EnforcementLevel.ADVISORY,
    remediation_steps=FIX_REQUEST_CONTROLLER,
)
