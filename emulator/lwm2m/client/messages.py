"""What the sans-I/O client and its CoAP adapter say to each other.

The client pulls no sockets: it hands the adapter *actions* (open a session to a server,
shake hands, send this request, push this notification, download that package) and the
adapter reports back through the client's input methods (``session_prepared``,
``handshake_done``, ``response_received``, ``request_failed``, ``download_finished``).
CoAP messages cross the boundary as the small value types below, never as aiocoap objects,
so the client can be driven in memory by tests.
"""

from __future__ import annotations

from dataclasses import dataclass

# RFC 7252 §12.1: method codes and the response codes the client reads or writes.
GET, POST, PUT, DELETE = 1, 2, 3, 4
CREATED = 0x41  # 2.01
DELETED = 0x42  # 2.02
CHANGED = 0x44  # 2.04
CONTENT = 0x45  # 2.05
BAD_REQUEST = 0x80  # 4.00
NOT_FOUND = 0x84  # 4.04
METHOD_NOT_ALLOWED = 0x85  # 4.05
NOT_ACCEPTABLE = 0x86  # 4.06
INTERNAL_SERVER_ERROR = 0xA0  # 5.00

METHOD_NAMES = {GET: "GET", POST: "POST", PUT: "PUT", DELETE: "DELETE"}


def code_text(code: int) -> str:
    """``0x84`` → ``"4.04"``."""
    return f"{code >> 5}.{code & 0x1F:02d}"


def is_success(code: int) -> bool:
    return code >> 5 == 2


@dataclass(frozen=True, kw_only=True)
class CoapRequest:
    """A request as the client sees it (from a server, or to one)."""

    method: int
    path: tuple[str, ...] = ()
    query: tuple[str, ...] = ()
    payload: bytes = b""
    content_format: int | None = None
    accept: int | None = None
    observe: int | None = None  # RFC 7641: 0 register, 1 deregister
    token: bytes = b""


@dataclass(frozen=True, kw_only=True)
class CoapResponse:
    """A response: code, payload and the options LwM2M uses."""

    code: int
    payload: bytes = b""
    content_format: int | None = None
    location_path: tuple[str, ...] = ()
    #: True when this answer starts an observation: notifications with this token follow.
    observe: bool = False


# ----------------------------------------------------------------------- actions
@dataclass(frozen=True, kw_only=True)
class Action:
    """Base of what ``LwM2MClient.next_action()`` returns."""


@dataclass(frozen=True, kw_only=True)
class PrepareSession(Action):
    """Resolve the server's address and make the socket ready (the "initial" step).

    Answer with ``session_prepared(server_id, attempt, now, error=None|reason)``.
    """

    server_id: int
    attempt: int
    scheme: str
    host: str
    port: int


@dataclass(frozen=True, kw_only=True)
class Handshake(Action):
    """Run the DTLS-PSK handshake (RFC 6347) with the prepared server, giving up after
    ``timeout`` seconds. Answer with ``handshake_done(server_id, attempt, now, error=...)``."""

    server_id: int
    attempt: int
    identity: bytes
    key: bytes
    timeout: float


@dataclass(frozen=True, kw_only=True)
class CloseSession(Action):
    """Drop the server's session (its DTLS connection, its address mapping)."""

    server_id: int


@dataclass(frozen=True, kw_only=True)
class SetReachable(Action):
    """Queue mode (TS 1.0 §7.3): while not reachable the device takes no requests from that
    server (they are dropped unanswered, as by a sleeping radio)."""

    server_id: int
    reachable: bool


@dataclass(frozen=True, kw_only=True)
class SendRequest(Action):
    """Send ``request`` to the server as a confirmable message (RFC 7252 §4.2) and answer with
    ``response_received(request_id, ...)`` or ``request_failed(request_id, ...)``."""

    request_id: int
    server_id: int
    request: CoapRequest
    timeout: float  # give up (request_failed) when no response came by then


@dataclass(frozen=True, kw_only=True)
class SendNotification(Action):
    """An Observe notification (RFC 7641 §4.2) for the observation with ``token``. ``last``:
    the observation ends with it (an error code, or the target went away)."""

    server_id: int
    token: bytes
    response: CoapResponse
    last: bool = False


@dataclass(frozen=True, kw_only=True)
class StartDownload(Action):
    """Fetch a firmware package (Firmware Update /5/0/1 pull, TS 1.0 E.6): at most
    ``max_bytes``. Answer with ``download_finished(now, data=..., error=...)``."""

    uri: str
    max_bytes: int


@dataclass(frozen=True, kw_only=True)
class CancelDownload(Action):
    """Stop a running package download (a new Package URI was written)."""


@dataclass(frozen=True, kw_only=True)
class ResetTransport(Action):
    """The module restarted: close everything (sockets, observations, downloads)."""
