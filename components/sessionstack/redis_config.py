"""Pure Redis artefacts for the session store: redis.conf, the auth include, and the server args.

Nothing here imports pulumi. The RedisSessionStore component (components/redis.py) puts
``redis_conf()`` in the ConfigMap ``<name>-config`` mounted at CONFIG_DIR, ``auth_conf()`` in the
Secret ``<name>-auth`` (key SECRET_AUTH_CONF_KEY) mounted at AUTH_DIR, and runs the container with
``server_args()``. The cluster tests run these exact strings in Redis pods whose image is built from
Debian 12's redis-server (no registry here), so whatever is rendered here must be accepted by both
the pinned image (Redis 8.2) and Debian 12's redis-server (7.0.x): only directives that exist in 7.0
are used.
"""

from __future__ import annotations

import enum

from sessionstack import templating


class RedisMode(str, enum.Enum):
    """How many Redis the session store runs, and who decides which one takes writes."""

    STANDALONE = "standalone"
    """One pod; its append-only file carries the sessions across a restart, during which every
    request fails. For development."""
    SENTINEL = "sentinel"
    """An odd number (3+) of pods, each Redis (one primary, the others its replicas) with a Sentinel
    next to it; the Sentinels promote a replica when the primary fails or leaves."""
    CLUSTER = "cluster"
    """Redis Cluster: the sessions spread over 3+ primaries (hash slots), each with a replica that
    takes over its slots when it fails or leaves; clients need a cluster client (MOVED, ASK)."""

# Official image, pinned to a patch release and a Debian base (never a moving tag). 8.2.2 carries
# the fixes for the 2025 Lua CVEs (CVE-2025-49844 and friends).
REDIS_IMAGE = "redis:8.2.2-bookworm"
REDIS_PORT = 6379
REDIS_UID = 999
"""uid/gid of the `redis` user in the official image."""

CLUSTER_DOMAIN = "cluster.local"
"""The Kubernetes cluster's DNS domain, in the pods' Service names."""

CONFIG_DIR = "/etc/redis"
"""Where the ConfigMap with redis.conf is mounted (read-only)."""
DATA_DIR = "/data"
"""Redis's working directory: the append-only files live here (a PersistentVolume in a pod)."""
AUTH_DIR = "/etc/redis-auth"
"""Where the Secret with the auth include is mounted (read-only)."""

CONFIG_FILE = "redis.conf"
"""ConfigMap key and file name of the main configuration."""
SECRET_PASSWORD_KEY = "password"
"""Secret key holding the bare password (what clients such as Spring Session read)."""
SECRET_AUTH_CONF_KEY = "auth.conf"
"""Secret key holding the ``requirepass`` line that redis.conf includes."""

CONFIG_PATH = f"{CONFIG_DIR}/{CONFIG_FILE}"
AUTH_CONF_PATH = f"{AUTH_DIR}/{SECRET_AUTH_CONF_KEY}"

# Characters that may appear unescaped inside a double-quoted redis.conf argument. Everything else
# (quotes, backslashes, spaces, control and non-ASCII bytes) is written as \xHH, which Redis's
# config parser (sdssplitargs) decodes back to the same byte.
_SAFE_PASSWORD_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'()*+,-./:;<=>?@[]^_`{|}~"
)


def redis_conf(maxmemory_mb: int, replication: str = "") -> str:
    """The complete redis.conf (templates/redis/redis.conf) for a session store limited to ``maxmemory_mb`` MiB of data.

    The container's memory limit must leave room above this for Redis's own overhead and for the
    copy-on-write pages of the forked AOF rewrite (roughly 1.5-2x maxmemory under write load).
    ``replication``: lines placed before the auth include (sentinel mode's replication settings).
    """
    return templating.fill(
        templating.read("redis", "redis.conf"),
        {"REDIS_PORT": REDIS_PORT, "DATA_DIR": DATA_DIR, "MAXMEMORY_MB": maxmemory_mb, "AUTH_DIR": AUTH_DIR, "AUTH_CONF_PATH": AUTH_CONF_PATH, "REPLICATION": replication},
    )


def quote_password(password: str) -> str:
    out = []
    for byte in password.encode("utf-8"):
        char = chr(byte)
        out.append(char if char in _SAFE_PASSWORD_CHARS else f"\\x{byte:02x}")
    return '"' + "".join(out) + '"'


def auth_conf(password: str, replicated: bool = False) -> str:
    """The auth include (Secret key SECRET_AUTH_CONF_KEY): ``requirepass`` for the default user,
    and with ``replicated`` also ``masterauth`` (a replica authenticates to its primary with it).

    The password is double-quoted with anything outside printable ASCII punctuation and
    alphanumerics escaped as ``\\xHH``, so any byte string round-trips through the config parser.
    """
    if not isinstance(password, str) or not password:
        raise ValueError("password must be a non-empty string")
    quoted = quote_password(password)
    lines = [f"requirepass {quoted}"] + ([f"masterauth {quoted}"] if replicated else [])
    return "# sessionstack: Redis password (from a Secret, never a ConfigMap)\n" + "".join(f"{line}\n" for line in lines)


def server_args() -> list[str]:
    """Container command to start Redis from the rendered files.

    ``redis-server`` as first word keeps the official image's entrypoint behaviour (drop to the
    ``redis`` user when started as root); the single argument is the mounted redis.conf, which
    includes the auth file itself.
    """
    return ["redis-server", CONFIG_PATH]


def start_command(script: str) -> list[str]:
    """Container command running a script of the mounted ConfigMap."""
    return ["sh", f"{CONFIG_DIR}/{script}"]
