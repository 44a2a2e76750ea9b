"""Pure WildFly artefacts for the WildflyCluster component.

Everything here is plain text built from the templates in ``components/templates/wildfly``:
the jboss-cli script that configures the server, the entrypoint script, the container
arguments and the demo application. No Pulumi import and no resource: the component puts
these strings into ConfigMaps, and the cluster tests (tests/cluster) run the very same strings
in WildFly pods of the pinned release on a real Kubernetes.

Pod-specific values (pod IP, namespace, label selector, DNS name) and the cluster secret
reach the server only as environment variables, resolved by WildFly through ``${env.*}``
expressions at boot; the ConfigMap text never contains them.
"""

from __future__ import annotations

import enum
import hashlib

from sessionstack import templating

WILDFLY_VERSION = "39.0.1.Final"
WILDFLY_IMAGE = "quay.io/wildfly/wildfly:39.0.1.Final-jdk21"

HTTP_PORT = 8080
MANAGEMENT_PORT = 9990
JGROUPS_PORT = 7600
JGROUPS_FD_PORT = 57600
"""FD_SOCK2 failure-detection port (socket binding jgroups-tcp-fd, private interface)."""

SCRIPTS_DIR = "/opt/sessionstack/bin"
"""Mount point of ConfigMap ``<name>-scripts`` (start.sh, configure.cli)."""
DEMO_APP_DIR = "/opt/sessionstack/demo-app"
"""Mount point of ConfigMap ``<name>-demo-app`` (the exploded demo WAR)."""
SERVER_BASE_DIR = "/var/sessionstack/server"
"""emptyDir: writable copy of the image's standalone/ directory."""
DEMO_CONTEXT_PATH = "/session-demo/"

NODE_NAME_MAX_BYTES = 23
"""Transaction manager node identifier limit, which jboss.node.name also feeds."""

SUSPEND_TIMEOUT_SECONDS = 20
"""On SIGTERM the server suspends: it stops taking new requests and waits this long for the
work its request controller tracks before shutting down (and leaving the cluster, which hands
its sessions to the remaining owners). With Infinispan sessions the request-controller subsystem
is removed (configure-infinispan.cli says why), so HTTP requests are not waited for there: the
preStop delay is what lets them finish."""
PRESTOP_SLEEP_SECONDS = 5
"""preStop delay: lets the endpoints controller and proxies drop the pod before SIGTERM, and the
requests already in flight finish."""
PRESTOP_COMMAND: list[str] = ["/bin/sh", "-c", f"sleep {PRESTOP_SLEEP_SECONDS}"]
TERMINATION_GRACE_SECONDS = PRESTOP_SLEEP_SECONDS + SUSPEND_TIMEOUT_SECONDS + 20
"""preStop + suspend + time to leave the cluster and stop; past it the kubelet kills."""

FD_ALL3_TIMEOUT_MS = 10_000
FD_ALL3_INTERVAL_MS = 2_000

_DEMO_APP_TEMPLATE_DIR = templating.TEMPLATES_DIR / "wildfly" / "demo-app"


class Discovery(str, enum.Enum):
    """How JGroups finds the other pods of the cluster."""

    KUBE_PING = "kube_ping"
    """List pods through the Kubernetes API (needs a ServiceAccount with pods get/list)."""
    DNS_PING = "dns_ping"
    """Resolve a headless Service (publishNotReadyAddresses: true)."""


class SessionBackend(str, enum.Enum):
    """Where HTTP sessions live."""

    INFINISPAN = "infinispan"
    """Replicated in the WildFly cluster (standalone-ha.xml, JGroups)."""
    REDIS = "redis"
    """In an external Redis, written by the application (standalone.xml, no JGroups)."""


# Position of each protocol in the "tcp" stack that standalone-ha.xml ships with, once MPING
# is removed: RED, MERGE3, FD_ALL3, VERIFY_SUSPECT2, NAKACK4, UNICAST4, pbcast.GMS, FRAG4.
# The CLI batch inserts in order, so each index counts the protocols inserted before it.
_DISCOVERY_INDEX = 1  # after RED -> RED, <discovery>, MERGE3, ...
_FD_SOCK2_INDEX = 3  # before FD_ALL3 -> ..., MERGE3, FD_SOCK2, FD_ALL3, ...
_AUTH_INDEX = 8  # directly below pbcast.GMS -> ..., UNICAST4, AUTH, pbcast.GMS, FRAG4


def _template(name: str) -> str:
    return templating.read("wildfly", name)


