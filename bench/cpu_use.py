"""CPU time spent while a bench's load runs: the whole machine's and the serving pods' own.

On a machine whose cores the client, the node and the servers share, requests/s is bounded by the
CPU each request costs: if the cores are busy all through a run, requests/s is about
cores / (CPU per request). Measuring both in the same run turns a throughput ratio into its
explanation: a configuration that costs more CPU per request cannot serve more on the same cores.

- the machine: busy time from /proc/stat (every field but idle and iowait), over all cores;
- a pod: its cgroup's CPU usage (cgroup v1 ``cpuacct.usage``, v2 ``cpu.stat`` usage_usec), found
  by the pod's UID below the node's cgroup root (tools/cluster: the kubelet's ``--cgroup-root``).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Iterator

CGROUP_FS = Path("/sys/fs/cgroup")


def busy_s(proc_stat: str) -> float:
    """The machine's busy CPU seconds, all cores together, from the text of /proc/stat."""
    fields = [int(x) for x in proc_stat.splitlines()[0].split()[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def cgroup_cpu_s(directory: Path) -> float:
    """CPU seconds a cgroup used: v1's cpuacct.usage (ns) or v2's cpu.stat usage_usec."""
    if (directory / "cpuacct.usage").exists():
        return int((directory / "cpuacct.usage").read_text()) / 1e9
    stat = dict(line.split() for line in (directory / "cpu.stat").read_text().splitlines())
    return int(stat["usage_usec"]) / 1e6


def pod_cgroup(uid: str, cgroup_root: str, fs: Path = CGROUP_FS) -> Path:
    """The pod's cgroup directory with CPU accounting (v1's cpuacct hierarchy, else v2's)."""
    root = cgroup_root.strip("/")
    for base in (fs / "cpuacct" / root, fs / root):  # v1, v2
        found = sorted(p for pattern in (f"kubepods/pod{uid}", f"kubepods/*/pod{uid}") for p in base.glob(pattern))
        if found:
            return found[0]
    raise FileNotFoundError(f"no cgroup for pod {uid} below {fs}/{{cpuacct/,}}{root}/kubepods")


def pods_cpu_s(pod_uids: list[str], cgroup_root: str) -> float:
    """The CPU seconds the pods have used since they were created, together."""
    return sum(cgroup_cpu_s(pod_cgroup(uid, cgroup_root)) for uid in pod_uids)


@contextlib.contextmanager
def cpu_used(pod_uids: list[str], cgroup_root: str) -> Iterator[dict]:
    """While the block runs: fills the yielded dict, at its end, with wall_s, machine_busy_s
    (all cores), cores, and pods_s (the pods' CPU together)."""
    def sample() -> tuple[float, float, float]:
        return time.monotonic(), busy_s(Path("/proc/stat").read_text()), pods_cpu_s(pod_uids, cgroup_root)

    out: dict = {}
    start = sample()
    yield out
    end = sample()
    out.update(wall_s=end[0] - start[0], machine_busy_s=end[1] - start[1], pods_s=end[2] - start[2], cores=os.cpu_count())
