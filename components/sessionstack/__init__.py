"""sessionstack: Pulumi components that keep HTTP sessions alive on Kubernetes.

One component per module, each a ``pulumi.ComponentResource`` with a frozen, validated Args
dataclass (reference: components/REFERENCE.md):

- ``sessionstack.wildfly.WildflyCluster``: WildFly HA pods that form one JGroups cluster (KUBE_PING
  or DNS_PING, bound to the pod IP) and replicate web sessions with Infinispan, or keep them in a
  session store;
- ``sessionstack.redis.RedisSessionStore``: Redis as a StatefulSet with auth, AOF and a
  NetworkPolicy; ``sessionstack.elasticache.ElastiCacheSessionStore`` (extra ``aws``) on AWS;
- ``sessionstack.apache.ApacheStaticTier``: Apache httpd for static content;
- ``sessionstack.routing.SessionRouting``: Gateway API or ingress-nginx routes with cookie affinity;
- ``sessionstack.eks``, ``aws_lb_controller``, ``aws_front_door`` (extra ``aws``): EKS and the ALB.

Modules are imported on demand (``from sessionstack.wildfly import WildflyCluster``), so a
program that never touches AWS never loads pulumi_aws. The ``*_config`` modules are pure text
helpers (no Pulumi import) that the project's tests run unchanged on real servers and pods.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sessionstack-components")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
