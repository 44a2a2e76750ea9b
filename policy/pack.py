"""The pack's policies, their default enforcement, and policy config as the engine resolves it.

The pack is strict by default: every policy ``mandatory`` (except ALWAYS_ADVISORY) and
``ha-minimums`` with ``production: true``, whatever the stack. A stack relaxes that with its own
config file (``pulumi preview --policy-pack policy --policy-pack-config
policy/config/<stack>.json``; the offline runner reads the same file): local and dev are advisory,
cluster is mandatory without the production HA minimums. A stack without a file fails closed.

Why not defaults that follow the stack's name: the engine (pulumi 3.259) tells a pack started
through a language host its stack only in the ConfigureStack call, which pulumi-policy 1.21
does not expose, so a pack would have to serve pulumi-policy's private analyzer class to learn it
(this project did so until 1.2.0); and a name rule (eks, prod-*) misses the production stack
that is named otherwise.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from pulumi_policy import EnforcementLevel, Policy, ResourceValidationPolicy, StackValidationPolicy

from policy.alb import alb_target_group_stickiness
from policy.jgroups import jgroups_advertises_pod_ip, kube_ping_needs_rbac
from policy.store import elasticache_auth_and_tls, redis_password_from_secret, redis_replicas_need_failover, redis_stays_private
from policy.sessions import (
    session_affinity_is_not_failover, sessions_need_a_strategy, web_sessions_without_file_store,
    web_sessions_without_request_controller,
)
from policy.workloads import ha_minimums, images_are_pinned, statefulset_headless_service

PACK_NAME = "sessionstack-sessions"
DESCRIPTION = "Catches the mistakes that lose HTTP sessions when session-holding apps move to Kubernetes and AWS."
PACK_DIR = Path(__file__).resolve().parent
CONFIG_DIR = PACK_DIR / "config"
DEFAULT_ENFORCEMENT = EnforcementLevel.MANDATORY
"""The pack's level for every policy without its own (all but ALWAYS_ADVISORY)."""

ALWAYS_ADVISORY = frozenset({"session-affinity-is-not-failover", "web-sessions-without-file-store",
                             "web-sessions-without-request-controller", "redis-replicas-need-failover"})
"""Policies that are advisory by default (a config file can still raise them)."""


def build_policies() -> list[Policy]:
    """Every policy of the pack, in README order, with the pack's (strict) default levels.

    Fresh objects each call, so that a caller that changes a level changes only its own copy.
    """
    policies: list[Policy] = [
        copy.copy(p)
        for p in (
            jgroups_advertises_pod_ip,
            kube_ping_needs_rbac,
            sessions_need_a_strategy,
            session_affinity_is_not_failover,
            web_sessions_without_file_store,
            web_sessions_without_request_controller,
            alb_target_group_stickiness,
            redis_password_from_secret,
            redis_stays_private,
            redis_replicas_need_failover,
            elasticache_auth_and_tls,
            statefulset_headless_service,
            images_are_pinned,
            ha_minimums,
        )
    ]
    for policy in policies:
        policy.enforcement_level = EnforcementLevel.ADVISORY if policy.name in ALWAYS_ADVISORY else DEFAULT_ENFORCEMENT
    return policies


# --------------------------------------------------------------------------------------------
# Policy config (what `--policy-pack-config FILE` does in the engine)
# --------------------------------------------------------------------------------------------


class PolicyConfigError(ValueError):
    """A policy config file the engine would refuse (or that names a policy this pack lacks)."""


@dataclass(frozen=True)
class Resolved:
    level: EnforcementLevel
    properties: dict[str, Any]


_LEVELS = {level.value: level for level in EnforcementLevel}


def _parse_level(value: Any, where: str) -> EnforcementLevel:
    if not isinstance(value, str) or value not in _LEVELS:
        raise PolicyConfigError(f"{where}: {value!r} is not an enforcement level; use one of {sorted(_LEVELS)}")
    return _LEVELS[value]


def parse_config(data: Any, source: str = "policy config") -> dict[str, tuple[EnforcementLevel | None, dict[str, Any]]]:
    """The engine's policy-pack config format: {policy: level | {enforcementLevel?, ...properties}}."""
    if not isinstance(data, dict):
        raise PolicyConfigError(f"{source}: expected a JSON object of policy names, got {type(data).__name__}")
    parsed = {}
    for name, value in data.items():
        if isinstance(value, str):
            parsed[name] = (_parse_level(value, f"{source}: {name}"), {})
        elif isinstance(value, dict):
            props = dict(value)
            level = _parse_level(props.pop("enforcementLevel"), f"{source}: {name}.enforcementLevel") if "enforcementLevel" in props else None
            parsed[name] = (level, props)
        else:
            raise PolicyConfigError(f"{source}: {name}: must be an enforcement level string or an object, got {value!r}")
    return parsed


def load_config_file(path: Path) -> dict[str, tuple[EnforcementLevel | None, dict[str, Any]]]:
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PolicyConfigError(f"{path}: not valid JSON: {exc}") from exc
    return parse_config(data, str(path))


def _check_schema(policy: Policy, properties: dict[str, Any]) -> None:
    schema = policy.config_schema
    if schema is None:
        if properties:
            raise PolicyConfigError(f"{policy.name}: takes no properties, got {sorted(properties)}")
        return
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema comes with kubernetes-validate
        return
    document = {"type": "object", "properties": schema.properties}
    if schema.required:
        document["required"] = schema.required
    errors = sorted(e.message for e in jsonschema.Draft7Validator(document).iter_errors(properties))
    if errors:
        raise PolicyConfigError(f"{policy.name}: {'; '.join(errors)}")


def resolve_config(
    policies: list[Policy],
    pack_default: EnforcementLevel,
    config: Mapping[str, tuple[EnforcementLevel | None, dict[str, Any]]] | None,
) -> dict[str, Resolved]:
    """Effective level and properties per policy: defaults, then "all", then per-policy entries."""
    names = {p.name for p in policies}
    unknown = sorted(set(config or {}) - names - {"all"})
    if unknown:
        raise PolicyConfigError(f"policy config names policies this pack does not have: {unknown}; policies: {sorted(names)}")
    result: dict[str, Resolved] = {}
    for policy in policies:
        defaults = {}
        if policy.config_schema is not None:
            defaults = {k: v["default"] for k, v in policy.config_schema.properties.items() if "default" in v}
        result[policy.name] = Resolved(policy.enforcement_level or pack_default, defaults)
    if config:
        all_level = config.get("all", (None, {}))[0]
        if all_level is not None:
            result = {name: Resolved(all_level, r.properties) for name, r in result.items()}
        for name, (level, props) in config.items():
            if name == "all":
                continue
            current = result[name]
            result[name] = Resolved(level or current.level, {**current.properties, **props})
    for policy in policies:
        _check_schema(policy, result[policy.name].properties)
    return result


def policy_types(policies: list[Policy]) -> dict[str, str]:
    return {p.name: "stack" if isinstance(p, StackValidationPolicy) else "resource" for p in policies if isinstance(p, (StackValidationPolicy, ResourceValidationPolicy))}
