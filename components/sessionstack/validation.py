"""Args validation shared by the components: errors name the Args field, the value and what is allowed.

Each component module binds these to its Args class name, e.g.
``_check_int = partial(check_int, "WildflyClusterArgs")``.
"""

from __future__ import annotations

import ipaddress
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
