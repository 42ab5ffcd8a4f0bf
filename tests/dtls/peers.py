"""DTLS test peers nobody in this project wrote, and a relay that records what they send.

GnuTLS (Debian gnutls-bin) is the peer that negotiates *neither* RFC 7627 extended master
secret nor the RFC 5746 renegotiation indication, like Californium 2 (Leshan 1.x): its priority
string turns them off (``%NO_SESSION_HASH``, ``%DISABLE_SAFE_RENEGOTIATION``). With only the
latter it offers extended master secret without the renegotiation indication, like Wakaama's
tinydtls client. ``gnutls-serv --udp --echo`` is a DTLS server that sends back what it gets;
``gnutls-cli --udp`` sends its standard input as application data and prints what comes back.

:class:`UdpRelay` sits between a peer and us and keeps every datagram, so a test can prove
from the bytes on the wire what each Hello offered
(:func:`emulator.adapters.dtls.records.hello_extensions`).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator.adapters.dtls.records import APPLICATION_DATA, Hello, hello_extensions, records

#: DTLS 1.2, plain PSK key exchange, the two LwM2M suites; extended master secret and the
#: renegotiation indication off.
NEITHER = (
    "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+PSK:+AES-128-CCM-8:+AES-128-CBC:+SHA256"
    ":%NO_SESSION_HASH:%DISABLE_SAFE_RENEGOTIATION"
)
#: The same with extended master secret on (a Wakaama/tinydtls-style client).
EMS_ONLY = NEITHER.replace(":%NO_SESSION_HASH", "")


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (Debian gnutls-bin; make setup installs it)")
    return path


@dataclass(frozen=True)
class Datagram:
    to_server: bool
    data: bytes


class _Side(asyncio.DatagramProtocol):
    def __init__(self, relay: UdpRelay, *, client_side: bool) -> None:
        self.relay = relay
        self.client_side = client_side

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.relay._forward(data, addr, from_client=self.client_side)


class UdpRelay:
    """Forwards datagrams between one client and ``target`` on loopback, keeping them all."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.datagrams: list[Datagram] = []
        self.port = 0
        self._client: tuple[Any, ...] | None = None
        self._front: asyncio.DatagramTransport | None = None
        self._back: asyncio.DatagramTransport | None = None

    async def start(self) -> UdpRelay:
        loop = asyncio.get_running_loop()
        self._front, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self, client_side=True), local_addr=("127.0.0.1", 0)
        )
        self._back, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self, client_side=False), remote_addr=self.target
        )
        self.port = self._front.get_extra_info("sockname")[1]
        return self

    def _forward(self, data: bytes, addr: tuple[Any, ...], *, from_client: bool) -> None:
        self.datagrams.append(Datagram(to_server=from_client, data=data))
        if from_client:
            self._client = addr
            if self._back is not None:
                self._back.sendto(data)
        elif self._client is not None and self._front is not None:
            self._front.sendto(data, self._client)

    def hellos(self, *, to_server: bool) -> list[Hello]:
        found = []
        for datagram in self.datagrams:
            if datagram.to_server == to_server:
                hello = hello_extensions(datagram.data)
                if hello is not None:
                    found.append(hello)
        return found

    def application_data(self, *, to_server: bool) -> int:
        return sum(
            1
            for datagram in self.datagrams
            if datagram.to_server == to_server
            for record in records(datagram.data)
            if record.content_type == APPLICATION_DATA
        )

    def close(self) -> None:
        for transport in (self._front, self._back):
            if transport is not None:
                transport.close()


def _port_free_everywhere(port: int) -> bool:
    """gnutls-serv listens on every IPv4 and IPv6 address (it has no bind option)."""
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind((host, port))
            except OSError:
                return False
    return True


class GnutlsEchoServer:
    """``gnutls-serv --udp --echo`` with one PSK account."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    @classmethod
    async def start(
        cls, directory: Path, identity: str, key_hex: str, priority: str = NEITHER
    ) -> GnutlsEchoServer:
        binary = require("gnutls-serv")
        accounts = directory / "gnutls-psk.txt"
        accounts.write_text(f"{identity}:{key_hex}\n")
        accounts.chmod(0o600)
        for _ in range(20):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind(("127.0.0.1", 0))
                port = int(probe.getsockname()[1])
            if not _port_free_everywhere(port):
                continue
            process = await asyncio.create_subprocess_exec(
                binary, "--udp", "--echo", "--pskpasswd", str(accounts),
                "--priority", priority, "-p", str(port),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            server = cls(process, port)
            if await server._listening():
                return server
            await server.stop()
        raise AssertionError("gnutls-serv did not start")

    async def _listening(self) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while loop.time() < deadline:
            if self.process.returncode is not None:
                return False
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(("127.0.0.1", self.port))
                except OSError:
                    return True
            await asyncio.sleep(0.05)
        return False

    async def stop(self) -> None:
        await _end(self.process)


class GnutlsClient:
    """``gnutls-cli --udp`` with a PSK: what is written to it goes out as one record."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output = bytearray()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(
        cls, port: int, identity: str, key_hex: str, priority: str = NEITHER
    ) -> GnutlsClient:
        binary = require("gnutls-cli")
        process = await asyncio.create_subprocess_exec(
            binary, "--udp", "--pskusername", identity, "--pskkey", key_hex,
            "--priority", priority, "-p", str(port), "127.0.0.1",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while chunk := await self.process.stdout.read(4096):
            self.output.extend(chunk)

    async def wait_output(self, fragment: bytes, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while fragment not in self.output:
                if self._reader.done():
                    raise AssertionError(f"gnutls-cli ended: {bytes(self.output)!r}")
                await asyncio.sleep(0.02)

    async def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        await self.process.stdin.drain()

    async def stop(self) -> None:
        await _end(self.process)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def _end(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 3)
        except TimeoutError:
            process.kill()
            await process.wait()
