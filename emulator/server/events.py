"""What the embedded LwM2M server reports: small frozen keyword-only dataclasses.

Every event names the client's endpoint. The registration events carry the
:class:`~emulator.server.registration.Registration` as it is after the change (for
:class:`Deregistered` and :class:`Expired`: as it was when it ended).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.model import Content
from emulator.lwm2m.paths import LwM2MPath

if TYPE_CHECKING:  # registration.py emits these events, so it imports this module
    from .registration import Registration

__all__ = [
    "Awake",
    "BootstrapFailed",
    "BootstrapFailure",
    "BootstrapFinished",
    "BootstrapRequested",
    "Deregistered",
    "Expired",
    "Notification",
    "ObservationEndCause",
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


class ObservationEndCause(StrEnum):
    """Why an observation ended (the value is the text shown to people)."""

    #: We cancelled it (TS 1.0 §5.5.3; RFC 7641 §3.6 active or passive).
    CANCELLED = "cancelled"
    #: The client ended it with a response without Observe (RFC 7641 §3.2).
    ENDED_BY_CLIENT = "ended by the client"
    #: The exchange failed underneath (``detail`` says how).
    TRANSPORT = "transport"
    #: The client answered the Observe request with an error code.
    REFUSED = "refused"
    #: The client answered the Observe request without Observe: the target is not observable.
    NOT_OBSERVABLE = "the client answered without Observe (not observable)"
    #: The client registered again, which voids its observations (TS 1.0 §5.3.1).
    REGISTERED_AGAIN = "the client registered again"
    DEREGISTERED = "registration deregistered"
    EXPIRED = "registration expired"
    SERVER_STOPPED = "server stopped"


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservationEnded:
    """An observation ended; ``cause`` says why (``detail``: more, e.g. a transport error)."""

    endpoint: str
    path: LwM2MPath
    cause: ObservationEndCause
    detail: str = ""

    @property
    def reason(self) -> str:
        """The cause as one line of text, e.g. ``"cancelled"`` or ``"transport: timeout"``."""
        return f"{self.cause}: {self.detail}" if self.detail else str(self.cause)


@dataclass(frozen=True, slots=True, kw_only=True)
class BootstrapRequested:
    """A client sent a Bootstrap-Request (TS 1.0 §5.2.7.1) and a configuration exists."""

    endpoint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BootstrapFinished:
    """Bootstrap-Delete/Write went through and the client acknowledged Bootstrap-Finish."""

    endpoint: str


class BootstrapFailure(StrEnum):
    """Why a bootstrap sequence stopped."""

    #: The client answered a step with an unexpected code (TS 1.0 §5.2.7).
    DEVICE_ERROR = "device error"
    #: The client did not answer a step in time (or the transport failed).
    NO_ANSWER = "no answer"
    #: Our own configuration could not be put into a request (a codec error).
    CONFIGURATION = "configuration"


@dataclass(frozen=True, slots=True, kw_only=True)
class BootstrapFailed:
    """A bootstrap sequence stopped; ``cause`` says why, ``reason`` at which step and how."""

    endpoint: str
    cause: BootstrapFailure
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