def configure_cli(discovery: Discovery, backend: SessionBackend, cache_owners: int = 2) -> str:
    """jboss-cli script that start.sh runs offline (embed-server) before the server boots.

    ``infinispan``: standalone-ha.xml with the JGroups TCP stack bound to the private
    interface (the pod IP), ``discovery`` instead of multicast MPING, FD_SOCK2, AUTH with
    the shared secret from env JGROUPS_CLUSTER_PASSWORD, and the web-session cache
    distributed over ``cache_owners`` owners. ``redis``: standalone.xml, no JGroups.
    """
    discovery = Discovery(discovery)
    backend = SessionBackend(backend)
    if backend is SessionBackend.REDIS:
        return _template("configure-redis.cli")
    discovery_cli = templating.fill(
        _template(f"discovery-{discovery.value}.cli"),
        {"DISCOVERY_INDEX": _DISCOVERY_INDEX},
    ).rstrip("\n")
    return templating.fill(
        _template("configure-infinispan.cli"),
        {
            "DISCOVERY": discovery_cli,
            "JGROUPS_FD_PORT": JGROUPS_FD_PORT,
            "FD_SOCK2_INDEX": _FD_SOCK2_INDEX,
            "FD_ALL3_TIMEOUT_MS": FD_ALL3_TIMEOUT_MS,
            "FD_ALL3_INTERVAL_MS": FD_ALL3_INTERVAL_MS,
            "AUTH_INDEX": _AUTH_INDEX,
            "CACHE_OWNERS": cache_owners,
        },
    )


def start_script() -> str:
    """Content of start.sh, the container entrypoint (``/bin/bash <SCRIPTS_DIR>/start.sh``)."""
    return templating.fill(_template("start.sh"), {"SUSPEND_TIMEOUT_SECONDS": SUSPEND_TIMEOUT_SECONDS})


def server_config_file(backend: SessionBackend) -> str:
    """The standalone configuration file the backend runs with."""
    return "standalone-ha.xml" if SessionBackend(backend) is SessionBackend.INFINISPAN else "standalone.xml"


def server_args(backend: SessionBackend) -> list[str]:
    """Container args (passed by start.sh to standalone.sh).

    ``$(POD_IP)`` is expanded by the kubelet from the env var of that name. Public (HTTP),
    management (health probes) and, for the clustered backend, private (JGroups) interfaces
    are all bound to the pod IP.
    """
    backend = SessionBackend(backend)
    args = ["-c", server_config_file(backend), "-b=$(POD_IP)"]
    if backend is SessionBackend.INFINISPAN:
        args.append("-bprivate=$(POD_IP)")
    args.append("-bmanagement=$(POD_IP)")
    return args


def node_name(pod_name: str) -> str:
    """jboss.node.name for a pod: what start.sh computes from POD_NAME.

    Names up to 23 bytes are used as they are; longer ones become the first 14 characters
    (trailing '-' dropped) + '-' + the first 8 hex digits of the name's MD5, which keeps
    them unique per pod and within the transaction manager's limit.
    """
    if not pod_name:
        raise ValueError("pod_name must be a non-empty string")
    if len(pod_name.encode("utf-8")) <= NODE_NAME_MAX_BYTES:
        return pod_name
    head = pod_name[:14].rstrip("-")
    digest = hashlib.md5(pod_name.encode("utf-8")).hexdigest()[:8]  # noqa: S324 - a name, not security
    return f"{head}-{digest}"


def scripts_configmap_data(
    discovery: Discovery, backend: SessionBackend, cache_owners: int = 2
) -> dict[str, str]:
    """Data of ConfigMap ``<name>-scripts`` (mounted at SCRIPTS_DIR)."""
    return {
        "start.sh": start_script(),
        "configure.cli": configure_cli(discovery, backend, cache_owners),
    }


def _load_demo_app() -> dict[str, str]:
    files = {}
    for path in sorted(_DEMO_APP_TEMPLATE_DIR.rglob("*")):
        if path.is_file():
            files[path.relative_to(_DEMO_APP_TEMPLATE_DIR).as_posix()] = path.read_text(encoding="utf-8")
    return files


DEMO_APP_FILES: dict[str, str] = _load_demo_app()
"""Exploded session-demo.war: path inside the WAR -> content."""


def _configmap_key(path: str) -> str:
    return path.replace("/", "__")


def demo_app_configmap_data() -> dict[str, str]:
    """Data of ConfigMap ``<name>-demo-app``: WAR paths with '/' replaced by '__'."""
    return {_configmap_key(path): content for path, content in DEMO_APP_FILES.items()}


def demo_app_items() -> list[dict[str, str]]:
    """ConfigMap volume ``items`` that map each key back to its path in the WAR."""
    return [{"key": _configmap_key(path), "path": path} for path in DEMO_APP_FILES]
