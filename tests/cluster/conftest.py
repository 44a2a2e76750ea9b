"""The single-node Kubernetes of tools/cluster, started once for the tests in this directory.

Every test here carries the `cluster` marker (`scripts/test -m cluster` runs them alone). The
`cluster` fixture runs tools/cluster/start (which builds and installs what is missing) and, at the
end of the session, tools/cluster/stop; it then checks that the host is as it was before the start
(sysctls, network namespaces, links, mounts, the node's processes, the kubernetes provider's
temporary kubeconfigs) and errors when it is not.
A node that was already running is used as it is and left running. Nothing is ever skipped: a
missing prerequisite fails the tests with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for extra in (HERE, HERE.parent / "engine"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from deployments import Deployed, deploy, destroy_if_left  # noqa: E402
from engine_support import build_engine  # noqa: E402
from kube import CLUSTER_TOOLS, STATE, Cluster  # noqa: E402
from onenode import host  # noqa: E402
from onenode.config import Node  # noqa: E402

NODE_PROGRAMS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kube-router", "containerd", "coredns", "local-path-provisioner")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(pytest.mark.cluster)


def host_snapshot() -> dict[str, object]:
    """What the node may change on the host and must give back."""
    def out(*cmd: str) -> str:
        return subprocess.run(cmd, capture_output=True, text=True).stdout

    programs = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # exited, not yet reaped by its new parent
            except OSError:
                continue
            if comm in NODE_PROGRAMS or comm.startswith("containerd-shim"):
                programs.append(comm)
    return {
        "sysctls": {key: host.read_sysctl(key) for key in host.KUBELET_SYSCTLS + ("net.ipv4.ip_forward",)},
        "netns": out("ip", "netns", "list"),
        "links": sorted(line.split(":")[1].strip().split("@")[0] for line in out("ip", "-o", "link").splitlines()),
        "mounts": sorted(line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()),
        "paths": {p: os.path.exists(p) for p in ("/var/lib/kubelet", "/var/lib/cni", "/run/containerd", str(STATE))},
        "programs": sorted(programs),
        # What a deploy's kubernetes provider leaves (tests/engine/engine_support.Engine keeps it under its base).
        "temporary kubeconfigs": sorted(p.name for p in Path(tempfile.gettempdir()).glob("kubeconfig*")),
    }


def start_cluster() -> Path:
    done = subprocess.run(["bash", str(CLUSTER_TOOLS / "start")], capture_output=True, text=True, timeout=4800)
    if done.returncode != 0:
        pytest.fail(f"tools/cluster/start failed ({done.returncode}):\n{done.stderr[-6000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def cluster():
    node = Node(state=STATE)
    already = (STATE / "created.json").exists()
    before = None if already else host_snapshot()
    kubeconfig = start_cluster()
    bin_dir = Path(subprocess.run(["bash", str(CLUSTER_TOOLS / "build.sh")], capture_output=True, text=True, check=True).stdout.strip())
    yield Cluster(kubeconfig=kubeconfig, bin_dir=bin_dir, node=node)
    if already:
        return
    stopped = subprocess.run(["bash", str(CLUSTER_TOOLS / "stop")], capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 0, f"tools/cluster/stop failed:\n{stopped.stderr}"
    after = host_snapshot()
    differences = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert not differences, f"the host is not as it was before the cluster started: {differences}"


@pytest.fixture(scope="session")
def engine_bin() -> Path:
    """The real Pulumi engine of tools/engine (built if needed)."""
    try:
        return build_engine()
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def cluster_stack(cluster, engine_bin: Path, tmp_path_factory) -> Deployed:
    """The cluster stack with its defaults, deployed once for test_cluster_stack.py (what the
    deployment looks like) and test_cluster_stack_sessions.py (what sessions go through), which
    pytest runs one after the other; the last test of the second destroys it."""
    deployed = deploy(cluster, engine_bin, tmp_path_factory.mktemp("cluster-stack"))
    yield deployed
    destroy_if_left(cluster, deployed)
