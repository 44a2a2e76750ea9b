"""A WildFly cluster of "pods" on one :class:`~.netns.Network`, with its Kubernetes stand-ins.

``ClusterHarness`` owns the network (unless given one), the pod-list API stand-in for
KUBE_PING, the DNS stand-in for DNS_PING, the Secret values, and the pods; it starts pods with
ReplicaSet-style names, replaces them, and waits for cluster views. ``close()`` stops
everything (SIGKILL after a bounded grace) and removes the namespaces.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path
from typing import Callable


from .dns import DnsStandIn
from .kubeapi import KubeApiStandIn, PodRecord
from .netns import HarnessError, Network
from .wildfly import PodTemplate, WildflyPod, pod_names


class ClusterHarness:
    def __init__(self, template: PodTemplate, *, namespace: str = "sessionstack",
                 network: Network | None = None, workdir: Path | None = None,
                 arg_filter: Callable[[list[str]], list[str]] | None = None,
                 cluster_password: str | None = None) -> None:
        self.template = template
        self.namespace = namespace
        self._own_network = network is None
        self.network = network or Network()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="sessionstack-rs-"))
        self.workdir.chmod(0o755)
        self.arg_filter = arg_filter
        self.secrets = {(f"{template.deployment}-jgroups", "password"):
                        cluster_password or secrets.token_urlsafe(18)}
        self.pods: list[WildflyPod] = []
        """Pods started, including stopped ones (for logs)."""
        self.kubeapi: KubeApiStandIn | None = None
        self.dns: DnsStandIn | None = None
        try:
            self.kubeapi = KubeApiStandIn(self.network.host_ip, self.workdir / "serviceaccount")
            self.dns = DnsStandIn(self.network.host_ip)
        except Exception:
            self.close()
            raise
        self._names: list[str] = []

    # -- pods -----------------------------------------------------------------------------
    @property
    def live_pods(self) -> list[WildflyPod]:
        return [p for p in self.pods if p.running]

    def _next_name(self) -> str:
        if not self._names:
            self._names = pod_names(self.template.deployment, 16)
        return self._names.pop()

    def add_pod(self, name: str | None = None, *, password: str | None = None,
                arg_filter: Callable[[list[str]], list[str]] | None = None) -> WildflyPod:
        """Create a namespace and start a pod in it (not waiting for readiness)."""
        name = name or self._next_name()
        host = self.network.add_host(name)
        secrets_data = dict(self.secrets)
        if password is not None:
            secrets_data[(f"{self.template.deployment}-jgroups", "password")] = password
        pod = WildflyPod(name, host, self.template, self.workdir, namespace=self.namespace,
                         secrets_data=secrets_data, platform_env=self.kubeapi.pod_env(),
                         arg_filter=arg_filter or self.arg_filter)
        pod_dns = self._dns_name(pod)
        self.kubeapi.put_pod(PodRecord(name=name, namespace=self.namespace,
                                       labels=dict(self.template.labels), ip=host.ip))
        # Every pod resolves through the cluster DNS (the stand-in); DNS_PING's headless
        # Service name lists every pod (publishNotReadyAddresses).
        self.dns.write_resolv_conf(host.ns)
        if pod_dns:
            self.dns.add(pod_dns, host.ip)
        self.pods.append(pod)
        pod.start()
        return pod

    def _dns_name(self, pod: WildflyPod) -> str | None:
        for entry in self.template.env:
            if entry.get("name") == "JGROUPS_DNS_QUERY" and "value" in entry:
                from .wildfly import expand_k8s_refs
                return expand_k8s_refs(entry["value"], {"POD_NAMESPACE": self.namespace})
        return None

    def start_pods(self, count: int) -> list[WildflyPod]:
        return [self.add_pod() for _ in range(count)]

    def wait_ready(self, pods: list[WildflyPod], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        for pod in pods:
            pod.wait_ready(max(1.0, deadline - time.monotonic()))
            self.kubeapi.set_ready(pod.name, True)

    def wait_view(self, pods: list[WildflyPod], timeout: float = 120) -> float:
        """Wait until every pod's latest view is exactly ``pods``; returns monotonic time then."""
        expected = sorted(p.node_name for p in pods)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            views = {p.name: p.view() for p in pods}
            if all(v is not None and sorted(v) == expected for v in views.values()):
                return time.monotonic()
            dead = [p.name for p in pods if not p.running]
            if dead:
                raise HarnessError(f"pods exited while waiting for the view: {dead}")
            time.sleep(0.1)
        raise HarnessError(f"no common view {expected} after {timeout}s; views: "
                           f"{ {p.name: p.view() for p in pods} }")

    def replace_pod(self, old: WildflyPod, endpoints, boot_timeout: float = 300) -> WildflyPod:
        """One step of a rolling update (maxSurge 1, maxUnavailable 0): a new pod, ready, in
        ``endpoints`` and in the view; then ``old`` out of the endpoints and stopped gracefully."""
        new = self.add_pod()
        self.wait_ready([new], timeout=boot_timeout)
        endpoints.add(new)
        endpoints.wait_for(new, timeout=30)
        self.wait_view(self.live_pods, timeout=120)
        endpoints.remove(old)
        self.stop_pod(old, graceful=True)
        return new

    def stop_pod(self, pod: WildflyPod, *, graceful: bool = True, pre_stop: bool = True) -> float:
        """Delete a pod like the kubelet: off the pod list/DNS, preStop, SIGTERM, wait (or SIGKILL).

        Callers that route traffic take the pod out of their endpoints first. Returns the
        seconds from the SIGTERM (or SIGKILL) to the process exit.
        """
        self.kubeapi.delete_pod(pod.name)
        if self.dns:
            self.dns.remove_ip(pod.ip)
        grace = float(self.template.termination_grace_seconds)
        if graceful and pre_stop:
            grace -= pod.run_pre_stop()
        t0 = time.monotonic()
        if graceful:
            pod.terminate()
            pod.wait_exit(max(1.0, grace))
        else:
            pod.kill()
            pod.wait_exit(10)
        elapsed = time.monotonic() - t0
        self.network.remove_host(pod.host)
        return elapsed

    def kill_pod(self, pod: WildflyPod) -> None:
        """kill -9 the pod's processes now; the pod-list entry stays until :meth:`stop_pod`."""
        pod.kill()

    # -- teardown -------------------------------------------------------------------------
    def close(self) -> None:
        for pod in self.pods:
            if pod.running:
                pod.kill()
                pod.wait_exit(10)
        if self.kubeapi:
            self.kubeapi.close()
        if self.dns:
            self.dns.close()
        if self._own_network:
            self.network.close()

    def __enter__(self) -> "ClusterHarness":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
