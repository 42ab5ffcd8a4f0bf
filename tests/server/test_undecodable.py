"""Datagrams that are not CoAP, at the server's listener (RFC 7252 §3, §4.2, §4.3; RFC 7959).

A Confirmable message with a format error gets a Reset with its Message ID; anything else
undecodable is dropped; each is counted, and the log gets one line per peer per interval,
not one (or a traceback) per datagram. A Block1 request with a gap gets 4.08."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from aiocoap import CON, NON, RST, Code, Message
from aiocoap.optiontypes import BlockOption

from emulator.adapters.lwm2m_server import LwM2MServer

from .test_registration_interface import OBJECTS, RawClient

#: A CON GET whose Uri-Path option (ff) is not UTF-8, Message ID 0x0001.
NOT_UTF8_PATH = bytes.fromhex("42010001465ab1ff")


@pytest.fixture
async def raw(server: LwM2MServer) -> AsyncIterator[RawClient]:
    client = RawClient(server.coap_port)
    try:
        yield client
    finally:
        client.close()


def junk_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "undecodable" in r.getMessage()]


async def test_a_confirmable_format_error_gets_a_reset(
    server: LwM2MServer, raw: RawClient
) -> None:
    await raw.send_bytes(NOT_UTF8_PATH)
    reset = await raw.receive()
    assert reset.mtype == RST and reset.code == Code.EMPTY and reset.mid == 0x0001
    assert reset.token == b""
    # A token length of 9-15 is a format error too (RFC 7252 §3), and so is a Reset that
    # carries a code: the first is answered, the second is not (§4.2: never answer a Reset).
    await raw.send_bytes(bytes.fromhex("49010002") + bytes(9))
    reset = await raw.receive()
    assert reset.mtype == RST and reset.mid == 0x0002
    await raw.send_bytes(bytes.fromhex("70450003"))
    # A stray HTTP request starts like a CoAP CON ('G' is version 1, CON, token length 7).
    await raw.send_bytes(b"GET / HTTP/1.0\r\n\r\n")
    reset = await raw.receive()
    assert reset.mtype == RST and reset.mid == int.from_bytes(b"T ", "big")
    created = await raw.request(Code.POST, ("rd",), ("ep=after-reset",), OBJECTS)
    assert created.code == Code.CREATED  # the next datagram read is the answer to this
    listener = server.listeners["coap"]
    assert listener.junk is not None
    assert (listener.junk.total, listener.junk.resets) == (4, 3)


async def test_undecodable_non_and_foreign_datagrams_are_dropped_quietly(
    server: LwM2MServer, raw: RawClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    non = bytearray(NOT_UTF8_PATH)
    non[0] = 0x52  # the same, Non-confirmable
    junk = [bytes(non), b"", b"\x00", b"\xff" * 40, b"\x90\x01\x02\x03", b"\x40\x01"]
    for _ in range(10):  # 60 datagrams: well within the socket buffer
        for datagram in junk:
            await raw.send_bytes(datagram)
    created = await raw.request(Code.POST, ("rd",), ("ep=after-junk",), OBJECTS)
    assert created.code == Code.CREATED  # nothing came back before this answer
    listener = server.listeners["coap"]
    assert listener.junk is not None and listener.junk.total == 60
    assert listener.junk.resets == 0
    lines = junk_lines(caplog)
    assert len(lines) == 1, lines  # one line for this peer within the interval
    assert "127.0.0.1:" in lines[0] and "dropped" in lines[0]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert not [r for r in caplog.records if "unparsable" in r.getMessage()]


async def test_a_block1_gap_is_4_08(server: LwM2MServer, raw: RawClient) -> None:
    """RFC 7959 §2.9.2: a block that does not follow the ones received is 4.08."""
    payload = b"</1/0>," + b",".join(b"</3303/%d>" % i for i in range(20))

    def block(number: int, mid: int) -> bytes:
        message = Message(code=Code.POST, uri_path=("rd",), uri_query=("ep=gap",))
        message.mtype, message.mid, message.token = CON, mid, b"bk"
        message.opt.content_format = 40
        message.opt.block1 = BlockOption.BlockwiseTuple(number, True, 0)  # 16-byte blocks
        message.payload = payload[number * 16 : number * 16 + 16]
        return bytes(message.encode())

    await raw.send_bytes(block(0, 0x3000))
    assert (await raw.receive()).code == Code.CONTINUE
    await raw.send_bytes(block(3, 0x3001))
    answer = await raw.receive()
    assert answer.mid == 0x3001 and answer.code == Code.REQUEST_ENTITY_INCOMPLETE
    assert server.registration("gap") is None


def test_every_kind_of_datagram_is_screened_the_rfc_way() -> None:
    from emulator.adapters.undecodable import Disposition, screen

    ping = bytes.fromhex("40000007")
    assert screen(ping).disposition is Disposition.DELIVER  # CoAP ping: aiocoap answers it
    assert screen(bytes.fromhex("60000007")).disposition is Disposition.DELIVER  # empty ACK
    assert screen(b"\x40\x01").disposition is Disposition.DROP  # shorter than the header
    assert screen(bytes.fromhex("82010001")).disposition is Disposition.DROP  # version 2
    assert screen(bytes.fromhex("400000071234")).reset == bytes.fromhex("70000007")
    assert screen(bytes.fromhex("60010007")).disposition is Disposition.DROP  # ACK + request
    assert screen(bytes.fromhex("50000007")).disposition is Disposition.DROP  # Empty NON
    assert screen(bytes.fromhex("40e00007")).reset == bytes.fromhex("70000007")  # 7.00
    request = Message(code=Code.GET, uri_path=("3", "0"))
    request.mtype, request.mid, request.token = NON, 9, b"t"
    assert screen(bytes(request.encode())).disposition is Disposition.DELIVER


async def test_a_duplicate_is_answered_from_memory_and_memory_is_bounded(
    server: LwM2MServer, raw: RawClient
) -> None:
    """RFC 7252 §4.5: a CON repeated with its Message ID gets the first answer again (one
    registration, one location); a flood of fresh Message IDs keeps a bounded memory."""
    register = Message(code=Code.POST, uri_path=("rd",), uri_query=("ep=dup",))
    register.mtype, register.mid, register.token = CON, 0x4000, b"d1"
    register.payload, register.opt.content_format = OBJECTS, 40
    await raw.send_bytes(bytes(register.encode()))
    first = await raw.receive()
    await raw.send_bytes(bytes(register.encode()))
    again = await raw.receive()
    assert first.code == again.code == Code.CREATED and again.mid == 0x4000
    assert first.opt.location_path == again.opt.location_path
    assert len(server.registrations()) == 1

    from emulator.adapters.dedup import BoundedRecent

    now = [0.0]
    recent = BoundedRecent(limit=100, per_peer=10, lifetime=247.0, clock=lambda: now[0])
    for mid in range(1000):
        recent.remember(("flood", mid))
    assert len(recent) == 10 and ("flood", 999) in recent and ("flood", 989) not in recent
    for peer in range(50):
        recent.remember((f"device{peer}", 1))
        recent.remember((f"device{peer}", 2))
    assert len(recent) == 100 and ("flood", 999) not in recent  # the oldest went first
    assert ("device49", 2) in recent and recent.forgotten_early == 990 + 10
    now[0] = 300.0  # past the exchange lifetime: everything older goes with the next one
    recent.remember(("device0", 3))
    assert list(recent) == [("device0", 3)]
