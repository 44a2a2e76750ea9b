"""Two applications, one session store: a composition the sessionstack program does not make.

A shop runs its `orders` and `catalog` applications as two WildFly clusters in one namespace, and
both keep their HTTP sessions in one Redis (`RedisSessionStore`). Each WildflyCluster gets its own
names, labels, PDB, HPA and NetworkPolicy; the store's NetworkPolicy admits the pods of both (each
cluster labels its pods as a client of the store it is given) and nothing else. Each application
must keep its sessions under its own key namespace in Redis (Spring Session's ``redisNamespace``),
or the two would read each other's sessions.

No routing component: a platform team that already runs a Gateway points its routes at the
exported Service names.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from sessionstack.redis import RedisSessionStore, RedisSessionStoreArgs
from sessionstack.wildfly import WildflyCluster, WildflyClusterArgs
from sessionstack.wildfly_config import SessionBackend

config = pulumi.Config()
render_dir = config.get("renderDir") or ""
namespace_name = config.get("namespace") or "shop"
images = {"orders": config.require("ordersImage"), "catalog": config.require("catalogImage")}

if render_dir:
    provider = k8s.Provider("render", render_yaml_to_directory=render_dir)
else:
    provider = k8s.Provider("cluster", context=config.require("kubeContext"))
namespace = k8s.core.v1.Namespace(
    "namespace",
    metadata={"name": namespace_name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    opts=pulumi.ResourceOptions(provider=provider),
)
opts = pulumi.ResourceOptions(providers=[provider])
ns = namespace.metadata.name

store = RedisSessionStore("sessions", RedisSessionStoreArgs(namespace=ns, maxmemory_mb=512), opts=opts)
apps = {
    app: WildflyCluster(
        app,
        WildflyClusterArgs(
            namespace=ns,
            replicas=2,
            session_backend=SessionBackend.REDIS,
            session_store=store,
            demo_app=False,
            image=image,
        ),
        opts=opts,
    )
    for app, image in images.items()
}

pulumi.export("redisEndpoint", pulumi.Output.concat(store.host, ":", store.port.apply(str)))
pulumi.export("redisPasswordSecret", store.password_secret_name)
# Sentinel mode (the default): clients find the primary through these.
pulumi.export("redisSentinelMaster", store.sentinel_master_name)
pulumi.export("redisSentinels", store.sentinel_nodes)
for app, cluster in apps.items():
    pulumi.export(f"{app}Service", cluster.http_service_name)
