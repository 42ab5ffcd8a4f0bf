"""Quectel's TCP/IP AT commands against real peers on loopback, byte-exact on the port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from emulator.adapters.netmap import NetworkMap
from tests.tcpip.harness import EchoServer, ModuleUnderTest, port_of


@pytest.fixture
async def mut() -> AsyncIterator[ModuleUnderTest]:
    module = ModuleUnderTest(network_map=NetworkMap.from_entries(["api.example.com=127.0.0.1"]))
    await module.start()
    assert await module.command("AT+QIACT=1") == b"\r\nOK\r\n"
    yield module
    await module.stop()


async def open_tcp(mut: ModuleUnderTest, port: int, mode: int = 0, cid: int = 0) -> None:
    answer = await mut.command(f'AT+QIOPEN=1,{cid},"TCP","127.0.0.1",{port},0,{mode}')
    assert answer == b"\r\nOK\r\n"
    await mut.urc(f"\r\n+QIOPEN: {cid},0\r\n".encode())


async def test_tcp_client_buffer_mode_round_trip(mut: ModuleUnderTest, echo: EchoServer) -> None:
    port = port_of(echo)
    await open_tcp(mut, port)
    assert await mut.command("AT+QISEND=0,5") == b"\r\n> "
    assert await mut.data(b"hello") == b"\r\nSEND OK\r\n"
    await mut.urc(b'\r\n+QIURC: "recv",0\r\n')
    assert await mut.command("AT+QIRD=0,1500") == b"\r\n+QIRD: 5\r\nhello\r\n\r\nOK\r\n"
    assert await mut.command("AT+QIRD=0") == b"\r\n+QIRD: 0\r\n\r\nOK\r\n"
    assert await mut.command("AT+QIRD=0,0") == b"\r\n+QIRD: 5,5,0\r\n\r\nOK\r\n"
    assert echo.received == b"hello"
    # the peer acknowledged everything: 5 sent, 5 acknowledged, 0 not
    await mut.until_state(lambda: mut.core.connections[0].unacked == 0, "acknowledgement")
    assert await mut.command("AT+QISEND=0,0") == b"\r\n+QISEND: 5,5,0\r\n\r\nOK\r\n"
    state = await mut.command("AT+QISTATE=1,0")
    local = mut.core.connections[0].local_port
    assert (
        state
        == (
            f'\r\n+QISTATE: 0,"TCP","127.0.0.1",{port},{local},2,1,0,0,"uart1"\r\n\r\nOK\r\n'
        ).encode()
    )
    assert await mut.command("AT+QICLOSE=0") == b"\r\nOK\r\n"
    await asyncio.wait_for(echo.closed_by_peer.wait(), 15)
    assert await mut.command("AT+QISTATE") == b"\r\nOK\r\n"


async def test_ctrl_z_form_and_a_binary_fixed_length_payload(
    mut: ModuleUnderTest, echo: EchoServer
) -> None:
    await open_tcp(mut, port_of(echo))
    assert await mut.command("AT+QISEND=0") == b"\r\n> "
    assert await mut.data(b"text line\x1a") == b"\r\nSEND OK\r\n"
    binary = bytes(range(256))  # NUL, CR, LF, Ctrl-Z and ESC are data here
    assert await mut.command(f"AT+QISEND=0,{len(binary)}") == b"\r\n> "
    assert await mut.data(binary) == b"\r\nSEND OK\r\n"
    await mut.until_state(lambda: len(echo.received) == 9 + 256, "the peer getting both")
    assert bytes(echo.received) == b"text line" + binary
    await mut.until_state(lambda: mut.core.connections[0].buffered() == 265, "the echo")
    answer = await mut.command("AT+QIRD=0,1500")
    assert answer == b"\r\n+QIRD: 265\r\n" + b"text line" + binary + b"\r\n\r\nOK\r\n"


async def test_hex_form_sends_binary(mut: ModuleUnderTest, echo: EchoServer) -> None:
    await open_tcp(mut, port_of(echo))
    assert await mut.command('AT+QISENDEX=0,"00FF1A0D0A"') == b"\r\nSEND OK\r\n"
    await mut.until_state(lambda: len(echo.received) == 5, "the bytes")
    assert bytes(echo.received) == b"\x00\xff\x1a\r\n"
    assert await mut.command('AT+QISENDEX=0,"0G"') == b"\r\nERROR\r\n"
    assert await mut.command('AT+QISENDEX=0,"123"') == b"\r\nERROR\r\n"


async def test_data_typed_at_the_prompt_is_echoed_per_qisde_while_ate1(
    mut: ModuleUnderTest, echo: EchoServer
) -> None:
    await open_tcp(mut, port_of(echo))
    await mut.command("ATE1")
    assert await mut.command("AT+QISEND=0,3") == b"AT+QISEND=0,3\r\r\n> "
    assert await mut.data(b"abc") == b"abc\r\nSEND OK\r\n"
    assert await mut.command("AT+QISDE=0") == b"AT+QISDE=0\r\r\nOK\r\n"
    assert await mut.command("AT+QISDE?") == b"AT+QISDE?\r\r\n+QISDE: 0\r\n\r\nOK\r\n"
    assert await mut.command("AT+QISEND=0,3") == b"AT+QISEND=0,3\r\r\n> "
    assert await mut.data(b"def") == b"\r\nSEND OK\r\n"


async def test_direct_push_mode_puts_the_data_in_the_urc(
    mut: ModuleUnderTest, echo: EchoServer
) -> None:
    await open_tcp(mut, port_of(echo), mode=1)
    assert await mut.command("AT+QISEND=0,4") == b"\r\n> "
    assert await mut.data(b"ping") == b"\r\nSEND OK\r\n"
    out = await mut.urc(b'\r\n+QIURC: "recv",0,4\r\nping\r\n')
    assert out.endswith(b'\r\n+QIURC: "recv",0,4\r\nping\r\n')
    assert await mut.command("AT+QIRD=0") == b"\r\nERROR\r\n"  # buffer mode only
    assert await mut.command("AT+QIGETERROR") == (
        b"\r\n+QIGETERROR: 572,operation not allowed\r\n\r\nOK\r\n"
    )


async def test_a_name_in_the_network_map_reaches_the_local_peer(
    mut: ModuleUnderTest, echo: EchoServer
) -> None:
    port = port_of(echo)
    assert await mut.command(f'AT+QIOPEN=1,2,"TCP","api.example.com",{port},0,0') == (b"\r\nOK\r\n")
    await mut.urc(b"\r\n+QIOPEN: 2,0\r\n")
    assert (await mut.command("AT+QISTATE=1,2")).startswith(
        f'\r\n+QISTATE: 2,"TCP","api.example.com",{port},'.encode()
    )
    assert await mut.command('AT+QIDNSGIP=1,"api.example.com"') == b"\r\nOK\r\n"
    out = await mut.urc(b'+QIURC: "dnsgip","127.0.0.1"\r\n')
    assert out == b'\r\n+QIURC: "dnsgip",0,1,600\r\n\r\n+QIURC: "dnsgip","127.0.0.1"\r\n'


# ----------------------------------------------------------------------- bad input
async def test_wrong_connect_ids_and_closed_sockets_are_refused(mut: ModuleUnderTest) -> None:
    for line in ("AT+QISEND=12,5", "AT+QIRD=12", "AT+QICLOSE=12", 'AT+QISENDEX=-1,"00"'):
        assert await mut.command(line) == b"\r\nERROR\r\n", line
        assert await mut.command("AT+QIGETERROR") == (
            b"\r\n+QIGETERROR: 552,invalid parameters\r\n\r\nOK\r\n"
        )
    for line in ("AT+QISEND=3,5", "AT+QISEND=3", "AT+QIRD=3", "AT+QICLOSE=3"):
        assert await mut.command(line) == b"\r\nERROR\r\n", line
        assert await mut.command("AT+QIGETERROR") == (
            b"\r\n+QIGETERROR: 567,socket has been closed\r\n\r\nOK\r\n"
        )
    assert await mut.command('AT+QIOPEN=1,0,"SCTP","127.0.0.1",80') == b"\r\nERROR\r\n"
    assert await mut.command('AT+QIOPEN=1,0,"TCP","127.0.0.1",0') == b"\r\nERROR\r\n"
    assert await mut.command('AT+QIOPEN=1,0,"TCP","127.0.0.1",80,0,3') == b"\r\nERROR\r\n"
    assert await mut.command("AT+QIGETERROR") == (
        b"\r\n+QIGETERROR: 552,invalid parameters\r\n\r\nOK\r\n"
    )


async def test_a_connect_id_in_use_is_refused(mut: ModuleUnderTest, echo: EchoServer) -> None:
    await open_tcp(mut, port_of(echo))
    answer = await mut.command(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port_of(echo)},0,0')
    assert answer == b"\r\nERROR\r\n"
    assert await mut.command("AT+QIGETERROR") == (
        b"\r\n+QIGETERROR: 563,socket identity has been used\r\n\r\nOK\r\n"
    )


async def test_dns_failure_refusal_and_unreachable_peers(mut: ModuleUnderTest) -> None:
    assert await mut.command('AT+QIOPEN=1,0,"TCP","nowhere.example.com",80') == b"\r\nOK\r\n"
    await mut.urc(b"\r\n+QIOPEN: 0,565\r\n")
    assert await mut.command('AT+QIDNSGIP=1,"nowhere.example.com"') == b"\r\nOK\r\n"
    await mut.urc(b'\r\n+QIURC: "dnsgip",565\r\n')
    # outside loopback and not mapped: refused, never sent
    assert await mut.command('AT+QIOPEN=1,0,"TCP","203.0.113.7",80') == b"\r\nOK\r\n"
    await mut.urc(b"\r\n+QIOPEN: 0,566\r\n")
    # a loopback port nobody listens on
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    free_port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    assert await mut.command(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{free_port}') == b"\r\nOK\r\n"
    await mut.urc(b"\r\n+QIOPEN: 0,566\r\n")
    assert await mut.command("AT+QISTATE") == b"\r\nOK\r\n"  # the ID is free again


async def test_oversized_payloads_are_refused(mut: ModuleUnderTest, echo: EchoServer) -> None:
    await open_tcp(mut, port_of(echo))
    assert await mut.command("AT+QISEND=0,1461") == b"\r\nERROR\r\n"
    assert await mut.command("AT+QISEND=0") == b"\r\n> "
    assert await mut.data(b"x" * 1461 + b"\x1a") == b"\r\nERROR\r\n"
    assert await mut.command("AT+QIGETERROR") == (
        b"\r\n+QIGETERROR: 552,invalid parameters\r\n\r\nOK\r\n"
    )
    assert await mut.command("AT+QISEND=0,1460") == b"\r\n> "
    assert await mut.data(b"y" * 1460) == b"\r\nSEND OK\r\n"
    assert await mut.command("AT") == b"\r\nOK\r\n"  # the port still answers


async def test_escape_cancels_a_ctrl_z_input(mut: ModuleUnderTest, echo: EchoServer) -> None:
    await open_tcp(mut, port_of(echo))
    assert await mut.command("AT+QISEND=0") == b"\r\n> "
    assert await mut.data(b"never\x1b") == b"\r\nOK\r\n"
    assert await mut.command("AT+QISEND=0,0") == b"\r\n+QISEND: 0,0,0\r\n\r\nOK\r\n"
    assert echo.received == b""


async def test_the_peer_going_away(mut: ModuleUnderTest, echo: EchoServer) -> None:
    await open_tcp(mut, port_of(echo))
    assert await mut.command("AT+QISEND=0,3") == b"\r\n> "
    assert await mut.data(b"bye") == b"\r\nSEND OK\r\n"
    await mut.urc(b'\r\n+QIURC: "recv",0\r\n')
    await echo.close_connections()
    await mut.urc(b'\r\n+QIURC: "closed",0\r\n')
    assert (await mut.command("AT+QISTATE=1,0")).split(b",")[5] == b"4"  # closing
    assert await mut.command("AT+QISEND=0,3") == b"\r\nERROR\r\n"
    # what arrived before the close can still be read
    assert await mut.command("AT+QIRD=0") == b"\r\n+QIRD: 3\r\nbye\r\n\r\nOK\r\n"
    assert await mut.command("AT+QICLOSE=0") == b"\r\nOK\r\n"
    assert await mut.command("AT+QISTATE") == b"\r\nOK\r\n"


async def test_test_forms_list_the_ranges(mut: ModuleUnderTest) -> None:
    assert await mut.command("AT+QIOPEN=?") == (
        b'\r\n+QIOPEN: (1-15),(0-11),"TCP/UDP/TCP LISTENER/UDP SERVICE",'
        b'"<IP_address>/<domain_name>",<remote_port>,<local_port>,(0-2)\r\n\r\nOK\r\n'
    )
    assert await mut.command("AT+QISEND=?") == b"\r\n+QISEND: (0-11),(0-1460)\r\n\r\nOK\r\n"
    assert await mut.command("AT+QIRD=?") == b"\r\n+QIRD: (0-11),(0-1500)\r\n\r\nOK\r\n"
    assert await mut.command("AT+QIGETERROR") == (
        b"\r\n+QIGETERROR: 0,operation successful\r\n\r\nOK\r\n"
    )


async def test_direct_push_waits_for_a_slow_host_and_loses_nothing(
    mut: ModuleUnderTest, echo: EchoServer
) -> None:
    """The port holds output the host has not taken: the socket stops reading (its window
    closes) instead of pushing URCs the port would drop; the peer's close comes last."""
    from emulator.adapters.sockets import PUSH_HOLD_BYTES, SocketAdapter

    untaken = {"bytes": PUSH_HOLD_BYTES + 1}
    mut.host.add_output_backlog(lambda: untaken["bytes"])
    echo.echo = False
    await open_tcp(mut, port_of(echo), mode=1)
    await asyncio.wait_for(echo.connected.wait(), 15)
    (adapter,) = [s for s in mut.host.services if isinstance(s, SocketAdapter)]
    (link,) = adapter.links.values()
    blob = bytes(i % 251 for i in range(20_000))
    echo.writers[0].write(blob)
    await mut.until_state(lambda: len(link.held) == len(blob), "the data held back")
    echo.writers[0].close()  # a paused socket reads neither the data nor the FIN
    await asyncio.wait_for(echo.closed_by_peer.wait(), 15)
    assert mut.take() == b""
    untaken["bytes"] = 0  # the host reads again
    out = await mut.until(lambda o: o.endswith(b'\r\n+QIURC: "closed",0\r\n'), "the close")
    pushed = bytearray()
    rest = out
    while rest.startswith(b'\r\n+QIURC: "recv",0,'):
        head, rest = rest[2:].split(b"\r\n", 1)
        length = int(head.rsplit(b",", 1)[1])
        assert length <= 1500
        pushed += rest[:length]
        assert rest[length : length + 2] == b"\r\n"
        rest = rest[length + 2 :]
    assert rest == b'\r\n+QIURC: "closed",0\r\n'
    assert bytes(pushed) == blob
