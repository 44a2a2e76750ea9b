"""CPU time spent while a bench's load runs: the whole machine's and the serving pods' own.

On a machine whose cores the client, the node and the servers share, requests/s is bounded by the
CPU each request costs: if the cores are busy all through a run, requests/s is about
cores / (CPU per request). Measuring both in the same run turns a throughput ratio into its
explanation: a configuration that costs more CPU per request cannot serve more on the same cores.

- the machine: busy time from /proc/stat (every field but idle and iowait), over all cores;
- a pod: its cgroup's CPU usage (cgroup v1 ``cpuacct.usage``, v2 ``cpu.stat`` usage_usec), found
  by the pod's UID below the node's cgroup root (tools/cluster: the kubelet's ``--cgroup-root``);
- the JIT: the CPU of the pods' JVM compiler threads (HotSpot names them ``C1 CompilerThreadN``
  and ``C2 CompilerThreadN``, cut to 15 characters in /proc/PID/task/TID/stat), so that a figure
  taken while the JVMs still compile says how much of it was compiling.
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


def thread_cpu(stat: str) -> tuple[str, float]:
    """(name, CPU seconds) of a thread from the text of /proc/PID/task/TID/stat."""
    name = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    return name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def is_jit(thread_name: str) -> bool:
    return thread_name.startswith(("C1 CompilerThre", "C2 CompilerThre"))


def pods_jit_s(pod_uids: list[str], cgroup_root: str) -> float:
    """The CPU seconds the pods' JIT compiler threads have used, together (threads that ended
    are not counted: HotSpot keeps its compiler threads for the JVM's life, unless it is told to
    shrink them)."""
    total = 0.0
    for uid in pod_uids:
        for procs in pod_cgroup(uid, cgroup_root).rglob("cgroup.procs"):
            for pid in procs.read_text().split():
                for task in Path(f"/proc/{pid}/task").glob("*/stat"):
                    with contextlib.suppress(OSError):  # a thread that ended meanwhile
                        name, cpu = thread_cpu(task.read_text())
                        total += cpu if is_jit(name) else 0.0
    return total


@contextlib.contextmanager
def cpu_used(pod_uids: list[str], cgroup_root: str) -> Iterator[dict]:
    """While the block runs: fills the yielded dict, at its end, with wall_s, machine_busy_s
    (all cores), cores, pods_s (the pods' CPU together) and jit_s (their JIT compilers' part)."""
    def sample() -> tuple[float, float, float, float]:
        return (time.monotonic(), busy_s(Path("/proc/stat").read_text()), pods_cpu_s(pod_uids, cgroup_root),
                pods_jit_s(pod_uids, cgroup_root))

    out: dict = {}
    start = sample()
    yield out
    end = sample()
    out.update(wall_s=end[0] - start[0], machine_busy_s=end[1] - start[1], pods_s=end[2] - start[2], jit_s=end[3] - start[3],
               cores=os.cpu_count())
