"""Datagrams that are not CoAP: what to answer (RFC 7252) and how to report them cheaply.

A hostile or broken peer can send anything to the module's LwM2M socket or to a server
listener. aiocoap turns some of that into a warning per datagram and the rest (an option
that should be UTF-8 and is not: ``42010001465ab1ff``) into a traceback per datagram. Each
adapter therefore screens a datagram before aiocoap sees it:

* RFC 7252 §3: a message shorter than the 4-byte header, or of another version, is
  silently ignored.
* RFC 7252 §4.2: a Confirmable message with a format error is rejected with a Reset that
  carries its Message ID (and no token: an empty message).
* RFC 7252 §4.3 / §4.2: a Non-confirmable, Acknowledgement or Reset message with a format
  error is silently ignored (rejecting a NON is optional; answering an ACK or RST never
  allowed).

A format error is whatever does not decode (a truncated option, a token length of 9-15, an
option that must be UTF-8 and is not) and a message whose type and code do not go together:
an Empty message with more than the header (§4.1), an Empty Non-confirmable message (§4.3), a
Reset that is not Empty, an Acknowledgement carrying a request, a reserved code class (1, 6, 7).

:class:`JunkReport` counts what was dropped and keeps the log quiet: one line for the first
such datagram from a peer, then at most one summary line per ``interval`` for that peer,
however many arrive. The peers it remembers are bounded (a flood from spoofed sources
cannot grow it).
"""

from __future__ import annotations

import collections
import contextlib
import enum
import functools
import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiocoap import Message
from aiocoap.numbers.constants import COAP_PORT
from aiocoap.transports.udp6 import UDP6EndpointAddress

__all__ = [
    "Disposition",
    "JunkReport",
    "Screening",
    "UdpRemote",
    "decode",
    "guard_udp_interface",
    "screen",
]

LOG_INTERVAL = 60.0  # seconds between two log lines about one peer
MAX_PEERS = 1024  # peers whose log state is kept (least recently seen forgotten first)

_CON, _NON, _ACK, _RST = 0, 1, 2, 3
_RST_HEADER = 0x70  # version 1, type Reset, token length 0


class Disposition(enum.Enum):
    DELIVER = "deliver"  # a CoAP message: hand it on
    DROP = "drop"  # not CoAP, or not worth an answer: ignore it
    RESET = "reset"  # a Confirmable message with a format error: answer with ``reset``


@dataclass(frozen=True, slots=True)
class Screening:
    disposition: Disposition
    reason: str = ""
    reset: bytes = b""  # the Reset to send back (RESET only)


_DELIVER = Screening(Disposition.DELIVER)


def screen(datagram: bytes) -> Screening:
    """Decide what to do with one datagram (decoding it fully, options included)."""
    decoded = decode(datagram)
    return _DELIVER if isinstance(decoded, Message) else decoded


def decode(datagram: bytes) -> Message | Screening:
    """The CoAP message in one datagram, or (it holds none) what to do with it."""
    if len(datagram) >= 4 and datagram[0] >> 6 == 1 and datagram[0] & 0xF > 8:
        # §3: token lengths 9-15 are reserved (aiocoap reads them as tokens; RFC 8974's
        # extended tokens are not spoken here)
        return _rejected(datagram, f"token length {datagram[0] & 0xF}")
    try:
        message = Message.decode(datagram)
    except Exception as exc:  # aiocoap raises UnparsableMessage, UnicodeDecodeError, ...
        reason = str(exc) or type(exc).__name__
    else:
        reason = _misfit(datagram[0] >> 4 & 0x3, datagram[1], len(message.token), datagram)
        if not reason:
            return message
    return _rejected(datagram, reason)


def _rejected(datagram: bytes, reason: str) -> Screening:
    if len(datagram) < 4 or datagram[0] >> 6 != 1:
        return Screening(Disposition.DROP, reason)
    if (datagram[0] >> 4) & 0x3 == _CON:
        return Screening(Disposition.RESET, reason, bytes((_RST_HEADER, 0, *datagram[2:4])))
    return Screening(Disposition.DROP, reason)


