"""UDP, TCP listeners, DNS, ping and NTP, and what faults do to sockets."""

from __future__ import annotations

import asyncio
import calendar
import socket
from collections.abc import AsyncIterator

import pytest

from emulator.adapters.netmap import NetworkMap
from emulator.adapters.sockets import _Pinger
from tests.tcpip.harness import EchoServer, ModuleUnderTest, SntpServer, UdpPeer


@pytest.fixture
async def mut() -> AsyncIterator[ModuleUnderTest]:
    module = ModuleUnderTest(
        network_map=NetworkMap.from_entries(["time.example.com=127.0.0.1"]), max_incoming=2
    )
    await module.start()
    assert await module.command("AT+QIACT=1") == b"\r\nOK\r\n"
    yield module
    await module.stop()


@pytest.fixture
async def udp() -> AsyncIterator[UdpPeer]:
    peer = UdpPeer()
    await peer.start()
    yield peer
    peer.close()


def udp_port(peer: UdpPeer) -> int:
    assert peer.transport is not None
    return int(peer.transport.get_extra_info("sockname")[1])


async def free_port() -> int:
    """A TCP port nobody listens on (for a TCP LISTENER)."""
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = int(probe.sockets[0].getsockname()[1])
    probe.close()
    await probe.wait_closed()
    return port


