"""The cluster benches' own single-node Kubernetes and stack.

Every bench that measures on the real cluster starts the node itself (tools/cluster/start) and
stops it at the end, failures included; it refuses to start when a node is already running, so a
bench never measures on, or stops, a node that the test tier or another bench is using. The stack
is the cluster stack deployed with the real engine (tests/cluster/deployments.deploy), destroyed
when the bench is done with it.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools" / "cluster"
for _path in (ROOT, ROOT / "tests" / "engine", ROOT / "tests" / "cluster", TOOLS):
    if str(_path) not in sys.path:
        sys.path.append(str(_path))

from deployments import Deployed, deploy  # noqa: E402
from engine_support import build_engine  # noqa: E402
from kube import STATE, Cluster  # noqa: E402
from onenode.config import Node  # noqa: E402


@contextlib.contextmanager
def own_node() -> Iterator[Cluster]:
    """Starts the node (exits if one is running), yields a kube.Cluster on it, stops it."""
    if (STATE / "created.json").exists():
        sys.exit(f"a node is running ({STATE}): stop it first (tools/cluster/stop)")
    try:
        started = subprocess.run(["bash", str(TOOLS / "start")], capture_output=True, text=True, check=True, timeout=4800)
        bin_dir = Path(subprocess.run(["bash", str(TOOLS / "build.sh")], capture_output=True, text=True, check=True).stdout.strip())
        yield Cluster(kubeconfig=Path(started.stdout.split()[-1]), bin_dir=bin_dir, node=Node(state=STATE))
    finally:
        subprocess.run(["bash", str(TOOLS / "stop")], capture_output=True, timeout=600)


@contextlib.contextmanager
def deployed_stack(cluster: Cluster, settings: dict[str, str]) -> Iterator[tuple[Deployed, float]]:
    """The cluster stack deployed with ``settings`` (sessionstack:<key>), and `pulumi up`'s
    seconds; `pulumi destroy` afterwards. A failed `pulumi up` raises with its output."""
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        start = time.monotonic()
        stack = deploy(cluster, build_engine(), Path(tmp), settings)
        took = time.monotonic() - start
        try:
            if stack.up.returncode != 0:
                raise RuntimeError(f"pulumi up failed:\n{stack.up}")
            yield stack, took
        finally:
            stack.pulumi("destroy", "--yes")
