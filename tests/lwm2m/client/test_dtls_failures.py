"""What the module says when DTLS goes wrong: the URC follows what happened on the wire.

A peer that refuses (a fatal alert: wrong key, unknown identity) or is not there (ICMP port
unreachable) gives ``"dtls","failed"`` at once; only a silent peer waits for the profile's
``dtls_handshake_timeout``. A server that ends the session (close_notify when it stops) makes
the module shake hands again before its next request; a server that lost the session without a
word (a crash) shows as an unanswered Update, and the module handshakes again when it reconnects.
docs/lwm2m-flows.md lists these URC sequences.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator

import pytest

from emulator.adapters.dtls.coap import DtlsServerInterface
from emulator.adapters.lwm2m_server import LwM2MServer

from .conftest import ModuleFactory
from .harness import FAST, AtModule, lwm2m_profile, merged

EP = "urn:imei:869339060001965"
KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
#: A bound long enough to tell "failed at once" from "failed at the timeout".
# A handshake bound far beyond any wait below: a failure within the wait came from the peer
# (an alert, an ICMP error), not from the bound, however loaded the machine.
PATIENT = merged(FAST, {"timing_ms": {"dtls_handshake_timeout": 60000}})


def dtls_interface(server: LwM2MServer) -> DtlsServerInterface:
    for context in server._coap.contexts:
        for request_interface in context.request_interfaces:
            interface = request_interface.token_interface.message_interface
            if isinstance(interface, DtlsServerInterface):
                return interface
    raise AssertionError("the server has no DTLS listener")


@pytest.fixture
async def server() -> AsyncIterator[LwM2MServer]:
    server = await LwM2MServer.start(coap=None, coaps=("127.0.0.1", 0), request_timeout=3.0)
    server.set_psk(EP, "dev-1", KEY)
    try:
        yield server
    finally:
        await server.stop()


async def configure(
    module: AtModule, port: int, identity: str = "dev-1", key: bytes = KEY, disable: int = 86400
) -> None:
    security = (
        f'AT+QLWCFG="security",1,1000,"coaps://127.0.0.1:{port}",0,0,"{identity}","{key.hex()}"'
    )
    assert (await module.at(security))[-1] == "OK"
    assert (await module.at(f'AT+QLWCFG="server",1,60,1,60,{disable},0,"U"'))[-1] == "OK"


async def register_and_time_failure(module: AtModule) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await module.at("AT+QLWREG") == ["OK"]
    await module.wait_urc('"dtls","failed",1000', timeout=20)
    elapsed = loop.time() - started
    assert module.urc_names() == ["pdp active", "initial", "dtls"]
    assert await module.stat() == 4
    return elapsed


@pytest.mark.parametrize(
    ("identity", "key", "logged"),
    [
        ("dev-1", bytes(16), "wrong key"),
        ("stranger", KEY, "unknown PSK identity"),
    ],
    ids=["wrong-key", "unknown-identity"],
)
async def test_a_refused_handshake_fails_at_once(
    make_module: ModuleFactory,
    server: LwM2MServer,
    caplog: pytest.LogCaptureFixture,
    identity: str,
    key: bytes,
    logged: str,
) -> None:
    caplog.set_level(logging.INFO)
    module = await make_module(lwm2m_profile(**PATIENT))
    await configure(module, server.coaps_port, identity, key)
    await register_and_time_failure(module)  # within 20 s: the alert, not the 60 s bound
    assert server.registrations() == ()
    lines = [r.getMessage() for r in caplog.records if "DTLS handshake from" in r.getMessage()]
    assert len(lines) == 1, lines  # once per failed handshake
    assert f"identity b'{identity}'" in lines[0] and logged in lines[0]
    assert key.hex() not in caplog.text


async def test_no_server_fails_at_once(make_module: ModuleFactory) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    module = await make_module(lwm2m_profile(**PATIENT))
    await configure(module, port)
    await register_and_time_failure(module)  # within 20 s: the ICMP error, not the bound


async def test_a_silent_peer_waits_for_the_handshake_bound(make_module: ModuleFactory) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))  # takes the datagrams and never answers
    try:
        module = await make_module(lwm2m_profile(**FAST))  # bound: 1.5 s
        await configure(module, silent.getsockname()[1])
        elapsed = await register_and_time_failure(module)
        assert elapsed >= 1.4, elapsed
        silent.setblocking(False)
        assert silent.recv(2048)[0] == 22  # it did get our ClientHello (a handshake record)
    finally:
        silent.close()


async def register(module: AtModule, server: LwM2MServer) -> None:
    assert await module.at("AT+QLWREG") == ["OK"]
    await module.wait_urc('"ready"', timeout=15)
    assert module.urc_names()[-3:] == ["dtls", "registering", "ready"]
    await server.wait_registered(EP, timeout=5)


async def test_server_restart_ends_the_session_and_the_module_shakes_hands_again(
    make_module: ModuleFactory, server: LwM2MServer
) -> None:
    module = await make_module(lwm2m_profile(**PATIENT))
    port = server.coaps_port
    await configure(module, port)
    await register(module, server)
    await server.stop()  # close_notify to the module
    restarted = await LwM2MServer.start(coap=None, coaps=("127.0.0.1", port), request_timeout=3)
    try:
        restarted.set_psk(EP, "dev-1", KEY)
        before = len(module.urcs())
        assert await module.at("AT+QLWUPDATE=1000") == ["OK"]
        await module.wait_urc('"ready"', timeout=15, since=before)
        # A new handshake carried the Update; the new server does not know the registration
        # (4.04), so the module registers afresh on that session (TS 1.0 §5.3.2).
        assert module.urcs()[before:] == [
            '+QLWURC: "update","failed",1000',
            '+QLWURC: "registering"',
            '+QLWURC: "ready","successfully",1000',
        ]
        registration = restarted.registration(EP)
        assert registration is not None and registration.secure_endpoint == EP
        # The server reaches the module over the new session.
        content = await restarted.read(EP, "/3/0/0", timeout=5)
        assert content is not None
    finally:
        await restarted.stop()


async def test_server_that_lost_the_session_silently(
    make_module: ModuleFactory, server: LwM2MServer
) -> None:
    module = await make_module(lwm2m_profile(**PATIENT))
    port = server.coaps_port
    await configure(module, port, disable=1)
    await register(module, server)
    dtls_interface(server)._sessions.clear()  # a crash: no close_notify goes out
    await server.stop()
    restarted = await LwM2MServer.start(coap=None, coaps=("127.0.0.1", port), request_timeout=3)
    try:
        restarted.set_psk(EP, "dev-1", KEY)
        before = len(module.urcs())
        assert await module.at("AT+QLWUPDATE=1000") == ["OK"]
        # The Update goes out on the old session; the new server drops it (no association),
        # CoAP retransmissions run out, and after the Disable Timeout (1 s) the module
        # connects again: a new handshake, then a Register.
        await module.wait_urc('"ready"', timeout=20, since=before)
        assert module.urcs()[before:] == [
            '+QLWURC: "update","failed",1000',
            '+QLWURC: "initial","successfully",1000',
            '+QLWURC: "dtls","successfully",1000',
            '+QLWURC: "registering"',
            '+QLWURC: "ready","successfully",1000',
        ]
        assert dtls_interface(restarted).dropped >= 1
        assert restarted.registration(EP) is not None
    finally:
        await restarted.stop()
