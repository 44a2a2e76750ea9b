"""Pulumi program for the Redis real-server tests and bench/redis_vs_infinispan.py: the lead's
RedisSessionStore and a WildflyCluster with session backend redis, composed as __main__.py
composes them; or, with ``redisrs.backend: infinispan``, the same WildflyCluster with replicated
sessions (standalone-ha, JGroups) and the ConfigMap demo, for comparison.

Evaluated under mocks by ``redis_stack.render()`` (offline.mockrun.run_program); the harness
then runs the rendered objects. Config (namespace ``sessionstack``): ``redisrs.maxmemoryMb``,
``redisrs.backend`` (redis | infinispan).
"""

import pulumi

from components.redis import RedisSessionStore, RedisSessionStoreArgs
from components.wildfly import WildflyCluster, WildflyClusterArgs
from components.wildfly_config import SessionBackend

config = pulumi.Config("sessionstack")
namespace = "sessionstack"
backend = SessionBackend(config.get("redisrs.backend") or "redis")
if backend is SessionBackend.REDIS:
    store = RedisSessionStore("sessions", RedisSessionStoreArgs(
        namespace=namespace, maxmemory_mb=config.get_int("redisrs.maxmemoryMb") or 64))
    WildflyCluster("was", WildflyClusterArgs(
        namespace=namespace, replicas=2, session_backend=SessionBackend.REDIS, session_store=store,
        demo_app=False))
else:
    WildflyCluster("was", WildflyClusterArgs(namespace=namespace, replicas=2))
