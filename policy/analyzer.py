"""Serving the pack to the engine, with defaults for the stack the engine names.

pulumi-policy 1.21.0's ``PolicyPack`` fixes every default enforcement level when the process
starts, and only environment variables tell it the stack then. The engine sets
``PULUMI_STACK``/``PULUMI_CONFIG`` only when it starts a pack through the legacy
``pulumi-analyzer-policy-python`` shim; pulumi 3.259 (and newer) starts Python packs through the language
host (RunPlugin), without them. What the engine always does is call ``ConfigureStack`` (stack name
and project config) right after starting the pack, before it asks for the policies
(GetAnalyzerInfo) and resolves ``--policy-pack-config`` against their defaults. The servicer here
applies the stack's defaults at that moment; everything else is pulumi-policy's own analyzer.
"""

from __future__ import annotations

import re
import sys
from concurrent import futures
from typing import Any

import grpc
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel, Policy

# The analyzer service of pulumi-policy (private in 1.21.0; pinned in requirements.txt). Subclassed
# for one method; its behaviour is covered by tests/policy/test_pack_engine.py over gRPC.
from pulumi_policy.policy import _PolicyAnalyzerServicer

from policy.pack import apply_stack_defaults, is_production

_NAME = re.compile(r"^[a-zA-Z0-9-_.]{1,100}$")
_MAX_MESSAGE = 400 * 1024 * 1024  # what PolicyPack allows: AnalyzeStack carries the whole stack


class StackAwareAnalyzer(_PolicyAnalyzerServicer):
    def __init__(self, name: str, policies: list[Policy], description: str) -> None:
        super().__init__(name, "0.0.1", policies, EnforcementLevel.ADVISORY, None, description)
        self._stack_policies = policies
        self.stack: str | None = None

    def ConfigureStack(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC name)
        self.stack = request.stack or None
        apply_stack_defaults(self._stack_policies, is_production(self.stack, dict(request.config)))
        return super().ConfigureStack(request, context)


def serve(name: str, policies: list[Policy], description: str) -> None:
    """What ``PolicyPack(...)`` does: check the pack, serve it on a free port, print the port."""
    if not _NAME.match(name):
        raise TypeError(f"invalid policy pack name {name!r}")
    names = [p.name for p in policies]
    if not policies or not all(isinstance(p, Policy) for p in policies) or len(set(names)) != len(names):
        raise TypeError(f"expected uniquely named policies, got {names}")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.max_receive_message_length", _MAX_MESSAGE)])
    analyzer_pb2_grpc.add_AnalyzerServicer_to_server(StackAwareAnalyzer(name, policies, description), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    server.wait_for_termination()
