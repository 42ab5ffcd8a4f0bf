"""The registration interface on the wire: raw CoAP datagrams in, response codes out
(TS 1.0 §5.3, RFC 7252). Bad input gets the right error code, never a crash."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiocoap import CON, RST, Code, Message

from emulator.adapters.lwm2m_server import Expired, LwM2MServer, Registered, Updated
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.model import SingleResource

OBJECTS = b"</1/0>,</3/0>"


class RawClient:
    """A UDP socket that sends hand-made CoAP requests and reads the answers."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.mid = 0x1000

    async def send_bytes(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendto(self.sock, data, ("127.0.0.1", self.port))

    async def receive(self, timeout: float = 5.0) -> Message:
        data = await asyncio.wait_for(
            asyncio.get_running_loop().sock_recv(self.sock, 4096), timeout
        )
        return Message.decode(data)

    async def request(
        self,
        code: Code,
        path: tuple[str, ...],
        query: tuple[str, ...] = (),
        payload: bytes = b"",
        content_format: int | None = ContentFormat.LINK_FORMAT,
    ) -> Message:
        message = Message(code=code, uri_path=path, uri_query=query, payload=payload)
        if payload and content_format is not None:
            message.opt.content_format = content_format
        self.mid += 1
        message.mid = self.mid
        message.mtype = CON
        message.token = self.mid.to_bytes(2, "big")
        await self.send_bytes(message.encode())
        response = await self.receive()
        assert response.mid == self.mid and response.token == message.token
        return response

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
async def raw(server: LwM2MServer) -> AsyncIterator[RawClient]:
    client = RawClient(server.coap_port)
    try:
        yield client
    finally:
        client.close()


async def test_register_update_deregister_on_the_wire(server: LwM2MServer, raw: RawClient) -> None:
    created = await raw.request(
        Code.POST, ("rd",), ("ep=wire", "lt=300", "lwm2m=1.0", "b=U"), OBJECTS
    )
    assert created.code == Code.CREATED
    location = tuple(created.opt.location_path)
    registration = await server.wait_registered("wire", timeout=5)
    assert location == ("rd", registration.registration_id)

    changed = await raw.request(Code.POST, location, ("lt=600",), b"</3/0>,</4/0>")
    assert changed.code == Code.CHANGED
    updated = server.registration("wire")
    assert updated is not None and updated.lifetime == 600 and 4 in updated.objects

    deleted = await raw.request(Code.DELETE, location)
    assert deleted.code == Code.DELETED
    assert server.registration("wire") is None
    again = await raw.request(Code.DELETE, location)
    assert again.code == Code.NOT_FOUND


@pytest.mark.parametrize(
    ("code", "path", "query", "payload", "expected"),
    [
        (Code.POST, ("rd",), ("lt=60",), OBJECTS, Code.BAD_REQUEST),  # missing ep
        (Code.POST, ("rd",), ("ep=x", "lt=soon"), OBJECTS, Code.BAD_REQUEST),
        (Code.POST, ("rd",), ("ep=x", "lt=-1"), OBJECTS, Code.BAD_REQUEST),
        (Code.POST, ("rd",), ("ep=x", "b=Z"), OBJECTS, Code.BAD_REQUEST),
        (Code.POST, ("rd",), ("ep=x", "ep=y"), OBJECTS, Code.BAD_REQUEST),
        (Code.POST, ("rd",), ("ep=x",), b"", Code.BAD_REQUEST),
        (Code.POST, ("rd",), ("ep=x",), b"</3/0>,<", Code.BAD_REQUEST),
        (Code.POST, ("rd",), ("ep=x",), b'</3/0>;ct="', Code.BAD_REQUEST),
        (Code.POST, ("rd",), ("ep=x",), b"\xc0\xaf", Code.BAD_REQUEST),
        (Code.POST, ("rd",), ("ep=x", "lwm2m=9.9"), OBJECTS, Code.PRECONDITION_FAILED),
        (Code.POST, ("rd", "no-such-id"), (), b"", Code.NOT_FOUND),
        (Code.DELETE, ("rd", "no-such-id"), (), b"", Code.NOT_FOUND),
        (Code.GET, ("rd",), (), b"", Code.METHOD_NOT_ALLOWED),
        (Code.PUT, ("rd", "x"), (), b"", Code.METHOD_NOT_ALLOWED),
        (Code.GET, ("bs",), (), b"", Code.METHOD_NOT_ALLOWED),
        (Code.POST, ("bs",), (), b"", Code.BAD_REQUEST),  # Bootstrap-Request without ep
        (Code.POST, ("bs",), ("ep=unknown",), b"", Code.BAD_REQUEST),  # no config for it
        (Code.POST, ("rd", "x", "y"), (), b"", Code.NOT_FOUND),
        (Code.GET, ("3", "0"), (), b"", Code.NOT_FOUND),
    ],
)
async def test_bad_requests_get_their_error_code(
    server: LwM2MServer,
    raw: RawClient,
    code: Code,
    path: tuple[str, ...],
    query: tuple[str, ...],
    payload: bytes,
    expected: Code,
) -> None:
    response = await raw.request(code, path, query, payload)
    assert response.code == expected
    assert response.payload  # the diagnostic says why
    assert server.registrations() == ()


async def test_wrong_content_format_is_4_15(server: LwM2MServer, raw: RawClient) -> None:
    response = await raw.request(
        Code.POST, ("rd",), ("ep=x",), OBJECTS, content_format=ContentFormat.TLV
    )
    assert response.code == Code.UNSUPPORTED_CONTENT_FORMAT


async def test_garbage_does_not_stop_the_server(server: LwM2MServer, raw: RawClient) -> None:
    for junk in (b"", b"\x00", b"\xff" * 40, b"\x40\x01\x00", b"GET / HTTP/1.0\r\n\r\n"):
        await raw.send_bytes(junk)
    # Only the last looks like a Confirmable message (RFC 7252 §4.2): it alone gets a Reset.
    reset = await raw.receive()
    assert reset.mtype == RST and reset.mid == int.from_bytes(b"T ", "big")
    created = await raw.request(Code.POST, ("rd",), ("ep=after-junk",), OBJECTS)
    assert created.code == Code.CREATED


async def test_a_short_lifetime_expires(server: LwM2MServer, raw: RawClient) -> None:
    with server.subscribe() as events:
        created = await raw.request(Code.POST, ("rd",), ("ep=brief", "lt=1"), OBJECTS)
        expired = await events.wait_for(lambda e: isinstance(e, Expired), timeout=5)
    assert isinstance(expired, Expired) and expired.endpoint == "brief"
    assert server.registration("brief") is None
    late = await raw.request(Code.POST, tuple(created.opt.location_path))
    assert late.code == Code.NOT_FOUND


async def test_requests_follow_the_client_to_its_new_address(server: LwM2MServer) -> None:
    """After an Update from another port (NAT rebinding), requests go to the new port."""
    old, new = RawClient(server.coap_port), RawClient(server.coap_port)
    try:
        created = await old.request(Code.POST, ("rd",), ("ep=moving",), OBJECTS)
        with server.subscribe() as events:
            await new.request(Code.POST, tuple(created.opt.location_path))
            await events.wait_for(lambda e: isinstance(e, Updated), timeout=5)
        read = asyncio.create_task(
            server.read("moving", "/3/0/0", format=ContentFormat.TEXT, timeout=5)
        )
        request = await new.receive()
        assert request.code == Code.GET and tuple(request.opt.uri_path) == ("3", "0", "0")
        assert request.opt.accept == ContentFormat.TEXT
        answer = Message(code=Code.CONTENT, payload=b"Quectel")
        answer.mtype, answer.mid, answer.token = 2, request.mid, request.token  # ACK
        answer.opt.content_format = ContentFormat.TEXT
        await new.send_bytes(answer.encode())
        assert await read == SingleResource(0, "Quectel")
    finally:
        old.close()
        new.close()


async def test_registered_event_carries_the_registration(
    server: LwM2MServer, raw: RawClient
) -> None:
    with server.subscribe() as events:
        await raw.request(Code.POST, ("rd",), ("ep=ev", "lt=50", "lwm2m=1.1", "b=U"), OBJECTS)
        event = await events.get(timeout=5)
    assert isinstance(event, Registered)
    assert event.registration.lwm2m_version == "1.1"
    assert event.registration.address.startswith("127.0.0.1:")
