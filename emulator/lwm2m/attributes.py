"""Notification attributes pmin, pmax, gt, lt, st (OMA LwM2M TS 1.0 §5.1.2).

Attributes are attached (Write-Attributes) to an object, object instance or resource, per
server. The attributes in force for a path are its own, then its instance's, then its object's
(the nearest level wins, one attribute at a time); pmin/pmax left unset everywhere fall back to
the Server object's Default Minimum/Maximum Period (/1/x/2, /1/x/3). gt, lt and st apply only to
numeric single-instance resources, and must satisfy lt < gt and lt + 2*st < gt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["ATTRIBUTE_NAMES", "NotificationAttributes", "parse_attribute_query"]

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
        raise NotImplementedError

    def over(self, parent: NotificationAttributes) -> NotificationAttributes:
        """These attributes with the unset ones taken from ``parent`` (inheritance)."""
        raise NotImplementedError

    def updated(self, changes: Mapping[str, float | None]) -> NotificationAttributes:
        """A copy with ``changes`` applied (``None`` removes an attribute); validates names."""
        raise NotImplementedError

    def validate(self) -> None:
        """Raise ``BadRequest`` if values are inconsistent (pmin > pmax, lt >= gt, ...)."""
        raise NotImplementedError

    def link_params(self) -> dict[str, str]:
        """The set attributes as link parameters for Discover, e.g. ``{"pmin": "10"}``."""
        raise NotImplementedError


def parse_attribute_query(queries: Iterable[str]) -> dict[str, float | None]:
    """Parse Write-Attributes Uri-Query values (``"pmin=10"``, ``"gt=20.5"``, ``"st"``).

    A name without a value means "remove this attribute" (TS 1.1 §5.1.2) and maps to ``None``.
    Unknown names, repeated names, bad numbers and negative periods raise ``BadRequest``.
    """
    raise NotImplementedError
