"""Pulumi program for the Redis real-server tests: the lead's RedisSessionStore and a
WildflyCluster with session backend redis, composed as __main__.py composes them.

Evaluated under mocks by ``rendered.render()`` (offline.mockrun.run_program); the harness then
runs the rendered objects. Config (namespace ``sessionstack``): ``redisrs.maxmemoryMb``.
"""

import pulumi

from components.redis import RedisSessionStore, RedisSessionStoreArgs
from components.wildfly import WildflyCluster, WildflyClusterArgs
from components.wildfly_config import SessionBackend

config = pulumi.Config("sessionstack")
namespace = "sessionstack"
store = RedisSessionStore("sessions", RedisSessionStoreArgs(
    namespace=namespace, maxmemory_mb=config.get_int("redisrs.maxmemoryMb") or 64))
WildflyCluster("was", WildflyClusterArgs(
    namespace=namespace, replicas=2, session_backend=SessionBackend.REDIS, session_store=store,
    demo_app=False))
