"""Real-server harness: "pods" as processes in Linux network namespaces.

Stable API (helper R's verify/ and the Redis tests build on it):

- :class:`netns.Network` -- ``Network(subnet=None)``: a bridge with a private /24 (the bridge
  is ``.1``, ``net.host_ip``); ``add_host(name) -> Host`` (own namespace and address
  ``host.ip``, ``host.ns``, ``host.netns_path``); ``remove_host(host)``; ``close()``; context
  manager. Stale namespaces of dead runs are removed on construction.
- :class:`netns.Host` -- ``popen(argv, env=..., log_path=..., uid=None)`` starts a process in
  the namespace (own process group); ``command(argv)`` wraps argv; ``run(argv)``;
  ``set_link(up)`` cuts or restores the cable.
- :func:`netns.kill_group` -- SIGKILL (or another signal) to a process group.
- :class:`wildfly.PodTemplate` -- ``from_rendered(objects)`` / ``from_wildfly_config(...)``.
- :class:`wildfly.WildflyPod` -- one WildFly pod: ``start()``, ``terminate()`` (SIGTERM),
  ``kill()`` (SIGKILL), ``wait_exit(t)``, ``wait_ready(t)``, ``ready()``, ``view()``,
  ``url(path)``, ``ip``, ``name``, ``node_name``, ``log_text()``.
- :class:`cluster.ClusterHarness` -- network + Kubernetes API / DNS stand-ins + pods:
  ``start_pods(n)``, ``add_pod()``, ``wait_ready(pods)``, ``wait_view(pods)``,
  ``stop_pod(pod, graceful=True)``, ``kill_pod(pod)``, ``close()``.
- :func:`wildfly.wildfly_home` -- the unpacked distribution (tests/realservers/setup.sh).
"""

from .cluster import ClusterHarness
from .netns import HarnessError, Host, Network, kill_group, require_root_and_tools
from .wildfly import PodTemplate, WildflyPod, http_status, wildfly_home

__all__ = [
    "ClusterHarness", "HarnessError", "Host", "Network", "PodTemplate",
    "WildflyPod", "http_status", "kill_group", "require_root_and_tools",
    "wildfly_home",
]
