"""Reading resource properties the way the policy engine hands them over.

The engine gives a policy its properties wrapped in pulumi-policy's unknown-checking proxies:
during a preview, touching a value that is not known yet (an ARN, an auto-generated name) raises
``UnknownValueError``. Rules here never touch the proxies directly: ``plain`` copies the
properties into ordinary dicts and lists once, with every unknown value replaced by ``UNKNOWN``,
and the rules treat ``UNKNOWN`` as "cannot tell yet" instead of as "missing" (so a preview never
reports a violation that only exists because a value is still being computed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

from pulumi_policy import StackValidationArgs


def _not_applicable_error() -> type[Exception]:
    """The exception ``args.not_applicable()`` raises (a private class of pulumi-policy), learnt
    through that public call: the engine's analyzer catches it, and so do our offline runner and
    the rule tests."""
    try:
        StackValidationArgs([]).not_applicable("probe")
    except Exception as exc:  # noqa: BLE001 - whatever the class is, it is the one we want
        return type(exc)
    raise AssertionError("StackValidationArgs.not_applicable() returned instead of raising")


NotApplicable = _not_applicable_error()

_UNKNOWN_SENTINELS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


class _Unknown:
    """A value the engine does not know yet (preview). Deliberately neither a str nor a dict."""

    _instance: "_Unknown | None" = None

    def __new__(cls) -> "_Unknown":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"

    def __str__(self) -> str:
        return "<unknown until the update>"


UNKNOWN: Any = _Unknown()


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


def plain(value: Any) -> Any:
    """A deep copy of ``value`` made of dicts, lists and scalars, unknowns replaced by UNKNOWN."""
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in list(value.keys()):
            try:
                out[str(key)] = plain(value[key])
            except UnknownValueError:
                out[str(key)] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def dig(value: Any, *path: str | int, default: Any = None) -> Any:
    """``value[path[0]][path[1]]...``; ``default`` when a step is missing, UNKNOWN when unknown."""
    for step in path:
        if value is UNKNOWN:
            return UNKNOWN
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return default
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return default
            value = value[step]
        if value is None:
            return default
    return value


def as_list(value: Any) -> list[Any]:
    """A list property, or [] when missing/unknown/malformed."""
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    """A map property, or {} when missing/unknown/malformed."""
    return value if isinstance(value, dict) else {}


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_int(value: Any) -> int | None:
    """Integers arrive as floats over the wire; strings are not numbers here."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def truthy(value: Any) -> bool | None:
    """A boolean property (also "true"/"false" strings); None when missing or unknown."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None
