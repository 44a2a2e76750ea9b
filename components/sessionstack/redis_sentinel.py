"""The pod parts of RedisSessionStore's sentinel mode: the Sentinel container, and what the Redis
container gains (its start script, which decides the role at each start, and the pre-stop hook that
hands the primary role to a replica before the pod leaves).

The files these run come from redis_sentinel_config.py, mounted from the store's ConfigMap and
Secret at the same paths as redis.conf and the auth include.
"""

from __future__ import annotations

from typing import Any

import pulumi

from sessionstack import k8s_common
from sessionstack.redis_config import AUTH_DIR, CONFIG_DIR, SECRET_PASSWORD_KEY, start_command
from sessionstack.redis_sentinel_config import SENTINEL_DIR, SENTINEL_PORT


def pod_env(secret_name: pulumi.Input[str]) -> list[dict[str, Any]]:
    """What the scripts need: the pod's own name and namespace (the name of its own Service), the password."""
    return [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret_name, "key": SECRET_PASSWORD_KEY}}},
    ]


def sentinel_redis_container(container: dict[str, Any], secret_name: pulumi.Input[str]) -> None:
    """Turns the standalone Redis container into a sentinel-mode one (in place)."""
    container.pop("args")
    container["command"] = start_command("start-redis.sh")
    container["env"] = pod_env(secret_name)
    container["lifecycle"] = {"preStop": {"exec": {"command": start_command("pre-stop.sh")}}}
    container["readinessProbe"] = {**container["readinessProbe"], "exec": {"command": start_command("ready.sh")}}


def sentinel_container(image: str, secret_name: pulumi.Input[str]) -> dict[str, Any]:
    """A Sentinel next to each Redis, on the same image (redis-server --sentinel)."""
    ping = ["sh", "-c", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p %d ping | grep -q PONG' % SENTINEL_PORT]
    return {
        "name": "sentinel",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": start_command("start-sentinel.sh"),
        "env": pod_env(secret_name),
        "ports": [{"name": "sentinel", "containerPort": SENTINEL_PORT}],
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "auth", "mountPath": AUTH_DIR, "readOnly": True},
            {"name": "sentinel", "mountPath": SENTINEL_DIR},
        ],
        "resources": k8s_common.resources("50m", "500m", "64Mi"),
        "securityContext": k8s_common.container_security_context(),
        # The start script may wait up to 120 s for the primary's name to resolve.
        "startupProbe": {"exec": {"command": ping}, "periodSeconds": 2, "failureThreshold": 90, "timeoutSeconds": 2},
        "readinessProbe": {"exec": {"command": ping}, "periodSeconds": 5, "failureThreshold": 2, "timeoutSeconds": 2},
        "livenessProbe": {"tcpSocket": {"port": "sentinel"}, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 2},
    }
