"""The node's layout and every configuration text its programs read: pure functions, no I/O.

One node runs the whole cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
containerd + kubelet, kube-proxy (nftables) and, as pods, CoreDNS and local-path-provisioner. It
lives in its own network namespace (a veth to the host is its only link; there is no default
route, so nothing it runs reaches beyond the host, and an image pull fails at once) and its own
mount namespace (the kubelet's and containerd's mounts never reach the host's).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from pathlib import Path
from typing import Any

KUBELET_DIR = "/var/lib/kubelet"
"""The kubelet's root dir inside the node (bound from the state dir): the device-plugin socket path
is fixed to it upstream, so the node keeps the default instead of --root-dir."""
CNI_CACHE_DIR = "/var/lib/cni"
"""Where containerd's CNI library caches results (not configurable in containerd 1.6)."""
LOG_DIR = "/var/log"
"""The kubelet's pod logs (/var/log/pods) and their links (/var/log/containers, fixed upstream)."""
CNI_BIN_DIR = "/usr/lib/cni"
"""Debian's containernetworking-plugins."""
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
"""containerd's default socket, in the node's own /run (a tmpfs of the node's mount namespace)."""
CGROUP_ROOT = "/sessionstack-node"
"""The kubelet's --cgroup-root: every pod's cgroup sits below it in each hierarchy."""


@dataclasses.dataclass(frozen=True)
class Node:
    """Names, addresses and paths of the one-node cluster. Everything lives under `state`."""

    state: Path
    name: str = "sessionstack-node"
    netns: str = "sessionstack-node"
    host_if: str = "ssk-node0"
    link: str = "10.213.0.0/30"
    """The veth between host and node: the host gets the first address, the node the second."""
    pod_cidr: str = "10.244.0.0/24"
    service_cidr: str = "10.96.0.0/16"
    cluster_domain: str = "cluster.local"
    zone: str = "zone-a"
    """topology.kubernetes.io/zone of the node (the stacks spread pods by zone)."""
    context: str = "sessionstack-cluster"
    """The kubeconfig context (and cluster and user) name."""
    api_port: int = 6443

    def __post_init__(self) -> None:
        if ipaddress.ip_network(self.link).prefixlen != 30:
            raise ValueError(f"link must be a /30 (host and node address), got {self.link!r}")
        if len(str(self.state)) > 60:
            # unix sockets are limited to 108 bytes; containerd and the kubelet add up to ~45.
            raise ValueError(f"state dir must be at most 60 characters, got {str(self.state)!r}")

    # addresses
    @property
    def host_ip(self) -> str:
        return str(ipaddress.ip_network(self.link)[1])

    @property
    def node_ip(self) -> str:
        return str(ipaddress.ip_network(self.link)[2])

    @property
    def prefix(self) -> int:
        return ipaddress.ip_network(self.link).prefixlen

    @property
    def api_service_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr)[1])

    @property
    def dns_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr)[10])

    @property
    def server(self) -> str:
        return f"https://{self.node_ip}:{self.api_port}"

    # paths
    def path(self, *parts: str) -> Path:
        return self.state.joinpath(*parts)

    @property
    def pki(self) -> Path:
        return self.path("pki")

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig for users and tests (context `context`)."""
        return self.path("kubeconfig")

    @property
    def charts(self) -> Path:
        """Helm charts the stacks install from a local path (routing.controllerChart)."""
        return self.path("charts")

    @property
    def storage(self) -> Path:
        """Where local-path-provisioner creates each volume's directory."""
        return self.path("storage")

    def binds(self) -> dict[str, Path]:
        """Node path -> state dir path, bound in the node's mount namespace."""
        return {KUBELET_DIR: self.path("kubelet"), CNI_CACHE_DIR: self.path("cni/cache"), LOG_DIR: self.path("log"), "/etc/resolv.conf": self.path("resolv.conf")}


