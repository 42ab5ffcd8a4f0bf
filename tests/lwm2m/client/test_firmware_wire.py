"""Firmware Update over the wire: lwm2m-node-lib writes the Package URI; the module fetches the
package itself (HTTP, or CoAP with Block2) or hands the URI to the host, and applies it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiocoap
import pytest
from aiocoap import resource

from emulator.module.nvstore import MemoryNvStore

from .conftest import ModuleFactory
from .harness import FAST, AtModule, NodeServer, lwm2m_profile

EP = "urn:imei:869339060001965"
PACKAGE = bytes(range(256)) * 400  # 100 KiB


class HttpPackage:
    """A one-file HTTP/1.1 server on loopback (asyncio streams); counts its GETs."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requests: list[str] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> HttpPackage:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/fw/EC200U_R04.bin"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = (await reader.readuntil(b"\r\n\r\n")).decode()
        self.requests.append(request.split("\r\n")[0])
        if request.startswith("GET /fw/EC200U_R04.bin "):
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(self.body)}\r\n\r\n"
            writer.write(head.encode() + self.body)
        else:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def http_package() -> AsyncIterator[HttpPackage]:
    server = await HttpPackage(PACKAGE).start()
    try:
        yield server
    finally:
        await server.stop()


async def register(module: AtModule, server: NodeServer) -> None:
    await module.at(f'AT+QLWCFG="security",1,1000,"coap://127.0.0.1:{server.port}",0,3')
    await module.at('AT+QLWCFG="server",1,60,1,60,86400,1,"U"')
    await module.at("AT+QLWREG")
    await module.wait_urc('"ready","successfully",1000')


async def fw(server: NodeServer, resource_id: int) -> str:
    answer = await server.command("read", ep=EP, path=f"/5/0/{resource_id}")
    assert answer["ok"], answer
    return str(answer["result"])


async def test_http_download_and_automatic_update(
    make_module: ModuleFactory, node_server: NodeServer, http_package: HttpPackage
) -> None:
    nv = MemoryNvStore()
    module = await make_module(lwm2m_profile(**FAST), nv=nv)
    assert (await module.at('AT+QLWCFG="startup",1'))[-1] == "OK"
    await register(module, node_server)
    await node_server.event("registration")
    answer = await node_server.command("write", ep=EP, path="/5/0/1", value=http_package.url)
    assert answer["ok"], answer
    # Download, Updating (state 3), then the module restarts onto the new firmware...
    await module._until(lambda: module.lines.count("RDY") == 2, 10, "the restart")
    assert http_package.requests == ["GET /fw/EC200U_R04.bin HTTP/1.1"]
    # ... and, with "startup",1, registers again by itself and reports success.
    second = await node_server.event("registration", timeout=5)
    assert second["ep"] == EP
    assert await fw(node_server, 5) == "1"  # Update Result: success
    assert await fw(node_server, 3) == "0"  # State: Idle
    assert await fw(node_server, 6) == "EC200U_R04.bin"


async def test_http_404_reports_invalid_uri(
    make_module: ModuleFactory, node_server: NodeServer, http_package: HttpPackage
) -> None:
    module = await make_module()
    await register(module, node_server)
    await node_server.event("registration")
    await node_server.command(
        "writeAttributes", ep=EP, path="/5/0/5", attributes={"pmin": 0, "pmax": 60}
    )
    first = await node_server.command("observe", ep=EP, path="/5/0/5")
    assert first["result"] == "0"
    missing = http_package.url.replace("EC200U_R04", "nothing")
    await node_server.command("write", ep=EP, path="/5/0/1", value=missing)
    notification = await node_server.event("notification")
    assert notification["value"] == "7"  # Update Result: invalid URI
    assert http_package.requests == ["GET /fw/nothing.bin HTTP/1.1"]
    assert await fw(node_server, 3) == "0"


async def test_coap_block2_download_with_manual_update(
    make_module: ModuleFactory, node_server: NodeServer
) -> None:
    class Package(resource.Resource):  # type: ignore[misc]  # aiocoap is untyped
        async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
            return aiocoap.Message(payload=PACKAGE[:5000])  # > 1 KiB: Block2 (RFC 7959)

    site = resource.Site()
    site.add_resource(("fw",), Package())
    context = await aiocoap.Context.create_server_context(
        site, bind=("127.0.0.1", 0), transports=["udp6"]
    )
    try:
        udp = context.request_interfaces[0].token_interface.message_interface
        port = udp.transport.get_extra_info("socket").getsockname()[1]
        module = await make_module()
        await module.at('AT+QLWCFG="fota",1,0')
        await register(module, node_server)
        await node_server.event("registration")
        before = len(module.urcs())
        answer = await node_server.command(
            "write", ep=EP, path="/5/0/1", value=f"coap://127.0.0.1:{port}/fw"
        )
        assert answer["ok"], answer
        await module.wait_urc('"fota/downloaded",5000', since=before)
        assert await fw(node_server, 3) == "2"  # Downloaded: waits for the server's Update
        answer = await node_server.command("execute", ep=EP, path="/5/0/2")
        assert answer["ok"], answer
        await module._until(lambda: module.lines.count("RDY") == 2, 5, "the restart")
    finally:
        await context.shutdown()


async def test_manual_download_hands_the_url_to_the_host(
    make_module: ModuleFactory, node_server: NodeServer
) -> None:
    module = await make_module()
    await module.at('AT+QLWCFG="fota",0,0')
    await register(module, node_server)
    await node_server.event("registration")
    url = "http://192.0.2.1/fw.bin"
    await node_server.command("write", ep=EP, path="/5/0/1", value=url)
    assert await module.wait_urc(f'"fota/pkgurl","{url}"')
    assert await fw(node_server, 3) == "0"
