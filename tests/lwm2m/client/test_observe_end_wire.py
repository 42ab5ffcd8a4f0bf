"""RFC 7641 §3.6 on the wire: a server that answers a (NON) notification with RST has lost
interest; the module ends that observation and sends no more (Leshan 1.x cancels this way)."""

from __future__ import annotations

import asyncio

import aiocoap
from aiocoap.numbers.codes import Code

from emulator.commands.lwm2m import client_for

from .conftest import ModuleFactory
from .test_failures_wire import SilentServer, raw, register_by_hand


async def test_rst_to_a_notification_ends_the_observation(make_module: ModuleFactory) -> None:
    server = await SilentServer.start()
    try:
        module = await make_module()
        device = await register_by_hand(server, module, lifetime=600)
        client = client_for(module.module)

        async def next_message(timeout: float = 5.0) -> aiocoap.Message:
            count = len(server.datagrams)
            while len(server.datagrams) == count:
                server.arrived.clear()
                await asyncio.wait_for(server.arrived.wait(), timeout)
            return aiocoap.Message.decode(server.datagrams[count][0])

        pmax = raw(
            Code.PUT, aiocoap.CON, 0x2001, b"wa", uri_path=("3", "0", "13"), uri_query=("pmax=1",)
        )
        server.send(pmax.encode(), device)
        assert (await next_message()).code == Code.CHANGED
        observe = raw(Code.GET, aiocoap.CON, 0x2002, b"ob", uri_path=("3", "0", "13"), observe=0)
        server.send(observe.encode(), device)
        first = await next_message()
        assert first.code == Code.CONTENT and first.opt.observe is not None
        assert [o.token for o in client.observations.observations()] == [b"ob"]
        notification = await next_message()
        assert notification.token == b"ob" and notification.mtype == aiocoap.NON
        reset = aiocoap.Message(code=Code.EMPTY)
        reset.mtype, reset.mid = aiocoap.RST, notification.mid
        server.send(reset.encode(), device)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while client.observations.observations():
            assert loop.time() < deadline, "the RST did not end the observation"
            await asyncio.sleep(0.02)
        # pmax is 1 s: the next notification was due within a period of the last one, which
        # came before the RST; a period and a half without it (bounded negative check).
        count = len(server.datagrams)
        await asyncio.sleep(1.5)
        later = [aiocoap.Message.decode(d) for d, _ in server.datagrams[count:]]
        assert not [m for m in later if m.token == b"ob"], later
        assert await module.stat() == 2
    finally:
        server.close()
