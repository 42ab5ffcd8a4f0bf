"""DTLS-PSK against libcoap's own DTLS servers (Debian libcoap3-bin, OpenSSL build).

``coap-rd-openssl`` is a CoRE resource directory: it takes ``POST /rd?ep=...`` and answers
2.01 with a Location-Path like an LwM2M server's registration interface. ``coap-server-openssl``
shakes hands but has no ``/rd``: a registration there is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from .conftest import ModuleFactory
from .harness import AtModule, LibcoapServer

KEY = "secretPSK"


@pytest.fixture
async def rd_server() -> AsyncIterator[LibcoapServer]:
    server = await LibcoapServer.start(KEY, program="coap-rd-openssl")
    try:
        yield server
    finally:
        await server.stop()


async def configure(module: AtModule, port: int, key_hex: str) -> None:
    security = f'AT+QLWCFG="security",1,1000,"coaps://127.0.0.1:{port}",0,0,"dev-1","{key_hex}"'
    assert (await module.at(security))[-1] == "OK"
    assert (await module.at('AT+QLWCFG="server",1,60,1,60,86400,0,"U"'))[-1] == "OK"


async def test_handshake_register_and_update_refused(
    make_module: ModuleFactory, rd_server: LibcoapServer
) -> None:
    module = await make_module()
    await configure(module, rd_server.dtls_port, KEY.encode().hex())
    assert await module.at("AT+QLWREG") == ["OK"]
    await module.wait_urc('"ready"')
    assert module.urcs() == [
        '+QLWURC: "pdp active","successfully","cmnet"',
        '+QLWURC: "initial","successfully",1000',
        '+QLWURC: "dtls","successfully",1000',
        '+QLWURC: "registering"',
        '+QLWURC: "ready","successfully",1000',
    ]
    assert await module.stat() == 2
    # coap-rd has no registration-update interface: it answers the Update 4.05. A 4.xx to an
    # Update means the server does not know the registration: register afresh (TS 1.0 §5.3.2),
    # on the same DTLS session (no second handshake).
    before = len(module.urcs())
    assert await module.at("AT+QLWUPDATE=1000") == ["OK"]
    await module.wait_urc('"ready"', since=before)
    assert module.urcs()[before:] == [
        '+QLWURC: "update","failed",1000',
        '+QLWURC: "registering"',
        '+QLWURC: "ready","successfully",1000',
    ]
    # No Deregister here: coap-rd 4.3.1 aborts ("double free") on DELETE of a registration it
    # created. Deregistration is checked against lwm2m-node-lib and the embedded server.


async def test_wrong_key_fails_in_bounded_time(
    make_module: ModuleFactory, rd_server: LibcoapServer
) -> None:
    module = await make_module()  # the test profile bounds the handshake at 1.5 s
    await configure(module, rd_server.dtls_port, "00112233445566778899")
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await module.at("AT+QLWREG") == ["OK"]
    # With the wrong key the module's 1.5 s handshake bound ends it (about 1.55 s here); the
    # wait is only a safety net, as a loaded machine fires the bound's timer late.
    await module.wait_urc('"dtls","failed",1000', timeout=15)
    elapsed = loop.time() - started
    assert elapsed >= 1.4, elapsed
    assert module.urc_names() == ["pdp active", "initial", "dtls"]
    assert await module.stat() == 4
    # A new attempt is possible at once (and fails the same way).
    assert await module.at("AT+QLWREG") == ["OK"]


async def test_registration_refused_over_dtls(make_module: ModuleFactory) -> None:
    server = await LibcoapServer.start(KEY, program="coap-server-openssl")
    try:
        module = await make_module()
        await configure(module, server.dtls_port, KEY.encode().hex())
        assert await module.at("AT+QLWREG") == ["OK"]
        await module.wait_urc('"ready","failed",1000')
        assert module.urc_names() == ["pdp active", "initial", "dtls", "registering", "ready"]
        assert '+QLWURC: "dtls","successfully",1000' in module.urcs()
        assert await module.stat() == 4
    finally:
        await server.stop()
