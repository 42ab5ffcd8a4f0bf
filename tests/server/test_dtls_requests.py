"""Server → client requests over the client's own DTLS session (the aiocoap patch in
emulator/adapters/lwm2m_server/transport.py), checked on the device side."""

from __future__ import annotations

from aiocoap import Code

from emulator.adapters.lwm2m_server import LwM2MServer
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.model import ObjectInstance, SingleResource

from .aiocoap_device import next_seen
from .conftest import DeviceFactory


async def test_read_over_dtls_reaches_the_device_session(
    server: LwM2MServer, make_device: DeviceFactory
) -> None:
    device = await make_device("dtls-dev", secure=True)
    response = await device.register()
    assert response.code == Code.CREATED
    registration = await server.wait_registered("dtls-dev", timeout=5)
    assert registration.secure and registration.secure_endpoint == "dtls-dev"

    content = await server.read("dtls-dev", "/3/0", timeout=5)

    seen = await next_seen(device)
    assert (seen.method, seen.path, seen.accept) == ("GET", ("3", "0"), ContentFormat.TLV)
    assert isinstance(content, ObjectInstance)
    assert content.resources[0] == SingleResource(0, "Quectel")
