"""sessionstack composition root: settings -> provider -> components -> exports.

Nothing here decides how a component works; it only picks the platform's provider and session
store and wires the components together. The AWS parts are imported on the eks platform only, so
local and dev never load pulumi_aws.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from sessionstack.apache import ApacheStaticTier, ApacheStaticTierArgs
from sessionstack.redis import RedisSessionStore, RedisSessionStoreArgs
from sessionstack.redis_config import RedisMode
from sessionstack.routing import SessionRouting, SessionRoutingArgs, router_peers
from config.settings import Platform, RedisBackend, SettingsError, StackSettings, read_stack_settings
from sessionstack.wildfly import WildflyCluster, WildflyClusterArgs
from sessionstack.wildfly_config import SessionBackend

ZONE_SPREAD = ("kubernetes.io/hostname", "topology.kubernetes.io/zone")


def namespace(settings: StackSettings, provider: k8s.Provider) -> k8s.core.v1.Namespace:
    # Every workload here passes the restricted Pod Security Standard; enforce it.
    labels = {
        "app.kubernetes.io/part-of": "sessionstack",
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    if settings.platform is Platform.EKS:
        # The AWS Load Balancer Controller then holds a new pod unready until its ALB target is
        # healthy, so a rollout never outruns the target group.
        labels["elbv2.k8s.aws/pod-readiness-gate-inject"] = "enabled"
    return k8s.core.v1.Namespace(
        "namespace",
        metadata={"name": settings.namespace, "labels": labels},
        opts=pulumi.ResourceOptions(provider=provider),
    )


def application(
    settings: StackSettings,
    ns: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    store=None,
    spread=("kubernetes.io/hostname",),
    prestop_sleep_seconds: int = 5,
    http_from: tuple = (),
):
    """The tiers every platform shares: WildFly (with its session store) and Apache."""
    backend = settings.wildfly.session_backend
    if backend is SessionBackend.REDIS and store is None:
        store = RedisSessionStore(
            "sessions",
            RedisSessionStoreArgs(
                namespace=ns,
                mode=settings.redis.mode,
                sentinel_pods=settings.redis.sentinel_pods,
                cluster_primaries=settings.redis.cluster_primaries,
                storage=settings.redis.storage,
                maxmemory_mb=settings.redis.maxmemory_mb,
            ),
            opts=opts,
        )
    wildfly = WildflyCluster(
        "wildfly",
        WildflyClusterArgs(
            namespace=ns,
            replicas=settings.wildfly.replicas,
            max_replicas=settings.wildfly.max_replicas,
            discovery=settings.wildfly.discovery,
            session_backend=backend,
            cache_owners=settings.wildfly.cache_owners,
            demo_app=settings.wildfly.demo_app,
            image=settings.wildfly.image,
            session_store=store if backend is SessionBackend.REDIS else None,
            spread_topology_keys=spread,
            prestop_sleep_seconds=prestop_sleep_seconds,
            http_from=http_from,
        ),
        opts=opts,
    )
    apache = ApacheStaticTier(
        "apache",
        ApacheStaticTierArgs(
            namespace=ns,
            replicas=settings.apache.replicas,
            max_replicas=settings.apache.max_replicas,
            spread_topology_keys=spread,
            http_from=http_from,
        ),
        opts=opts,
    )
    return wildfly, apache, store


def kubernetes_stack(settings: StackSettings) -> None:
    """local (render to a directory) and dev (kind): in-cluster routing, in-cluster Redis."""
    if settings.platform is Platform.LOCAL:
        provider = k8s.Provider("render", render_yaml_to_directory=settings.render_dir)
    else:
        provider = k8s.Provider("kind", context=settings.kube_context)
    ns = namespace(settings, provider).metadata.name
    opts = pulumi.ResourceOptions(providers=[provider])
    # Only the router's pods may reach WildFly's and Apache's HTTP ports.
    http_from = router_peers(settings.routing.implementation, settings.routing.install_controller)
    wildfly, apache, store = application(settings, ns, opts, http_from=http_from)
    routing = SessionRouting(
        "routing",
        SessionRoutingArgs(
            namespace=ns,
            implementation=settings.routing.implementation,
            wildfly_service_name=wildfly.http_service_name,
            wildfly_service_port=wildfly.http_port,
            apache_service_name=apache.service_name,
            apache_service_port=apache.service_port,
            cookie_name=settings.routing.session_cookie,
            host=settings.routing.host or None,
            install_controller=settings.routing.install_controller,
            controller_chart=settings.routing.controller_chart or None,
        ),
        opts=opts,
    )
    export_common(settings, routing.url, wildfly, store)


def eks_stack(settings: StackSettings) -> None:
    """eks: VPC + EKS, the AWS Load Balancer Controller, ElastiCache, and the ALB front door."""
    from sessionstack.aws_front_door import AwsFrontDoor, AwsFrontDoorArgs
    from sessionstack.aws_lb_controller import AwsLoadBalancerController, AwsLoadBalancerControllerArgs
    from sessionstack.eks import EksCluster, EksClusterArgs
    from sessionstack.elasticache import ElastiCacheSessionStore, ElastiCacheSessionStoreArgs

    eks = settings.eks
    cluster = EksCluster(
        "eks",
        EksClusterArgs(
            cluster_name=None if eks.existing_cluster_name else f"sessionstack-{pulumi.get_stack()}",
            availability_zones=eks.availability_zones,
            vpc_cidr=eks.vpc_cidr,
            kubernetes_version=eks.kubernetes_version,
            node_instance_type=eks.node_instance_type,
            node_count=eks.node_count,
            existing_cluster_name=eks.existing_cluster_name or None,
        ),
    )
    provider = cluster.provider
    ns = namespace(settings, provider).metadata.name
    opts = pulumi.ResourceOptions(providers=[provider])
    controller = AwsLoadBalancerController(
        "lb-controller",
        AwsLoadBalancerControllerArgs(
            cluster_name=cluster.cluster_name,
            vpc_id=cluster.vpc_id,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_provider_url=cluster.oidc_provider_url,
        ),
        opts=opts,
    )
    store = None
    if settings.wildfly.session_backend is SessionBackend.REDIS and settings.redis.backend is RedisBackend.ELASTICACHE:
        store = ElastiCacheSessionStore(
            "sessions",
            ElastiCacheSessionStoreArgs(
                namespace=ns,
                vpc_id=cluster.vpc_id,
                subnet_ids=cluster.private_subnet_ids,
                allowed_security_group_id=cluster.cluster_security_group_id,
                # redis.mode sentinel: cluster mode disabled (one shard, Multi-AZ failover).
                cluster_mode=settings.redis.mode is RedisMode.CLUSTER,
                shards=settings.redis.cluster_primaries,
            ),
            opts=opts,
        )
    # An ALB takes longer than an in-cluster proxy to stop sending to a deregistered pod.
    # The ALB sends to pod IPs from inside the VPC: only the VPC may reach the HTTP ports. (A
    # cluster this stack did not create has a CIDR the stack does not know: any pod then.)
    http_from = () if eks.existing_cluster_name else ({"ipBlock": {"cidr": eks.vpc_cidr}},)
    wildfly, apache, store = application(
        settings, ns, opts, store=store, spread=ZONE_SPREAD, prestop_sleep_seconds=20, http_from=http_from
    )
    front_door = AwsFrontDoor(
        "front-door",
        AwsFrontDoorArgs(
            vpc_id=cluster.vpc_id,
            public_subnet_ids=cluster.public_subnet_ids,
            node_security_group_id=cluster.cluster_security_group_id,
            namespace=ns,
            wildfly_service_name=wildfly.http_service_name,
            wildfly_service_port=wildfly.http_port,
            apache_service_name=apache.service_name,
            apache_service_port=apache.service_port,
            stickiness_seconds=eks.stickiness_seconds,
            deregistration_delay_seconds=eks.deregistration_delay_seconds,
        ),
        opts=pulumi.ResourceOptions(providers=[provider], depends_on=[controller]),
    )
    pulumi.export("clusterName", cluster.cluster_name)
    pulumi.export("kubeconfig", pulumi.Output.secret(cluster.kubeconfig))
    export_common(settings, front_door.url, wildfly, store)


def export_common(settings: StackSettings, url: pulumi.Input[str], wildfly: WildflyCluster, store) -> None:
    pulumi.export("platform", settings.platform.value)
    pulumi.export("namespace", settings.namespace)
    pulumi.export("url", url)
    pulumi.export("sessionDemoPath", wildfly.demo_path)
    pulumi.export("sessionDemoUrl", pulumi.Output.all(url, wildfly.demo_path).apply(lambda parts: parts[0].rstrip("/") + parts[1] if parts[1] else ""))
    pulumi.export("sessionBackend", settings.wildfly.session_backend.value)
    # The endpoint, never the password: consumers read it from the named Secret.
    if store is not None:
        pulumi.export("redisEndpoint", pulumi.Output.concat(store.host, ":", store.port.apply(str)))
        pulumi.export("redisTls", store.tls)
        pulumi.export("redisPasswordSecret", store.password_secret_name)
        # Sentinel mode: clients find the primary through these ('' and [] otherwise).
        pulumi.export("redisSentinelMaster", store.sentinel_master_name)
        pulumi.export("redisSentinels", store.sentinel_nodes)
        # Cluster mode: a cluster client starts from these ([] otherwise).
        pulumi.export("redisClusterNodes", store.cluster_nodes)
    if settings.platform is Platform.LOCAL:
        pulumi.export("renderedTo", settings.render_dir)


try:
    stack_settings = read_stack_settings()
except SettingsError as error:
    # One line naming the key, the value and what is allowed; a traceback would only bury it.
    raise pulumi.RunError(str(error)) from None
if stack_settings.platform is Platform.EKS:
    eks_stack(stack_settings)
else:
    kubernetes_stack(stack_settings)
