"""bench/cpu_use.py: the machine's busy time and a pod's cgroup CPU, on files shaped like the
kernel's (cgroup v1 and v2 layouts below the node's cgroup root)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from cpu_use import busy_s, cgroup_cpu_s, cpu_used, is_jit, pod_cgroup, thread_cpu  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")


def test_busy_time_leaves_out_idle_and_iowait():
    stat = f"cpu  {HZ} 0 {HZ} {50 * HZ} {7 * HZ} 0 {HZ} 0 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
    assert busy_s(stat) == 3.0


def test_a_pod_is_found_by_uid_in_either_cgroup_layout(tmp_path):
    v1 = tmp_path / "cpuacct/sessionstack-node/kubepods/burstable/pod1234"
    v1.mkdir(parents=True)
    (v1 / "cpuacct.usage").write_text("2500000000\n")
    v2 = tmp_path / "sessionstack-node/kubepods/pod5678"
    v2.mkdir(parents=True)
    (v2 / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n")
    assert cgroup_cpu_s(pod_cgroup("1234", "/sessionstack-node", tmp_path)) == 2.5
    assert cgroup_cpu_s(pod_cgroup("5678", "/sessionstack-node", tmp_path)) == 1.5
    with pytest.raises(FileNotFoundError, match="no cgroup for pod 9999"):
        pod_cgroup("9999", "/sessionstack-node", tmp_path)


def test_with_no_pod_the_machine_is_measured_over_the_block():
    with cpu_used([], "/sessionstack-node") as cpu:
        sum(i * i for i in range(300_000))  # some CPU of this process's own
    assert cpu["pods_s"] == 0 and cpu["wall_s"] > 0 and 0 < cpu["machine_busy_s"] <= cpu["wall_s"] * cpu["cores"] * 1.05


def test_a_threads_cpu_and_whether_it_is_the_jit():
    stat = f"4242 (C2 CompilerThre) S 1 1 1 0 -1 4194368 0 0 0 0 {3 * HZ} {HZ} 0 0 20 0 30 0 100 0 0\n"
    assert thread_cpu(stat) == ("C2 CompilerThre", 4.0)
    assert is_jit("C1 CompilerThre") and not is_jit("default task-12")
    assert thread_cpu(f"7 (a (b) c) R 1 {' '.join(['0'] * 9)} {HZ} 0 0")[0] == "a (b) c"  # a name with parentheses
