"""Bad input on the DTLS layer: garbage records, truncated and replayed handshake messages, a
ClientHello flood. The server answers nothing it cannot parse, keeps no state for it, logs no
traceback, stays within its limits and goes on serving real clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiocoap import CON, Context, Message
from mbedtls import tls

from emulator.adapters.dtls.coap import (
    DtlsClientInterface,
    DtlsServerInterface,
    ServerLimits,
    _config,
)
from emulator.adapters.dtls.records import hello_extensions
from emulator.adapters.dtls.session import DtlsEndpoint, State

KEY = bytes(range(16))


@dataclass(frozen=True)
class Claim:
    identity: bytes


class Credentials:
    def find_dtls_psk(self, identity: bytes) -> tuple[bytes, object]:
        if identity != b"good-id":
            raise KeyError(identity)
        return KEY, Claim(identity)


class Root:
    """Answers every request 2.05 with the payload "pong"."""

    async def render_to_pipe(self, pipe: object) -> None:
        response = Message(code=0x45, payload=b"pong")
        pipe.add_response(response, is_last=True)  # type: ignore[attr-defined]

    async def needs_blockwise_assembly(self, request: Message) -> bool:
        return False


@pytest.fixture
async def server() -> AsyncIterator[DtlsServerInterface]:
    context = Context(serversite=Root())
    interface = await DtlsServerInterface.create(
        context,
        ("127.0.0.1", 0),
        Credentials(),
        # No patience: a new handshake always evicts the oldest half-open one, so that these
        # floods of half-open clients reach the limit at once.
        limits=ServerLimits(
            max_handshakes=20, max_sessions=100, handshake_timeout=30, handshake_patience=0
        ),
    )
    try:
        yield interface
    finally:
        await context.shutdown()


class RawPeer(asyncio.DatagramProtocol):
    """A bare UDP socket that sends what a test gives it and keeps what comes back."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.received.put_nowait(data)

    @classmethod
    async def open(cls, port: int) -> RawPeer:
        peer = cls()
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: peer, remote_addr=("127.0.0.1", port)
        )
        peer.transport = transport
        return peer

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.sendto(data)

    async def next(self, timeout: float = 5.0) -> bytes:
        return await asyncio.wait_for(self.received.get(), timeout)

    def close(self) -> None:
        assert self.transport is not None
        self.transport.close()


def client_endpoint() -> DtlsEndpoint:
    context = tls.ClientContext(
        _config(pre_shared_key=("good-id", KEY), ciphers=("TLS-PSK-WITH-AES-128-CCM-8",))
    )
    return DtlsEndpoint(context.wrap_buffers(None))


