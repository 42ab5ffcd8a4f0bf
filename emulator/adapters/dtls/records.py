"""Reading the clear parts of DTLS 1.2 datagrams (RFC 6347 §4.1, §4.2.2; RFC 5246 §7).

The DTLS engine (Mbed TLS) does the cryptography; these helpers only look at what travels in
the clear during a handshake, for three reasons: to tell the user *why* a handshake failed (the
peer's fatal alert, RFC 5246 §7.2), to log the PSK identity a client offered (RFC 4279 §2,
ClientKeyExchange), and to let a server throw away datagrams that cannot start a handshake
before they cost it any state (RFC 6347 §4.2.1). Tests also use :func:`hello_extensions` to
prove what a peer's ClientHello or ServerHello offered.

Every function takes any bytes and never raises: malformed input gives ``None`` or an empty
result.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "ALERT_DESCRIPTIONS",
    "EMPTY_RENEGOTIATION_INFO_SCSV",
    "EXTENDED_MASTER_SECRET",
    "RENEGOTIATION_INFO",
    "Hello",
    "Record",
    "alert_name",
    "hello_extensions",
    "is_client_hello",
    "plaintext_alert",
    "psk_identity",
    "records",
]

# Record content types (RFC 5246 §6.2.1) and handshake message types (§7.4).
CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
CLIENT_HELLO, SERVER_HELLO, CLIENT_KEY_EXCHANGE = 1, 2, 16

#: Extension numbers the interop problem is about: RFC 7627 and RFC 5746.
EXTENDED_MASTER_SECRET = 0x0017
RENEGOTIATION_INFO = 0xFF01
#: RFC 5746 §3.3: a client may signal the renegotiation extension with this cipher suite value.
EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF

#: RFC 5246 §7.2 and RFC 4279 §2 alert descriptions, by number.
ALERT_DESCRIPTIONS: dict[int, str] = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    22: "record_overflow",
    40: "handshake_failure",
    42: "bad_certificate",
    47: "illegal_parameter",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    90: "user_canceled",
    100: "no_renegotiation",
    110: "unsupported_extension",
    115: "unknown_psk_identity",
}

_HEADER = struct.Struct("!BHHHIH")  # type, version, epoch, sequence (48 bits), length
_HEADER_SIZE = 13


def alert_name(description: int) -> str:
    return ALERT_DESCRIPTIONS.get(description, f"alert {description}")


@dataclass(frozen=True, slots=True)
class Record:
    """One DTLS record of a datagram."""

    content_type: int
    version: int
    epoch: int
    fragment: bytes


def records(datagram: bytes) -> Iterator[Record]:
    """The records of a datagram (RFC 6347 §4.1: one datagram may carry several); stops at the
    first malformed one."""
    offset = 0
    while len(datagram) - offset >= _HEADER_SIZE:
        content_type, version, epoch, _seq_hi, _seq_lo, length = _HEADER.unpack_from(
            datagram, offset
        )
        start = offset + _HEADER_SIZE
        if start + length > len(datagram) or content_type not in (20, 21, 22, 23):
            return
        yield Record(content_type, version, epoch, datagram[start : start + length])
        offset = start + length


def _handshake_bodies(datagram: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, body) of each unfragmented clear-text handshake message (RFC 6347 §4.2.2)."""
    for record in records(datagram):
        if record.content_type != HANDSHAKE or record.epoch != 0:
            continue
        fragment = record.fragment
        offset = 0
        while len(fragment) - offset >= 12:
            msg_type = fragment[offset]
            length = int.from_bytes(fragment[offset + 1 : offset + 4], "big")
            frag_offset = int.from_bytes(fragment[offset + 6 : offset + 9], "big")
            frag_length = int.from_bytes(fragment[offset + 9 : offset + 12], "big")
            body = fragment[offset + 12 : offset + 12 + frag_length]
            if len(body) != frag_length:
                break
            if frag_offset == 0 and frag_length == length:
                yield msg_type, body
            offset += 12 + frag_length


