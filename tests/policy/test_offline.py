"""The whole pack on every stack of this project (offline, under mocks), and the policy config
(enforcement per stack) resolved the way the engine resolves ``--policy-pack-config``."""

from __future__ import annotations

import json

import pytest
from pulumi_policy import EnforcementLevel

from offline import mockrun
from policy.offline import declared_from_run, evaluate, evaluate_stack, render
from policy.pack import (
    ALWAYS_ADVISORY,
    CONFIG_DIR,
    PolicyConfigError,
    DEFAULT_ENFORCEMENT,
    build_policies,
    load_config_file,
    parse_config,
    resolve_config,
)

STRICT = {"all": "mandatory", "session-affinity-is-not-failover": "advisory"}


@pytest.mark.parametrize("stack", mockrun.stacks())
def test_project_stack_has_no_mandatory_violation(stack, tmp_path):
    report = evaluate_stack(stack)
    print(render(report))
    assert report.mandatory == [], render(report)
    # Not vacuous: the session rules looked at the stack's WildFly, the image rule at every workload.
    assert report.applied.get("sessions-need-a-strategy") == 1
    assert report.applied.get("images-are-pinned", 0) >= 2
    if report.types.get("aws:lb/targetGroup:TargetGroup"):
        assert report.applied.get("alb-target-group-stickiness") == 1
    if report.types.get("aws:elasticache/replicationGroup:ReplicationGroup"):
        assert report.applied.get("elasticache-auth-and-tls") == 1
    if report.types.get("kubernetes:apps/v1:StatefulSet"):
        assert report.applied.get("statefulset-headless-service") == 1
    # And with every rule mandatory the stack is still clean.
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps(STRICT))
    strict_report = evaluate_stack(stack, config_file=strict)
    assert strict_report.mandatory == [], render(strict_report)


REDIS_SESSIONS = {"wildfly.sessionBackend": "redis", "wildfly.demoApp": "false", "wildfly.image": "ghcr.io/example/spring-session-demo:1.0.0"}
VARIANTS = [
    ("dev", {"wildfly.discovery": "dns_ping"}, {"jgroups-advertises-pod-ip", "sessions-need-a-strategy"}),
    ("dev", {"routing.implementation": "ingress-nginx"}, {"kube-ping-needs-rbac", "sessions-need-a-strategy"}),
    ("local", {**REDIS_SESSIONS, "redis.backend": "kubernetes"}, {"redis-password-from-secret", "redis-stays-private", "statefulset-headless-service"}),
    ("eks", REDIS_SESSIONS, {"elasticache-auth-and-tls", "alb-target-group-stickiness", "ha-minimums"}),
    ("eks", {**REDIS_SESSIONS, "redis.backend": "kubernetes"}, {"redis-password-from-secret", "statefulset-headless-service", "ha-minimums"}),
    ("dev", {**REDIS_SESSIONS, "redis.mode": "cluster"}, {"redis-password-from-secret", "redis-stays-private", "statefulset-headless-service", "redis-replicas-need-failover"}),
    ("eks", {**REDIS_SESSIONS, "redis.mode": "cluster"}, {"elasticache-auth-and-tls", "ha-minimums"}),
]


@pytest.mark.parametrize("stack, overrides, applied", VARIANTS, ids=[f"{s}-{'-'.join(o)}" for s, o, _ in VARIANTS])
def test_project_variants_are_clean_with_every_rule_mandatory(stack, overrides, applied, tmp_path):
    """The program's other documented choices (Redis sessions, DNS_PING, ingress-nginx) pass too."""
    run = mockrun.run_stack(stack, overrides=overrides)
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps({**STRICT, "ha-minimums": {"production": True}}))
    report = evaluate(declared_from_run(run), stack, strict)
    assert report.mandatory == [], render(report)
    assert applied <= set(report.applied), report.not_applicable


def test_eks_stack_runs_mandatory_with_the_ha_minimums():
    report = evaluate_stack("eks")
    assert report.levels["images-are-pinned"] == "mandatory"
    assert report.levels["session-affinity-is-not-failover"] == "advisory"
    assert report.applied.get("ha-minimums") == 1
    assert report.applied.get("alb-target-group-stickiness") == 1


def test_every_stack_has_a_policy_config_and_no_config_is_orphaned():
    assert {p.stem for p in CONFIG_DIR.glob("*.json")} == set(mockrun.stacks())


@pytest.mark.parametrize("stack, level, production", [("local", "advisory", False), ("dev", "advisory", False), ("cluster", "mandatory", False), ("eks", "mandatory", True)])
def test_stack_config_files(stack, level, production):
    resolved = resolve_config(build_policies(), DEFAULT_ENFORCEMENT, load_config_file(CONFIG_DIR / f"{stack}.json"))
    for name, entry in resolved.items():
        expected = "advisory" if name in ALWAYS_ADVISORY else level
        assert entry.level.value == expected, name
    assert resolved["ha-minimums"].properties["production"] is production


def test_resolution_order_matches_the_engine():
    defaults = resolve_config(build_policies(), DEFAULT_ENFORCEMENT, None)
    assert defaults["images-are-pinned"].level is EnforcementLevel.MANDATORY
    assert defaults["session-affinity-is-not-failover"].level is EnforcementLevel.ADVISORY  # its own level
    assert defaults["ha-minimums"].properties == {"production": True}  # schema default
    config = parse_config({"all": "disabled", "images-are-pinned": "mandatory", "ha-minimums": {"minReplicas": 3}})
    resolved = resolve_config(build_policies(), DEFAULT_ENFORCEMENT, config)
    assert resolved["images-are-pinned"].level is EnforcementLevel.MANDATORY
    assert resolved["session-affinity-is-not-failover"].level is EnforcementLevel.DISABLED  # "all" overrides it
    assert resolved["ha-minimums"].level is EnforcementLevel.DISABLED
    assert resolved["ha-minimums"].properties == {"production": True, "minReplicas": 3}


@pytest.mark.parametrize(
    "config, expected",
    [
        ({"images-are-pined": "mandatory"}, "does not have: ['images-are-pined']"),
        ({"all": "blocking"}, "'blocking' is not an enforcement level"),
        ({"ha-minimums": {"production": "yes"}}, "ha-minimums: 'yes' is not of type 'boolean'"),
        ({"ha-minimums": {"minReplicas": 1}}, "1 is less than the minimum of 2"),
        ({"images-are-pinned": {"enforcementLevel": "mandatory", "x": 1}}, "takes no properties"),
        ({"images-are-pinned": 3}, "must be an enforcement level string or an object"),
    ],
)
def test_invalid_config_is_refused(config, expected):
    with pytest.raises(PolicyConfigError) as err:
        resolve_config(build_policies(), DEFAULT_ENFORCEMENT, parse_config(config))
    assert expected in str(err.value)
