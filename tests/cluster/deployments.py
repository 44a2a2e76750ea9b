"""Stacks of this project deployed onto the test cluster with the real engine, one project copy
and Pulumi state each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine_support import Engine, Result, copy_project
from kube import Cluster

STACK = "cluster"
NAMESPACE = "sessionstack"
WILDFLY = "app.kubernetes.io/name=wildfly"
"""The label selector of the stack's WildFly pods."""
"""The namespace of config/Pulumi.cluster.yaml: one deployment of it at a time."""

_LIVE: list["Deployed"] = []


@dataclass
class Deployed:
    """The cluster stack of a copy of the project, deployed with the real engine."""

    project: Path
    engine: Engine
    up: Result

    def pulumi(self, *args: str, timeout: float = 1500) -> Result:
        return self.engine.run(self.project, *args, "--stack", STACK, timeout=timeout)


def router_namespace(cluster: Cluster) -> str:
    """The namespace the stack's NetworkPolicies admit HTTP from: the routing controller's."""
    (peer,) = cluster.get("networkpolicy", "-n", NAMESPACE, "wildfly")["spec"]["ingress"][0]["from"]
    return peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]


def deploy(cluster: Cluster, engine_bin: Path, base: Path, settings: dict[str, str] | None = None) -> Deployed:
    """`pulumi stack init`, `config set` for each of ``settings`` (sessionstack:<key>), `pulumi up`."""
    project = copy_project(base / "project")
    engine = Engine(engine_bin, base, extra_env={"KUBECONFIG": str(cluster.kubeconfig)})
    init = engine.run(project, "stack", "init", STACK)
    assert init.returncode == 0, str(init)
    for key, value in (settings or {}).items():
        done = engine.run(project, "config", "set", f"sessionstack:{key}", value, "--stack", STACK)
        assert done.returncode == 0, str(done)
    deployed = Deployed(project, engine, engine.run(project, "up", "--yes", "--stack", STACK, timeout=1500))
    _LIVE.append(deployed)
    return deployed


def destroy_if_left(cluster: Cluster, deployed: Deployed) -> None:
    """A failed test must not leave the stack behind for the next module."""
    if cluster.kubectl("get", "namespace", NAMESPACE, check=False).returncode == 0:
        deployed.pulumi("destroy", "--yes")
    if deployed in _LIVE:
        _LIVE.remove(deployed)


def destroy_every_stack(cluster: Cluster) -> None:
    """Before a module that needs the namespace or the node's room for itself: a stack an earlier
    module left deployed (its last test deselected, or failed) goes first."""
    for deployed in list(_LIVE):
        destroy_if_left(cluster, deployed)
