"""Run a stack's program under Pulumi mocks, without the engine, and keep what it declared.

The tests, the offline policy runner and the benchmarks all evaluate the program through this one
module, so "what the program declares for stack X" has a single definition.  The mock monitor is
the SDK's own; on top of it this module records every registration (with its parent-qualified
URN, like the engine), refuses duplicate URNs as the engine does, and resolves the stack exports.
"""

from __future__ import annotations

import copy
import hashlib
import os
import runpy
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = "sessionstack"


@dataclass(frozen=True)
class RecordedResource:
    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    parent_urn: str
    outputs: dict[str, Any] = field(default_factory=dict)
    """What the mocks answered: the inputs plus the provider-computed fields (ids, ARNs, ...)."""
    dependencies: tuple[str, ...] = ()
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def is_kubernetes_object(self) -> bool:
        return (
            self.type.startswith("kubernetes:")
            and isinstance(self.inputs.get("kind"), str)
            and isinstance(self.inputs.get("apiVersion"), str)
        )


@dataclass
class StackRun:
    stack: str
    resources: list[RecordedResource] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
    secret_exports: set[str] = field(default_factory=set)
    duplicate_urns: list[str] = field(default_factory=list)

    def of_type(self, type_token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_token]

    def kubernetes_objects(self) -> list[dict[str, Any]]:
        """The Kubernetes objects as they would be sent to the API server (apiVersion, kind, ...)."""
        return [copy.deepcopy(r.inputs) for r in self.resources if r.is_kubernetes_object]

    def types(self) -> set[str]:
        return {r.type for r in self.resources}


def _fake_id(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:12]


def _mock_state(type_token: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Plausible provider outputs, so that programs can wire resources together under mocks."""
    state = dict(inputs)
    rid = _fake_id(name)
    if type_token.startswith("aws:"):
        state.setdefault("arn", f"arn:aws:mock:us-east-1:123456789012:{name}")
        state.setdefault("id", f"{name}-{rid}")
    if type_token == "aws:lb/loadBalancer:LoadBalancer":
        state.setdefault("dnsName", f"{name}-{rid}.us-east-1.elb.amazonaws.com")
        state.setdefault("zoneId", "Z35SXDOTRQ7X7K")
    if type_token == "aws:eks/cluster:Cluster":
        state.setdefault("endpoint", f"https://{rid}.gr7.us-east-1.eks.amazonaws.com")
        state.setdefault("certificateAuthority", {"data": "bW9jay1jYQ=="})
        state.setdefault("identities", [{"oidcs": [{"issuer": f"https://oidc.eks.us-east-1.amazonaws.com/id/{rid.upper()}"}]}])
        state["vpcConfig"] = {**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{name}-cluster"}
    if type_token == "aws:elasticache/replicationGroup:ReplicationGroup":
        # As AWS reports them: cluster mode on has a configuration endpoint, no primary endpoint.
        if inputs.get("clusterMode") == "enabled":
            state.setdefault("configurationEndpointAddress", f"clustercfg.{name}.{rid}.use1.cache.amazonaws.com")
        else:
            state.setdefault("primaryEndpointAddress", f"master.{name}.{rid}.use1.cache.amazonaws.com")
        state.setdefault("port", inputs.get("port", 6379))
    if type_token == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        state.setdefault("url", inputs.get("url", "https://oidc.example/id/MOCK"))
    if type_token.startswith("random:"):
        length = int(inputs.get("length", 32))
        state.setdefault("result", ("m0ck" * length)[:length])
    if type_token.startswith("kubernetes:") and isinstance(inputs.get("metadata"), dict):
        metadata = dict(inputs["metadata"])
        metadata.setdefault("name", name)
        state["metadata"] = metadata
    return state


_CALL_ANSWERS: dict[str, dict[str, Any]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": {
        "names": ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"],
        "zoneIds": ["use1-az1", "use1-az2", "use1-az4", "use1-az5", "use1-az6", "use1-az3"],
        "state": "available",
    },
    "aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": "123456789012",
        "arn": "arn:aws:iam::123456789012:user/mock",
        "userId": "MOCK",
    },
    "aws:index/getRegion:getRegion": {"name": "us-east-1", "region": "us-east-1", "id": "us-east-1"},
    "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com"},
}


def _subnets(args: Mapping[str, Any]) -> dict[str, Any]:
    """ec2.getSubnets: an existing cluster's VPC has public and private subnets, told by role tag."""
    tags = args.get("tags") or {}
    if "kubernetes.io/role/elb" in tags:
        return {"ids": ["subnet-pub-a", "subnet-pub-b"], "id": "us-east-1"}
    if "kubernetes.io/role/internal-elb" in tags:
        return {"ids": ["subnet-priv-a", "subnet-priv-b"], "id": "us-east-1"}
    return {"ids": [], "id": "us-east-1"}


def _oidc_provider(args: Mapping[str, Any]) -> dict[str, Any]:
    """iam.getOpenIdConnectProvider by issuer URL (IAM keys providers by host/path, no scheme)."""
    host_path = str(args.get("url", "")).removeprefix("https://")
    return {"arn": f"arn:aws:iam::123456789012:oidc-provider/{host_path}", "url": host_path, "clientIdLists": ["sts.amazonaws.com"], "thumbprintLists": []}


_COMPUTED_CALL_ANSWERS = {
    "aws:ec2/getSubnets:getSubnets": _subnets,
    "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider": _oidc_provider,
}


def _make_mocks_and_monitor(run: StackRun):
    from pulumi.runtime.mocks import MockMonitor, Mocks

    class RecordingMocks(Mocks):
        def new_resource(self, args):  # type: ignore[override]
            state = _mock_state(args.typ, args.name, args.inputs)
            return (f"{args.name}-id" if args.custom else None), state

        def call(self, args):  # type: ignore[override]
            if args.token == "aws:eks/getCluster:getCluster":
                name = args.args.get("name", "existing")
                return {
                    "name": name,
                    "arn": f"arn:aws:eks:us-east-1:123456789012:cluster/{name}",
                    "endpoint": "https://existing.gr7.us-east-1.eks.amazonaws.com",
                    "certificateAuthorities": [{"data": "bW9jay1jYQ=="}],
                    "identities": [{"oidcs": [{"issuer": "https://oidc.eks.us-east-1.amazonaws.com/id/EXISTING"}]}],
                    "vpcConfig": {
                        "vpcId": "vpc-existing",
                        "subnetIds": ["subnet-a", "subnet-b"],
                        "clusterSecurityGroupId": "sg-existing",
                        "securityGroupIds": [],
                    },
                    "version": "1.33",
                }, []
            if args.token in _COMPUTED_CALL_ANSWERS:
                return _COMPUTED_CALL_ANSWERS[args.token](args.args), []
            return copy.deepcopy(_CALL_ANSWERS.get(args.token, {})), []

    class RecordingMonitor(MockMonitor):
        def RegisterResource(self, request):  # noqa: N802 (gRPC name)
            urn = self.make_urn(request.parent, request.type, request.name)
            if request.type != "pulumi:pulumi:Stack" and urn in self.resources:
                # The engine refuses a second registration of the same URN.
                run.duplicate_urns.append(urn)
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                from pulumi.runtime import rpc

                inputs = rpc.deserialize_properties(request.object)
                run.resources.append(
                    RecordedResource(
                        urn=urn,
                        type=request.type,
                        name=request.name,
                        inputs=_plain(inputs),
                        custom=bool(request.custom),
                        parent_urn=request.parent,
                        outputs=_plain(self.resources[urn].state),
                        dependencies=tuple(request.dependencies),
                        property_dependencies={k: tuple(v.urns) for k, v in request.propertyDependencies.items()},
                    )
                )
            return response

    mocks = RecordingMocks()
    return mocks, RecordingMonitor(mocks)


_SECRET_SIG = "4dabf18193072939515e22adb298388d"
"""Key of the wire form of a secret value (``{sig: <secret sig>, "value": ...}``)."""


def _plain(value: Any) -> Any:
    """Deserialized inputs may hold secret wrappers; keep the plain JSON-like data."""
    if isinstance(value, Mapping) and _SECRET_SIG in value:
        return _plain(value.get("value"))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def load_stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    """The `config:` map of config/Pulumi.<stack>.yaml, as the engine hands it to the program."""
    path = project_dir / "config" / f"Pulumi.{stack}.yaml"
    data = yaml.safe_load(path.read_text()) or {}
    values: dict[str, str] = {}
    for key, value in (data.get("config") or {}).items():
        if isinstance(value, dict) and "secure" in value:
            raise ValueError(f"{path}: secure values cannot be evaluated offline ({key})")
        if isinstance(value, bool):
            value = "true" if value else "false"
        values[key] = value if isinstance(value, str) else str(value) if isinstance(value, (int, float)) else yaml.safe_dump(value).strip()
    return values


def stacks(project_dir: Path = PROJECT_DIR) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (project_dir / "config").glob("Pulumi.*.yaml"))


