"""The whole pack against deliberately broken programs modelled on the field reports' failures.

Each program in tests/policy/broken/ is a real Pulumi program (run under mocks through
offline/mockrun.py, like the project's own stacks) with one mistake. The pack must report that
mistake through the right rule, and nothing else: ``ok.py``, the same building blocks without a
mistake, proves that every other rule stays quiet on them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from policy.offline import evaluate_stack

ROOT = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).resolve().parent / "broken"

# program -> (rules that must fire, facts each message must state)
EXPECTED: dict[str, tuple[set[str], list[str]]] = {
    "jgroups_wildcard_bind": ({"jgroups-advertises-pod-ip"}, ["-bprivate=0.0.0.0", "singleton cluster", "$(POD_IP)"]),
    "kube_ping_default_service_account": ({"kube-ping-needs-rbac"}, ["default ServiceAccount", "403 Forbidden"]),
    "kube_ping_cluster_role": ({"kube-ping-needs-rbac"}, ["cluster-wide grant", "ClusterRole was-pod-reader"]),
    "in_memory_round_robin": ({"sessions-need-a-strategy"}, ["2 replicas", "Ingress petclinic -> Service petclinic", "login page"]),
    "redis_open_load_balancer": ({"redis-password-from-secret", "redis-stays-private"}, []),
    "statefulset_without_headless": ({"statefulset-headless-service"}, ["'sessions-headless'", "not headless"]),
    "redis_replicas_without_sentinel": ({"redis-replicas-need-failover"}, ["3 Redis pods", "neither Sentinels nor Redis Cluster"]),
    "wildfly_latest": ({"images-are-pinned"}, ["'jboss/wildfly:latest'"]),
    "instance_target_group": ({"alb-target-group-stickiness"}, ["targetType 'instance'", "pins a node, not a pod"]),
    "elasticache_plaintext": ({"elasticache-auth-and-tls"}, ["transitEncryptionEnabled", "no authToken"]),
    "single_wildfly_without_pdb": ({"ha-minimums"}, ["replicas 1 (< 2)", "no PodDisruptionBudget"]),
    "wildfly_default_web_cache": ({"web-sessions-without-file-store", "web-sessions-without-request-controller"},
                                  ["passivating file store", "ISPN000299", "request controller"]),
    "wildfly_request_controller": ({"web-sessions-without-request-controller"}, ["request controller", "never closed"]),
    "ok": (set(), []),
}

OWNER = {
    "jgroups_wildcard_bind": "Deployment::was-deployment",
    "kube_ping_default_service_account": "Deployment::was-deployment",
    "kube_ping_cluster_role": "ClusterRoleBinding::was-pod-reader",
    "in_memory_round_robin": "Deployment::petclinic",
    "statefulset_without_headless": "StatefulSet::sessions",
    "redis_replicas_without_sentinel": "StatefulSet::sessions",
    "wildfly_latest": "Deployment::was-deployment",
    "elasticache_plaintext": "ReplicationGroup::sessions",
    "single_wildfly_without_pdb": "Deployment::was-deployment",
    "wildfly_default_web_cache": "Deployment::was-deployment",
    "wildfly_request_controller": "Deployment::was-deployment",
}
ALWAYS_ADVISORY = {"web-sessions-without-file-store", "web-sessions-without-request-controller", "redis-replicas-need-failover"}
"""Rules that stay advisory on eks too (policy/config/eks.json)."""


def test_every_broken_program_has_an_expectation():
    programs = {p.stem for p in BROKEN.glob("*.py")} - {"baseline"}
    assert programs == set(EXPECTED)


@pytest.mark.parametrize("program", sorted(EXPECTED))
def test_the_right_rule_catches_the_mistake_on_eks(program):
    rules, facts = EXPECTED[program]
    report = evaluate_stack("eks", program=BROKEN / f"{program}.py", program_config={})
    assert report.resources > 0
    assert {v.policy for v in report.violations} == rules, [v.message for v in report.violations]
    assert all(v.level == ("advisory" if v.policy in ALWAYS_ADVISORY else "mandatory") for v in report.violations)
    text = "\n".join(v.message for v in report.violations)
    for fact in facts:
        assert fact in text
    if program in OWNER:
        assert any(v.urn.endswith(OWNER[program]) for v in report.violations)
    for violation in report.violations:
        assert "Fix:" in violation.message


def test_redis_on_a_load_balancer_without_auth_is_caught_twice():
    report = evaluate_stack("eks", program=BROKEN / "redis_open_load_balancer.py", program_config={})
    (auth,) = report.by_policy("redis-password-from-secret")
    (public,) = report.by_policy("redis-stays-private")
    assert "without a password" in auth.message and auth.urn.endswith("StatefulSet::sessions")
    assert "type LoadBalancer" in public.message and public.urn.endswith("Service::sessions-client")


@pytest.mark.parametrize("program", ["jgroups_wildcard_bind", "in_memory_round_robin", "single_wildfly_without_pdb"])
def test_dev_reports_the_same_mistakes_as_advisory(program):
    rules, _ = EXPECTED[program]
    report = evaluate_stack("dev", program=BROKEN / f"{program}.py", program_config={})
    assert all(v.level == "advisory" for v in report.violations)
    assert {v.policy for v in report.violations} == rules - {"ha-minimums"}  # dev is no production stack
    assert report.mandatory == []


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "policy.offline", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_command_line_exit_status_follows_enforcement():
    program = str(BROKEN / "jgroups_wildcard_bind.py")
    eks = _cli("--stack", "eks", "--program", program, "--json")
    assert eks.returncode == 1, eks.stderr
    (report,) = json.loads(eks.stdout)
    assert report["mandatory"] == 1 and report["violations"][0]["policy"] == "jgroups-advertises-pod-ip"
    dev = _cli("--stack", "dev", "--program", program)
    assert dev.returncode == 0, dev.stderr
    assert "[advisory] jgroups-advertises-pod-ip" in dev.stdout and "0 mandatory, 1 advisory" in dev.stdout
    bad_config = ROOT / "policy" / "config" / "does-not-exist.json"
    missing = _cli("--stack", "dev", "--program", program, "--config", str(bad_config))
    assert missing.returncode == 2 and "does-not-exist.json" in missing.stderr
