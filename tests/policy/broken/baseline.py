"""Building blocks for the deliberately broken programs: correct by default, broken on request.

Each function declares real pulumi_kubernetes / pulumi_aws resources, so under mocks the policy
pack sees the same wire-form properties the engine would. A program calls them with exactly one
mistake from the field reports; ``ok.py`` calls them with none, which proves the other rules stay
quiet and every expected violation comes from the mistake alone.
"""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pulumi_kubernetes as k8s

NAMESPACE = "shop"
WILDFLY_IMAGE = "quay.io/wildfly/wildfly:39.0.1.Final-jdk21"
REDIS_IMAGE = "redis:8.2.2-bookworm"
HA_ARGS = ["-c", "standalone-ha.xml", "-b=$(POD_IP)", "-bprivate=$(POD_IP)"]
FILE_STORE_REMOVAL = "/subsystem=infinispan/cache-container=web/distributed-cache=dist/store=file:remove()\n"
REQUEST_CONTROLLER_REMOVAL = (
    "/subsystem=request-controller:remove()\n/extension=org.wildfly.extension.request-controller:remove()\n"
)
BOOT_SCRIPT = (
    "embed-server --server-config=standalone-ha.xml\nbatch\n" + FILE_STORE_REMOVAL + REQUEST_CONTROLLER_REMOVAL
    + "run-batch\nstop-embedded-server\n"
)
"""The boot script's lines that matter here: no passivating file store in the web-session cache,
no request controller."""
WEB_XML = (
    '<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0">\n'
    "  <distributable/>\n"
    "</web-app>\n"
)


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, **extra}


def wildfly_cluster(
    name: str = "was",
    *,
    image: str = WILDFLY_IMAGE,
    args: list[str] | None = None,
    service_account: str | None = "was-jgroups",
    rbac: str = "role",
    replicas: int = 3,
    pdb: bool = True,
    boot_script: str | None = BOOT_SCRIPT,
) -> k8s.core.v1.Service:
    """WildFly HA with KUBE_PING, a replicated demo app, probes, PDB and a ClusterIP Service."""
    labels = {"app.kubernetes.io/name": "wildfly", "app.kubernetes.io/instance": name}
    pod_spec: dict[str, Any] = {}
    if service_account is not None:
        account = k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=meta(service_account))
        pod_spec["service_account_name"] = account.metadata.name
        rules = [k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=["get", "list"])]
        subjects = [k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=account.metadata.name, namespace=NAMESPACE)]
        if rbac == "role":
            role = k8s.rbac.v1.Role(f"{name}-pod-reader", metadata=meta(f"{name}-pod-reader"), rules=rules)
            k8s.rbac.v1.RoleBinding(
                f"{name}-pod-reader",
                metadata=meta(f"{name}-pod-reader"),
                role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=role.metadata.name),
                subjects=subjects,
            )
        elif rbac == "cluster-role":
            # The field report's fix for the 403: a ClusterRole, bound cluster-wide.
            rules = [k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"])]
            role = k8s.rbac.v1.ClusterRole(f"{name}-pod-reader", metadata={"name": f"{name}-pod-reader"}, rules=rules)
            k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-pod-reader",
                metadata={"name": f"{name}-pod-reader"},
                role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role.metadata.name),
                subjects=subjects,
            )
    app = k8s.core.v1.ConfigMap(f"{name}-app", metadata=meta(f"{name}-app"), data={"WEB-INF__web.xml": WEB_XML})
    mounts = [k8s.core.v1.VolumeMountArgs(name="app", mount_path="/opt/app", read_only=True)]
    volumes = [
        k8s.core.v1.VolumeArgs(
            name="app",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=app.metadata.name, items=[k8s.core.v1.KeyToPathArgs(key="WEB-INF__web.xml", path="WEB-INF/web.xml")]
            ),
        )
    ]
    if boot_script:
        scripts = k8s.core.v1.ConfigMap(f"{name}-scripts", metadata=meta(f"{name}-scripts"), data={"configure.cli": boot_script})
        mounts.append(k8s.core.v1.VolumeMountArgs(name="scripts", mount_path="/opt/scripts", read_only=True))
        volumes.append(k8s.core.v1.VolumeArgs(name="scripts", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=scripts.metadata.name)))
    container = k8s.core.v1.ContainerArgs(
        name="wildfly",
        image=image,
        args=args if args is not None else HA_ARGS,
        env=[
            k8s.core.v1.EnvVarArgs(name="POD_IP", value_from=k8s.core.v1.EnvVarSourceArgs(field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="status.podIP"))),
            k8s.core.v1.EnvVarArgs(name="JGROUPS_DISCOVERY", value="kube_ping"),
        ],
        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=8080), k8s.core.v1.ContainerPortArgs(name="jgroups", container_port=7600)],
        readiness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/health/ready", port=9990)),
        liveness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/health/live", port=9990)),
        volume_mounts=mounts,
    )
    k8s.apps.v1.Deployment(
        f"{name}-deployment",
        metadata=meta(name),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=replicas,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations={"sessionstack.io/session-strategy": "replicated"}),
                spec=k8s.core.v1.PodSpecArgs(
                    containers=[container],
                    volumes=volumes,
                    **pod_spec,
                ),
            ),
        ),
    )
    if pdb:
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb", metadata=meta(name), spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels))
        )
    return k8s.core.v1.Service(
        f"{name}-http",
        metadata=meta(name),
        spec=k8s.core.v1.ServiceSpecArgs(selector=labels, ports=[k8s.core.v1.ServicePortArgs(name="http", port=8080, target_port="http")]),
    )


