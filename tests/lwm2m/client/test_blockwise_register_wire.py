"""Register on the wire when one message is not enough (RFC 7959).

Register, Update and Deregister go out on the module's request interface directly when their
body fits one message (emulator/adapters/coap_exchange.py); a link payload past the server's
1024-byte payload size still goes in Block1 blocks (§2.5), each confirmed by 2.31 Continue,
and a response that announces more Block2 blocks (§2.4) is fetched to its end before the
module counts itself registered.
"""

from __future__ import annotations

import asyncio

import aiocoap
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import BlockOption

from emulator.commands.lwm2m import client_for

from .conftest import ModuleFactory
from .harness import AtModule
from .test_failures_wire import SilentServer, configure, raw

APN_PROFILES = 11  # a multi-instance object the module registers (OMA LwM2M object 11)


async def next_datagram(server: SilentServer, index: int) -> tuple[aiocoap.Message, object]:
    while len(server.datagrams) <= index:
        server.arrived.clear()
        await asyncio.wait_for(server.arrived.wait(), 5)
    data, device = server.datagrams[index]
    return aiocoap.Message.decode(data), device


async def start_register(
    make_module: ModuleFactory, instances: int
) -> tuple[AtModule, SilentServer, list[str]]:
    """A module with ``instances`` more APN profiles starts registering with a server that
    answers nothing by itself; the links of the instances added."""
    server = await SilentServer.start()
    module = await make_module()
    assert module.host is not None
    store = client_for(module.host.module).store
    added = [f"<{store.add_instance(APN_PROFILES)}>" for _ in range(instances)]
    await configure(module, server.port, lifetime=600)
    assert await module.at("AT+QLWREG") == ["OK"]
    return module, server, added


async def test_a_register_past_one_message_goes_in_block1_blocks(
    make_module: ModuleFactory,
) -> None:
    module, server, added = await start_register(make_module, instances=150)
    try:
        body = b""
        index = 0
        while True:
            request, device = await next_datagram(server, index)
            index += 1
            if request.mtype is not aiocoap.CON:
                continue
            block1 = request.opt.block1
            assert request.code == Code.POST and request.opt.uri_path == ("rd",)
            assert block1 is not None, "a Register of this size needs Block1"
            assert len(request.payload) <= 1024
            if block1.block_number == 0:
                assert request.opt.size1 is not None and request.opt.size1 > 1024
                body = b""
            assert block1.start == len(body)
            body += request.payload
            if block1.more:
                answer = raw(Code.CONTINUE, aiocoap.ACK, request.mid, request.token)
                answer.opt.block1 = block1
                server.send(answer.encode(), device)
                continue
            created = raw(
                Code.CREATED, aiocoap.ACK, request.mid, request.token, location_path=("rd", "9")
            )
            created.opt.block1 = block1
            server.send(created.encode(), device)
            break
        await module.wait_urc('"ready","successfully",1000')
        links = body.decode()
        assert len(body) > 1024
        assert all(link in links.split(",") for link in added), (added, links)
    finally:
        server.close()


async def test_a_register_answer_in_block2_blocks_is_fetched_to_its_end(
    make_module: ModuleFactory,
) -> None:
    module, server, _ = await start_register(make_module, instances=0)
    try:
        register, device = await next_datagram(server, 0)
        assert register.opt.block1 is None and register.code == Code.POST
        first = raw(
            Code.CREATED, aiocoap.ACK, register.mid, register.token, location_path=("rd", "5")
        )
        first.opt.block2 = BlockOption.BlockwiseTuple(0, True, 2)  # 64-byte blocks, more
        first.payload = b"a" * 64
        server.send(first.encode(), device)
        index = 1
        while True:  # the same Register, asking for block 1 (RFC 7959 §2.4)
            second, device = await next_datagram(server, index)
            index += 1
            if second.mtype is aiocoap.CON:
                break
        assert second.code == Code.POST and second.opt.uri_path == ("rd",)
        assert second.opt.block2 is not None and second.opt.block2.block_number == 1
        last = raw(Code.CREATED, aiocoap.ACK, second.mid, second.token)
        last.opt.block2 = BlockOption.BlockwiseTuple(1, False, 2)
        last.payload = b"b" * 10
        server.send(last.encode(), device)
        await module.wait_urc('"ready","successfully",1000')
        # Registered only once the last block came; the location of the first holds.
        assert await module.at("AT+QLWUPDATE") == ["OK"]
        while True:
            update, _ = await next_datagram(server, index)
            index += 1
            if update.mtype is aiocoap.CON:
                break
        assert update.code == Code.POST and update.opt.uri_path == ("rd", "5")
    finally:
        server.close()
