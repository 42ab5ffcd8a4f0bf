"""The fault relay on real loopback UDP: it forwards both ways, drops the share it is told
(repeatably with a seed), delays, and keeps one upstream socket per client."""

from __future__ import annotations

import asyncio
import socket
from typing import cast

import pytest

from scenario_tool.relay import DOWNLINK, UPLINK, FaultPolicy, UdpRelay, summarise


class Echo(asyncio.DatagramProtocol):
    """A server that answers every datagram with b"echo:" + it and records who sent it."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.peers: list[tuple[str, int]] = []
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.peers.append(addr)
        self.received.put_nowait(data)
        assert self.transport is not None
        self.transport.sendto(b"echo:" + data, addr)


class Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.replies.put_nowait(data)


async def start_echo() -> tuple[asyncio.DatagramTransport, Echo]:
    loop = asyncio.get_running_loop()
    transport, echo = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    return transport, echo


async def client_to(address: tuple[str, int]) -> tuple[asyncio.DatagramTransport, Client]:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(Client, remote_addr=address)
    return transport, client


async def test_datagrams_go_through_both_ways_one_upstream_per_client() -> None:
    echo_transport, echo = await start_echo()
    relay = UdpRelay(echo_transport.get_extra_info("sockname"))
    seen: list[tuple[str, bytes, str]] = []
    relay.observers.append(lambda d, data, fate: seen.append((d, data, fate)))
    await relay.start()
    a_transport, a = await client_to(relay.address)
    b_transport, b = await client_to(relay.address)
    try:
        for n in range(3):
            a_transport.sendto(b"a%d" % n)
            assert await asyncio.wait_for(a.replies.get(), 2) == b"echo:a%d" % n
        b_transport.sendto(b"b")
        assert await asyncio.wait_for(b.replies.get(), 2) == b"echo:b"
        assert len(set(echo.peers)) == 2  # one upstream socket per client, reused
        assert ("uplink", b"a0", "forwarded") in seen
        assert ("downlink", b"echo:b", "forwarded") in seen
    finally:
        a_transport.close()
        b_transport.close()
        await relay.close()
        echo_transport.close()


async def test_drop_share_is_applied_and_repeats_with_a_seed() -> None:
    def run(seed: int) -> list[float | None]:
        policy = FaultPolicy()
        policy.set_drop(0.3, "uplink", seed=seed)
        return [policy.decide(UPLINK) for _ in range(1000)]

    first = run(11)
    assert first == run(11)
    dropped = first.count(None)
    assert 230 <= dropped <= 370  # 30 % of 1000, within a generous binomial bound
    policy = FaultPolicy()
    policy.set_drop(1.0, "uplink")
    assert policy.decide(DOWNLINK) == 0.0  # the other direction is untouched


async def test_dropped_datagrams_never_reach_the_server() -> None:
    echo_transport, echo = await start_echo()
    relay = UdpRelay(echo_transport.get_extra_info("sockname"))
    relay.policy.set_drop(0.5, "uplink", seed=5)
    all_seen = asyncio.Event()
    uplink: list[bytes] = []

    def count(direction: str, data: bytes, fate: str) -> None:
        if direction == UPLINK:
            uplink.append(data)
            if len(uplink) == 40:
                all_seen.set()

    relay.observers.append(count)
    await relay.start()
    transport, _ = await client_to(relay.address)
    try:
        for n in range(40):
            transport.sendto(b"%d" % n)
        await asyncio.wait_for(all_seen.wait(), 2)
        # the sentinel goes through once drops are off: everything before it has arrived
        relay.policy.clear()
        transport.sendto(b"end")
        while await asyncio.wait_for(echo.received.get(), 2) != b"end":
            pass
        stats = relay.policy.stats
        arrived = len(echo.peers) - 1
        assert arrived == stats[UPLINK].forwarded - 1
        assert 0 < stats[UPLINK].dropped < 40
        assert stats[UPLINK].dropped + arrived == 40
    finally:
        transport.close()
        await relay.close()
        echo_transport.close()


async def test_delay_holds_datagrams() -> None:
    echo_transport, _ = await start_echo()
    relay = UdpRelay(echo_transport.get_extra_info("sockname"))
    relay.policy.set_delay(0.3, "downlink")
    await relay.start()
    transport, client = await client_to(relay.address)
    loop = asyncio.get_running_loop()
    try:
        sent = loop.time()
        transport.sendto(b"x")
        assert await asyncio.wait_for(client.replies.get(), 2) == b"echo:x"
        assert loop.time() - sent >= 0.29
    finally:
        transport.close()
        await relay.close()
        echo_transport.close()


async def test_a_retargeted_relay_follows_the_server() -> None:
    first_transport, first = await start_echo()
    second_transport, second = await start_echo()
    relay = UdpRelay(first_transport.get_extra_info("sockname"))
    await relay.start()
    transport, client = await client_to(relay.address)
    try:
        transport.sendto(b"1")
        await asyncio.wait_for(client.replies.get(), 2)
        relay.retarget(second_transport.get_extra_info("sockname"))
        transport.sendto(b"2")
        await asyncio.wait_for(client.replies.get(), 2)
        assert await asyncio.wait_for(second.received.get(), 2) == b"2"
        assert first.received.qsize() == 1
    finally:
        transport.close()
        await relay.close()
        first_transport.close()
        second_transport.close()


def test_bad_fault_values_are_refused() -> None:
    policy = FaultPolicy()
    with pytest.raises(ValueError, match="between 0 and 1"):
        policy.set_drop(1.5)
    with pytest.raises(ValueError, match="direction"):
        policy.set_delay(1, "sideways")


def test_datagrams_are_summarised_for_the_transcript() -> None:
    from aiocoap import CON, POST, Message

    message = Message(code=POST, uri_path=("rd",), uri_query=("ep=x", "lt=60"))
    message.mtype = CON
    message.mid = 7
    message.token = b"t"
    assert summarise(message.encode()).startswith("CON POST mid=7 /rd?ep=x&lt=60")
    assert summarise(bytes([22, 254, 253]) + b"\0" * 10).startswith("DTLS handshake")
    assert summarise(b"\xff") == "1 B"


def test_the_relay_address_needs_a_start() -> None:
    relay = UdpRelay(("127.0.0.1", 9))
    with pytest.raises(RuntimeError):
        _ = relay.address
    assert socket.AF_INET  # the relay binds IPv4 loopback by default
