"""python -m verify as a user runs it: output, exit codes, JSON, progress, rolling restart."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from demo_server import DemoStack

ROOT = Path(__file__).resolve().parents[2]
FAKE_KUBECTL = Path(__file__).resolve().parent / "fake_kubectl.py"


def run_verify(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "verify", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_healthy_stack_exits_0_with_readable_report():
    with DemoStack(pods=3) as stack:
        done = run_verify(stack.url, "-n", "6", "-m", "4", "-c", "1", "--min-pods", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.splitlines()[0] == f"sessionstack verify: {stack.url}/session-demo/"
    assert "6 sessions x 4 requests: 24 requests" in out
    assert "PASS  sessions lost" in out
    assert "info  affinity         none: every session moved between pods" in out
    assert out.rstrip().endswith("VERDICT: PASS - every session survived")
    assert done.stderr == ""  # not a TTY, no --progress: no progress bar


def test_lost_sessions_exit_1_and_name_the_failure():
    with DemoStack(pods=2, store="per-pod") as stack:
        done = run_verify(stack.url, "-n", "4", "-m", "3", "-c", "1")
    assert done.returncode == 1
    assert "FAIL  sessions lost" in done.stdout
    assert "4 of 4 sessions replaced or restarted" in done.stdout
    assert "VERDICT: FAIL - sessions lost" in done.stdout
    assert "user 0: request 2 (pod demo-0-" in done.stdout


def test_json_output_is_machine_readable():
    with DemoStack(pods=2, reset_every=2) as stack:
        done = run_verify(stack.url, "-n", "3", "-m", "3", "--json")
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["passed"] is False
    assert data["total_requests"] == 9
    assert len(data["lost_sessions"]) == 3
    assert {c["name"] for c in data["checks"]} >= {"sessions lost", "counters", "failed requests",
                                                   "pods seen", "affinity"}
    assert set(data["latency_ms"]) == {"p50", "p90", "p99", "max"}


def test_progress_on_request():
    with DemoStack() as stack:
        done = run_verify(stack.url, "-n", "2", "-m", "3", "--progress")
    assert done.returncode == 0
    assert "6/6 requests, 0 failed" in done.stderr


def test_usage_errors_exit_2():
    assert run_verify("not-a-url").returncode == 2
    assert run_verify("http://127.0.0.1:9", "-n", "0").returncode == 2
    assert run_verify("http://127.0.0.1:9", "-H", "nocolon").returncode == 2
    done = run_verify("http://127.0.0.1:9", "--rollout", "Bad_Name")
    assert done.returncode == 2 and "deployment must be a Kubernetes object name" in done.stderr


def _rollout(tmp_path, stack, *extra, fail=False):
    log = tmp_path / "kubectl.log"
    env = {"FAKE_KUBECTL_LOG": str(log), "FAKE_KUBECTL_STACK": stack.url}
    if fail:
        env["FAKE_KUBECTL_FAIL"] = "1"
    done = run_verify(stack.url, "-n", "4", "-m", "3", "--interval", "0.02", "--rollout", "web",
                      "-N", "shop", "--kubectl", str(FAKE_KUBECTL), "--json", *extra, env=env)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, json.loads(done.stdout), calls


def test_rollout_with_shared_sessions_passes(tmp_path):
    with DemoStack(pods=2, store="shared", rollout_step_s=0.2) as stack:
        done, data, calls = _rollout(tmp_path, stack, "--context", "kind-x")
    assert done.returncode == 0, data["checks"]
    assert calls[0] == ["--context", "kind-x", "rollout", "restart", "deployment/web", "-n", "shop"]
    assert calls[1][:7] == ["--context", "kind-x", "rollout", "status", "deployment/web", "-n", "shop"]
    assert data["rollout"]["ok"] is True
    # every pod was replaced, and the sessions were checked after that
    assert any(p.startswith("demo-1-r") for p in data["pods"])
    assert data["total_requests"] > 4 * 3


def test_rollout_with_sticky_in_memory_sessions_loses_them(tmp_path):
    # The field report's stopgap: affinity keeps users on a pod until the pod goes away.
    with DemoStack(pods=2, store="per-pod", routing="sticky", rollout_step_s=0.2) as stack:
        done, data, _ = _rollout(tmp_path, stack)
    assert done.returncode == 1
    assert data["rollout"]["ok"] is True
    assert len(data["lost_sessions"]) == 4


def test_rollout_command_failure_fails_the_check(tmp_path):
    with DemoStack(pods=2) as stack:
        done, data, _ = _rollout(tmp_path, stack, fail=True)
    assert done.returncode == 1
    assert data["rollout"]["ok"] is False
    assert "NotFound" in data["rollout"]["detail"]
