"""Args validation shared by the components: errors name the Args field, the value and what is allowed.

Each component module binds these to its Args class name, e.g.
``_check_int = partial(check_int, "WildflyClusterArgs")``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import NoReturn


def fail(owner: str, field: str, value: object, allowed: str) -> NoReturn:
    raise ValueError(f"{owner}.{field} must be {allowed}, got {value!r}")


def check_int(owner: str, field: str, value: object, low: int, high: int) -> None:
    """An int (not a bool) from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        fail(owner, field, value, f"an integer from {low} to {high}")


def is_ipv4_cidr(value: object) -> bool:
    try:
        return isinstance(value, str) and ipaddress.ip_network(value, strict=True).version == 4
    except ValueError:
        return False


_PEER_KINDS = ("podSelector", "namespaceSelector", "ipBlock")


def check_network_peers(owner: str, field: str, peers: object) -> None:
    """A tuple of NetworkPolicy peers (``from`` entries): each a mapping of podSelector and/or
    namespaceSelector (mappings), or an ipBlock with an IPv4 ``cidr`` alone."""
    allowed = "a tuple of NetworkPolicy peers, e.g. ({'namespaceSelector': {'matchLabels': {...}}},) or ({'ipBlock': {'cidr': '10.0.0.0/16'}},)"
    if not isinstance(peers, tuple):
        fail(owner, field, peers, allowed)
    for peer in peers:
        keys = set(peer) if isinstance(peer, Mapping) else set()
        if not keys or not keys <= set(_PEER_KINDS) or ("ipBlock" in keys and len(keys) > 1):
            fail(owner, field, peers, allowed)
        if "ipBlock" in keys:
            block = peer["ipBlock"]
            if not isinstance(block, Mapping) or not is_ipv4_cidr(block.get("cidr")):
                fail(owner, field, peers, allowed + " (ipBlock.cidr an IPv4 network)")
        elif not all(isinstance(peer[k], Mapping) for k in keys):
            fail(owner, field, peers, allowed)