def free_udp_port() -> int:
    """A UDP port nobody holds (for a UDP SERVICE): probed with UDP, since a free TCP port
    says nothing about the UDP one of the same number on a busy machine."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_udp_client_in_buffer_mode(mut: ModuleUnderTest, udp: UdpPeer) -> None:
    port = udp_port(udp)
    assert await mut.command(f'AT+QIOPEN=1,1,"UDP","127.0.0.1",{port},0,0') == b"\r\nOK\r\n"
    await mut.urc(b"\r\n+QIOPEN: 1,0\r\n")
    assert await mut.command("AT+QISEND=1,5") == b"\r\n> "
    assert await mut.data(b"hello") == b"\r\nSEND OK\r\n"
    await mut.urc(b'\r\n+QIURC: "recv",1\r\n')
    assert udp.datagrams[0][0] == b"hello"
    assert await mut.command("AT+QIRD=1") == b"\r\n+QIRD: 5\r\nHELLO\r\n\r\nOK\r\n"


async def test_udp_service_names_each_datagrams_source(mut: ModuleUnderTest, udp: UdpPeer) -> None:
    local = free_udp_port()
    answer = await mut.command(f'AT+QIOPEN=1,2,"UDP SERVICE","127.0.0.1",0,{local},1')
    assert answer == b"\r\nOK\r\n"
    await mut.urc(b"\r\n+QIOPEN: 2,0\r\n")
    peer = udp_port(udp)
    assert await mut.command("AT+QISEND=2,3") == b"\r\nERROR\r\n"  # needs a destination
    assert await mut.command(f'AT+QISEND=2,3,"127.0.0.1",{peer}') == b"\r\n> "
    assert await mut.data(b"abc") == b"\r\nSEND OK\r\n"
    out = await mut.urc(b"ABC\r\n")
    assert out == f'\r\n+QIURC: "recv",2,3,"127.0.0.1",{peer}\r\nABC\r\n'.encode()
    assert udp.datagrams[0][1][1] == local  # sent from the service's own port


async def test_udp_service_buffer_mode_reads_a_datagram_with_its_source(
    mut: ModuleUnderTest, udp: UdpPeer
) -> None:
    local = free_udp_port()
    await mut.command(f'AT+QIOPEN=1,3,"UDP SERVICE","127.0.0.1",0,{local},0')
    await mut.urc(b"\r\n+QIOPEN: 3,0\r\n")
    assert udp.transport is not None
    udp.transport.sendto(b"one", ("127.0.0.1", local))
    await mut.urc(b'\r\n+QIURC: "recv",3\r\n')
    answer = await mut.command("AT+QIRD=3")
    assert answer == f'\r\n+QIRD: 3,"127.0.0.1",{udp_port(udp)}\r\none\r\n\r\nOK\r\n'.encode()


async def test_a_listener_accepts_until_full(mut: ModuleUnderTest) -> None:
    port = await free_port()
    answer = await mut.command(f'AT+QIOPEN=1,11,"TCP LISTENER","127.0.0.1",0,{port},0')
    assert answer == b"\r\nOK\r\n"
    await mut.urc(b"\r\n+QIOPEN: 11,0\r\n")
    assert (await mut.command("AT+QISTATE=1,11")) == (
        f'\r\n+QISTATE: 11,"TCP LISTENER","127.0.0.1",0,{port},3,1,11,0,"uart1"\r\n\r\nOK\r\n'
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client_port = writer.get_extra_info("sockname")[1]
    await mut.urc(f'\r\n+QIURC: "incoming",0,11,"127.0.0.1",{client_port}\r\n'.encode())
    writer.write(b"from client")
    await mut.urc(b'\r\n+QIURC: "recv",0\r\n')
    assert await mut.command("AT+QIRD=0") == b"\r\n+QIRD: 11\r\nfrom client\r\n\r\nOK\r\n"
    assert await mut.command("AT+QISEND=0,6") == b"\r\n> "
    assert await mut.data(b"answer") == b"\r\nSEND OK\r\n"
    assert await asyncio.wait_for(reader.readexactly(6), 15) == b"answer"
    state = await mut.command("AT+QISTATE=1,0")
    assert state.startswith(f'\r\n+QISTATE: 0,"TCP INCOMING","127.0.0.1",{client_port},'.encode())
    _, second = await asyncio.open_connection("127.0.0.1", port)
    await mut.urc(b'+QIURC: "incoming",1,11,')
    third_reader, third = await asyncio.open_connection("127.0.0.1", port)
    await mut.urc(b'\r\n+QIURC: "incoming full"\r\n')
    assert await asyncio.wait_for(third_reader.read(), 15) == b""  # closed by the module
    for w in (writer, second, third):
        w.close()


async def test_a_listener_port_in_use_is_port_busy(mut: ModuleUnderTest, echo: EchoServer) -> None:
    assert echo.server is not None
    busy = echo.server.sockets[0].getsockname()[1]
    await mut.command(f'AT+QIOPEN=1,4,"TCP LISTENER","127.0.0.1",0,{busy},0')
    await mut.urc(b"\r\n+QIOPEN: 4,574\r\n")


async def test_pdp_deactivated_by_the_network(mut: ModuleUnderTest, echo: EchoServer) -> None:
    assert echo.server is not None
    port = echo.server.sockets[0].getsockname()[1]
    await mut.command(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,0')
    await mut.urc(b"\r\n+QIOPEN: 0,0\r\n")
    await asyncio.wait_for(echo.connected.wait(), 15)
    mut.host.apply(lambda now: mut.module.network_deactivate_pdp(now, 1))
    await mut.urc(b'\r\n+QIURC: "pdpdeact",1\r\n')
    await asyncio.wait_for(echo.closed_by_peer.wait(), 15)  # the real socket is gone
    assert (await mut.command("AT+QISTATE=1,0")).split(b",")[5] == b"4"
    assert await mut.command("AT+QISEND=0,1") == b"\r\nERROR\r\n"
    assert await mut.command("AT+QIDEACT=1") == b"\r\nOK\r\n"
    assert await mut.command("AT+QICLOSE=0") == b"\r\nOK\r\n"
    assert await mut.command("AT+QIACT=1") == b"\r\nOK\r\n"
    await mut.command(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,0')
    await mut.urc(b"\r\n+QIOPEN: 0,0\r\n")


async def test_opening_on_an_inactive_context(mut: ModuleUnderTest) -> None:
    answer = await mut.command('AT+QIOPEN=2,0,"TCP","127.0.0.1",80')
    assert answer == b"\r\nOK\r\n\r\n+QIOPEN: 0,561\r\n"


async def test_cfun0_and_coverage_loss_close_sockets(
    mut: ModuleUnderTest, echo: EchoServer
) -> None:
    assert echo.server is not None
    port = echo.server.sockets[0].getsockname()[1]
    await mut.command(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,1')
    await mut.urc(b"\r\n+QIOPEN: 0,0\r\n")
    assert await mut.command("AT+CFUN=0") == b'\r\nOK\r\n\r\n+QIURC: "pdpdeact",1\r\n'
    await asyncio.wait_for(echo.closed_by_peer.wait(), 15)
    await mut.command("AT+CFUN=1")
    await mut.command("AT+QICLOSE=0")
    await mut.command("AT+QIACT=1")
    echo.closed_by_peer.clear()
    await mut.command(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,1')
    await mut.urc(b"\r\n+QIOPEN: 0,0\r\n")
    mut.host.apply(lambda now: mut.module.set_coverage(False, now))
    await mut.urc(b'\r\n+QIURC: "pdpdeact",1\r\n')
    await asyncio.wait_for(echo.closed_by_peer.wait(), 15)


async def test_reboot_and_exit_close_every_socket(mut: ModuleUnderTest, echo: EchoServer) -> None:
    assert echo.server is not None
    port = echo.server.sockets[0].getsockname()[1]
    listen = await free_port()
    await mut.command(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,0')
    await mut.command(f'AT+QIOPEN=1,5,"TCP LISTENER","127.0.0.1",0,{listen},0')
    await mut.urc(b"+QIOPEN: 5,0\r\n")
    await mut.command("AT+CFUN=1,1")
    await asyncio.wait_for(echo.closed_by_peer.wait(), 15)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", listen)
    await mut.urc(b"+QIND: PB DONE\r\n")
    await mut.command("ATE0")  # a reboot restores the saved settings (echo on)
    assert await mut.command("AT+QIACT=1") == b"\r\nOK\r\n"
    echo.closed_by_peer.clear()
    assert await mut.command("AT+QISTATE") == b"\r\nOK\r\n"
    await mut.command(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,0')
    await mut.urc(b"\r\n+QIOPEN: 0,0\r\n")
    await mut.stop()  # the emulator exits
    await asyncio.wait_for(echo.closed_by_peer.wait(), 15)


async def test_sntp_against_a_local_server_sets_the_clock(mut: ModuleUnderTest) -> None:
    when = calendar.timegm((2024, 2, 29, 12, 34, 56, 0, 0, 0))
    server = SntpServer(when)
    port = await server.start()
    try:
        assert await mut.command(f'AT+QNTP=1,"time.example.com",{port}') == b"\r\nOK\r\n"
        await mut.urc(b'\r\n+QNTP: 0,"2024/02/29,12:34:56+00"\r\n')
        clock = await mut.command("AT+CCLK?")
        assert clock.startswith(b'\r\n+CCLK: "24/02/29,12:34:5')
        assert await mut.command('AT+QNTP=1,"nowhere.example.com"') == b"\r\nOK\r\n"
        await mut.urc(b"\r\n+QNTP: 565\r\n")
    finally:
        server.close()


async def test_ping_of_loopback(mut: ModuleUnderTest) -> None:
    pinger = _Pinger.open("127.0.0.1")
    assert await mut.command('AT+QPING=1,"127.0.0.1",2,2') == b"\r\nOK\r\n"
    if pinger is None:
        # No ICMP socket on this machine (not root, ping_group_range closed): said so.
        await mut.urc(b"\r\n+QPING: 550\r\n")
        return
    pinger.close()
    out = await mut.urc(b"\r\n+QPING: 0,2,2,0,")
    lines = [line for line in out.split(b"\r\n") if line.startswith(b"+QPING")]
    assert lines[0].startswith(b'+QPING: 0,"127.0.0.1",32,')
    assert lines[1].startswith(b'+QPING: 0,"127.0.0.1",32,')
    assert await mut.command('AT+QPING=1,"nowhere.example.com"') == b"\r\nOK\r\n"
    await mut.urc(b"\r\n+QPING: 565\r\n")
