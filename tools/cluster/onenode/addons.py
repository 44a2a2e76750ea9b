"""The cluster's add-ons, from the upstream manifests of the pinned releases (pure text).

tools/cluster/build.sh copies the manifests out of the Go modules it builds (share/):
- CoreDNS: Kubernetes' own `cluster/addons/dns/coredns/coredns.yaml.base` (what kube-up fills in);
- local-path-provisioner: its `deploy/local-path-storage.yaml`.
Each is changed only where this node differs, and each change must match exactly once, so a
new upstream manifest that no longer fits stops the start instead of deploying something else.
"""

from __future__ import annotations

import json

from onenode.config import Node

DNS_MEMORY_LIMIT = "170Mi"
"""What kube-up uses for one node."""


def substitute(text: str, changes: list[tuple[str, str]], what: str) -> str:
    for old, new in changes:
        count = text.count(old)
        if count != 1:
            raise ValueError(f"{what}: expected exactly one {old!r} in the upstream manifest, found {count}")
        text = text.replace(old, new)
    return text


def coredns(upstream: str, node: Node, image: str) -> str:
    """CoreDNS as kube-up deploys it, minus the upstream forwarder: the node has no name server
    beyond its own cluster, so names outside cluster.local fail at once instead of leaving."""
    import re

    changes = [
        ("__DNS__DOMAIN__", node.cluster_domain),
        ("__DNS__SERVER__", node.dns_ip),
        ("__DNS__MEMORY__LIMIT__", DNS_MEMORY_LIMIT),
        ("        forward . /etc/resolv.conf {\n            max_concurrent 1000\n        }\n", ""),
        ("        loop\n", ""),
    ]
    text = substitute(upstream, changes, "coredns.yaml.base")
    images = re.findall(r"image: (\S+)", text)
    if len(images) != 1:
        raise ValueError(f"coredns.yaml.base: expected one image, found {images}")
    return text.replace(f"image: {images[0]}", f"image: {image}")


def local_path(upstream: str, node: Node, image: str, helper_image: str) -> str:
    """local-path-provisioner, its volumes under the node's state dir, its class the default."""
    changes = [
        ("image: rancher/local-path-provisioner:", f"image: {image}  # was rancher/local-path-provisioner:"),
        ('"paths":["/opt/local-path-provisioner"]', f'"paths":["{node.storage}"]'),
        ("        image: busybox\n", f"        image: {helper_image}\n"),
        (
            "kind: StorageClass\nmetadata:\n  name: local-path\n",
            'kind: StorageClass\nmetadata:\n  name: local-path\n  annotations:\n    storageclass.kubernetes.io/is-default-class: "true"\n',
        ),
    ]
    return substitute(upstream, changes, "local-path-storage.yaml")


def bootstrap_rbac() -> str:
    """The API server's client identity for the kubelet API (logs, exec, port-forward), as kubeadm
    grants it: the built-in system:kubelet-api-admin role."""
    doc = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "sessionstack:apiserver-kubelet-api-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:kubelet-api-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "kube-apiserver-kubelet-client"}],
    }
    return json.dumps(doc)


POLICY_AGENT_USER = "sessionstack:kube-router"
"""The client certificate's name of the NetworkPolicy agent (pki.certificates)."""


def policy_agent_rbac() -> str:
    """What kube-router's firewall reads and nothing more: it watches the objects its informers
    start with (pods, namespaces, NetworkPolicies, and the node for its addresses; Services,
    Endpoints and EndpointSlices are watched by the same shared factory) and changes none."""
    rules = [
        {"apiGroups": [""], "resources": ["pods", "namespaces", "nodes", "services", "endpoints"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
    ]
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": POLICY_AGENT_USER}, "rules": rules}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": POLICY_AGENT_USER},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": POLICY_AGENT_USER},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": POLICY_AGENT_USER}],
    }
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [role, binding]})
