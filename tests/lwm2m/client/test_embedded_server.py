"""The module against the project's embedded LwM2M server (emulator/adapters/lwm2m_server),
which can send requests back to a client over DTLS: bootstrap, server-initiated operations on a
DTLS session, queue mode. (lwm2m-node-lib speaks plain CoAP only.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from emulator.adapters.lwm2m_server import LwM2MServer
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.model import ObjectInstance, SingleResource
from emulator.server.bootstrap import BootstrapConfig, ServerAccount
from emulator.server.errors import DeviceTimeout

from .conftest import ModuleFactory
from .harness import FAST, lwm2m_profile

EP = "urn:imei:869339060001965"
KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")


@pytest.fixture
async def server() -> AsyncIterator[LwM2MServer]:
    server = await LwM2MServer.start(
        coap=("127.0.0.1", 0),
        coaps=("127.0.0.1", 0),
        bootstrap=("127.0.0.1", 0),
        request_timeout=3.0,
        awake_time=60.0,
    )
    try:
        yield server
    finally:
        await server.stop()


@pytest.mark.parametrize("secure", [False, True], ids=["nosec", "psk"])
async def test_bootstrap_then_register(
    make_module: ModuleFactory, server: LwM2MServer, secure: bool
) -> None:
    if secure:
        account = ServerAccount(
            uri=server.uri("coaps"),
            short_server_id=1000,
            lifetime=120,
            psk_identity="dev-1",
            psk_key=KEY,
        )
    else:
        account = ServerAccount(uri=server.uri("coap"), short_server_id=1000, lifetime=120)
    server.set_bootstrap_config(EP, BootstrapConfig(servers=(account,)))
    module = await make_module()
    command = f'AT+QLWCFG="security",0,100,"{server.uri("bootstrap")}",1,3'
    assert (await module.at(command))[-1] == "OK"
    assert await module.at("AT+QLWREG") == ["OK"]
    await module.wait_urc('"ready"')
    expected = [
        "pdp active",
        "initial",
        "bootstraping",
        "bootstrap",
        "initial",
        *(["dtls"] if secure else []),
        "registering",
        "ready",
    ]
    assert module.urc_names() == expected
    assert '+QLWURC: "bootstrap","successfully",100' in module.urcs()
    assert module.urcs()[-1] == '+QLWURC: "ready","successfully",1000'
    registration = await server.wait_registered(EP, timeout=2)
    assert registration.lifetime == 120
    assert registration.secure == secure
    # What the bootstrap server provisioned is now the module's configuration.
    lines = await module.at('AT+QLWCFG="security"')
    assert lines[1].startswith(f'+QLWCFG: "security",1,1000,"{account.uri}",0,')
    device = await server.read(EP, "/3/0")
    assert isinstance(device, ObjectInstance)
    assert device.resources[1] == SingleResource(1, "EC200U")


async def test_server_operations_over_dtls(make_module: ModuleFactory, server: LwM2MServer) -> None:
    server.set_psk(EP, "dev-1", KEY)
    module = await make_module()
    security = f'AT+QLWCFG="security",1,1000,"{server.uri("coaps")}",0,0,"dev-1","{KEY.hex()}"'
    assert (await module.at(security))[-1] == "OK"
    assert (await module.at('AT+QLWCFG="server",1,60,1,60,86400,0,"U"'))[-1] == "OK"
    await module.at("AT+QLWREG")
    await module.wait_urc('"ready","successfully",1000')
    assert (await server.wait_registered(EP)).secure
    before = len(module.urcs())
    await server.write(EP, "/1/0/1", 90)
    await module.wait_urc('"lifetime_changed",90', since=before)
    await module.wait_urc('"update","successfully",1000', since=before)
    assert (await server.wait_registered(EP)).lifetime == 90
    await server.write_attributes(EP, "/4/0/2", {"pmin": 0, "pmax": 30})
    observation = await server.observe(EP, "/4/0/2", format=ContentFormat.TEXT)
    assert module.host is not None
    module.host.apply(lambda now: module.module.set_signal(3, now))
    notification = await observation.next(timeout=3)
    assert notification.content == SingleResource(2, -107)
    await server.execute(EP, "/1/0/8")  # Registration Update Trigger
    await module.wait_urc('"update","successfully",1000', since=before + 2)


async def test_queue_mode_device_sleeps(make_module: ModuleFactory, server: LwM2MServer) -> None:
    # Awake long enough for the server's first CoAP retransmission (ACK_TIMEOUT 2-3 s) of the
    # request the sleeping device dropped: aiocoap holds newer requests back until it is done.
    profile = lwm2m_profile(**{**FAST, "timing_ms": {**FAST["timing_ms"], "queue_awake": 3000}})
    module = await make_module(profile)
    await module.at(f'AT+QLWCFG="security",1,1000,"{server.uri("coap")}",0,3')
    await module.at('AT+QLWCFG="server",1,60,1,60,86400,0,"UQ"')
    await module.at("AT+QLWREG")
    await module.wait_urc('"ready","successfully",1000')
    registration = await server.wait_registered(EP)
    assert registration.queue_mode
    answer = await server.read(EP, "/3/0/1", format=ContentFormat.TEXT, timeout=5)
    assert answer == SingleResource(1, "EC200U")
    adapter = module.host.services[0] if module.host else None
    await module._until(
        lambda: all(not s.reachable for s in adapter._sessions.values()),  # type: ignore[union-attr]
        5,
        "the device to fall asleep",
    )
    # The server still thinks it is awake (awake_time 60 s) and asks: no answer at all.
    with pytest.raises(DeviceTimeout):
        await server.read(EP, "/3/0/1", format=ContentFormat.TEXT, timeout=1.0)
    before = len(module.urcs())
    assert await module.at("AT+QLWUPDATE") == ["OK"]
    await module.wait_urc('"update","successfully"', since=before)
    answer = await server.read(EP, "/3/0/1", format=ContentFormat.TEXT, timeout=5)
    assert answer == SingleResource(1, "EC200U")


async def test_lwm2m_1_1_profile(make_module: ModuleFactory, server: LwM2MServer) -> None:
    """A profile that extends the built-in one with "lwm2m_version": "1.1" registers as 1.1
    and answers SenML JSON (TS 1.1 §7.4.4) and CBOR."""
    module = await make_module(lwm2m_profile(**FAST, lwm2m_version="1.1"))
    await module.at(f'AT+QLWCFG="security",1,1000,"{server.uri("coap")}",0,3')
    await module.at('AT+QLWCFG="server",1,60,1,60,86400,0,"UQ"')
    await module.at("AT+QLWREG")
    await module.wait_urc('"ready","successfully",1000')
    registration = await server.wait_registered(EP)
    assert registration.lwm2m_version == "1.1"
    assert registration.binding == "U" and registration.queue_mode  # b=U&Q
    device = await server.read(EP, "/3/0", format=ContentFormat.SENML_JSON)
    assert isinstance(device, ObjectInstance)
    assert device.resources[1] == SingleResource(1, "EC200U")
    lifetime = await server.read(EP, "/1/0/1", format=ContentFormat.CBOR)
    assert lifetime == SingleResource(1, 60)
