"""Events the object store and the observation manager report (small frozen dataclasses)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import LwM2MError
from .formats import ContentFormat
from .model import Content
from .paths import LwM2MPath

__all__ = [
    "AttributesWritten",
    "InstanceCreated",
    "InstanceDeleted",
    "Notification",
    "ResourceExecuted",
    "ResourcesWritten",
    "StoreEvent",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourcesWritten:
    """Resource values changed.

    ``paths`` are resource paths (``/o/i/r``), sorted, one per resource whose value changed or
    was written. ``by_server`` is True for a Write/Create from a server, False for a change the
    device made (:meth:`ObjectStore.set_value`). Values served by a getter change without an
    event: call ``ObservationManager.on_change`` for those.
    """

    paths: tuple[LwM2MPath, ...]
    by_server: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceCreated:
    """An object instance was created (``path`` is ``/o/i``)."""

    path: LwM2MPath
    by_server: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceDeleted:
    """An object instance was deleted (``path`` is ``/o/i``)."""

    path: LwM2MPath
    by_server: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceExecuted:
    """A server executed a resource (after its handler, if any, returned)."""

    path: LwM2MPath
    arguments: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributesWritten:
    """A server wrote notification attributes; ``attributes`` are those now attached there."""

    path: LwM2MPath
    short_server_id: int | None
    attributes: Mapping[str, float] = field(default_factory=dict)


StoreEvent = (
    ResourcesWritten | InstanceCreated | InstanceDeleted | ResourceExecuted | AttributesWritten
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """An Observe notification to send: the observation's token, path and current content.

    When ``error`` is set the observed target went away (e.g. its instance was deleted): send
    the error's code as the last notification (RFC 7641 §3.2: a non-2.xx ends the
    observation); the manager has already forgotten the observation and ``content`` is the
    last content that was sent.
    """

    token: bytes
    path: LwM2MPath
    content: Content
    content_format: ContentFormat | None
    short_server_id: int | None
    error: LwM2MError | None = None
