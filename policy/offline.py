"""Run the policy pack on a stack of this project without the Pulumi engine.

    python -m policy.offline --stack eks              # one stack
    python -m policy.offline --stack local --stack dev --stack eks --json
    python -m policy.offline --stack dev --program tests/policy/broken/jgroups_wildcard_bind.py

The program (``__main__.py``, or ``--program``) runs under Pulumi mocks with
``config/Pulumi.<stack>.yaml`` (offline/mockrun.py). Every resource then goes through every
resource policy with a real ``ResourceValidationArgs`` (its inputs, as the engine's Analyze call
gets them), and every stack policy gets a real ``StackValidationArgs`` with all resources (their
mocked outputs, as AnalyzeStack gets them). Enforcement levels and policy properties are resolved
from ``policy/config/<stack>.json`` (or ``--config``) the way the engine resolves
``--policy-pack-config``.

Exit status: 0 when no mandatory violation, 1 when there is one, 2 when the program or the
policy config cannot be evaluated.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policy.pack import (
    CONFIG_DIR,
    PACK_NAME,
    PolicyConfigError,
    DEFAULT_ENFORCEMENT,
    build_policies,
    load_config_file,
    resolve_config,
)
from policy.props import NotApplicable


class PolicyCrash(RuntimeError):
    """A rule raised: the engine would fail the preview; the runner exits with status 2."""


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    message: str
    urn: str
    resource_type: str = ""


@dataclass
class Report:
    stack: str
    resources: int
    config_file: str | None
    levels: dict[str, str]
    violations: list[Violation] = field(default_factory=list)
    not_applicable: dict[str, list[str]] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)
    """Per policy: how many validations ran to the end (resources, or 1 for a stack policy)."""
    types: dict[str, int] = field(default_factory=dict)
    """Declared resources per type token."""

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == EnforcementLevel.MANDATORY.value]

    @property
    def advisory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == EnforcementLevel.ADVISORY.value]

    def by_policy(self, name: str) -> list[Violation]:
        return [v for v in self.violations if v.policy == name]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "pack": PACK_NAME,
            "resources": self.resources,
            "configFile": self.config_file,
            "levels": self.levels,
            "violations": [asdict(v) for v in self.violations],
            "notApplicable": {k: sorted(set(v)) for k, v in self.not_applicable.items()},
            "applied": self.applied,
            "types": self.types,
            "mandatory": len(self.mandatory),
            "advisory": len(self.advisory),
        }


@dataclass(frozen=True)
class Declared:
    """One declared resource, whatever recorded it (offline/mockrun.RecordedResource, or a test)."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent_urn: str = ""
    dependencies: tuple[str, ...] = ()
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)


def declared_from_run(run: Any) -> list[Declared]:
    """Adapts a mockrun StackRun: inputs, the mocks' outputs, parents and dependencies."""
    return [
        Declared(
            type=rec.type,
            name=rec.name,
            urn=rec.urn,
            inputs=rec.inputs,
            outputs=rec.outputs,
            parent_urn=rec.parent_urn,
            dependencies=rec.dependencies,
            property_dependencies=dict(rec.property_dependencies),
        )
        for rec in run.resources
    ]


def _options(parent: str) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent or None,
    )


def resource_args(item: Declared, config: dict[str, Any] | None = None) -> ResourceValidationArgs:
    """What the engine's Analyze call builds for one resource: its inputs behind the proxy."""
    props = unknown_checking_proxy(copy.deepcopy(item.inputs))
    return ResourceValidationArgs(item.type, props, item.urn, item.name, _options(item.parent_urn), None, config, {})


def stack_resources(items: Iterable[Declared]) -> list[PolicyResource]:
    """What AnalyzeStack builds: every resource's outputs, with parent and dependencies linked."""
    items = list(items)
    built: dict[str, PolicyResource] = {}
    for item in items:
        props = unknown_checking_proxy(copy.deepcopy(item.outputs))
        built[item.urn] = PolicyResource(item.type, props, item.urn, item.name, _options(item.parent_urn), None, None, [], {})
    for item in items:
        resource = built[item.urn]
        resource.parent = built.get(item.parent_urn)
        resource.dependencies = [built[u] for u in item.dependencies if u in built]
        resource.property_dependencies = {k: [built[u] for u in v if u in built] for k, v in item.property_dependencies.items()}
    return list(built.values())


