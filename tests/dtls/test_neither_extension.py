"""DTLS-PSK with peers that negotiate neither RFC 7627 extended master secret nor the RFC 5746
renegotiation indication (Californium 2 / Leshan 1.x do neither), or only the first (Wakaama's
tinydtls client), on both sides: the module as client, the embedded server as server.

The peer is GnuTLS (gnutls-serv / gnutls-cli, see peers.py); every datagram passes a relay, and
each test proves from those bytes what the peer's Hello really offered. libcoap's OpenSSL peers
(tests/lwm2m/client/test_dtls_libcoap.py, tests/server/test_psk.py and the last test here)
cover peers that negotiate both.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiocoap import CON, POST, Message

from emulator.adapters.dtls.records import Hello
from emulator.adapters.lwm2m_server import LwM2MServer
from emulator.server.errors import DeviceTimeout
from tests.lwm2m.client.harness import FAST, AtModule, lwm2m_profile, merged

from .peers import EMS_ONLY, NEITHER, GnutlsClient, GnutlsEchoServer, UdpRelay

IDENTITY = "dev-neither"
KEY_HEX = "00112233445566778899aabbccddeeff"


def only(hellos: list[Hello]) -> Hello:
    assert hellos, "no Hello on the wire"
    return hellos[-1]  # the one after the cookie exchange


@pytest.fixture
async def module() -> AsyncIterator[AtModule]:
    profile = lwm2m_profile(**merged(FAST, {"timing_ms": {"dtls_handshake_timeout": 10000}}))
    module = await AtModule(profile).start()
    try:
        yield module
    finally:
        await module.stop()


async def test_module_shakes_hands_with_a_server_that_negotiates_neither(
    module: AtModule, tmp_path: Path
) -> None:
    peer = await GnutlsEchoServer.start(tmp_path, IDENTITY, KEY_HEX, NEITHER)
    relay = await UdpRelay(("127.0.0.1", peer.port)).start()
    try:
        security = (
            f'AT+QLWCFG="security",1,1000,"coaps://127.0.0.1:{relay.port}",0,0,'
            f'"{IDENTITY}","{KEY_HEX}"'
        )
        assert (await module.at(security))[-1] == "OK"
        assert (await module.at('AT+QLWCFG="server",1,60,1,60,86400,0,"U"'))[-1] == "OK"
        assert await module.at("AT+QLWREG") == ["OK"]
        await module.wait_urc('"registering"', timeout=15)
        assert module.urcs()[:4] == [
            '+QLWURC: "pdp active","successfully","cmnet"',
            '+QLWURC: "initial","successfully",1000',
            '+QLWURC: "dtls","successfully",1000',
            '+QLWURC: "registering"',
        ]
        # The Register went out protected and the echo server's copy came back protected.
        async with asyncio.timeout(10):
            while relay.application_data(to_server=False) == 0:
                await asyncio.sleep(0.02)
        assert relay.application_data(to_server=True) >= 1
    finally:
        relay.close()
        await peer.stop()
    ours = only(relay.hellos(to_server=True))
    theirs = only(relay.hellos(to_server=False))
    # We offer both (a module's stack does) ...
    assert ours.offers_extended_master_secret and ours.offers_renegotiation_info
    assert 0xC0A8 in ours.cipher_suites and 0x00AE in ours.cipher_suites  # CCM_8, CBC_SHA256
    # ... and went on although the server's Hello carried neither.
    assert not theirs.offers_extended_master_secret, theirs
    assert not theirs.offers_renegotiation_info, theirs
    assert theirs.cipher_suites == (0xC0A8,)  # TLS_PSK_WITH_AES_128_CCM_8, our first choice


def register_message(endpoint: str) -> bytes:
    message = Message(code=POST, payload=b"</1/0>,</3/0>")
    message.mtype = CON
    message.mid = 0x1234
    message.token = b"\x42"
    message.opt.uri_path = ("rd",)
    message.opt.uri_query = (f"ep={endpoint}", "lt=120", "lwm2m=1.0", "b=U")
    message.opt.content_format = 40
    return bytes(message.encode())


@pytest.mark.parametrize("priority", [NEITHER, EMS_ONLY], ids=["neither", "ems-only"])
async def test_server_takes_a_client_that_negotiates_neither_or_one(priority: str) -> None:
    server = await LwM2MServer.start(coap=None, coaps=("127.0.0.1", 0))
    server.set_psk("gnutls-ep", IDENTITY, KEY_HEX)
    relay = await UdpRelay(("127.0.0.1", server.coaps_port)).start()
    client = await GnutlsClient.connect(relay.port, IDENTITY, KEY_HEX, priority)
    try:
        await client.wait_output(b"Handshake was completed")
        await client.send(register_message("gnutls-ep"))
        registration = await server.wait_registered("gnutls-ep", timeout=10)
        assert registration.secure_endpoint == "gnutls-ep"
        # 2.01 Created (ACK, token 0x42, MID 0x1234) came back through the session ...
        await client.wait_output(b"\x61\x41\x12\x34\x42")
        # ... and a request from the server reaches the client over that same session.
        with pytest.raises(DeviceTimeout):
            await server.read("gnutls-ep", "/3/0", timeout=2)
        await client.wait_output(b"\xb13\x010")  # Uri-Path "3", "0" of the server's GET
    finally:
        await client.stop()
        relay.close()
        await server.stop()
    theirs = only(relay.hellos(to_server=True))
    ours = only(relay.hellos(to_server=False))
    assert not theirs.offers_renegotiation_info, theirs
    assert theirs.offers_extended_master_secret == (priority == EMS_ONLY), theirs
    # RFC 5246 §7.4.1.4: a server answers only extensions the client offered.
    assert ours.offers_extended_master_secret == theirs.offers_extended_master_secret
    assert not ours.offers_renegotiation_info


async def test_server_negotiates_both_with_libcoap_openssl() -> None:
    """The other case: libcoap's OpenSSL client offers both, and the server takes both."""
    binary = shutil.which("coap-client-openssl")
    if binary is None:
        pytest.skip("coap-client-openssl is not installed (Debian libcoap3-bin)")
    server = await LwM2MServer.start(coap=None, coaps=("127.0.0.1", 0))
    server.set_psk("libcoap-ep", "libcoap-id", b"libcoap-secret")
    relay = await UdpRelay(("127.0.0.1", server.coaps_port)).start()
    try:
        process = await asyncio.create_subprocess_exec(
            binary, "-m", "post", "-u", "libcoap-id", "-k", "libcoap-secret", "-t", "40",
            "-e", "</1/0>", "-B", "5",
            f"coaps://127.0.0.1:{relay.port}/rd?ep=libcoap-ep&lt=120&lwm2m=1.0&b=U",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), 15)
        assert process.returncode == 0, output
        assert server.registration("libcoap-ep") is not None
    finally:
        relay.close()
        await server.stop()
    theirs = only(relay.hellos(to_server=True))
    ours = only(relay.hellos(to_server=False))
    assert theirs.offers_extended_master_secret and theirs.offers_renegotiation_info
    assert ours.offers_extended_master_secret and ours.offers_renegotiation_info