def redis_store(
    name: str = "sessions",
    *,
    auth: bool = True,
    client_service_type: str = "ClusterIP",
    headless: bool = True,
    replicas: int = 1,
) -> None:
    """A Redis StatefulSet with requirepass from a Secret, a headless and a client Service."""
    labels = {"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": name}
    env = []
    args = ["redis-server", "--appendonly", "yes"]
    if auth:
        secret = k8s.core.v1.Secret(f"{name}-auth", metadata=meta(f"{name}-auth"), string_data={"password": "generated-elsewhere"})
        env.append(
            k8s.core.v1.EnvVarArgs(
                name="REDIS_PASSWORD",
                value_from=k8s.core.v1.EnvVarSourceArgs(secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret.metadata.name, key="password")),
            )
        )
        args += ["--requirepass", "$(REDIS_PASSWORD)"]
    k8s.core.v1.Service(
        f"{name}-headless",
        metadata=meta(f"{name}-headless"),
        spec=k8s.core.v1.ServiceSpecArgs(
            cluster_ip="None" if headless else None, selector=labels, ports=[k8s.core.v1.ServicePortArgs(name="redis", port=6379)]
        ),
    )
    k8s.core.v1.Service(
        f"{name}-client",
        metadata=meta(name),
        spec=k8s.core.v1.ServiceSpecArgs(type=client_service_type, selector=labels, ports=[k8s.core.v1.ServicePortArgs(name="redis", port=6379)]),
    )
    k8s.apps.v1.StatefulSet(
        name,
        metadata=meta(name),
        spec=k8s.apps.v1.StatefulSetSpecArgs(
            service_name=f"{name}-headless",
            replicas=replicas,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                spec=k8s.core.v1.PodSpecArgs(containers=[k8s.core.v1.ContainerArgs(name="redis", image=REDIS_IMAGE, command=args, env=env)]),
            ),
        ),
    )


def alb_target_group(service: k8s.core.v1.Service, *, target_type: str = "ip", sticky: bool = True) -> None:
    """An ALB target group registered with the Service's pods by the AWS LB controller."""
    stickiness = aws.lb.TargetGroupStickinessArgs(enabled=True, type="lb_cookie", cookie_duration=3600) if sticky else None
    group = aws.lb.TargetGroup(
        "was-tg",
        port=8080,
        protocol="HTTP",
        target_type=target_type,
        vpc_id="vpc-0123456789abcdef0",
        stickiness=stickiness,
        health_check=aws.lb.TargetGroupHealthCheckArgs(path="/health/ready", port="9990"),
    )
    k8s.apiextensions.CustomResource(
        "was-tgb",
        api_version="elbv2.k8s.aws/v1beta1",
        kind="TargetGroupBinding",
        metadata=meta("was-tgb"),
        spec={
            "serviceRef": {"name": service.metadata.name, "port": 8080},
            "targetGroupARN": group.arn,
            "targetType": target_type,
        },
    )