def evaluate(
    items: Sequence[Declared],
    stack: str,
    config_file: Path | None = None,
) -> Report:
    """Every policy of the pack on ``items``, with the levels of ``config_file`` (or the pack's
    strict defaults)."""
    policies = build_policies()
    config = load_config_file(config_file) if config_file else None
    resolved = resolve_config(policies, DEFAULT_ENFORCEMENT, config)
    report = Report(
        stack=stack,
        resources=len(items),
        config_file=str(config_file) if config_file else None,
        levels={name: r.level.value for name, r in resolved.items()},
    )
    stack_view = stack_resources(items)
    types = {item.urn: item.type for item in items}
    for item in items:
        report.types[item.type] = report.types.get(item.type, 0) + 1
    for policy in policies:
        level = resolved[policy.name].level
        if level is EnforcementLevel.DISABLED:
            continue
        if level is EnforcementLevel.REMEDIATE:
            level = EnforcementLevel.MANDATORY  # what the analyzer reports for a violated remediation policy
        props = dict(resolved[policy.name].properties) or None
        if isinstance(policy, ResourceValidationPolicy):
            for item in items:
                # As in the engine, a resource policy's violations always belong to the resource.
                _run(policy, resource_args(item, props), _collector(report, policy.name, level, item.urn, types), report)
        elif isinstance(policy, StackValidationPolicy):
            _run(policy, StackValidationArgs(stack_view, props, {}), _collector(report, policy.name, level, None, types), report)
    return report


def _collector(report: Report, policy: str, level: EnforcementLevel, fixed_urn: str | None, types: dict[str, str]) -> Any:
    def report_violation(message: str, urn: str | None = None) -> None:
        where = fixed_urn or urn or ""
        report.violations.append(Violation(policy, level.value, message, where, types.get(where, "")))

    return report_violation


def _run(policy: Any, args: Any, report_violation: Any, report: Report) -> None:
    try:
        policy.validate(args, report_violation)
        report.applied[policy.name] = report.applied.get(policy.name, 0) + 1
    except NotApplicable as exc:
        report.not_applicable.setdefault(policy.name, []).append(exc.reason or "")
    except Exception as exc:
        target = getattr(args, "urn", "the stack")
        raise PolicyCrash(f"policy {policy.name} failed on {target}: {exc!r}") from exc


def default_config_file(stack: str) -> Path | None:
    path = CONFIG_DIR / f"{stack}.json"
    return path if path.is_file() else None


def evaluate_stack(
    stack: str,
    config_file: Path | None = None,
    program: Path | None = None,
    program_config: dict[str, str] | None = None,
) -> Report:
    """Runs the project's program (or ``program``) for ``stack`` under mocks, then the pack.

    The program gets config/Pulumi.<stack>.yaml unless ``program_config`` is given; the policy
    config is ``config_file`` or policy/config/<stack>.json.
    """
    from offline import mockrun

    stack_config = mockrun.load_stack_config(stack) if program_config is None else dict(program_config)
    main_program = program.resolve() if program is not None else None
    run = mockrun.run_program(stack, stack_config, program=main_program)
    items = declared_from_run(run)
    config_file = config_file if config_file is not None else default_config_file(stack)
    return evaluate(items, stack, config_file)


def render(report: Report) -> str:
    lines = [
        f"policy: stack {report.stack}: {report.resources} resources, {len(report.levels)} policies, "
        f"config {report.config_file or '(pack defaults)'}"
    ]
    for violation in sorted(report.violations, key=lambda v: (v.level != "mandatory", v.policy)):
        lines.append(f"  [{violation.level}] {violation.policy}: {violation.message}")
        if violation.urn:
            lines.append(f"      at {violation.urn}")
    lines.append(f"policy: stack {report.stack}: {len(report.mandatory)} mandatory, {len(report.advisory)} advisory violation(s)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from offline import mockrun

    parser = argparse.ArgumentParser(prog="python -m policy.offline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", action="append", required=True, help="stack name (config/Pulumi.<stack>.yaml); repeatable")
    parser.add_argument("--config", type=Path, help="policy config JSON (default: policy/config/<stack>.json)")
    parser.add_argument("--program", type=Path, help="program to run instead of the project's __main__.py")
    parser.add_argument("--json", action="store_true", help="print one JSON report per stack")
    options = parser.parse_args(argv)
    known = mockrun.stacks()
    for stack in options.stack:
        if stack not in known:
            parser.error(f"unknown stack {stack!r}; this project has {known}")
    reports = []
    for stack in options.stack:
        try:
            reports.append(evaluate_stack(stack, options.config, options.program))
        except (PolicyConfigError, PolicyCrash, OSError) as exc:
            print(f"policy: stack {stack}: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:  # noqa: BLE001 - the program itself failed under mocks
            print(f"policy: stack {stack}: the program failed under mocks: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
    if options.json:
        print(json.dumps([r.to_json() for r in reports], indent=2, sort_keys=True))
    else:
        print("\n".join(render(r) for r in reports))
    return 1 if any(r.mandatory for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
