"""An in-process module with its socket adapter on the test's event loop, and the peers
the TCP/IP tests talk to: a TCP echo server, a UDP echo peer and an SNTP server, all on
loopback and written here (independent of the code under test)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import struct
from collections.abc import Callable
from typing import Any, cast

from emulator.adapters.factory import hosted_module
from emulator.adapters.netmap import NetworkMap
from emulator.commands.tcpip import core_for
from emulator.module.events import BootCompleted, ModuleEvent
from emulator.module.profile import load_profile
from emulator.tcpip.core import TcpipCore

FAMILIES = ("basic", "identity", "sim", "network", "pdp", "power", "clock", "tcpip")
WAIT = 15.0  # seconds: generous, the machine is shared
FINALS = re.compile(rb"\r\n(OK|ERROR|SEND OK|SEND FAIL|\+CME ERROR: \d+)\r\n|\r\n> $")


class ModuleUnderTest:
    """A VirtualModule hosted on the running loop; output collected for byte checks."""

    def __init__(self, *, network_map: NetworkMap | None = None, **tcpip: Any) -> None:
        profile = load_profile("EC200U")
        sections = dict(profile.sections)
        sections["tcpip"] = {**sections.get("tcpip", {}), **tcpip}
        profile = dataclasses.replace(profile, command_families=FAMILIES, sections=sections)
        self.host = hosted_module(profile, network_map=network_map or NetworkMap())
        self.module = self.host.module
        self.output = bytearray()
        self.mark = 0
        self._changed = asyncio.Event()
        self._booted = asyncio.Event()
        self.host.add_sink(self._sink)
        self.host.add_listener(self._event)

    def _sink(self, data: bytes) -> None:
        self.output += data
        self._changed.set()

    def _event(self, event: ModuleEvent) -> None:
        if isinstance(event, BootCompleted):
            self._booted.set()

    @property
    def core(self) -> TcpipCore:
        return core_for(self.module)

    async def start(self) -> None:
        await self.host.start()
        await asyncio.wait_for(self._booted.wait(), WAIT)
        await self.command("ATE0")
        self.take()

    async def stop(self) -> None:
        await self.host.stop()

    def take(self) -> bytes:
        """Everything since the last take."""
        data = bytes(self.output[self.mark :])
        self.mark = len(self.output)
        return data

    async def until(self, check: Callable[[bytes], bool], what: str) -> bytes:
        """Wait (on output, not on time) until ``check(new output)``; returns it all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while True:
            pending = bytes(self.output[self.mark :])
            if check(pending):
                return pending
            self._changed.clear()
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"no {what} within {WAIT} s; got {pending!r}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def until_state(self, check: Callable[[], bool], what: str) -> None:
        """Wait until module state (not visible on the port) satisfies ``check``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not check():
            if loop.time() > deadline:
                raise AssertionError(f"no {what} within {WAIT} s")
            await asyncio.sleep(0.01)

    async def command(self, line: str | bytes) -> bytes:
        """Send a command line (CR added) and return the answer up to its final result
        code or prompt (what came before the command is dropped)."""
        self.take()
        raw = line.encode() if isinstance(line, str) else line
        self.host.feed(raw + b"\r")
        answer = await self.until(lambda out: FINALS.search(out) is not None, f"answer to {line!r}")
        self.take()
        return answer

    async def data(self, payload: bytes) -> bytes:
        """Raw bytes at a ``> `` prompt; the answer up to the final result code."""
        self.take()
        self.host.feed(payload)
        answer = await self.until(lambda out: FINALS.search(out) is not None, "SEND result")
        self.take()
        return answer

    async def urc(self, text: bytes) -> bytes:
        """Wait for output containing ``text`` (a URC) and consume it."""
        out = await self.until(lambda o: text in o, f"URC {text!r}")
        self.take()
        return out


# ------------------------------------------------------------------------ the peers
class EchoServer:
    """TCP: echoes what it receives; records connections; can close them."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.received = bytearray()
        self.closed_by_peer = asyncio.Event()
        self.connected = asyncio.Event()
        self.echo = True

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        self.connected.set()
        try:
            while data := await reader.read(65536):
                self.received += data
                if self.echo:
                    writer.write(data)
                    await writer.drain()
        except ConnectionError:
            pass
        self.closed_by_peer.set()
        writer.close()

    async def close_connections(self) -> None:
        for writer in self.writers:
            writer.close()
            await writer.wait_closed()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        await self.close_connections()


def port_of(server: EchoServer) -> int:
    assert server.server is not None
    return int(server.server.sockets[0].getsockname()[1])


class UdpPeer(asyncio.DatagramProtocol):
    """UDP: echoes datagrams (upper-cased, to tell the echo from the original)."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.datagrams: list[tuple[bytes, tuple[str, int]]] = []
        self.arrived = asyncio.Event()

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0)
        )
        self.transport = transport
        return int(transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.datagrams.append((data, (str(addr[0]), int(addr[1]))))
        self.arrived.set()
        assert self.transport is not None
        self.transport.sendto(data.upper(), addr)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class SntpServer(asyncio.DatagramProtocol):
    """An SNTP server (RFC 4330 §5) that says it is ``unix_time``."""

    def __init__(self, unix_time: float) -> None:
        self.unix_time = unix_time
        self.transport: asyncio.DatagramTransport | None = None
        self.requests = 0

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0)
        )
        self.transport = transport
        return int(transport.get_extra_info("sockname")[1])

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.requests += 1
        if len(data) < 48 or data[0] & 0x7 != 3:
            return
        seconds = int(self.unix_time) + 2208988800
        fraction = int((self.unix_time % 1) * 2**32)
        stamp = struct.pack("!II", seconds, fraction)
        reply = bytes([0x24, 2, 6, 0xEC]) + bytes(8) + b"LOCL" + stamp + data[40:48]
        reply += stamp + stamp
        assert self.transport is not None
        self.transport.sendto(reply, addr)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
