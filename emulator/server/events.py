"""What the embedded LwM2M server reports: small frozen keyword-only dataclasses.

Every event names the client's endpoint. The registration events carry the
:class:`~emulator.server.registration.Registration` as it is after the change (for
:class:`Deregistered` and :class:`Expired`: as it was when it ended).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.model import Content
from emulator.lwm2m.paths import LwM2MPath

if TYPE_CHECKING:  # registration.py emits these events, so it imports this module
    from .registration import Registration

__all__ = [
    "Awake",
    "BootstrapFailed",
    "BootstrapFinished",
    "BootstrapRequested",
    "Deregistered",
    "Expired",
    "Notification",
    "ObservationEnded",
    "Registered",
    "ServerEvent",
    "Sleeping",
    "Updated",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Registered:
    """A client registered (TS 1.0 §5.3.1)."""

    endpoint: str
    registration: Registration
    #: The registration this one replaced (same endpoint registering again), if any.
    replaced: Registration | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Updated:
    """A client sent a registration Update (TS 1.0 §5.3.2)."""

    endpoint: str
    registration: Registration
    previous: Registration


@dataclass(frozen=True, slots=True, kw_only=True)
class Deregistered:
    """A client deregistered (TS 1.0 §5.3.3)."""

    endpoint: str
    registration: Registration


@dataclass(frozen=True, slots=True, kw_only=True)
class Expired:
    """A registration's lifetime ran out without an Update; the server removed it."""

    endpoint: str
    registration: Registration


@dataclass(frozen=True, slots=True, kw_only=True)
class Awake:
    """A queue-mode client is reachable again (it sent Register or Update)."""

    endpoint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Sleeping:
    """A queue-mode client's awake window closed: requests to it now wait for its next Update."""

    endpoint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """An Observe notification from a client (RFC 7641, TS 1.0 §5.5.2)."""

    endpoint: str
    path: LwM2MPath
    #: The decoded content; ``None`` when ``error`` says why it could not be decoded.
    content: Content | None
    content_format: ContentFormat | int | None
    payload: bytes
    #: The Observe option value (sequence number) of the notification.
    sequence: int | None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservationEnded:
    """An observation ended: cancelled by us (``reason`` "cancelled"), by the client (a
    response without Observe), by a transport error, or because the registration ended."""

    endpoint: str
    path: LwM2MPath
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BootstrapRequested:
    """A client sent a Bootstrap-Request (TS 1.0 §5.2.7.1) and a configuration exists."""

    endpoint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BootstrapFinished:
    """Bootstrap-Delete/Write went through and the client acknowledged Bootstrap-Finish."""

    endpoint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BootstrapFailed:
    """A bootstrap sequence stopped; ``reason`` says at which step and why."""

    endpoint: str
    reason: str


ServerEvent = (
    Registered
    | Updated
    | Deregistered
    | Expired
    | Awake
    | Sleeping
    | Notification
    | ObservationEnded
    | BootstrapRequested
    | BootstrapFinished
    | BootstrapFailed
)
