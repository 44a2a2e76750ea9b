"""Mock answers the AWS component tests need on top of the shared mocks (offline/mockrun.py).

Merge candidates for the lead (then the ``aws_extras`` fixture shrinks to the call log):
- the entries of ``EXTRA_CALL_ANSWERS`` (ec2.getSubnets, iam.getOpenIdConnectProvider, used when
  EksCluster adopts an existing cluster) belong in ``offline/mockrun._CALL_ANSWERS``;
- ``_mock_state`` should fill ``vpcConfig.clusterSecurityGroupId`` even when ``vpcConfig`` came in
  as an input: its ``setdefault`` keeps the input, which has no such field, so under the shared
  mocks EksCluster.cluster_security_group_id resolves to None (see ``_computed_outputs``).
The fixture also accepts the older ``(dict, None)`` call answers (the SDK iterates the second
element) and records every call and every resource's explicit dependencies for assertions.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

ELB_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"

PUBLIC_SUBNETS = ["subnet-pub-b", "subnet-pub-a"]
PRIVATE_SUBNETS = ["subnet-priv-a", "subnet-priv-b"]


def _subnets(args: dict[str, Any]) -> dict[str, Any]:
    """ec2.getSubnets: the tagged subnets of the existing cluster's VPC (public / private by tag)."""
    tags = args.get("tags") or {}
    ids = PUBLIC_SUBNETS if ELB_TAG in tags else PRIVATE_SUBNETS if INTERNAL_ELB_TAG in tags else []
    return {"ids": list(ids), "id": "us-east-1"}


def _oidc_provider(args: dict[str, Any]) -> dict[str, Any]:
    """iam.getOpenIdConnectProvider by issuer URL: IAM names providers by host/path, no scheme."""
    host_path = str(args.get("url", "")).removeprefix("https://")
    return {
        "arn": f"arn:aws:iam::123456789012:oidc-provider/{host_path}",
        "url": host_path,
        "clientIdLists": ["sts.amazonaws.com"],
        "thumbprintLists": [],
    }


EXTRA_CALL_ANSWERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "aws:ec2/getSubnets:getSubnets": _subnets,
    "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider": _oidc_provider,
}


class CallLog(list):
    """Every MockCallArgs seen, per-test overrides of answers (token -> function), and the
    explicit dependencies (depends_on URNs) of every registered resource, by logical name."""

    def __init__(self) -> None:
        super().__init__()
        self.overrides: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
        self.dependencies: dict[str, list[str]] = {}

    def tokens(self) -> list[str]:
        return [c.token for c in self]

    def of(self, token: str) -> list[Any]:
        return [c for c in self if c.token == token]


def _computed_outputs(typ: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
    """Outputs AWS computes that the shared mocks leave out."""
    if typ == "aws:eks/cluster:Cluster":
        vpc_config = dict(state.get("vpcConfig") or {})
        vpc_config.setdefault("clusterSecurityGroupId", f"sg-{name}-cluster")
        state = {**state, "vpcConfig": vpc_config}
    return state


@pytest.fixture
def aws_extras(pulumi_mocks) -> CallLog:
    from pulumi.runtime import settings as runtime_settings

    mocks = runtime_settings.SETTINGS.monitor.mocks
    shared_call, shared_new_resource, log = mocks.call, mocks.new_resource, CallLog()

    def new_resource(args):
        resource_id, state = shared_new_resource(args)
        return resource_id, _computed_outputs(args.typ, args.name, state)

    def call(args):
        log.append(args)
        answer = log.overrides.get(args.token) or EXTRA_CALL_ANSWERS.get(args.token)
        if answer is not None:
            return answer(args.args)
        result = shared_call(args)
        if isinstance(result, tuple) and result[1] is None:
            return result[0]
        return result

    monitor = runtime_settings.SETTINGS.monitor
    shared_register = monitor.RegisterResource

    def register(request):
        log.dependencies[request.name] = list(request.dependencies)
        return shared_register(request)

    mocks.call = call
    mocks.new_resource = new_resource
    monitor.RegisterResource = register
    return log


def settle_failures(pulumi_mocks) -> list[str]:
    """Settles a program whose registrations are expected to fail; returns every error message.

    ``settle`` stops at the first failure and keeps raising it. This drains every outstanding
    registration and output instead, retrieving each exception (none is left to be reported as
    "never retrieved" when the interpreter exits), then clears the runtime's error state.
    """
    import asyncio
    import gc

    from pulumi.runtime import settings as runtime_settings
    from pulumi.runtime.sync_await import _sync_await

    settings = runtime_settings.SETTINGS
    manager = settings.rpc_manager
    messages: list[str] = []

    async def drain() -> None:
        while manager.rpcs or settings.outputs:
            while manager.rpcs:
                await asyncio.sleep(0)
                try:
                    await manager.rpcs.pop()
                except Exception as exc:  # noqa: BLE001 - collected for the caller's assertions
                    messages.append(str(exc))
            with settings.lock:
                pending = list(settings.outputs)
                settings.outputs.clear()
            for result in await asyncio.gather(*pending, return_exceptions=True):
                if isinstance(result, Exception):
                    messages.append(str(result))

    _sync_await(drain())
    if manager.unhandled_exception is not None:
        messages.append(str(manager.unhandled_exception))
    manager.clear()
    # The failed resources' own output futures hold the same errors and nobody awaits them:
    # collect them now, into the list, rather than as "never retrieved" noise at exit.
    loop = asyncio.get_event_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: messages.append(str(context.get("exception", context.get("message")))))
    try:
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    return messages
