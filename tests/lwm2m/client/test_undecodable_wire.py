"""Datagrams that are not CoAP, at the module's LwM2M socket (RFC 7252 §3, §4.2, §4.3) and
Block1 writes that skip a block or grow too large (RFC 7959 §2.9.2, §2.9.3).

The module stays registered and answers the next real request; the host sees no URC about
it; the log gets one line for the peer, not a traceback per datagram."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiocoap
import pytest
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import BlockOption

from emulator.adapters.lwm2m_client import CoapAdapter

from .conftest import ModuleFactory
from .harness import AtModule
from .test_failures_wire import SilentServer, raw, register_by_hand

NOT_UTF8_PATH = bytes.fromhex("42010001465ab1ff")  # CON GET, Uri-Path 0xff, MID 0x0001


@dataclass
class Registered:
    module: AtModule
    server: SilentServer
    device: Any  # the module's socket address

    async def answer(self, data: bytes, timeout: float = 5.0) -> aiocoap.Message:
        """Send ``data`` to the module and return the next datagram it sends back."""
        count = len(self.server.datagrams)
        self.server.send(data, self.device)
        while len(self.server.datagrams) == count:
            self.server.arrived.clear()
            await asyncio.wait_for(self.server.arrived.wait(), timeout)
        return aiocoap.Message.decode(self.server.datagrams[count][0])

    def adapter(self) -> CoapAdapter:
        host = self.module.host
        assert host is not None
        adapters = [s for s in host.services if isinstance(s, CoapAdapter)]
        assert len(adapters) == 1
        return adapters[0]


@pytest.fixture
async def registered(make_module: ModuleFactory) -> AsyncIterator[Registered]:
    server = await SilentServer.start()
    try:
        module = await make_module()
        device = await register_by_hand(server, module, lifetime=600)
        yield Registered(module, server, device)
    finally:
        server.close()


async def test_junk_is_reset_or_dropped_and_the_module_keeps_serving(
    registered: Registered, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    reset = await registered.answer(NOT_UTF8_PATH)
    assert reset.mtype == aiocoap.RST and reset.code == Code.EMPTY and reset.mid == 0x0001
    non = bytearray(NOT_UTF8_PATH)
    non[0] = 0x52  # the same as a NON: dropped (RFC 7252 §4.3)
    for datagram in [bytes(non), b"\xff" * 30, b"\x40", bytes.fromhex("70450009")] * 10:
        registered.server.send(datagram, registered.device)
    marker = len(registered.module.urcs())
    read = raw(Code.GET, aiocoap.CON, 0x2001, b"rd", uri_path=("3", "0", "0"))
    answer = await registered.answer(read.encode())  # the first datagram back answers it
    assert answer.mid == 0x2001 and answer.code == Code.CONTENT
    assert answer.payload == b"Quectel"
    assert registered.module.urcs()[marker:] == []
    assert await registered.module.stat() == 2
    junk = registered.adapter().junk
    assert (junk.total, junk.resets) == (41, 1)
    lines = [r.getMessage() for r in caplog.records if "undecodable" in r.getMessage()]
    assert len(lines) == 1 and "Reset" in lines[0], lines
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


def block(number: int, payload: bytes, mid: int, *, more: bool = True) -> bytes:
    """A PUT of /5/0/0 (firmware package) carrying block ``number`` of 64-byte blocks."""
    message = raw(Code.PUT, aiocoap.CON, mid, b"fw", uri_path=("5", "0", "0"))
    message.opt.content_format = 42  # application/octet-stream
    message.opt.block1 = BlockOption.BlockwiseTuple(number, more, 2)
    message.payload = payload
    return bytes(message.encode())


async def test_a_block1_gap_is_4_08(registered: Registered) -> None:
    first = await registered.answer(block(0, bytes(64), 0x3000))
    assert first.code == Code.CONTINUE
    gap = await registered.answer(block(3, bytes(64), 0x3001))
    assert gap.mid == 0x3001 and gap.code == Code.REQUEST_ENTITY_INCOMPLETE
    # The transfer can start over and complete.
    assert (await registered.answer(block(0, bytes(64), 0x3002))).code == Code.CONTINUE
    done = await registered.answer(block(1, b"end", 0x3003, more=False))
    assert done.code == Code.CHANGED


async def test_a_block1_body_past_the_package_limit_is_4_13(registered: Registered) -> None:
    limit = registered.adapter().client.settings.firmware.max_package_bytes
    number = limit // 64  # the block that would cross the limit
    answer = await registered.answer(block(number, bytes(64), 0x3100))
    assert answer.code == Code.REQUEST_ENTITY_TOO_LARGE
    assert answer.opt.size1 == limit
