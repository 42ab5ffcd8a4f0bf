"""What the sans-I/O server core and its CoAP adapter say to each other.

The core (:class:`~emulator.server.core.ServerCore`) pulls no sockets. Requests a client sends
(Register, Update, De-register, Bootstrap-Request) come in as :class:`IncomingRequest` and are
answered with an :class:`Answer`; the core hands the adapter *actions* (send this request to
that peer, start or forget an observation, this API call is done) and the adapter reports what
came back through the core's input methods (``response_received``, ``request_failed``,
``notification_received``, ``observation_ended``). CoAP messages cross the boundary as these
small value types, never as aiocoap objects, so tests drive the core in memory on a fake clock.

A *peer* is the adapter's handle for where a client is reached (for DTLS its session); the core
only stores it and hands it back in the actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from .errors import ServerApiError
from .events import Notification
from .operations import DeviceRequest

__all__ = [
    "Action",
    "Answer",
    "CancelExchange",
    "Completed",
    "DeviceResponse",
    "IncomingRequest",
    "Peer",
    "SendCancel",
    "SendRequest",
    "StartObservation",
    "ToObservation",
]

#: Where a client is reached; opaque to the core (the adapter's context and remote).
Peer: TypeAlias = object


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingRequest:
    """A request a client sent to the server (``/rd``, ``/rd/{id}``, ``/bs``)."""

    method: int
    path: tuple[str, ...]
    query: tuple[str, ...] = ()
    payload: bytes = b""
    content_format: int | None = None
    #: Where it came from, as text for logs and :attr:`Registration.address`.
    address: str = ""
    #: The endpoint of the PSK the client's DTLS session used (``None`` over plain CoAP).
    secure_endpoint: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """The response to an :class:`IncomingRequest`."""

    code: int
    payload: bytes = b""
    location_path: tuple[str, ...] = ()
    #: Max-Age (RFC 7252 §5.10.5), set on a 5.03 that says when to try again.
    max_age: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceResponse:
    """A client's answer to one of our requests (also what :meth:`LwM2MServer.send` returns)."""

    code: int
    content_format: int | None
    payload: bytes
    location_path: tuple[str, ...] = ()
    #: The Observe option (RFC 7641 §2): on a notification, its sequence number.
    observe: int | None = None


# ----------------------------------------------------------------------- actions
@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """Base of what :meth:`ServerCore.next_action` returns."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRequest(Action):
    """Send ``request`` to ``peer`` (confirmable, RFC 7252 §4.2); report the answer with
    ``response_received(exchange, ...)`` or a transport failure with ``request_failed``."""

    exchange: int
    peer: Peer
    request: DeviceRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class StartObservation(Action):
    """Send ``request`` (a GET with Observe=0) and keep listening on its token: report the
    token with ``observation_started(exchange, token)``, the first answer with
    ``response_received``, later ones with ``notification_received`` and the end of the
    exchange with ``observation_ended``."""

    exchange: int
    peer: Peer
    request: DeviceRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class SendCancel(Action):
    """Send ``request`` (a GET with Observe=1) with ``token``, the token of the observation it
    cancels (RFC 7641 §3.6 active cancel); report as for :class:`SendRequest`."""

    exchange: int
    token: bytes
    peer: Peer
    request: DeviceRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelExchange(Action):
    """Stop waiting on ``exchange`` and forget its token at once (for an observation: the
    client's next confirmable notification is answered with RST, RFC 7641 §3.6)."""

    exchange: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Completed(Action):
    """The API call that got ``ticket`` is done: ``error`` is raised to its caller, else
    ``result`` returned."""

    ticket: int
    result: object = None
    error: ServerApiError | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ToObservation(Action):
    """Hand a notification (or, with ``notification=None``, the end) to the caller holding
    the observation started as ``observation``."""

    observation: int
    notification: Notification | None = None
