"""The pod parts of RedisSessionStore's cluster mode: what the Redis container gains (its start
script, which announces the pod's own Service; readiness that waits for the cluster and, on a
replica, for its sync; the pre-stop hook that hands a primary's slots to its replica) and the
bootstrap Job that forms the cluster once.

The files these run come from redis_cluster_config.py, mounted from the store's ConfigMap.
"""

from __future__ import annotations

from typing import Any, Mapping

import pulumi
import pulumi_kubernetes as k8s

from sessionstack import k8s_common
from sessionstack.redis_cluster_config import BUS_PORT
from sessionstack.redis_config import CONFIG_DIR, REDIS_UID, start_command
from sessionstack.redis_sentinel import pod_env

BOOTSTRAP_COMPONENT = "cluster-bootstrap"
"""app.kubernetes.io/component of the bootstrap Job's pod (not the store's: no Service selects it)."""


def cluster_redis_container(container: dict[str, Any], secret_name: pulumi.Input[str]) -> None:
    """Turns the standalone Redis container into a cluster node (in place)."""
    container.pop("args")
    container["command"] = start_command("start-cluster.sh")
    container["env"] = pod_env(secret_name)
    container["ports"].append({"name": "bus", "containerPort": BUS_PORT})
    container["lifecycle"] = {"preStop": {"exec": {"command": start_command("cluster-pre-stop.sh")}}}
    container["readinessProbe"] = {**container["readinessProbe"], "exec": {"command": start_command("cluster-ready.sh")}}


def bootstrap_job(
    name: str,
    meta: dict[str, Any],
    labels: Mapping[str, str],
    image: str,
    config_map: pulumi.Input[str],
    secret_name: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> k8s.batch.v1.Job:
    """The Job that forms the cluster (bootstrap-cluster.sh): it waits for every node, joins them
    only when none has joined yet, and completes once every node sees every slot served. Pulumi
    waits for it, so `pulumi up` ends with a cluster that serves. It is not deleted when done (a
    later `pulumi up` would create it again); run again (replaced), it finds the cluster formed."""
    return k8s.batch.v1.Job(
        name,
        metadata=meta,
        spec={
            "backoffLimit": 3,
            "activeDeadlineSeconds": 900,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": k8s_common.pod_security_context(REDIS_UID),
                    "containers": [
                        {
                            "name": "bootstrap",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": start_command("bootstrap-cluster.sh"),
                            "env": pod_env(secret_name),
                            "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
                            "resources": k8s_common.resources("50m", "500m", "64Mi"),
                            "securityContext": k8s_common.container_security_context(),
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": config_map}}],
                },
            },
        },
        opts=opts,
    )
