"""Notification attributes: query parsing, inheritance, validation."""

from __future__ import annotations

import pytest

from emulator.lwm2m import (
    BadRequest,
    NotificationAttributes,
    is_cancel_query,
    parse_attribute_query,
)


def test_parse_query() -> None:
    assert parse_attribute_query(["pmin=10", "pmax=60", "gt=20.5", "lt=-3", "st=0.5"]) == {
        "pmin": 10.0,
        "pmax": 60.0,
        "gt": 20.5,
        "lt": -3.0,
        "st": 0.5,
    }
    assert parse_attribute_query(["pmin"]) == {"pmin": None}  # unset (TS 1.1)
    assert parse_attribute_query([]) == {}


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (["foo=1"], "unknown"),
        (["pmin=1", "pmin=2"], "twice"),
        (["pmin=abc"], "not a number"),
        (["pmin=-1"], "whole number"),
        (["pmax=1.5"], "whole number"),
        (["gt=inf"], "not a number"),
        (["gt="], "not a number"),
        (["st=-2"], "negative"),
        (["cancel"], "unknown"),
    ],
)
def test_parse_query_refusals(query: list[str], reason: str) -> None:
    with pytest.raises(BadRequest, match=reason) as caught:
        parse_attribute_query(query)
    assert caught.value.code_text == "4.00"


def test_cancel_query_is_recognised() -> None:
    assert is_cancel_query(["cancel"])
    assert is_cancel_query(["pmin=1", "cancel=true"])
    assert not is_cancel_query(["pmin=1"])


def test_inheritance_is_per_attribute() -> None:
    resource = NotificationAttributes(pmin=5)
    instance = NotificationAttributes(pmin=10, pmax=60)
    obj = NotificationAttributes(pmax=600, gt=3)
    merged = resource.over(instance).over(obj)
    assert merged == NotificationAttributes(pmin=5, pmax=60, gt=3)
    assert merged.link_params() == {"pmin": "5", "pmax": "60", "gt": "3"}
    assert NotificationAttributes(st=0.25).link_params() == {"st": "0.25"}


def test_updated_and_validate() -> None:
    attributes = NotificationAttributes(pmin=5).updated({"pmax": 10, "pmin": None})
    assert attributes == NotificationAttributes(pmax=10)
    with pytest.raises(BadRequest, match="unknown"):
        attributes.updated({"epmin": 1})
    NotificationAttributes(lt=1, gt=10, st=4).validate()
    with pytest.raises(BadRequest, match="lt \\+ 2\\*st"):
        NotificationAttributes(lt=1, gt=10, st=4.5).validate()
    with pytest.raises(BadRequest, match="negative"):
        NotificationAttributes(pmin=-1).validate()
