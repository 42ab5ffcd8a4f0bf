"""Fuzz: CoAP into the embedded LwM2M server, on the wire (its plain CoAP listener).

Each example sends its datagrams from one socket, then a CoAP ping (an Empty CON, RFC 7252
§4.3) whose Reset says the server has handled everything before it. Whatever was sent, every
answer is a well-formed message (an ACK or RST for a CON, with its Message ID), nothing is
answered 5.00, nothing is logged with a traceback, and a real client still registers."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator

import pytest
from aiocoap import ACK, CON, RST, Code, Message
from hypothesis import event, given
from hypothesis import strategies as st

from emulator.adapters.lwm2m_server import LwM2MServer

from .strategies import coap_datagrams, fuzz, lwm2m_requests, registration_requests


class _Wire:
    """A running server and a socket to it, on a loop of their own (Hypothesis calls the
    test body synchronously)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = self.loop.run_until_complete(
            LwM2MServer.start(coap=("127.0.0.1", 0), max_registrations=50)
        )
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.ping_mid = 0

    def exchange(self, datagrams: list[bytes]) -> list[Message]:
        return self.loop.run_until_complete(self._exchange(datagrams))

    async def _exchange(self, datagrams: list[bytes]) -> list[Message]:
        target = ("127.0.0.1", self.server.coap_port)
        for datagram in datagrams:
            await self.loop.sock_sendto(self.sock, datagram, target)
        self.ping_mid = (self.ping_mid + 1) % 0x10000
        ping = bytes([0x40, 0, *self.ping_mid.to_bytes(2, "big")])
        await self.loop.sock_sendto(self.sock, ping, target)
        answers: list[Message] = []
        while True:
            data = await asyncio.wait_for(self.loop.sock_recv(self.sock, 4096), 5)
            message = Message.decode(data)
            if message.mtype == RST and message.mid == self.ping_mid and not data[4:]:
                return answers
            answers.append(message)

    def close(self) -> None:
        self.sock.close()
        self.loop.run_until_complete(self.server.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def wire() -> Iterator[_Wire]:
    wire = _Wire()
    try:
        yield wire
    finally:
        wire.close()


def test_any_datagrams_leave_the_server_sane(wire: _Wire, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    @fuzz(300)
    @given(
        datagrams=st.lists(
            registration_requests() | lwm2m_requests() | coap_datagrams(), min_size=1, max_size=4
        )
    )
    def check(datagrams: list[bytes]) -> None:
        confirmable = {
            int.from_bytes(d[2:4], "big")
            for d in datagrams
            if len(d) >= 4 and d[0] >> 4 == 0x4  # version 1, CON
        }
        for answer in wire.exchange(datagrams):
            event(f"answer {answer.mtype.name} {answer.code}")
            if answer.mtype in (ACK, RST):
                assert answer.mid in confirmable, answer
            assert answer.code != Code.INTERNAL_SERVER_ERROR, (answer, answer.payload)
            if answer.mtype == RST:
                assert answer.code == Code.EMPTY and not answer.token

    check()
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # Still serving: a well-formed Register is created.
    register = Message(code=Code.POST, uri_path=("rd",), uri_query=("ep=after-fuzz",))
    register.mtype, register.mid, register.token = CON, 0x7777, b"af"
    register.payload = b"</1/0>,</3/0>"
    register.opt.content_format = 40
    (created,) = wire.exchange([bytes(register.encode())])
    assert created.code == Code.CREATED
