"""One DTLS 1.2 association, sans I/O (RFC 6347): datagrams in, datagrams and events out.

The record protocol and the handshake are Mbed TLS's (through python-mbedtls's in-memory
``TLSWrappedBuffer``): it negotiates extended master secret (RFC 7627) and the renegotiation
indication (RFC 5746) when the peer offers them and goes on without them when it does not, as
the embedded TLS stacks of real modules and servers do. This class only turns its
step-by-step calls into what an adapter needs: the datagrams to send, the application data
that arrived, and a small event when the association is up, failed or closed, with a reason a
person can read (the peer's alert by name where it was sent in the clear).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mbedtls import tls
from mbedtls.exceptions import TLSError

from .records import alert_name, plaintext_alert

__all__ = [
    "MAX_DATAGRAM",
    "Closed",
    "DtlsEndpoint",
    "DtlsEvent",
    "Established",
    "HandshakeFailed",
    "HelloVerifySent",
    "Output",
    "State",
]

#: Largest datagram worth handing to the engine: a full record (2^14 bytes of plaintext plus
#: the 2048 bytes of expansion RFC 5246 §6.2.3 allows) and its 13-byte DTLS header. Anything
#: larger cannot be DTLS and would overflow the engine's input buffer.
MAX_DATAGRAM = 2**14 + 2048 + 13

# Mbed TLS 2.28 error codes (include/mbedtls/ssl.h), as python-mbedtls reports them (positive).
_INVALID_MAC = 0x7180
_NO_CIPHER_CHOSEN = 0x7380
_FATAL_ALERT_MESSAGE = 0x7780
_PEER_CLOSE_NOTIFY = 0x7880
_BAD_HS_CLIENT_HELLO = 0x7900
_BAD_HS_SERVER_HELLO = 0x7980
_UNKNOWN_IDENTITY = 0x6C80
_TIMEOUT = 0x6800
_BAD_PROTOCOL_VERSION = 0x6E80

_REASONS = {
    _INVALID_MAC: "the peer's Finished did not verify (wrong key)",
    _NO_CIPHER_CHOSEN: "no cipher suite in common",
    _UNKNOWN_IDENTITY: "unknown PSK identity",
    _TIMEOUT: "handshake retransmissions exhausted",
    _BAD_HS_CLIENT_HELLO: "malformed ClientHello",
    _BAD_HS_SERVER_HELLO: "malformed or unacceptable ServerHello",
    _BAD_PROTOCOL_VERSION: "no DTLS version in common",
}


class State(enum.Enum):
    HANDSHAKING = "handshaking"
    ESTABLISHED = "established"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class DtlsEvent:
    """Base of what :class:`Output` reports."""


@dataclass(frozen=True, slots=True)
class Established(DtlsEvent):
    """The handshake finished; application data may flow."""

    cipher_suite: str


@dataclass(frozen=True, slots=True)
class HandshakeFailed(DtlsEvent):
    """The handshake ended without an association. ``refused``: the peer said so with a fatal
    alert (as opposed to our side giving up on what it sent)."""

    reason: str
    refused: bool


@dataclass(frozen=True, slots=True)
class HelloVerifySent(DtlsEvent):
    """Server side: the ClientHello had no valid cookie; a HelloVerifyRequest went back
    (RFC 6347 §4.2.1) and this endpoint holds nothing worth keeping."""


@dataclass(frozen=True, slots=True)
class Closed(DtlsEvent):
    """An established association ended: the peer's close_notify or fatal alert."""

    reason: str


@dataclass(slots=True)
class Output:
    """What one input produced."""

    datagrams: list[bytes] = field(default_factory=list)
    data: list[bytes] = field(default_factory=list)
    events: list[DtlsEvent] = field(default_factory=list)


def _code(exc: TLSError) -> int:
    return abs(int(getattr(exc, "err", 0) or 0))


