"""Queue mode (TS 1.0 §5.3.1 binding UQ, TS 1.1 Q parameter): requests to a sleeping client
wait until it next sends an Update, then go out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiocoap import Code

from emulator.adapters.lwm2m_server import Awake, DeviceTimeout, LwM2MServer, Sleeping
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.model import SingleResource

from .aiocoap_device import AiocoapDevice, next_seen


@pytest.fixture
async def sleepy_server() -> AsyncIterator[LwM2MServer]:
    server = await LwM2MServer.start(
        coap=("127.0.0.1", 0), coaps=None, awake_time=0.3, request_timeout=5.0
    )
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def sleeper(sleepy_server: LwM2MServer) -> AsyncIterator[AiocoapDevice]:
    device = AiocoapDevice("sleeper", binding="UQ")
    await device.start(f"coap://127.0.0.1:{sleepy_server.coap_port}")
    try:
        yield device
    finally:
        await device.close()


async def test_requests_wait_for_the_next_update(
    sleepy_server: LwM2MServer, sleeper: AiocoapDevice
) -> None:
    server = sleepy_server
    with server.subscribe() as events:
        assert (await sleeper.register()).code == Code.CREATED
        assert await events.wait_for(lambda e: isinstance(e, Awake), timeout=5)
        await events.wait_for(lambda e: isinstance(e, Sleeping), timeout=5)
    assert server.registration("sleeper").queue_mode  # type: ignore[union-attr]
    assert not server.is_awake("sleeper")

    read = asyncio.create_task(server.read("sleeper", "/3/0/1", format=ContentFormat.TEXT))
    waiting = asyncio.create_task(server.wait_awake("sleeper", timeout=5))
    await asyncio.sleep(0)  # let both reach their wait
    assert not read.done() and sleeper.seen.empty()  # queued, nothing on the wire

    with server.subscribe() as events:
        assert (await sleeper.update()).code == Code.CHANGED
        await events.wait_for(lambda e: isinstance(e, Awake), timeout=5)
    seen = await next_seen(sleeper)
    assert (seen.method, seen.path) == ("GET", ("3", "0", "1"))
    assert await asyncio.wait_for(read, 5) == SingleResource(1, "EC200U")
    assert (await waiting).endpoint == "sleeper"


async def test_a_client_that_stays_asleep_times_the_request_out(
    sleepy_server: LwM2MServer, sleeper: AiocoapDevice
) -> None:
    with sleepy_server.subscribe() as events:
        await sleeper.register()
        await events.wait_for(lambda e: isinstance(e, Sleeping), timeout=5)
    with pytest.raises(DeviceTimeout, match="did not wake up"):
        await sleepy_server.read("sleeper", "/3/0", timeout=0.2)
    assert sleeper.seen.empty()