def is_client_hello(datagram: bytes) -> bool:
    """Whether the datagram starts with a clear-text ClientHello record (the only thing that
    may open a DTLS association, RFC 6347 §4.2.1)."""
    return (
        len(datagram) >= _HEADER_SIZE + 12
        and datagram[0] == HANDSHAKE
        and datagram[3:5] == b"\x00\x00"  # epoch 0
        and datagram[_HEADER_SIZE] == CLIENT_HELLO
    )


def plaintext_alert(datagram: bytes) -> tuple[int, int] | None:
    """``(level, description)`` of the first clear-text (epoch 0) alert in the datagram."""
    for record in records(datagram):
        if record.content_type == ALERT and record.epoch == 0 and len(record.fragment) == 2:
            return record.fragment[0], record.fragment[1]
    return None


def psk_identity(datagram: bytes) -> bytes | None:
    """The PSK identity of a clear-text PSK ClientKeyExchange (RFC 4279 §2: a 16-bit length,
    then the identity), if the datagram carries one."""
    for msg_type, body in _handshake_bodies(datagram):
        if msg_type == CLIENT_KEY_EXCHANGE and len(body) >= 2:
            length = int.from_bytes(body[:2], "big")
            if len(body) >= 2 + length:
                return body[2 : 2 + length]
    return None


@dataclass(frozen=True, slots=True)
class Hello:
    """What a ClientHello or ServerHello offered (RFC 5246 §7.4.1.2-3, RFC 6347 §4.2.1)."""

    msg_type: int  # CLIENT_HELLO or SERVER_HELLO
    cipher_suites: tuple[int, ...]
    extensions: tuple[int, ...]
    cookie: bytes = b""

    @property
    def offers_extended_master_secret(self) -> bool:
        return EXTENDED_MASTER_SECRET in self.extensions

    @property
    def offers_renegotiation_info(self) -> bool:
        return (
            RENEGOTIATION_INFO in self.extensions
            or EMPTY_RENEGOTIATION_INFO_SCSV in self.cipher_suites
        )


def hello_extensions(datagram: bytes) -> Hello | None:
    """The first ClientHello or ServerHello in the datagram, parsed; ``None`` if there is none
    (or it is malformed)."""
    for msg_type, body in _handshake_bodies(datagram):
        try:
            if msg_type == CLIENT_HELLO:
                return _client_hello(body)
            if msg_type == SERVER_HELLO:
                return _server_hello(body)
        except (IndexError, ValueError, struct.error):
            return None
    return None


def _extensions(body: bytes, offset: int) -> tuple[int, ...]:
    if offset == len(body):
        return ()  # no extensions block at all (RFC 5246 §7.4.1.2 allows that)
    total = int.from_bytes(body[offset : offset + 2], "big")
    offset += 2
    end = offset + total
    if end > len(body):
        raise ValueError("extensions overrun the message")
    found = []
    while offset + 4 <= end:
        ext_type, ext_len = struct.unpack_from("!HH", body, offset)
        found.append(ext_type)
        offset += 4 + ext_len
    return tuple(found)


def _client_hello(body: bytes) -> Hello:
    offset = 2 + 32  # client_version, random
    offset += 1 + body[offset]  # session_id
    cookie_len = body[offset]
    cookie = body[offset + 1 : offset + 1 + cookie_len]
    offset += 1 + cookie_len
    suites_len = int.from_bytes(body[offset : offset + 2], "big")
    suites = tuple(
        int.from_bytes(body[offset + 2 + i : offset + 4 + i], "big")
        for i in range(0, suites_len, 2)
    )
    offset += 2 + suites_len
    offset += 1 + body[offset]  # compression methods
    return Hello(CLIENT_HELLO, suites, _extensions(body, offset), cookie)


def _server_hello(body: bytes) -> Hello:
    offset = 2 + 32
    offset += 1 + body[offset]  # session_id
    suite = int.from_bytes(body[offset : offset + 2], "big")
    offset += 2 + 1  # cipher suite, compression method
    return Hello(SERVER_HELLO, (suite,), _extensions(body, offset))
