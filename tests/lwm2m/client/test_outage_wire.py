"""A real outage: the module against the embedded LwM2M server, which goes away and comes back
on the same port. The module notices at its next Update, backs off, and registers again by
itself; AT+QLWSTAT? follows. Events, not sleeps: every wait is for a URC or a server event."""

from __future__ import annotations

from emulator.adapters.lwm2m_server import LwM2MServer

from .conftest import ModuleFactory
from .harness import free_udp_port

EP = "urn:imei:869339060001965"


async def test_module_registers_again_after_the_server_was_down(
    make_module: ModuleFactory,
) -> None:
    port = free_udp_port()
    server = await LwM2MServer.start(coap=("127.0.0.1", port))
    module = await make_module()
    try:
        assert (await module.at(f'AT+QLWCFG="security",1,1000,"coap://127.0.0.1:{port}",0,3'))[
            -1
        ] == "OK"
        # Lifetime 4 s: an Update every 2 s. Back-off 1 s, at most 2 s, never giving up.
        assert (await module.at('AT+QLWCFG="server",1,4,1,60,86400,0,"U"'))[-1] == "OK"
        assert (await module.at('AT+QLWCFG="maxreconntime",1,2,0'))[-1] == "OK"
        assert await module.at("AT+QLWREG") == ["OK"]
        await module.wait_urc('"ready","successfully"')
        await server.wait_registered(EP, timeout=5)
        assert await module.stat() == 2

        await server.stop()  # the outage starts
        mark = len(module.urcs())
        await module.wait_urc('"update","failed"', timeout=20, since=mark)
        failed_at = len(module.urcs())
        assert await module.stat() in (1, 4)  # trying, or waiting for the next attempt
        # At least one Register is refused while the server is still down.
        await module.wait_urc('"ready","failed"', timeout=20, since=failed_at)

        server = await LwM2MServer.start(coap=("127.0.0.1", port))  # the server is back
        registration = await server.wait_registered(EP, timeout=20)
        assert registration.lifetime == 4
        await module.wait_urc('"ready","successfully"', timeout=20, since=failed_at)
        assert await module.stat() == 2
        # And it stays registered: the next Update is accepted by the new server.
        mark = len(module.urcs())
        await module.wait_urc('"update","successfully"', timeout=20, since=mark)
    finally:
        await server.stop()
