"""Fuzz: CoAP from a server into the module (a registered LwM2M client on a fake clock).

Each datagram goes the way the adapter takes it: the screen for undecodable datagrams
(RFC 7252 §3, §4.2/4.3), aiocoap's decoding, Block1 reassembly, then the sans-I/O client.
Whatever arrives, nothing raises, the answer is a CoAP response code that is not 5.00 (an
internal error would be our bug), and the AT port shows only well-formed URCs (and boot lines
after a Reboot execute), never a result code."""

from __future__ import annotations

import asyncio
import re

import aiocoap
from aiocoap import error as coap_error
from hypothesis import event, given
from hypothesis import strategies as st

from emulator.adapters.block1 import Block1Assembly
from emulator.adapters.lwm2m_client import _to_request
from emulator.adapters.undecodable import Disposition, screen
from tests.lwm2m.client.rig import Rig

from .strategies import coap_datagrams, fuzz, lwm2m_requests

#: A URC line: +QLWURC: then quoted strings and numbers only; nothing a server sends can
#: end it early or add a line of its own.
_URC = re.compile(r'\+QLWURC: "[a-z_ ]+"(,("([^"\\\r\n]|\\[0-9A-F]{2})*"|-?\d+))*')

_RESULT_CODES = {"OK", "ERROR", "CONNECT", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"}


@fuzz(400)
@given(datagrams=st.lists(lwm2m_requests() | coap_datagrams(), min_size=1, max_size=4))
def test_any_datagram_from_the_server_gets_a_sane_answer(datagrams: list[bytes]) -> None:
    asyncio.run(_serve(datagrams))  # Block1 reassembly times assemblies out on a loop


async def _serve(datagrams: list[bytes]) -> None:
    rig = Rig()
    rig.register()
    spool = Block1Assembly(4096)
    mark = len(rig.text)
    for datagram in datagrams:
        if screen(datagram).disposition is not Disposition.DELIVER:
            continue
        message = aiocoap.Message.decode(datagram)  # the screen passed it: must decode
        if not message.code.is_request():
            continue  # responses and empty messages are aiocoap's (matched or dropped)
        try:
            if message.opt.block1 is not None:
                message.remote = _Remote()
                message = spool.feed_and_take(message)
        except coap_error.RenderableError as answer:
            assert answer.to_message().code.is_response()
            continue
        response = rig.server_request(_to_request(message))
        event(f"answered {response.code >> 5}.{response.code & 0x1F:02d}")
        assert 0x40 <= response.code < 0xC0, response  # 2.xx, 4.xx or 5.xx
        assert response.code != 0xA0, f"5.00 for {datagram.hex()}: {response.payload!r}"
        rig.advance(0.1)
    for line in rig.text[mark:].split("\r\n"):
        # No final result code the host did not ask for (a Reboot execute shows boot lines).
        assert line not in _RESULT_CODES and not line.startswith("+CME ERROR"), repr(line)
        assert not line.startswith("+QLWURC") or _URC.fullmatch(line), repr(line)


class _Remote:
    """What Block1 reassembly keys on (one peer)."""

    blockwise_key = "server"


@fuzz(1000)
@given(datagram=coap_datagrams() | st.binary(max_size=80))
def test_the_screen_decides_every_datagram_the_rfc_way(datagram: bytes) -> None:
    screening = screen(datagram)
    if screening.disposition is Disposition.DELIVER:
        aiocoap.Message.decode(datagram)  # what is delivered decodes
    elif screening.disposition is Disposition.RESET:
        assert datagram[0] >> 4 == 0x4  # only a version-1 Confirmable message is reset
        assert screening.reset == bytes([0x70, 0, *datagram[2:4]])
    else:
        assert not screening.reset
