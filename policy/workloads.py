"""Rules about workloads as such: StatefulSets and their headless Service, pinned images, and the
minimums a production WildFly or Apache tier needs to survive a node drain or a rollout."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.jgroups import workload_from_args
from policy.k8s import Container, Resource, StackView, Workload, is_apache, is_wildfly, parse_image
from policy.props import UNKNOWN, as_int

# --------------------------------------------------------------------------------------------
# StatefulSets name an existing headless Service
# --------------------------------------------------------------------------------------------

FIX_HEADLESS = (
    "Fix: declare a headless Service (clusterIP: None) in the StatefulSet's namespace whose selector matches the pod "
    "labels, and set spec.serviceName to its name."
)
_WHY_HEADLESS = "without it the pods get no stable DNS names (<pod>.<service>), which replicas, sentinels and clients rely on"


def validate_statefulset_service(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    view = StackView(Resource.from_policy_resource(r) for r in args.resources)
    statefulsets = [w for w in view.workloads if w.kind == "StatefulSet"]
    if not statefulsets:
        args.not_applicable("no StatefulSet")
        return
    for sts in statefulsets:
        who = sts.describe()
        name = sts.spec.get("serviceName")
        if name is UNKNOWN:
            continue
        if not isinstance(name, str) or not name:
            report_violation(f"{who} sets no spec.serviceName: {_WHY_HEADLESS}. {FIX_HEADLESS}", sts.urn)
            continue
        services = view.find("Service", sts.namespace, name)
        if not services:
            report_violation(f"{who} names Service {name!r}, which this stack does not declare: {_WHY_HEADLESS}. {FIX_HEADLESS}", sts.urn)
            continue
        service = services[0]
        if service.spec.get("clusterIP") is UNKNOWN:
            continue
        if not service.headless:
            report_violation(
                f"{who} names Service {name!r}, which is not headless (clusterIP: None): {_WHY_HEADLESS}. {FIX_HEADLESS}",
                sts.urn,
            )
        elif not service.selects(sts):
            report_violation(
                f"{who} names headless Service {name!r}, whose selector does not match the StatefulSet's pods, so it "
                f"publishes no DNS records for them. {FIX_HEADLESS}",
                sts.urn,
            )


statefulset_headless_service = StackValidationPolicy(
    name="statefulset-headless-service",
    description="StatefulSets name a headless Service that exists in the stack and selects their pods.",
    validate=validate_statefulset_service,
    remediation_steps=FIX_HEADLESS,
)

# --------------------------------------------------------------------------------------------
# Images are pinned
# --------------------------------------------------------------------------------------------

FIX_IMAGE = "Fix: pin a version tag (e.g. quay.io/wildfly/wildfly:39.0.1.Final-jdk21) or a digest (...@sha256:<digest>)."


def image_problem(image: Any) -> str | None:
    if image is UNKNOWN:
        return None
    if not isinstance(image, str) or not image.strip():
        return "has no image"
    ref = parse_image(image.strip())
    if ref.digest:
        return None
    if not ref.tag:
        return f"uses {image!r} without a tag, which pulls :latest"
    if ref.tag == "latest":
        return f"uses {image!r}"
    return None


def validate_images(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    workload = workload_from_args(args)
    if workload is None:
        args.not_applicable("not a Kubernetes workload")
        return
    for container in workload.containers(include_init=True):
        problem = image_problem(container.image)
        if problem:
            kind = "init container" if container.init else "container"
            report_violation(
                f"{workload.describe()}: {kind} '{container.name}' {problem}: the same spec can start different code on "
                f"every pull, and pods of one workload drift apart. {FIX_IMAGE}",
                None,
            )


images_are_pinned = ResourceValidationPolicy(
    name="images-are-pinned",
    description="Container images are pinned by tag or digest: no ':latest', no missing tag.",
    validate=validate_images,
    remediation_steps=FIX_IMAGE,
)

# --------------------------------------------------------------------------------------------
# HA minimums on production stacks
# --------------------------------------------------------------------------------------------

DEFAULT_MIN_REPLICAS = 2
FIX_HA = (
    "Fix: at least 2 replicas (HPA minReplicas >= 2), a PodDisruptionBudget selecting the pods with maxUnavailable: 1 "
    "(or minAvailable >= 1), and readiness and liveness probes on the server container."
)


def ha_role(workload: Workload) -> tuple[str, list[Container]] | None:
    """("WildFly" | "Apache httpd", the containers that are that server) or None."""
    containers = workload.containers()
    wildfly = [c for c in containers if is_wildfly(c)]
    if wildfly:
        return "WildFly", wildfly
    apache = [c for c in containers if is_apache(c)]
    if apache:
        return "Apache httpd", apache
    # An application image built on WildFly or httpd, named by the standard label.
    app_name = workload.pod_labels.get("app.kubernetes.io/name")
    if app_name in ("wildfly", "jboss-eap") and containers:
        return "WildFly", containers[:1]
    if app_name in ("httpd", "apache") and containers:
        return "Apache httpd", containers[:1]
    return None


def _percent(value: str) -> int | None:
    return int(value[:-1]) if value.endswith("%") and value[:-1].isdigit() else None


def pdb_problem(pdb: Any, minimum: int | None) -> str | None:
    """Why this PDB does not keep any pod up during a voluntary disruption (None: it does)."""
    spec = pdb.spec
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if UNKNOWN in (min_available, max_unavailable):
        return None
    if min_available is not None:
        number = as_int(min_available)
        percent = _percent(min_available) if isinstance(min_available, str) else None
        if (number is not None and number >= 1) or (percent is not None and percent > 0):
            return None
        return f"PodDisruptionBudget {pdb.name} has minAvailable {min_available!r}, which lets every pod be evicted at once"
    if max_unavailable is not None:
        number = as_int(max_unavailable)
        percent = _percent(max_unavailable) if isinstance(max_unavailable, str) else None
        if number is not None and number >= 1 and (minimum is None or number < minimum):
            return None
        if percent is not None and 0 < percent < 100:
            return None
        return f"PodDisruptionBudget {pdb.name} has maxUnavailable {max_unavailable!r}, which lets every pod be evicted at once"
    return f"PodDisruptionBudget {pdb.name} sets neither minAvailable nor maxUnavailable"


def ha_problems(view: StackView, workload: Workload, min_replicas: int) -> list[str]:
    role = ha_role(workload)
    if role is None:
        return []
    problems = []
    hpas = view.hpas_for(workload)
    if hpas:
        lows = [hpa.spec.get("minReplicas", 1) for hpa in hpas]
        minimum = None if UNKNOWN in lows else min(as_int(v) or 1 for v in lows)
        counted = "HPA minReplicas"
    else:
        replicas = workload.replicas
        minimum = None if replicas is UNKNOWN else replicas
        counted = "replicas"
    if minimum is not None and minimum < min_replicas:
        problems.append(f"{counted} {minimum} (< {min_replicas}): one pod failure or node drain takes the tier down")
    pdbs = view.pdbs_for(workload)
    if not pdbs:
        problems.append("no PodDisruptionBudget selects its pods: a node drain may evict them all at once")
    else:
        pdb_issues = [pdb_problem(p, minimum) for p in pdbs]
        if all(pdb_issues):
            problems.extend(i for i in pdb_issues if i)
    for container in role[1]:
        missing = [p for p in ("readinessProbe", "livenessProbe") if not container.has_probe(p)]
        if missing:
            problems.append(
                f"container '{container.name}' has no {' and no '.join(missing)}: traffic reaches pods that are not ready "
                "and hung servers are never restarted"
            )
    return problems


def _ha_minimums() -> StackValidationPolicy:
    """The policy; ``production`` defaults to true (stacks that are not production say so in
    their policy config)."""
    schema = PolicyConfigSchema(
        properties={
            "production": {
                "type": "boolean",
                "default": True,
                "description": "Whether the stack is production (default: true; local, dev and cluster set false).",
            },
            "minReplicas": {"type": "integer", "minimum": 2, "description": "Minimum replicas (default 2)."},
        }
    )

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = args.get_config() or {}
        production = config.get("production", schema.properties["production"]["default"])
        if production is not True:
            args.not_applicable("not a production stack (policy config production: false)")
            return
        min_replicas = as_int(config.get("minReplicas")) or DEFAULT_MIN_REPLICAS
        view = StackView(Resource.from_policy_resource(r) for r in args.resources)
        targets = [w for w in view.workloads if w.kind in ("Deployment", "StatefulSet", "ReplicaSet") and ha_role(w)]
        if not targets:
            args.not_applicable("no WildFly or Apache workload")
            return
        for workload in targets:
            problems = ha_problems(view, workload, min_replicas)
            if problems:
                role = ha_role(workload)
                report_violation(
                    f"{workload.describe()} ({role[0] if role else '?'}) on a production stack: {'; '.join(problems)}. {FIX_HA}",
                    workload.urn,
                )

    return StackValidationPolicy(
        name="ha-minimums",
        description="On production stacks WildFly and Apache run at least 2 replicas with a PodDisruptionBudget and probes.",
        validate=validate,
        config_schema=schema,
        remediation_steps=FIX_HA,
    )


ha_minimums = _ha_minimums()