def _misfit(mtype: int, code: int, token_length: int, datagram: bytes) -> str:
    """Why a message that decodes is still a format error (empty string if it is not)."""
    if code == 0:  # RFC 7252 §4.1: an Empty message is the 4-byte header alone
        if len(datagram) != 4:
            return "an Empty message with token or options"
        # §4.3: a Non-confirmable message always carries a request or a response
        return "an Empty Non-confirmable message" if mtype == _NON else ""
    if mtype == _RST:  # §4.2/§4.3: a Reset is always Empty
        return f"a Reset with code {code >> 5}.{code & 0x1F:02d}"
    if 1 <= code < 32:  # a request: Confirmable or Non-confirmable (§4.2, §4.3)
        return "" if mtype != _ACK else f"an Acknowledgement with request code 0.{code:02d}"
    if 64 <= code < 192:  # a response: piggybacked (ACK) or separate (CON, NON), §5.2
        return ""
    # classes 1, 6 and 7 are reserved in CoAP over UDP (§12.1; 7.xx signalling is RFC 8323's)
    return f"reserved code {code >> 5}.{code & 0x1F:02d}"


@dataclass(slots=True)
class _PeerState:
    logged_at: float
    since_log: int = 0  # datagrams since the last line about this peer
    last_reason: str = ""


class JunkReport:
    """Counts undecodable datagrams and decides which deserve a log line."""

    def __init__(
        self,
        log: logging.Logger,
        where: str,
        *,
        interval: float = LOG_INTERVAL,
        max_peers: int = MAX_PEERS,
    ) -> None:
        self._log = log
        self._where = where
        self._interval = interval
        self._max_peers = max_peers
        self._peers: collections.OrderedDict[object, _PeerState] = collections.OrderedDict()
        self.total = 0
        self.resets = 0
        self.lines = 0  # log lines written (for tests and benchmarks)

    def note(self, peer: object, screening: Screening, now: float) -> None:
        """Count one datagram that was not delivered; log if this peer's interval is over."""
        self.total += 1
        if screening.disposition is Disposition.RESET:
            self.resets += 1
        state = self._peers.get(peer)
        if state is None:
            self._peers[peer] = _PeerState(logged_at=now)
            while len(self._peers) > self._max_peers:
                self._peers.popitem(last=False)
            self._write(
                "%s: undecodable datagram from %s (%s); %s; more from this peer are counted "
                "and logged at most every %.0f s",
                self._where,
                _shown(peer),
                _shown(screening.reason),
                "answered with Reset" if screening.reset else "dropped",
                self._interval,
            )
            return
        self._peers.move_to_end(peer)
        state.since_log += 1
        state.last_reason = screening.reason
        if now - state.logged_at >= self._interval:
            self._write(
                "%s: %d more undecodable datagrams from %s in %.0f s (last: %s)",
                self._where,
                state.since_log,
                _shown(peer),
                now - state.logged_at,
                _shown(state.last_reason),
            )
            state.logged_at, state.since_log = now, 0

    def _write(self, message: str, *args: object) -> None:
        self.lines += 1
        self._log.warning(message, *args)


def _shown(value: object) -> str:
    """A peer or reason in a log line: printable ASCII only (the peer chose the bytes)."""
    text = str(value)
    return "".join(c if " " <= c <= "~" else f"\\x{ord(c) & 0xFF:02x}" for c in text[:120])


def peer_of(address: Any) -> object:
    """The part of a socket address that names a peer: ``host:port``."""
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        if host.startswith("::ffff:"):
            host = host[len("::ffff:") :]
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return address


def _only_pktinfo(ancdata: Any) -> bytes | None:
    """The IPV6_PKTINFO of a datagram's ancillary data, if that is all there is."""
    if len(ancdata) == 1:
        level, kind, data = ancdata[0]
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
            return bytes(data)
    return None


