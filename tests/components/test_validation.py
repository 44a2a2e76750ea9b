"""The shared Args checks: the message names the owner's field, the value and what is allowed."""

import pytest

from sessionstack.validation import check_int, is_ipv4_cidr


@pytest.mark.parametrize("value", [0, 11, True, "3", 2.0])
def test_check_int_rejects_out_of_range_and_non_integers(value):
    with pytest.raises(ValueError) as info:
        check_int("ShopArgs", "replicas", value, 1, 10)
    assert str(info.value) == f"ShopArgs.replicas must be an integer from 1 to 10, got {value!r}"


def test_check_int_accepts_the_bounds():
    check_int("ShopArgs", "replicas", 1, 1, 10)
    check_int("ShopArgs", "replicas", 10, 1, 10)


@pytest.mark.parametrize(("value", "ok"), [("10.0.0.0/16", True), ("10.0.0.1/16", False), ("::/0", False), (None, False), ("x", False)])
def test_is_ipv4_cidr(value, ok):
    assert is_ipv4_cidr(value) is ok
