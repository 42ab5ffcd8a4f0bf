"""Fixtures for the embedded LwM2M server tests: a running server on free loopback ports and
aiocoap devices that register with it (plain CoAP or DTLS-PSK)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from emulator.adapters.lwm2m_server import LwM2MServer

from .aiocoap_device import AiocoapDevice

PSK_IDENTITY = b"dev-psk-id"
PSK_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")


@pytest.fixture
async def server() -> AsyncIterator[LwM2MServer]:
    server = await LwM2MServer.start(
        coap=("127.0.0.1", 0), coaps=("127.0.0.1", 0), request_timeout=5.0
    )
    try:
        yield server
    finally:
        await server.stop()


DeviceFactory = Callable[..., Awaitable[AiocoapDevice]]


@pytest.fixture
async def make_device(server: LwM2MServer) -> AsyncIterator[DeviceFactory]:
    """Start (not register) a device; ``secure=True`` uses DTLS with a PSK the server knows."""
    devices: list[AiocoapDevice] = []

    async def make(endpoint: str, *, secure: bool = False, **options: object) -> AiocoapDevice:
        device = AiocoapDevice(endpoint, **options)  # type: ignore[arg-type]
        if secure:
            server.set_psk(endpoint, PSK_IDENTITY + endpoint.encode(), PSK_KEY)
            await device.start(
                f"coaps://127.0.0.1:{server.coaps_port}",
                psk=(PSK_IDENTITY + endpoint.encode(), PSK_KEY),
            )
        else:
            await device.start(f"coap://127.0.0.1:{server.coap_port}")
        devices.append(device)
        return device

    try:
        yield make
    finally:
        for device in devices:
            await device.close()
