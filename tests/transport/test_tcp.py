"""The TCP transport in process: a real module behind a loopback listener."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.adapters.factory import hosted_module
from emulator.adapters.host import ModuleHost
from emulator.adapters.port.port import PortEvent
from emulator.adapters.port.tcp import TcpPort, parse_address
from emulator.module.events import BootCompleted, ModuleEvent
from emulator.module.profile import load_profile
from tests.transport.helpers import write_test_profile

TIMEOUT = 10.0

Served = tuple[ModuleHost, TcpPort, "asyncio.Queue[PortEvent]"]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    profile = load_profile(str(write_test_profile(tmp_path)))
    host = hosted_module(profile, services=False)
    events: asyncio.Queue[PortEvent] = asyncio.Queue()
    port = await TcpPort.listen(host.feed, "127.0.0.1", 0, on_event=events.put_nowait)
    host.add_sink(port.write)
    booted = asyncio.get_running_loop().create_future()

    def on_event(event: ModuleEvent) -> None:
        if isinstance(event, BootCompleted) and not booted.done():
            booted.set_result(None)

    host.add_listener(on_event)
    await host.start()
    # The boot URCs (RDY, +CPIN: READY ...) come on the module's own schedule; a test that
    # connects before they are out would read them ahead of its answer. serve waits the same way.
    await asyncio.wait_for(booted, TIMEOUT)
    yield host, port, events
    port.close()
    await host.stop()


async def connect(port: TcpPort) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(port.host, port.port), TIMEOUT)


async def next_kind(events: asyncio.Queue[PortEvent]) -> str:
    return (await asyncio.wait_for(events.get(), TIMEOUT)).kind


async def command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes) -> bytes:
    writer.write(line)
    return await asyncio.wait_for(reader.readuntil(b"OK\r\n"), TIMEOUT)


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    await asyncio.wait_for(writer.wait_closed(), TIMEOUT)


async def test_at_round_trip(served: Served) -> None:
    _, port, _ = served
    assert port.port != 0 and port.describe() == f"tcp 127.0.0.1:{port.port}"
    reader, writer = await connect(port)
    assert await command(reader, writer, b"AT\r") == b"AT\r\r\nOK\r\n"
    await close(writer)


async def test_a_second_client_is_told_and_closed(
    served: Served,
) -> None:
    _, port, events = served
    reader, writer = await connect(port)
    assert await command(reader, writer, b"AT\r") == b"AT\r\r\nOK\r\n"
    reader2, writer2 = await connect(port)
    refusal = await asyncio.wait_for(reader2.read(), TIMEOUT)  # until the server closes
    assert refusal.startswith(b"quecemu: AT port 127.0.0.1:")
    assert b"is in use by 127.0.0.1:" in refusal and refusal.endswith(b"one client at a time\r\n")
    # The first client is undisturbed.
    assert await command(reader, writer, b"AT\r") == b"AT\r\r\nOK\r\n"
    assert [await next_kind(events), await next_kind(events)] == ["open", "refused"]
    assert port.stats.refused == 1
    await close(writer)
    await close(writer2)


async def test_a_client_that_hung_up_does_not_hold_the_port(served: Served) -> None:
    # A tool that disconnects and connects again at once (a test runner between two runs)
    # can be accepted before the loop has read its old connection's FIN: the FIN is in the
    # kernel, so the old connection no longer holds the port. The loop is kept from reading
    # it here, so the new client always arrives first.
    _, port, events = served
    reader, writer = await connect(port)
    assert await command(reader, writer, b"AT\r") == b"AT\r\r\nOK\r\n"
    assert await next_kind(events) == "open"
    holder = port._client
    assert holder is not None and holder.transport is not None
    holder.transport.pause_reading()
    sock = writer.get_extra_info("socket")
    sock.shutdown(socket.SHUT_RDWR)  # the FIN goes out now, not when the loop gets to it
    reader2, writer2 = await connect(port)
    assert await command(reader2, writer2, b"AT\r") == b"AT\r\r\nOK\r\n"
    assert [await next_kind(events), await next_kind(events)] == ["close", "open"]
    assert port.stats.refused == 0
    writer.close()
    await close(writer2)


async def test_reconnect_reaches_the_same_running_module(
    served: Served,
) -> None:
    host, port, events = served
    reader, writer = await connect(port)
    assert await command(reader, writer, b"ATE0\r") == b"ATE0\r\r\nOK\r\n"
    await close(writer)
    assert [await next_kind(events), await next_kind(events)] == ["open", "close"]
    assert not port.connected

    dropped = port.stats.bytes_dropped
    host.raise_urc("+CEREG: 1")  # nobody connected: dropped, not kept for the next client
    assert port.stats.bytes_dropped == dropped + len(b"\r\n+CEREG: 1\r\n")

    reader, writer = await connect(port)
    assert await command(reader, writer, b"AT\r") == b"\r\nOK\r\n"  # echo still off
    await close(writer)


async def test_a_client_that_stops_reading_is_bounded(
    served: Served,
) -> None:
    host, port, _ = served
    reader, writer = await connect(port)
    await command(reader, writer, b"AT\r")  # connected and answered
    for _ in range(20000):  # ~1.3 MB; far more than socket buffers plus the backlog
        host.raise_urc('+QIND: "FOTA","HTTPSTART"' + "x" * 30)
    assert port.stats.bytes_dropped > 0
    await close(writer)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:7000", ("127.0.0.1", 7000)),
        (":0", ("127.0.0.1", 0)),
        ("7001", ("127.0.0.1", 7001)),
        ("[::1]:7002", ("::1", 7002)),
        ("localhost:7003", ("localhost", 7003)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"), [("host:http", "not a number"), ("1.2.3.4:70000", "not 0-65535")]
)
def test_parse_address_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_address(text)


async def test_ipv6_loopback(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    profile = load_profile(str(write_test_profile(tmp_path)))
    host = hosted_module(profile, services=False)
    try:
        port = await TcpPort.listen(host.feed, "::1", 0)
    except OSError as exc:
        pytest.skip(f"cannot bind ::1: {exc}")
    host.add_sink(port.write)
    await host.start()
    try:
        assert port.describe() == f"tcp [::1]:{port.port}"
        reader, writer = await connect(port)
        assert await command(reader, writer, b"AT\r") == b"AT\r\r\nOK\r\n"
        await close(writer)
    finally:
        port.close()
        await host.stop()
