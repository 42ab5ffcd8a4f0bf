"""Transparent access mode against real peers on loopback: CONNECT, bytes both ways, the
+++ escape (a short guard time from the profile; the engine's own tests cover the timing
rules on a fake clock), ATO and AT+QISWTMD back, NO CARRIER when the link goes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.tcpip.harness import EchoServer, ModuleUnderTest, UdpPeer, port_of

GUARD = 0.05  # seconds of silence around +++ (1 s on a module; shortened in the profile)


@pytest.fixture
async def mut() -> AsyncIterator[ModuleUnderTest]:
    module = ModuleUnderTest(escape_guard=GUARD, transparent_wait=1)
    await module.start()
    assert await module.command("AT+QIACT=1") == b"\r\nOK\r\n"
    yield module
    await module.stop()


async def connect(mut: ModuleUnderTest, line: str) -> None:
    mut.take()
    mut.host.feed(line.encode() + b"\r")
    assert await mut.until(lambda o: o.endswith(b"\r\nCONNECT\r\n"), "CONNECT") == (
        b"\r\nCONNECT\r\n"
    )
    mut.take()


async def escape(mut: ModuleUnderTest) -> bytes:
    """+++ with its guard times: silence before (the protocol asks for it), then OK."""
    await asyncio.sleep(GUARD * 1.5)
    mut.host.feed(b"+++")
    out = await mut.until(lambda o: b"\r\nOK\r\n" in o, "OK after +++")
    mut.take()
    return out


async def test_transparent_tcp_both_ways_escape_and_back(
    mut: ModuleUnderTest, echo: EchoServer
) -> None:
    await connect(mut, f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port_of(echo)},0,2')
    mut.host.feed(b"AT\r\n\x1a\x1b+ binary \x00\xff")  # all of it is data now
    expected = b"AT\r\n\x1a\x1b+ binary \x00\xff"
    assert await mut.until(lambda o: o == expected, "the echo, raw") == expected
    assert bytes(echo.received) == expected
    mut.take()
    big = bytes(i % 256 for i in range(3000))  # packets of transpktsize (1024) bytes
    mut.host.feed(big)
    await mut.until(lambda o: o == big, "3000 bytes back")
    mut.take()
    assert await escape(mut) == b"\r\nOK\r\n"
    assert bytes(echo.received) == expected + big  # +++ was not sent
    state = await mut.command("AT+QISTATE=1,0")
    assert state.startswith(b'\r\n+QISTATE: 0,"TCP","127.0.0.1",') and b",2,1,0,0," in state
    # in command mode the socket is in buffer access mode
    echo.writers[0].write(b"while away")
    await mut.urc(b'\r\n+QIURC: "recv",0\r\n')
    mut.host.feed(b"ATO\r")
    out = await mut.until(lambda o: o.endswith(b"while away"), "CONNECT and the buffered data")
    assert out == b"\r\nCONNECT\r\nwhile away"
    mut.take()
    mut.host.feed(b"again")
    await mut.until(lambda o: o == b"again", "the echo")
    mut.take()
    assert await escape(mut) == b"\r\nOK\r\n"
    await connect(mut, "AT+QISWTMD=0,2")
    echo.echo = False
    await echo.close_connections()
    assert await mut.until(lambda o: b"NO CARRIER" in o, "NO CARRIER") == b"\r\nNO CARRIER\r\n"
    mut.take()
    state = await mut.command("AT+QISTATE=1,0")
    assert b",4,1,0,0," in state  # closing, in buffer access mode, until AT+QICLOSE
    assert await mut.command("AT+QICLOSE=0") == b"\r\nOK\r\n"
    assert await mut.command("ATO") == b"\r\nERROR\r\n"


async def test_failures_answer_error_and_the_port_stays_in_command_mode(
    mut: ModuleUnderTest,
) -> None:
    closed = EchoServer()
    port = await closed.start()
    await closed.stop()  # nothing listens there any more
    answer = await mut.command(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,2')
    assert answer == b"\r\nERROR\r\n"
    assert await mut.command("AT+QIGETERROR") == (
        b"\r\n+QIGETERROR: 566,socket connect failed\r\n\r\nOK\r\n"
    )
    assert await mut.command('AT+QIOPEN=1,0,"TCP LISTENER","127.0.0.1",0,4000,2') == (
        b"\r\nERROR\r\n"
    )
    assert await mut.command('AT+QIOPEN=2,0,"TCP","127.0.0.1",80,0,2') == b"\r\nERROR\r\n"
    assert await mut.command("AT+QIGETERROR") == (
        b"\r\n+QIGETERROR: 561,open PDP context failed\r\n\r\nOK\r\n"
    )
    assert await mut.command("ATO") == b"\r\nERROR\r\n"
    assert await mut.command("AT+QISWTMD=0,2") == b"\r\nERROR\r\n"  # nothing open
    assert await mut.command("AT+QISWTMD=0,3") == b"\r\nERROR\r\n"
    assert await mut.command("AT+QISWTMD=?") == b"\r\n+QISWTMD: (0-11),(0-2)\r\n\r\nOK\r\n"


async def test_the_network_dropping_the_context_says_no_carrier_then_pdpdeact(
    mut: ModuleUnderTest, echo: EchoServer
) -> None:
    await connect(mut, f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port_of(echo)},0,2')
    mut.host.apply(lambda now: mut.module.network_deactivate_pdp(now, 1))
    out = await mut.until(lambda o: b'"pdpdeact"' in o, "NO CARRIER and pdpdeact")
    assert out == b'\r\nNO CARRIER\r\n\r\n+QIURC: "pdpdeact",1\r\n'


async def test_switching_between_buffer_and_push(mut: ModuleUnderTest, echo: EchoServer) -> None:
    answer = await mut.command(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port_of(echo)},0,0')
    assert answer == b"\r\nOK\r\n"
    await mut.urc(b"\r\n+QIOPEN: 0,0\r\n")
    assert await mut.command("AT+QISEND=0,3") == b"\r\n> "
    assert await mut.data(b"abc") == b"\r\nSEND OK\r\n"
    await mut.urc(b'\r\n+QIURC: "recv",0\r\n')
    assert await mut.command("AT+QISWTMD=0,1") == b'\r\nOK\r\n\r\n+QIURC: "recv",0,3\r\nabc\r\n'
    assert b",2,1,0,1," in await mut.command("AT+QISTATE=1,0")
    assert await mut.command("AT+QISWTMD=0,0") == b"\r\nOK\r\n"
    assert await mut.command("AT+QIRD=0,0") == b"\r\n+QIRD: 3,3,0\r\n\r\nOK\r\n"


async def test_transparent_udp_sends_what_was_typed_after_transwaittm(
    mut: ModuleUnderTest,
) -> None:
    peer = UdpPeer()
    port = await peer.start()
    try:
        await connect(mut, f'AT+QIOPEN=1,0,"UDP","127.0.0.1",{port},0,2')
        mut.host.feed(b"one datagram")
        await mut.until(lambda o: o == b"ONE DATAGRAM", "the upper-cased echo")
        assert [d for d, _ in peer.datagrams] == [b"one datagram"]
    finally:
        peer.close()


async def test_qicfg_sets_the_packet_size_and_wait(mut: ModuleUnderTest) -> None:
    assert await mut.command('AT+QICFG="transpktsize"') == (
        b'\r\n+QICFG: "transpktsize",1024\r\n\r\nOK\r\n'
    )
    assert await mut.command('AT+QICFG="transpktsize",512') == b"\r\nOK\r\n"
    assert await mut.command('AT+QICFG="TRANSPKTSIZE"') == (
        b'\r\n+QICFG: "transpktsize",512\r\n\r\nOK\r\n'
    )
    assert await mut.command('AT+QICFG="transwaittm",5') == b"\r\nOK\r\n"
    assert await mut.command('AT+QICFG="transwaittm"') == (
        b'\r\n+QICFG: "transwaittm",5\r\n\r\nOK\r\n'
    )
    for bad in ('"transpktsize",0', '"transpktsize",1461', '"transwaittm",21', '"nosuch"'):
        assert await mut.command(f"AT+QICFG={bad}") == b"\r\nERROR\r\n", bad
    assert await mut.command("AT+QICFG=?") == (
        b'\r\n+QICFG: "transpktsize",(1-1460)\r\n+QICFG: "transwaittm",(0-20)\r\n\r\nOK\r\n'
    )


async def test_a_peer_that_stops_reading_does_not_make_memory_grow(
    mut: ModuleUnderTest,
) -> None:
    """No flow control on the port: once the bytes waiting for a peer that reads nothing
    pass the limit, what the host types into the transparent link is dropped."""
    from emulator.adapters.sockets import STREAM_BACKLOG_LIMIT, SocketAdapter

    async def never_reads(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.Event().wait()

    server = await asyncio.start_server(never_reads, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        assert await mut.command('AT+QICFG="transpktsize",1460') == b"\r\nOK\r\n"
        await connect(mut, f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,2')
        (adapter,) = [s for s in mut.host.services if isinstance(s, SocketAdapter)]
        (link,) = adapter.links.values()
        block = bytes(65536)
        fed = 0
        while not link.dropped:
            assert fed < 256 * 2**20, "nothing dropped after 256 MiB"
            mut.host.feed(block)
            fed += len(block)
        assert link.transport is not None
        buffered = link.transport.get_write_buffer_size()  # type: ignore[attr-defined]
        assert fed > STREAM_BACKLOG_LIMIT  # the kernel's buffers filled first
        assert buffered <= STREAM_BACKLOG_LIMIT
    finally:
        server.close()
