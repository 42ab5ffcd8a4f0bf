"""Notification attributes pmin, pmax, gt, lt, st (OMA LwM2M TS 1.0 §5.1.2).

Attributes are attached (Write-Attributes) to an object, object instance or resource, per
server. The attributes in force for a path are its own, then its instance's, then its object's
(the nearest level wins, one attribute at a time); pmin/pmax left unset everywhere fall back to
the Server object's Default Minimum/Maximum Period (/1/x/2, /1/x/3). gt, lt and st apply only to
numeric single-instance resources, and must satisfy lt < gt and lt + 2*st < gt.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from .errors import BadRequest

__all__ = [
    "ATTRIBUTE_NAMES",
    "NotificationAttributes",
    "is_cancel_query",
    "parse_attribute_query",
]

_NUMBER: Final = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")

#: Names Write-Attributes accepts (LwM2M 1.0).
ATTRIBUTE_NAMES: tuple[str, ...] = ("pmin", "pmax", "gt", "lt", "st")


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationAttributes:
    """A set of notification attributes; ``None`` means "not set at this level"."""

    pmin: float | None = None
    pmax: float | None = None
    gt: float | None = None
    lt: float | None = None
    st: float | None = None

    def is_empty(self) -> bool:
        """True when no attribute is set."""
        return all(getattr(self, name) is None for name in ATTRIBUTE_NAMES)

    def over(self, parent: NotificationAttributes) -> NotificationAttributes:
        """These attributes with the unset ones taken from ``parent`` (inheritance)."""
        merged = {
            name: getattr(self, name) if getattr(self, name) is not None else getattr(parent, name)
            for name in ATTRIBUTE_NAMES
        }
        return NotificationAttributes(**merged)

    def updated(self, changes: Mapping[str, float | None]) -> NotificationAttributes:
        """A copy with ``changes`` applied (``None`` removes an attribute); validates names."""
        values = self.as_dict_with_none()
        for name, value in changes.items():
            if name not in ATTRIBUTE_NAMES:
                raise BadRequest(f"unknown notification attribute {name!r}")
            values[name] = None if value is None else float(value)
        return NotificationAttributes(**values)

    def as_dict_with_none(self) -> dict[str, float | None]:
        """Every attribute name mapped to its value or ``None``."""
        return {name: getattr(self, name) for name in ATTRIBUTE_NAMES}

    def as_dict(self) -> dict[str, float]:
        """The attributes that are set."""
        return {k: v for k, v in self.as_dict_with_none().items() if v is not None}

    def validate(self) -> None:
        """Raise ``BadRequest`` if values are inconsistent (pmin > pmax, lt >= gt, ...)."""
        for name in ("pmin", "pmax", "st"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise BadRequest(f"{name} must not be negative")
        if self.pmin is not None and self.pmax is not None and self.pmax < self.pmin:
            raise BadRequest(f"pmax ({_text(self.pmax)}) is less than pmin ({_text(self.pmin)})")
        if self.lt is not None and self.gt is not None:
            # TS 1.0 §5.1.2: lt < gt, and when st is given lt + 2*st < gt.
            if self.lt >= self.gt:
                raise BadRequest(f"lt ({_text(self.lt)}) must be less than gt ({_text(self.gt)})")
            if self.st is not None and self.lt + 2 * self.st >= self.gt:
                raise BadRequest("lt + 2*st must be less than gt")

    def link_params(self) -> dict[str, str]:
        """The set attributes as link parameters for Discover, e.g. ``{"pmin": "10"}``."""
        return {name: _text(value) for name, value in self.as_dict().items()}


def _text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _number(name: str, text: str) -> float:
    if not _NUMBER.fullmatch(text):
        raise BadRequest(f"attribute {name}={text!r} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest(f"attribute {name}={text!r} is not finite")
    if name in ("pmin", "pmax") and (value < 0 or not value.is_integer()):
        raise BadRequest(f"attribute {name} must be a whole number of seconds, not {text!r}")
    if name == "st" and value < 0:
        raise BadRequest("attribute st must not be negative")
    return value


def parse_attribute_query(queries: Iterable[str]) -> dict[str, float | None]:
    """Parse Write-Attributes Uri-Query values (``"pmin=10"``, ``"gt=20.5"``, ``"st"``).

    A name without a value means "remove this attribute" (TS 1.1 §5.1.2) and maps to ``None``.
    Unknown names, repeated names, bad numbers and negative periods raise ``BadRequest``.
    A ``cancel`` query (pre-1.0 drafts, sent by lwm2m-node-lib) is refused here: check for it
    first with :func:`is_cancel_query`.
    """
    result: dict[str, float | None] = {}
    for query in queries:
        name, sep, text = query.partition("=")
        if name not in ATTRIBUTE_NAMES:
            raise BadRequest(f"unknown notification attribute {name!r}")
        if name in result:
            raise BadRequest(f"attribute {name!r} is given twice")
        result[name] = _number(name, text) if sep else None
    return result


def is_cancel_query(queries: Iterable[str]) -> bool:
    """True for a Write-Attributes carrying ``cancel`` (the pre-1.0 way to cancel observations,
    still sent by lwm2m-node-lib's ``writeAttributes({cancel: ...})``)."""
    return any(query.partition("=")[0] == "cancel" for query in queries)