async def assert_still_serves(server: DtlsServerInterface) -> None:
    """A real client still gets its handshake and an answer."""
    context = await Context.create_client_context(transports=["udp6"])
    try:
        interface = await DtlsClientInterface.create(context, bind_host="127.0.0.1")
        session = await interface.connect(
            "127.0.0.1", server.sockname[1], identity=b"good-id", key=KEY, timeout=10
        )
        request = Message(code=1, uri=f"coaps://127.0.0.1:{server.sockname[1]}/ping")
        request.remote = session
        response = await asyncio.wait_for(context.request(request).response, 10)
        assert response.payload == b"pong"
    finally:
        await context.shutdown()


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def test_garbage_datagrams_are_dropped_without_state(
    server: DtlsServerInterface, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    peer = await RawPeer.open(server.sockname[1])
    junk = [
        b"",
        b"\x16",
        os.urandom(7),
        os.urandom(200),
        b"\x16\xfe\xfd\x00\x00" + b"\x00" * 6 + b"\xff\xff" + b"x" * 10,  # length overruns
        b"\x17\xfe\xfd\x00\x01" + b"\x00" * 6 + b"\x00\x08" + os.urandom(8),  # no session
        b"\x15\xfe\xfd\x00\x00" + b"\x00" * 6 + b"\x00\x02\x02\x28",  # a stray fatal alert
        b"\x16\xfe\xfd\x00\x00" + b"\x00" * 6 + b"\x00\x0d\x01" + os.urandom(12),  # stub Hello
        os.urandom(60_000),  # larger than any DTLS record
    ]
    for _ in range(20):
        for datagram in junk:
            peer.send(datagram)
        await asyncio.sleep(0.01)  # paced: a loopback socket buffer holds only so much
    await assert_still_serves(server)  # also proves the junk was processed before
    peer.close()
    assert server.sessions == 0  # the real client closed its session; the junk left nothing
    assert server.dropped >= 20 * len(junk) * 3 // 4  # (UDP: a few may be lost)
    assert server.handshakes_failed == 0  # junk is not a handshake: no log line per datagram
    no_tracebacks(caplog)


async def test_client_hello_flood_from_one_address_costs_no_state(
    server: DtlsServerInterface, caplog: pytest.LogCaptureFixture
) -> None:
    peer = await RawPeer.open(server.sockname[1])
    hello = client_endpoint().start().datagrams[0]
    for _ in range(40):
        for _ in range(50):
            peer.send(hello)
        await asyncio.sleep(0.01)
    answers = 0
    with contextlib.suppress(TimeoutError):
        while True:
            answer = await peer.next(timeout=3)
            assert hello_extensions(answer) is None  # HelloVerifyRequests, nothing more
            answers += 1
    # Sender and server share one event loop here, so the socket buffers drop some of the
    # flood; what matters is that every answer is a cookie request and no state is kept.
    assert answers >= 200, answers
    assert server.hello_verify_sent >= answers
    assert server.sessions == 0  # RFC 6347 §4.2.1: stateless until the cookie comes back
    await assert_still_serves(server)
    peer.close()
    no_tracebacks(caplog)


async def half_open(port: int) -> RawPeer:
    """A client that passes the cookie exchange, sends its ClientHello again, and stops."""
    peer = await RawPeer.open(port)
    endpoint = client_endpoint()
    peer.send(endpoint.start().datagrams[0])
    out = endpoint.receive(await peer.next())
    for datagram in out.datagrams:
        peer.send(datagram)
    await peer.next()  # the ServerHello flight: the server now holds a half-open session
    return peer


async def test_half_open_handshakes_are_bounded(
    server: DtlsServerInterface, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    peers = [await half_open(server.sockname[1]) for _ in range(60)]
    assert server.sessions <= 20  # max_handshakes
    dropped = [r for r in caplog.records if "too many handshakes" in r.getMessage()]
    assert len(dropped) == 40  # each eviction logged once
    await assert_still_serves(server)
    for peer in peers:
        peer.close()
    no_tracebacks(caplog)


async def test_truncated_and_replayed_handshake_messages(
    server: DtlsServerInterface, caplog: pytest.LogCaptureFixture
) -> None:
    port = server.sockname[1]
    # A full handshake, every datagram the client sent recorded.
    peer = await RawPeer.open(port)
    endpoint = client_endpoint()
    sent: list[bytes] = []
    out = endpoint.start()
    while endpoint.state is State.HANDSHAKING:
        for datagram in out.datagrams:
            sent.append(datagram)
            peer.send(datagram)
        out = endpoint.receive(await peer.next())
    for datagram in out.datagrams:
        sent.append(datagram)
        peer.send(datagram)
    assert endpoint.state is State.ESTABLISHED
    # The server sent its Finished once it had the session; the client has read it.
    assert server.sessions == 1
    # Replayed from another address (port): the cookie does not match, so nothing but
    # HelloVerifyRequests; the later flights have no session to go to.
    replay = await RawPeer.open(port)
    for datagram in sent:
        replay.send(datagram)
    # Truncated copies of every flight, from a third port.
    truncated = await RawPeer.open(port)
    for datagram in sent:
        for cut in (1, 5, 13, 20, len(datagram) // 2, len(datagram) - 1):
            truncated.send(datagram[:cut])
    await assert_still_serves(server)
    assert server.sessions == 1  # the recorded client's (assert_still_serves's closed)
    # The recorded client's own session survived all of that.
    ping = Message(code=1)
    ping.mtype, ping.mid, ping.token = CON, 9, b"t"
    for datagram in endpoint.send(ping.encode()):
        peer.send(datagram)
    reply = endpoint.receive(await peer.next())
    assert reply.data and Message.decode(reply.data[0]).payload == b"pong"
    for p in (peer, replay, truncated):
        p.close()
    no_tracebacks(caplog)


async def test_failed_handshakes_are_logged_once_without_the_key(
    server: DtlsServerInterface, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    context = await Context.create_client_context(transports=["udp6"])
    try:
        interface = await DtlsClientInterface.create(context, bind_host="127.0.0.1")
        for identity, key in ((b"good-id", b"wrong-key-bytes!"), (b"stranger", KEY)):
            with pytest.raises(ConnectionError):
                await interface.connect(
                    "127.0.0.1", server.sockname[1], identity=identity, key=key, timeout=10
                )
    finally:
        await context.shutdown()
    lines = [r.getMessage() for r in caplog.records if "handshake from" in r.getMessage()]
    assert len(lines) == 2, lines
    assert "b'good-id'" in lines[0] and "wrong key" in lines[0]
    assert "b'stranger'" in lines[1] and "unknown PSK identity" in lines[1]
    assert all("127.0.0.1:" in line for line in lines)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert KEY.hex() not in text and "wrong-key-bytes" not in text and repr(KEY) not in text


async def test_a_storm_past_the_half_open_limit_completes_every_handshake() -> None:
    """Twelve real clients at once against four half-open places: the ones that find no
    place wait for their ClientHello retransmission (RFC 6347 §4.2.4) instead of evicting
    handshakes under way, so every handshake completes and none fails."""
    context = Context(serversite=Root())
    server = await DtlsServerInterface.create(
        context, ("127.0.0.1", 0), Credentials(), limits=ServerLimits(max_handshakes=4)
    )
    clients = [await Context.create_client_context(transports=["udp6"]) for _ in range(12)]
    try:

        async def connect(client: Context) -> None:
            interface = await DtlsClientInterface.create(client, bind_host="127.0.0.1")
            await interface.connect(
                "127.0.0.1", server.sockname[1], identity=b"good-id", key=KEY, timeout=30
            )

        await asyncio.gather(*(connect(client) for client in clients))
        assert server.handshakes_deferred > 0  # the limit was reached
        assert server.handshakes_failed == 0
        assert server.sessions == 12
    finally:
        for client in clients:
            await client.shutdown()
        await context.shutdown()
