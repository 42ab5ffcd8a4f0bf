"""The TCP transport: a module's AT port as a TCP socket (``--tcp HOST:PORT``).

One client at a time, as a UART has one host: a second connection gets one line saying
who holds the port, then is closed (queueing it would leave a client talking into a
socket nobody answers, with no way to tell why). A holder that has already hung up (its
FIN is in, though the event loop has not read up to it yet) does not hold the port: the new
client takes it, so a tool that disconnects and reconnects at once is never refused by its
own ghost. The module keeps running across
disconnects; output while no client is connected is dropped and counted, like bytes sent
on an unattached UART, so a new client never reads stale URCs. A client that stops
reading gets at most ``backlog_limit`` bytes buffered; the rest is dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from emulator.adapters.port.port import DataCallback, EventCallback, PortEvent, PortStats

log = logging.getLogger(__name__)

DEFAULT_BACKLOG = 64 * 1024

# Linux's TCP states (include/net/tcp_states.h) that mean the peer is gone: it closed its side
# (CLOSE_WAIT) or reset the connection (CLOSE).
_TCP_CLOSE = 7
_TCP_CLOSE_WAIT = 8


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` (loopback), ``PORT`` or ``[v6]:PORT``; port 0 picks one."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        host = "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not HOST:PORT (port {port_text!r} is not a number)"
        ) from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{text!r}: port {port} is not 0-65535")
    return host, port


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Connection(asyncio.Protocol):
    def __init__(self, port: TcpPort) -> None:
        self._port = port
        self.transport: asyncio.Transport | None = None
        self.peer = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = format_address(peer[0], peer[1]) if peer else "?"
        self._port._accept(self)

    def data_received(self, data: bytes) -> None:
        self._port._received(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._port._lost(self)


def _hung_up(connection: _Connection) -> bool:
    """Whether the peer of ``connection`` closed or reset it, by the kernel's view of the
    socket rather than by what the event loop has read so far."""
    transport = connection.transport
    if transport is None or transport.is_closing():
        return True
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    tcp_info = getattr(socket, "TCP_INFO", None)
    try:
        if tcp_info is not None:
            # struct tcp_info starts with tcpi_state (one byte).
            state = sock.getsockopt(socket.IPPROTO_TCP, tcp_info, 1)[0]
            return state in (_TCP_CLOSE, _TCP_CLOSE_WAIT)
        with sock.dup() as probe:  # elsewhere: a FIN with nothing unread before it
            peeked: bytes = probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            return peeked == b""
    except BlockingIOError:
        return False
    except OSError:
        return True  # reset


class TcpPort:
    """A listening socket whose one client is the module's host program."""

    def __init__(
        self,
        on_data: DataCallback,
        *,
        on_event: EventCallback | None = None,
        backlog_limit: int = DEFAULT_BACKLOG,
    ) -> None:
        self._on_data = on_data
        self._on_event = on_event
        self._backlog_limit = backlog_limit
        self.stats = PortStats()
        self._server: asyncio.Server | None = None
        self._client: _Connection | None = None
        self._dropping = False
        self.host = ""
        self.port = 0

    @classmethod
    async def listen(
        cls,
        on_data: DataCallback,
        host: str,
        port: int,
        *,
        on_event: EventCallback | None = None,
        backlog_limit: int = DEFAULT_BACKLOG,
    ) -> TcpPort:
        self = cls(on_data, on_event=on_event, backlog_limit=backlog_limit)
        loop = asyncio.get_running_loop()
        # One address only: a name such as "localhost" may resolve to ::1 and 127.0.0.1,
        # and with port 0 each would get a different port; the first answer is the one.
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, sockaddr = infos[0]
        self._server = await loop.create_server(
            lambda: _Connection(self), str(sockaddr[0]), port, family=family, reuse_address=True
        )
        bound = self._server.sockets[0].getsockname()
        self.host, self.port = bound[0], bound[1]
        return self

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    @property
    def connected(self) -> bool:
        return self._client is not None

    def describe(self) -> str:
        return f"tcp {self.address}"

    # ----------------------------------------------------------------- output
    @property
    def backlog_size(self) -> int:
        """Output written but not yet taken by the client (the transport's buffer)."""
        client = self._client
        if client is None or client.transport is None or client.transport.is_closing():
            return 0
        return int(client.transport.get_write_buffer_size())

    def write(self, data: bytes) -> int:
        client = self._client
        if client is None or client.transport is None or client.transport.is_closing():
            self.stats.bytes_dropped += len(data)
            return len(data)
        if client.transport.get_write_buffer_size() + len(data) > self._backlog_limit:
            self.stats.bytes_dropped += len(data)
            if not self._dropping:
                self._dropping = True
                log.warning(
                    "tcp %s: client %s is not reading; dropping output", self.address, client.peer
                )
            return len(data)
        self._dropping = False
        client.transport.write(data)
        self.stats.bytes_out += len(data)
        return 0

    # ------------------------------------------------------------ connections
    def _accept(self, connection: _Connection) -> None:
        assert connection.transport is not None
        holder = self._client
        if holder is not None and _hung_up(holder):
            self._lost(holder)
            if holder.transport is not None:
                holder.transport.close()
        if self._client is not None:
            self.stats.refused += 1
            line = (
                f"quecemu: AT port {self.address} is in use by {self._client.peer}; "
                "one client at a time\r\n"
            )
            connection.transport.write(line.encode("ascii"))
            connection.transport.close()
            self._emit(PortEvent(kind="refused", peer=connection.peer))
            return
        self._client = connection
        self._dropping = False
        self.stats.opens += 1
        self._emit(PortEvent(kind="open", peer=connection.peer))

    def _received(self, connection: _Connection, data: bytes) -> None:
        if connection is self._client:
            self.stats.bytes_in += len(data)
            self._on_data(data)

    def _lost(self, connection: _Connection) -> None:
        if connection is self._client:
            self._client = None
            self.stats.closes += 1
            self._emit(PortEvent(kind="close", peer=connection.peer))

    def _emit(self, event: PortEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    # -------------------------------------------------------------- shutdown
    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._client is not None and self._client.transport is not None:
            self._client.transport.close()