class UdpRemote(UDP6EndpointAddress):  # type: ignore[misc]  # aiocoap is untyped
    """aiocoap's UDP remote, with what it works out from its addresses worked out once per
    remote: aiocoap parses them through ``ipaddress`` again for every message, for
    ``hostinfo`` (the server's record of a client's address, every request's repr),
    ``is_multicast`` (three times for every request sent) and ``is_multicast_locally`` (every
    answer). A remote's addresses never change (aiocoap makes a new remote for another
    address), so each answer is kept on the instance the first time it is asked for: a
    session's remote, which the module's requests share, answers from its attributes."""

    def __init__(self, sockaddr: Any, interface: Any, *, pktinfo: bytes | None = None) -> None:
        super().__init__(sockaddr, interface, pktinfo=pktinfo)
        # aiocoap's hash (the address without the scope), once: the message and token
        # managers hash the remote some fourteen times per request and response.
        self._hash = hash(sockaddr[:-1])

    def __hash__(self) -> int:
        return self._hash

    @functools.cached_property
    def hostinfo(self) -> str:
        host, port, _flowinfo, scope = self.sockaddr
        if scope or "%" in host:  # a scoped address: aiocoap names the interface
            return str(super().hostinfo)
        shown = _shown_host(host)
        return shown if port == COAP_PORT else f"{shown}:{port}"

    @functools.cached_property
    def is_multicast(self) -> bool:
        host, _port, _flowinfo, scope = self.sockaddr
        if scope or "%" in host:
            return bool(super().is_multicast)
        return _multicast(socket.inet_pton(socket.AF_INET6, host))

    @functools.cached_property
    def is_multicast_locally(self) -> bool:
        return _multicast(bytes(self.pktinfo[:16]))


@functools.lru_cache(maxsize=1024)
def _shown_host(host: str) -> str:
    """An IPv6 socket address's host as ``hostinfo`` shows it: IPv4 for an IPv4-mapped
    address, else the compressed IPv6 address in brackets."""
    address = ipaddress.IPv6Address(host)
    mapped = address.ipv4_mapped
    return str(mapped) if mapped is not None else f"[{address}]"


@functools.lru_cache(maxsize=1024)
def _multicast(packed: bytes) -> bool:
    """Whether an IPv6 address (IPv4-mapped for IPv4) is a multicast address."""
    address = ipaddress.IPv6Address(packed)
    return (address.ipv4_mapped or address).is_multicast


def guard_udp_interface(
    interface: Any, report: JunkReport, clock: Callable[[], float] = time.monotonic
) -> None:
    """Screen every datagram of an aiocoap udp6 message interface before it decodes it.

    aiocoap's ``MessageInterfaceUDP6.datagram_msg_received`` is the one entry for received
    datagrams (pinned by tests/server/test_aiocoap_internals.py); the instance's attribute
    replaces it, so nothing else of aiocoap changes. A datagram that decodes is not decoded
    twice: what that method does next (the remote from the packet info, then the message
    manager) is done here with the message in hand; anything unusual (ancillary data other
    than the packet info) still goes through aiocoap's method."""
    receive = interface.datagram_msg_received

    def screened(data: bytes, ancdata: Any, flags: int, address: Any) -> None:
        decoded = decode(data)
        if isinstance(decoded, Message):
            local = _only_pktinfo(ancdata)
            if local is None:
                receive(data, ancdata, flags, address)
                return
            decoded.remote = UdpRemote(address, interface, pktinfo=local)
            try:
                interface._ctx.dispatch_message(decoded)
            except BaseException as exc:  # logged as aiocoap logs it, then raised on
                interface.log.error(
                    "Exception raised through dispatch_message: %s", exc, exc_info=exc
                )
                raise
            return
        screening = decoded
        if screening.reset:
            # From the address the datagram came to (its IPV6_PKTINFO, as aiocoap answers).
            pktinfo = [c for c in ancdata if c[:2] == (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO)]
            with contextlib.suppress(OSError, AttributeError):  # closed meanwhile
                interface.transport.sendmsg(screening.reset, pktinfo, 0, address)
        report.note(peer_of(address), screening, clock())

    interface.datagram_msg_received = screened