class DtlsEndpoint:
    """A client or server association over ``buffer`` (from ``ClientContext.wrap_buffers``
    or ``ServerContext.wrap_buffers``). Feed it with :meth:`start`, :meth:`receive` and
    :meth:`tick`; send with :meth:`send`; end with :meth:`close`."""

    def __init__(self, buffer: tls.TLSWrappedBuffer) -> None:
        self._buffer = buffer
        self.state = State.HANDSHAKING
        self.cipher_suite = ""
        self._last_alert: tuple[int, int] | None = None

    # ------------------------------------------------------------------ input
    def start(self) -> Output:
        """Client: the first flight (ClientHello)."""
        out = Output()
        self._drive(out)
        return out

    def receive(self, datagram: bytes) -> Output:
        """One datagram from the peer (garbage and oversized datagrams are dropped)."""
        out = Output()
        if self.state is State.CLOSED or not datagram or len(datagram) > MAX_DATAGRAM:
            return out
        alert = plaintext_alert(datagram)
        if alert is not None:
            self._last_alert = alert
        try:
            self._buffer.receive_from_network(datagram)
        except BufferError:  # cannot happen below MAX_DATAGRAM; never let it escape
            return out
        if self.state is State.HANDSHAKING:
            self._drive(out)
        if self.state is State.ESTABLISHED:
            self._read(out)
        return out

    def tick(self) -> Output:
        """Let the engine retransmit its last flight if its timer ran out (RFC 6347 §4.2.4)."""
        out = Output()
        if self.state is State.HANDSHAKING:
            self._drive(out)
        return out

    # ----------------------------------------------------------------- output
    def send(self, data: bytes) -> list[bytes]:
        """Protect ``data`` as one record; ``ConnectionError`` unless established."""
        if self.state is not State.ESTABLISHED:
            raise ConnectionError("the DTLS session is not established")
        try:
            self._buffer.write(data)
        except TLSError as exc:
            raise ConnectionError(f"the DTLS session cannot send: {exc!r}") from None
        return self._flush()

    def close(self) -> list[bytes]:
        """End the association with close_notify (RFC 5246 §7.2.1); nothing if not up."""
        if self.state is not State.ESTABLISHED:
            self.state = State.CLOSED
            return []
        self.state = State.CLOSED
        try:
            self._buffer.shutdown()
        except TLSError:
            return []
        return self._flush()

    # --------------------------------------------------------------- internals
    def _flush(self) -> list[bytes]:
        datagrams: list[bytes] = []
        while True:
            pending = self._buffer.peek_outgoing(MAX_DATAGRAM)
            if not pending:
                return datagrams
            self._buffer.consume_outgoing(len(pending))
            datagrams.append(pending)

    def _drive(self, out: Output) -> None:
        for _ in range(64):  # a handshake has about 20 steps; bound it all the same
            if self._handshake_over():
                break
            try:
                self._buffer.do_handshake()
            except tls.WantWriteError:
                out.datagrams.extend(self._flush())
            except tls.WantReadError:
                out.datagrams.extend(self._flush())
                return
            except tls.HelloVerifyRequest:
                out.datagrams.extend(self._flush())
                self.state = State.CLOSED
                out.events.append(HelloVerifySent())
                return
            except TLSError as exc:
                out.datagrams.extend(self._flush())  # the alert the engine sends, if any
                self.state = State.CLOSED
                out.events.append(self._failure(exc))
                return
        out.datagrams.extend(self._flush())
        if self._handshake_over():
            self.state = State.ESTABLISHED
            cipher = self._buffer.cipher()
            self.cipher_suite = cipher[0] if isinstance(cipher, tuple) else str(cipher)
            out.events.append(Established(self.cipher_suite))

    def _handshake_over(self) -> bool:
        state: object = self._buffer._handshake_state
        return state is tls.HandshakeStep.HANDSHAKE_OVER

    def _failure(self, exc: TLSError) -> HandshakeFailed:
        code = _code(exc)
        if code == _FATAL_ALERT_MESSAGE:
            if self._last_alert is not None:
                name = alert_name(self._last_alert[1])
                return HandshakeFailed(f"the peer sent a fatal {name} alert", refused=True)
            return HandshakeFailed("the peer sent a fatal alert", refused=True)
        if code == _PEER_CLOSE_NOTIFY:
            return HandshakeFailed("the peer closed the handshake", refused=True)
        reason = _REASONS.get(code) or f"DTLS error -0x{code:04X}"
        return HandshakeFailed(reason, refused=False)

    def _read(self, out: Output) -> None:
        for _ in range(64):
            try:
                data = self._buffer.read(MAX_DATAGRAM)
            except tls.WantReadError:
                return
            except tls.WantWriteError:
                out.datagrams.extend(self._flush())
                continue
            except TLSError as exc:
                out.datagrams.extend(self._flush())
                self.state = State.CLOSED
                code = _code(exc)
                if code == _PEER_CLOSE_NOTIFY:
                    out.events.append(Closed("the peer sent close_notify"))
                elif code == _FATAL_ALERT_MESSAGE:
                    out.events.append(Closed("the peer sent a fatal alert"))
                else:
                    out.events.append(Closed(_REASONS.get(code) or f"DTLS error -0x{code:04X}"))
                return
            if not data:
                return
            out.data.append(data)
