"""Client-initiated bootstrap (TS 1.0 §5.2.7): Bootstrap-Request, then the server's
Bootstrap-Delete, Bootstrap-Write and Bootstrap-Finish, seen on the device."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiocoap import Code

from emulator.adapters.lwm2m_server import (
    BootstrapConfig,
    BootstrapFailed,
    BootstrapFailure,
    BootstrapFinished,
    BootstrapRequested,
    LwM2MServer,
    ServerAccount,
)
from emulator.lwm2m.model import ObjectInstance, SingleResource
from emulator.lwm2m.paths import LwM2MPath

from .aiocoap_device import AiocoapDevice, next_seen
from .conftest import DeviceFactory

CONFIG = BootstrapConfig(
    servers=(
        ServerAccount(
            uri="coaps://127.0.0.1:5684",
            short_server_id=7,
            psk_identity="dm-identity",
            psk_key=bytes.fromhex("a1b2c3"),
            lifetime=600,
            binding="UQ",
        ),
    )
)


def resources(instance: object) -> dict[int, object]:
    assert isinstance(instance, ObjectInstance)
    return {
        rid: res.value for rid, res in instance.resources.items() if isinstance(res, SingleResource)
    }


@pytest.mark.parametrize("secure", [False, True])
async def test_bootstrap_sequence(
    server: LwM2MServer, make_device: DeviceFactory, secure: bool
) -> None:
    device = await make_device("fresh", secure=secure)
    server.set_bootstrap_config("fresh", CONFIG)
    with server.subscribe() as events:
        response = await device.bootstrap_request()
        assert response.code == Code.CHANGED
        assert await events.get(timeout=5) == BootstrapRequested(endpoint="fresh")
        finished = await events.wait_for(
            lambda e: isinstance(e, BootstrapFinished | BootstrapFailed), timeout=5
        )
    assert finished == BootstrapFinished(endpoint="fresh")

    wire = [await next_seen(device) for _ in range(5)]
    assert [(s.method, s.path) for s in wire] == [
        ("DELETE", ("0",)),
        ("DELETE", ("1",)),
        ("PUT", ("0", "1")),
        ("PUT", ("1", "0")),
        ("POST", ("bs",)),
    ]
    assert wire[2].content_format == 11542
    assert device.bootstrap_deletes == [LwM2MPath(0), LwM2MPath(1)]
    (security_path, security), (server_path, server_object) = device.bootstrap_writes
    assert security_path == LwM2MPath(0, 1)
    assert resources(security) == {
        0: "coaps://127.0.0.1:5684",
        1: False,
        2: 0,  # PSK
        3: b"dm-identity",
        4: b"",
        5: bytes.fromhex("a1b2c3"),
        10: 7,
    }
    assert server_path == LwM2MPath(1, 0)
    assert resources(server_object) == {0: 7, 1: 600, 6: True, 7: "UQ"}
    assert device.bootstrap_finished.is_set()


async def test_a_refused_write_fails_the_bootstrap(
    server: LwM2MServer, make_device: DeviceFactory
) -> None:
    device = await make_device("stubborn")
    device.refuse_bootstrap_writes = True
    server.set_bootstrap_config("stubborn", CONFIG)
    with server.subscribe() as events:
        await device.bootstrap_request()
        failed = await events.wait_for(
            lambda e: isinstance(e, BootstrapFinished | BootstrapFailed), timeout=5
        )
    assert isinstance(failed, BootstrapFailed) and failed.cause is BootstrapFailure.DEVICE_ERROR
    assert "bootstrap-write /0/1" in failed.reason and "4.00" in failed.reason
    assert not device.bootstrap_finished.is_set()


async def test_unknown_endpoints_and_identity_mismatch(
    server: LwM2MServer, make_device: DeviceFactory
) -> None:
    unknown = await make_device("no-config")
    response = await unknown.bootstrap_request()
    assert response.code == Code.BAD_REQUEST
    # A DTLS session may only bootstrap the endpoint its PSK belongs to.
    server.set_bootstrap_config("victim", CONFIG)
    impostor = await make_device("impostor", secure=True)
    impostor.endpoint = "victim"
    assert (await impostor.bootstrap_request()).code == Code.FORBIDDEN


@pytest.fixture
async def split_server() -> AsyncIterator[LwM2MServer]:
    server = await LwM2MServer.start(
        coap=("127.0.0.1", 0), bootstrap=("127.0.0.1", 0), request_timeout=5.0
    )
    try:
        yield server
    finally:
        await server.stop()


async def test_dedicated_bootstrap_listener(split_server: LwM2MServer) -> None:
    server = split_server
    assert server.bootstrap_port != server.coap_port
    device = AiocoapDevice("split")
    await device.start(f"coap://127.0.0.1:{server.bootstrap_port}")
    try:
        server.set_bootstrap_config("split", BootstrapConfig(servers=()))
        with server.subscribe() as events:
            assert (await device.bootstrap_request()).code == Code.CHANGED
            done = await events.wait_for(lambda e: isinstance(e, BootstrapFinished), timeout=5)
        assert done == BootstrapFinished(endpoint="split")
        # The bootstrap listener does not take registrations.
        assert (await device.register()).code == Code.NOT_FOUND
    finally:
        await device.close()


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="psk"):
        ServerAccount(uri="coaps://h:1")
    with pytest.raises(ValueError, match="coap://"):
        ServerAccount(uri="http://h:1")
    with pytest.raises(ValueError, match="short server id"):
        ServerAccount(uri="coap://h:1", short_server_id=0)
    with pytest.raises(ValueError, match="differ"):
        BootstrapConfig(servers=(ServerAccount(uri="coap://a"), ServerAccount(uri="coap://b")))
    with pytest.raises(ValueError):
        BootstrapConfig(delete=("/0/1/2",))


async def test_bootstrap_then_register_over_dtls_with_what_was_handed_out(
    server: LwM2MServer, make_device: DeviceFactory
) -> None:
    own = ServerAccount(
        uri=server.uri("coaps"), psk_identity="handed-out", psk_key=bytes.fromhex("0badc0de")
    )
    server.set_bootstrap_config("newcomer", BootstrapConfig(servers=(own,)))
    assert server.credentials.get("newcomer") is not None  # our own listener: PSK stored
    device = await make_device("newcomer")
    with server.subscribe() as events:
        assert (await device.bootstrap_request()).code == Code.CHANGED
        await events.wait_for(lambda e: isinstance(e, BootstrapFinished), timeout=5)
    (_, security), _ = device.bootstrap_writes
    given = resources(security)
    assert isinstance(given[0], str) and isinstance(given[3], bytes)
    assert isinstance(given[5], bytes)

    secure = AiocoapDevice("newcomer")
    await secure.start(given[0], psk=(given[3], given[5]))
    try:
        assert (await secure.register()).code == Code.CREATED
        registration = await server.wait_registered("newcomer", timeout=5)
        assert registration.secure_endpoint == "newcomer"
    finally:
        await secure.close()
