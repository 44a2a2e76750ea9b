"""The call log the AWS component tests assert on, over the shared mocks (offline/mockrun.py).

``aws_extras`` records every provider function call and every resource's explicit dependencies,
and lets a test override the answer to one call token (e.g. an existing cluster without tagged
subnets). The shared mocks already answer the AWS calls the components make.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

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


@pytest.fixture
def aws_extras(pulumi_mocks) -> CallLog:
    from pulumi.runtime import settings as runtime_settings

    mocks = runtime_settings.SETTINGS.monitor.mocks
    shared_call, log = mocks.call, CallLog()

    def call(args):
        log.append(args)
        answer = log.overrides.get(args.token)
        if answer is not None:
            return answer(args.args)
        result = shared_call(args)
        return result

    monitor = runtime_settings.SETTINGS.monitor
    shared_register = monitor.RegisterResource

    def register(request):
        log.dependencies[request.name] = list(request.dependencies)
        return shared_register(request)

    mocks.call = call
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
