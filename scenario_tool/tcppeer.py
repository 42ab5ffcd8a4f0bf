"""A TCP peer a scenario drives: it listens on loopback, takes the module's connections
(``AT+QIOPEN`` ... ``"TCP"``), and on the scenario's word sends data, checks what arrived,
or closes the connections (the module then says ``+QIURC: "closed",<id>``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class TcpPeerError(Exception):
    """The peer cannot do what a step asks (not listening, nobody connected)."""


class TcpPeer:
    """A listening socket and the connections it accepted, oldest first."""

    def __init__(self, *, echo: bool = False) -> None:
        self.echo = echo
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.received = bytearray()
        self.accepted = 0
        self._changed = asyncio.Event()

    @property
    def address(self) -> tuple[str, int]:
        if self.server is None:
            raise TcpPeerError("the TCP peer is not listening (a tcp_peer: listen step first)")
        host, port = self.server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def listen(self, host: str, port: int) -> None:
        if self.server is not None:
            raise TcpPeerError(f"the TCP peer already listens on {self.address[1]}")
        self.server = await asyncio.start_server(self._serve, host, port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        self.accepted += 1
        self._changed.set()
        try:
            while data := await reader.read(65536):
                self.received += data
                self._changed.set()
                if self.echo:
                    writer.write(data)
        except OSError:
            pass
        finally:
            if writer in self.writers:
                self.writers.remove(writer)
            writer.close()
            self._changed.set()

    async def until(self, done: Callable[[], bool], within: float) -> None:
        """Wait (on the peer's own events) until ``done()`` is true."""
        async with asyncio.timeout(within):
            while not done():
                self._changed.clear()
                await self._changed.wait()

    async def send(self, data: bytes, within: float) -> int:
        """Send to every open connection (waiting for one within ``within``); how many."""
        try:
            await self.until(lambda: bool(self.writers), within)
        except TimeoutError:
            raise TcpPeerError(f"nobody connected to the TCP peer within {within:g} s") from None
        for writer in self.writers:
            writer.write(data)
            await writer.drain()
        return len(self.writers)

    def take(self, data: bytes) -> bool:
        """Remove ``data`` and everything received before it; False if not (yet) there."""
        at = self.received.find(data)
        if at < 0:
            return False
        del self.received[: at + len(data)]
        return True

    async def close_connections(self) -> int:
        """The peer closes every connection it holds (FIN); it keeps listening."""
        closing = list(self.writers)
        self.writers.clear()
        for writer in closing:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return len(closing)

    async def close(self) -> None:
        await self.close_connections()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(OSError):
                await self.server.wait_closed()
            self.server = None
