"""The options of a module's requests on the wire, built once and reused for the Updates of a
registration (emulator.adapters.coap_exchange.PreparedOptions): what the server receives must
be what a fresh build would send, and a new registration's location must show at once."""

from __future__ import annotations

import asyncio
import copy

import aiocoap
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import BlockOption

from emulator.adapters.coap_exchange import PreparedOptions

from .conftest import ModuleFactory
from .harness import AtModule
from .test_failures_wire import SilentServer, raw, register_by_hand


async def next_request(server: SilentServer, count: int) -> aiocoap.Message:
    """The module's request after the first ``count`` datagrams (waits for it)."""
    while len(server.datagrams) <= count:
        server.arrived.clear()
        await asyncio.wait_for(server.arrived.wait(), 3)
    return aiocoap.Message.decode(server.datagrams[count][0])


async def update(server: SilentServer, module: AtModule, answer: Code) -> aiocoap.Message:
    """``AT+QLWUPDATE``; the server answers the Update with ``answer``."""
    count = len(server.datagrams)
    assert await module.at("AT+QLWUPDATE") == ["OK"]
    request = await next_request(server, count)
    device = server.datagrams[count][1]
    server.send(raw(answer, aiocoap.ACK, request.mid, request.token).encode(), device)
    return request


async def test_updates_follow_the_location_of_a_new_registration(
    make_module: ModuleFactory,
) -> None:
    server = await SilentServer.start()
    try:
        module = await make_module()
        device = await register_by_hand(server, module)  # location /rd/7
        first = await update(server, module, Code.CHANGED)
        await module.wait_urc('"update","successfully",1000')
        second = await update(server, module, Code.CHANGED)
        for request in (first, second):
            assert request.code == Code.POST and request.opt.uri_path == ("rd", "7")
            assert request.opt.uri_query == () and request.payload == b""
        # The same options, byte for byte, in two messages with their own token and ID.
        assert first.opt.encode() == second.opt.encode()
        assert (first.mid, first.token) != (second.mid, second.token)
        # The server forgot the registration: a new Register, a new location.
        before = len(module.urcs())
        count = len(server.datagrams)
        await update(server, module, Code.NOT_FOUND)
        register = await next_request(server, count + 1)
        assert register.opt.uri_path == ("rd",) and register.opt.content_format == 40
        created = raw(
            Code.CREATED, aiocoap.ACK, register.mid, register.token, location_path=("rd", "9")
        )
        server.send(created.encode(), device)
        await module.wait_urc('"ready","successfully",1000', since=before)
        moved = await update(server, module, Code.CHANGED)
        assert moved.opt.uri_path == ("rd", "9")
        assert moved.opt.encode() == aiocoap.Message(uri_path=("rd", "9")).opt.encode()
    finally:
        server.close()


def test_prepared_options_encode_as_built_and_follow_changes() -> None:
    template = PreparedOptions()
    template.uri_path = ("rd", "a-long-location-segment-of-twenty-chars")
    template.uri_query = ("lt=120", "b=U")
    template.content_format = 40
    fresh = aiocoap.Message(
        uri_path=("rd", "a-long-location-segment-of-twenty-chars"),
        uri_query=("lt=120", "b=U"),
        content_format=40,
    ).opt
    assert template.encode() == fresh.encode()
    one, two = template.copy(), template.copy()
    assert one.encode() == two.encode() == fresh.encode()
    # Encoded once for all the copies (the adapter never encodes the template itself).
    unencoded = PreparedOptions()
    unencoded.uri_path = ("rd", "7")
    copies = [unencoded.copy(), unencoded.copy()]
    assert copies[0].encode() is copies[1].encode()
    # A change to a copy shows in its encoding, and only there.
    one.block2 = BlockOption.BlockwiseTuple(1, False, 6)
    fresh.block2 = BlockOption.BlockwiseTuple(1, False, 6)
    assert one.encode() == fresh.encode() != two.encode()
    assert template.encode() == two.encode()
    del one.block2
    assert one.encode() == two.encode()
    # aiocoap's block-wise copies deep-copy the options, then set theirs.
    message = aiocoap.Message(code=Code.GET)
    message.opt = template.copy()
    follow_up = message.copy(block2=BlockOption.BlockwiseTuple(2, False, 6))
    assert follow_up.opt.block2 == (2, False, 6)
    assert follow_up.opt.encode() != template.encode()
    assert copy.deepcopy(template).encode() == template.encode()
    decoded = PreparedOptions()
    assert decoded.decode(fresh.encode() + b"\xff\x01") == b"\x01"
    assert decoded.encode() == fresh.encode()