def kubeconfig(node: Node, user: str, cert: Path, key: Path) -> str:
    """A kubeconfig with one context (named after the node's context) and a client certificate."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": node.context, "cluster": {"server": node.server, "certificate-authority": str(node.pki / "ca.crt")}}],
        "users": [{"name": f"{node.context}-{user}", "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": node.context, "context": {"cluster": node.context, "user": f"{node.context}-{user}"}}],
        "current-context": node.context,
    }
    return json.dumps(doc, indent=1)


def etcd_args(node: Node) -> list[str]:
    url = "http://127.0.0.1:2379"  # the node's own loopback: nothing outside the node reaches it
    return [
        "--name=default",
        f"--data-dir={node.path('etcd')}",
        f"--listen-client-urls={url}",
        f"--advertise-client-urls={url}",
        "--listen-peer-urls=http://127.0.0.1:2380",
        "--initial-advertise-peer-urls=http://127.0.0.1:2380",
        "--initial-cluster=default=http://127.0.0.1:2380",
        "--listen-metrics-urls=http://127.0.0.1:2381",
        # A throwaway test cluster: the data dies with the node, so skip the fsync per write that
        # makes every API write wait on the disk.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def apiserver_args(node: Node) -> list[str]:
    pki = node.pki
    return [
        f"--advertise-address={node.node_ip}",
        f"--secure-port={node.api_port}",
        "--etcd-servers=http://127.0.0.1:2379",
        f"--service-cluster-ip-range={node.service_cidr}",
        "--service-node-port-range=30000-32767",
        "--allow-privileged=true",
        # What a production control plane enforces: the Node authorizer and RBAC; NodeRestriction on
        # top of the default admission plugins (PodSecurity among them).
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--anonymous-auth=false",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--service-account-issuer=https://kubernetes.default.svc.{node.cluster_domain}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        # The aggregation layer (an APIService such as metrics.k8s.io is proxied with these).
        f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
        "--enable-aggregator-routing=true",
        "--profiling=false",
        "--v=1",
    ]


def controller_manager_args(node: Node) -> list[str]:
    pki, kc = node.pki, node.path("controller-manager.kubeconfig")
    return [
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}",
        f"--cluster-signing-key-file={pki / 'ca.key'}",
        f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
        # One node, one pod range: the node's spec.podCIDR is exactly the CNI's range.
        "--allocate-node-cidrs=true",
        f"--cluster-cidr={node.pod_cidr}",
        f"--node-cidr-mask-size={node.pod_cidr.split('/')[1]}",
        f"--service-cluster-ip-range={node.service_cidr}",
        "--profiling=false",
        "--v=1",
    ]


def scheduler_args(node: Node) -> list[str]:
    kc = node.path("scheduler.kubeconfig")
    return [
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        "--leader-elect=false",
        "--profiling=false",
        "--v=1",
    ]


def kubelet_config(node: Node, resolv_conf: str) -> dict[str, Any]:
    pki = node.pki
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}, "x509": {"clientCAFile": str(pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki / "kubelet.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet.key"),
        "containerRuntimeEndpoint": f"unix://{CONTAINERD_SOCKET}",
        # The host has cgroup v1 controllers and no systemd: cgroupfs below our own root.
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": CGROUP_ROOT,
        "failCgroupV1": False,
        "clusterDNS": [node.dns_ip],
        "clusterDomain": node.cluster_domain,
        # Pods get no upstream name servers: nothing a pod looks up leaves the node.
        "resolvConf": resolv_conf,
        "staticPodPath": "",
        # The images are built here and cannot be pulled again: never garbage-collect or evict them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        "serializeImagePulls": False,
        "maxPods": 110,
        "podPidsLimit": 4096,
        "healthzBindAddress": "127.0.0.1",
        "readOnlyPort": 0,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "shutdownGracePeriod": "0s",
        "logging": {"verbosity": 1},
    }


def kubelet_args(node: Node) -> list[str]:
    return [
        f"--config={node.path('kubelet-config.json')}",
        f"--kubeconfig={node.path('kubelet.kubeconfig')}",
        f"--node-ip={node.node_ip}",
        f"--hostname-override={node.name}",
        f"--node-labels=topology.kubernetes.io/zone={node.zone}",
    ]


def kube_proxy_config(node: Node) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "nftables",
        "clientConnection": {"kubeconfig": str(node.path("kube-proxy.kubeconfig"))},
        "hostnameOverride": node.name,
        "clusterCIDR": node.pod_cidr,
        "detectLocalMode": "ClusterCIDR",
        "nodePortAddresses": ["primary"],
        # Zero leaves the conntrack sysctls as they are (some are global, not per namespace).
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s", "udpTimeout": "0s", "udpStreamTimeout": "0s"},
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
    }


def kube_router_args(node: Node) -> list[str]:
    """kube-router as the node's NetworkPolicy agent and nothing else: its firewall (iptables
    chains and ipsets per pod and policy, in the node's network namespace), with its router (BGP,
    pod routes: the ptp CNI routes here) and its service proxy (kube-proxy does that) off. The
    proxy is where kube-router v2.1.0's security advisory lies (GHSA-phqm-jgc3-qf8g: Service
    externalIPs copied onto the node unchecked), so that code never runs here."""
    return [
        f"--kubeconfig={node.path('kube-router.kubeconfig')}",
        f"--hostname-override={node.name}",
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--run-loadbalancer=false",
        "--enable-ipv4=true",
        "--enable-ipv6=false",
        f"--service-cluster-ip-range={node.service_cidr}",
        "--service-node-port-range=30000-32767",
        "--health-port=0",
        "--metrics-port=0",
        # Policies and pods apply within ~2 s of their events (measured 0.2-1.8 s); the full resync is the backstop.
        "--iptables-sync-period=1m",
    ]


def containerd_config(node: Node, sandbox_image: str) -> str:
    """containerd 1.6 (Debian 12), CRI plugin: runc with cgroupfs, our CNI config, our sandbox image."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{node.path('containerd/root')}"
state = "/run/containerd"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{CONTAINERD_SOCKET}"

[{cri}]
  sandbox_image = "{sandbox_image}"
  # root here lacks CAP_SYS_RESOURCE: an oom_score_adj below containerd's own makes runc fail
  # ("can't get final child's PID from pipe"), so clamp it instead.
  restrict_oom_score_adj = true
  enable_selinux = false
  max_container_log_line_size = 16384

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{node.path('cni/net.d')}"
  max_conf_num = 1

[plugins."io.containerd.internal.v1.opt"]
  path = "{node.path('containerd/opt')}"
"""


def cni_config(node: Node) -> dict[str, Any]:
    """ptp: one routed veth per pod (no bridge, so no br_netfilter and no promiscuous hairpin); the
    node routes between pods and the Services' DNAT sees every packet."""
    return {
        "cniVersion": "1.0.0",
        "name": "sessionstack",
        "plugins": [
            {
                "type": "ptp",
                "ipMasq": False,
                "mtu": 1500,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(node.path("cni/ipam")),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def resolv_conf(node: Node) -> str:
    """The node's resolv.conf: no name server at all (lookups fail at once, nothing leaves)."""
    return f"# sessionstack node {node.name}: no upstream name servers (no traffic leaves the node)\n"
