"""The module's HTTP(S) client session, sans-I/O (Quectel "LTE Standard HTTP(S) AT Commands
Manual"): the AT+QHTTPCFG settings, the URL of AT+QHTTPURL, the request in flight and the
response waiting for AT+QHTTPREAD.

Commands post :class:`HttpRequestRequested`; the aiohttp adapter (:mod:`emulator.adapters.http`)
sends it and calls :meth:`HttpSession.request_done`, which raises ``+QHTTPGET``/``+QHTTPPOST``/
``+QHTTPPUT`` with the error code, the HTTP status and the content length.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.module.events import ModuleEvent
from emulator.module.profile import ProfileError
from emulator.module.tls import TlsRequest

if TYPE_CHECKING:
    from emulator.module.virtual import VirtualModule

COMPONENT = "http"


class HttpError(enum.IntEnum):
    """<err> of the HTTP(S) manual's "Summary of error codes"."""

    OK = 0
    UNKNOWN = 701
    TIMEOUT = 702
    BUSY = 703
    UART_BUSY = 704
    NO_REQUEST = 705
    NETWORK_BUSY = 706
    NETWORK_OPEN_FAILED = 707
    NETWORK_NO_CONFIG = 708
    NETWORK_DEACTIVATED = 709
    NETWORK_ERROR = 710
    URL_ERROR = 711
    EMPTY_URL = 712
    IP_ADDRESS_ERROR = 713
    DNS_ERROR = 714
    SOCKET_CREATE_ERROR = 715
    SOCKET_CONNECT_ERROR = 716
    SOCKET_READ_ERROR = 717
    SOCKET_WRITE_ERROR = 718
    SOCKET_CLOSED = 719
    DATA_ENCODE_ERROR = 720
    DATA_DECODE_ERROR = 721
    READ_TIMEOUT = 722
    RESPONSE_FAILED = 723
    INCOMING_CALL_BUSY = 724
    VOICE_CALL_BUSY = 725
    INPUT_TIMEOUT = 726
    WAIT_DATA_TIMEOUT = 727
    WAIT_RESPONSE_TIMEOUT = 728
    MEMORY_ALLOCATION_FAILED = 729
    INVALID_PARAMETER = 730


# <contenttype> of AT+QHTTPCFG="contenttype".
CONTENT_TYPES = {
    0: "application/x-www-form-urlencoded",
    1: "text/plain",
    2: "application/octet-stream",
    3: "multipart/form-data",
    4: "application/json",
    5: "image/jpeg",
}


@dataclass(frozen=True, kw_only=True)
class HttpLimits:
    """The ``"http"`` profile section (defaults from the HTTP(S) manual; the codes for
    failures it does not name are choices kept here as data)."""

    max_url: int = 700
    max_post: int = 1024000
    max_body: int = 10 * 1024 * 1024  # a larger response ends with MEMORY_ALLOCATION_FAILED
    user_agent: str = "QUECTEL_MODULE"
    tls_failure: int = 716  # TLS handshake or certificate refused
    pdp_loss: int = 709  # the PDP context went away during a request

    @classmethod
    def from_profile(cls, sections: dict[str, Any]) -> HttpLimits:
        raw = sections.get("http", {})
        if not isinstance(raw, dict):
            raise ProfileError('profile section "http" must be an object')
        values: dict[str, Any] = {}
        for name, default in cls().__dict__.items():
            if name in raw:
                if type(raw[name]) is not type(default):
                    raise ProfileError(f'profile "http": {name} must be {type(default).__name__}')
                values[name] = raw[name]
        return cls(**values)


@dataclass
class HttpConfig:
    contextid: int = 1
    requestheader: bool = False
    responseheader: bool = False
    sslctxid: int = 1
    contenttype: int = 0


@dataclass(frozen=True, kw_only=True)
class HttpResponse:
    status: int
    reason: str
    raw_headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    content_length: int

    def header_block(self) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {self.reason}".encode("latin-1")]
        lines += [name + b": " + value for name, value in self.raw_headers]
        return b"\r\n".join(lines) + b"\r\n\r\n"


@dataclass(frozen=True, kw_only=True)
class HttpRequestRequested(ModuleEvent):
    seq: int
    method: str  # GET, POST, PUT (or the request line's method with requestheader=1)
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    timeout: float
    tls: TlsRequest | None
    raw_request: bytes | None  # requestheader=1: the host's whole request


@dataclass(frozen=True, kw_only=True)
class HttpCancelRequested(ModuleEvent):
    seq: int


@dataclass
class HttpSession:
    module: VirtualModule
    limits: HttpLimits
    config: HttpConfig = field(default_factory=HttpConfig)
    url: str = ""
    seq: int = 0
    in_flight: str | None = None  # the URC name of the request in flight (+QHTTPGET ...)
    response: HttpResponse | None = None

    def start(
        self,
        urc: str,
        method: str,
        body: bytes,
        timeout: float,
        tls: TlsRequest | None,
        raw_request: bytes | None,
    ) -> None:
        self.seq += 1
        self.in_flight = urc
        self.response = None
        headers: tuple[tuple[str, str], ...] = (("User-Agent", self.limits.user_agent),)
        if method in ("POST", "PUT") and raw_request is None:
            headers += (("Content-Type", CONTENT_TYPES[self.config.contenttype]),)
        self.module.post_event(
            HttpRequestRequested(
                seq=self.seq,
                method=method,
                url=self.url,
                headers=headers,
                body=body,
                timeout=timeout,
                tls=tls,
                raw_request=raw_request,
            )
        )

    def request_done(
        self, seq: int, error: int, response: HttpResponse | None, now: float
    ) -> None:
        if seq != self.seq or self.in_flight is None:
            return  # stopped (AT+QHTTPSTOP) or superseded
        urc, self.in_flight = self.in_flight, None
        if error != 0 or response is None:
            self.module.raise_urc(f"{urc}: {error}", now)
            return
        self.response = response
        self.module.raise_urc(f"{urc}: 0,{response.status},{response.content_length}", now)

    def stop(self) -> None:
        if self.in_flight is not None:
            self.module.post_event(HttpCancelRequested(seq=self.seq))
        self.seq += 1
        self.in_flight = None
        self.response = None

    def network_lost(self, cid: int | None, now: float) -> None:
        if self.in_flight is not None and cid in (None, self.config.contextid):
            self.module.post_event(HttpCancelRequested(seq=self.seq))
            self.request_done(self.seq, self.limits.pdp_loss, None, now)

    def reset(self) -> None:
        self.stop()
        self.config = HttpConfig()
        self.url = ""


def session_for(module: VirtualModule) -> HttpSession:
    return module.component(
        COMPONENT, lambda: HttpSession(module, HttpLimits.from_profile(module.profile.sections))
    )
