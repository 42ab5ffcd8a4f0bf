"""A client nobody here wrote: the npm lwm2m-node-lib client registers with the embedded
server, which reads and writes its resources and sees it deregister."""

from __future__ import annotations

from emulator.adapters.lwm2m_server import Deregistered, LwM2MServer
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.model import SingleResource

from .peers import NodeClient


async def test_node_client_registers_is_read_and_written_and_deregisters(
    server: LwM2MServer,
) -> None:
    node = await NodeClient.start(server.coap_port, "node-ep", lifetime=120)
    try:
        registered = await node.next_event()
        assert registered["event"] == "registered"
        registration = await server.wait_registered("node-ep", timeout=5)
        assert registered["location"].strip("/") == f"rd/{registration.registration_id}"
        assert registration.lifetime == 120
        assert registration.objects == {3: (0,)}

        # lwm2m-node-lib answers single resources in plain text (it drops a TLV Accept).
        manufacturer = await server.read("node-ep", "/3/0/0", format=ContentFormat.TEXT)
        assert manufacturer == SingleResource(0, "Telefonica I+D")
        assert await node.next_event() == {"event": "read", "path": "/3/0/0"}

        await server.write("node-ep", "/3/0/14", "+02", format=ContentFormat.TEXT)
        assert await node.next_event() == {"event": "write", "path": "/3/0/14", "value": "+02"}
        utc_offset = await server.read("node-ep", "/3/0/14", format=ContentFormat.TEXT)
        assert utc_offset == SingleResource(14, "+02")
        assert (await node.next_event())["event"] == "read"

        with server.subscribe() as events:
            await node.command("deregister")
            ended = await events.wait_for(lambda e: isinstance(e, Deregistered), timeout=5)
        assert ended == Deregistered(endpoint="node-ep", registration=registration)
        assert (await node.next_event())["event"] == "deregistered"
        assert server.registration("node-ep") is None
    finally:
        await node.close()
