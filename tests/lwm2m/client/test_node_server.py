"""The module against lwm2m-node-lib's LwM2M server (an independent peer), over plain CoAP."""

from __future__ import annotations

from .conftest import ModuleFactory
from .harness import NodeServer


async def configure(module, server: NodeServer, lifetime: int = 60) -> None:
    addr = f"coap://127.0.0.1:{server.port}"
    assert (await module.at(f'AT+QLWCFG="security",1,1000,"{addr}",0,3'))[-1] == "OK"
    assert (await module.at(f'AT+QLWCFG="server",1,{lifetime},2,60,86400,1,"U"'))[-1] == "OK"


async def test_register_read_deregister(make_module: ModuleFactory, node_server: NodeServer) -> None:
    module = await make_module()
    await configure(module, node_server)
    assert await module.at("AT+QLWREG") == ["OK"]
    await module.wait_urc('"ready","successfully",1000')
    registration = await node_server.event("registration")
    assert registration["ep"] == "urn:imei:869339060001965"
    print(registration)
    answer = await node_server.command("read", ep=registration["ep"], path="/3/0/0")
    print(answer)
    assert answer["result"] == "Quectel"
    print(module.urcs())