@contextmanager
def _in_project(project_dir: Path) -> Iterator[None]:
    old_cwd, old_path = os.getcwd(), list(sys.path)
    os.chdir(project_dir)
    sys.path.insert(0, str(project_dir))
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path


def run_program(
    stack: str,
    config: Mapping[str, str],
    program: Path | None = None,
    project_dir: Path = PROJECT_DIR,
    project: str = PROJECT,
) -> StackRun:
    """Evaluates ``program`` (default: the project's __main__.py) under mocks with ``config``.

    Config keys may be given with or without the ``<project>:`` prefix. Exceptions raised by
    the program (a SettingsError, say) propagate, carrying what had been declared up to that
    point as ``exc.stack_run``.
    """
    import pulumi
    from pulumi.runtime import settings as runtime_settings
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime.mocks import set_mocks
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    run = StackRun(stack=stack)
    mocks, monitor = _make_mocks_and_monitor(run)
    runtime_settings.ROOT.set(None)
    set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    set_all_config({(k if ":" in k else f"{project}:{k}"): v for k, v in config.items()})
    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()
    main = program or project_dir / "__main__.py"

    async def evaluate() -> None:
        runpy.run_path(str(main), run_name="__main__")
        root = runtime_settings.get_root_resource()
        for key, value in dict(getattr(root, "outputs", {}) or {}).items():
            output = pulumi.Output.from_input(value)
            run.exports[key] = _plain(await output.future())
            if await output.is_secret():
                run.secret_exports.add(key)

    with _in_project(project_dir):
        try:
            _sync_await(run_pulumi_func(evaluate))
        except BaseException as exc:
            exc.stack_run = run  # type: ignore[attr-defined]
            raise
    return run


def run_stack(stack: str, project_dir: Path = PROJECT_DIR, overrides: Mapping[str, str] | None = None) -> StackRun:
    """Evaluates the program for config/Pulumi.<stack>.yaml (plus ``overrides``) under mocks."""
    config = load_stack_config(stack, project_dir)
    for key, value in (overrides or {}).items():
        config[key if ":" in key else f"{PROJECT}:{key}"] = value
    return run_program(stack, config, project_dir=project_dir)
