"""The TCP/IP stack's asyncio adapter: real sockets on the PC for the connection table.

It takes the core's request events (``emulator.tcpip.events``), resolves and routes every
destination through the module's virtual network map (:mod:`emulator.adapters.netmap`), and reports
results back into the core through ``host.apply`` (so the URCs are flushed at once). One
object per module; nothing here decides what the module says.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import logging
import os
import socket
import struct
import termios
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, cast

from emulator.adapters.netmap import DestinationRefused, HostNotFound, NetworkMap, network_map_of
from emulator.adapters.port.fdlimit import RESOURCE_ERRNOS
from emulator.commands.tcpip import core_for
from emulator.module.events import ModuleEvent
from emulator.module.routing import EventTypes
from emulator.tcpip.core import AccessMode
from emulator.tcpip.events import (
    DnsQuery,
    NtpRequest,
    PingRequest,
    ServiceType,
    SocketClose,
    SocketOpen,
    SocketReadResume,
    SocketSend,
    StackReset,
)

if TYPE_CHECKING:
    from emulator.adapters.host import ModuleHost
    from emulator.tcpip.core import TcpipCore

log = logging.getLogger(__name__)

ACK_POLL = 0.01  # seconds between looks at a socket's unacknowledged bytes
# Direct push: while the AT port holds more than this much output the host has not taken,
# the socket stops reading (its receive window closes, as on a module whose UART is full)
# instead of pushing more URCs into a port that would have to drop them.
PUSH_HOLD_BYTES = 4096
PUSH_POLL = 0.005  # seconds between looks at the port's backlog while a push socket waits
# Transparent access has no send buffer check (AT+QISEND's SEND FAIL): a peer that stops
# reading would let the host's bytes pile up here without end. Past this many bytes waiting
# to be written they are dropped, as a UART without flow control overruns the module.
STREAM_BACKLOG_LIMIT = 1 << 20
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0
DEFAULT_TTL = 64

Key = tuple[int, int]  # (connect ID, token)
STREAMS = (ServiceType.TCP, ServiceType.TCP_INCOMING)


def _os_error_code(exc: OSError, otherwise: int) -> int:
    """The Quectel TCP/IP error code (550-574) for a socket call that failed: 574 port busy,
    554 create socket failed when the process is out of descriptors or buffers (logged: the
    operator, not the host program, has to act), else ``otherwise``."""
    if exc.errno == errno.EADDRINUSE:
        return 574
    if exc.errno in RESOURCE_ERRNOS:
        log.warning("no socket for AT+QIOPEN: %s", exc.strerror or exc)
        return 554
    return otherwise


def _bind_address(network_map: NetworkMap, target: str | None = None) -> str:
    """Sockets bind to loopback unless the user let traffic leave the PC."""
    if network_map.allow_external:
        return "::" if target is not None and ":" in target else "0.0.0.0"
    return "::1" if target is not None and ":" in target else "127.0.0.1"


def _unsent_bytes(sock: socket.socket | None) -> int:
    """Bytes in the kernel's send queue not yet acknowledged by the peer (SIOCOUTQ)."""
    if sock is None or sock.type != socket.SOCK_STREAM:
        return 0
    try:
        buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return 0
    value: int = struct.unpack("i", buf)[0]
    return value


@dataclass
class _Link:
    """One real socket behind a connect ID."""

    key: Key
    service: ServiceType
    transport: asyncio.BaseTransport | None = None
    server: asyncio.Server | None = None
    ack_timer: asyncio.TimerHandle | None = None
    push_timer: asyncio.TimerHandle | None = None
    held: bytearray = field(default_factory=bytearray)  # direct push: not yet pushed
    dropped: int = 0  # bytes to send lost to a peer that does not read
    lost: bool = False  # the peer closed while data was still held
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def close(self) -> None:
        for timer in (self.ack_timer, self.push_timer):
            if timer is not None:
                timer.cancel()
        self.ack_timer = self.push_timer = None
        if self.server is not None:
            self.server.close()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class _Stream(asyncio.Protocol):
    def __init__(self, adapter: SocketAdapter, key: Key | None, server_key: Key | None) -> None:
        self.adapter = adapter
        self.key = key  # None for an accepted connection until the core names it
        self.server_key = server_key
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.server_key is not None:
            self.adapter._accepted(self, self.server_key)

    def data_received(self, data: bytes) -> None:
        if self.key is not None:
            self.adapter._received(self.key, data, None, self.transport)

    def eof_received(self) -> bool:
        return False  # a half-closed peer is a closed peer, as the module sees it

    def connection_lost(self, exc: Exception | None) -> None:
        if self.key is not None:
            self.adapter._lost(self.key)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, adapter: SocketAdapter, key: Key) -> None:
        self.adapter = adapter
        self.key = key
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.adapter._received(self.key, data, (str(addr[0]), int(addr[1])), None)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable for an earlier datagram: UDP does not report it.
        log.debug("UDP %s: %s", self.key, exc)


class SocketAdapter:
    """The ModuleService that owns the module's sockets."""

    def __init__(self, host: ModuleHost, core: TcpipCore) -> None:
        self.host = host
        self.core = core
        self.links: dict[Key, _Link] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running = False

    # ------------------------------------------------------------ service API
    async def start(self) -> None:
        self._running = True

    #: Every class ``on_event`` looks at: the host routes only these here (host.py).
    handled_events: ClassVar[EventTypes] = (
        SocketOpen,
        SocketSend,
        SocketClose,
        SocketReadResume,
        StackReset,
        DnsQuery,
        PingRequest,
        NtpRequest,
    )

    def on_event(self, event: ModuleEvent) -> None:
        if not self._running:
            return
        if isinstance(event, SocketOpen):
            self._spawn(self._open(event))
        elif isinstance(event, SocketSend):
            self._send(event)
        elif isinstance(event, SocketClose):
            link = self.links.pop((event.connect_id, event.token), None)
            if link is not None:
                link.close()
        elif isinstance(event, SocketReadResume):
            link = self.links.get((event.connect_id, event.token))
            if link is not None and link.service in STREAMS and link.transport is not None:
                with contextlib.suppress(RuntimeError):
                    cast(asyncio.Transport, link.transport).resume_reading()
        elif isinstance(event, StackReset):
            self._close_all()
        elif isinstance(event, DnsQuery):
            self._spawn(self._dns(event))
        elif isinstance(event, PingRequest):
            self._spawn(self._ping(event))
        elif isinstance(event, NtpRequest):
            self._spawn(self._ntp(event))

    async def stop(self) -> None:
        """Every socket is closed on exit (listeners too); running lookups are cancelled."""
        self._running = False
        servers = [link.server for link in self.links.values() if link.server is not None]
        self._close_all()
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    def _close_all(self) -> None:
        links, self.links = list(self.links.values()), {}
        for link in links:
            link.close()
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _current(self, key: Key) -> bool:
        conn = self.core.connections.get(key[0])
        return conn is not None and conn.token == key[1]

    # ------------------------------------------------------------------- open
    async def _open(self, event: SocketOpen) -> None:
        key = (event.connect_id, event.token)
        network_map = network_map_of(self.host.module)
        try:
            code, link = await self._open_socket(event, key, network_map)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not leave the ID "opening" for ever
            log.exception("opening %s failed", key)
            code, link = 550, None
        if link is not None and not self._current(key):
            link.close()  # closed (AT+QICLOSE, a reboot) while it was opening
            return
        if link is None:
            self.host.apply(
                lambda now: self.core.open_failed(event.connect_id, event.token, code, now)
            )
            return
        self.links[key] = link
        local_port = event.local_port
        sockname = None
        if link.transport is not None:
            sockname = link.transport.get_extra_info("sockname")
        elif link.server is not None and link.server.sockets:
            sockname = link.server.sockets[0].getsockname()
        if sockname:
            local_port = int(sockname[1])
        self.host.apply(
            lambda now: self.core.opened(event.connect_id, event.token, local_port, now)
        )

    async def _open_socket(
        self, event: SocketOpen, key: Key, network_map: NetworkMap
    ) -> tuple[int, _Link | None]:
        loop = asyncio.get_running_loop()
        link = _Link(key=key, service=event.service)
        if event.service is ServiceType.TCP_LISTENER:
            bind = _bind_address(network_map)
            try:
                link.server = await loop.create_server(
                    lambda: _Stream(self, None, key), bind, event.local_port, reuse_address=True
                )
            except OSError as exc:
                log.info("listen on %s:%d: %s", bind, event.local_port, exc)
                return _os_error_code(exc, 557), None
            return 0, link
        if event.service is ServiceType.UDP_SERVICE:
            bind = _bind_address(network_map)
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(self, key), local_addr=(bind, event.local_port)
                )
            except OSError as exc:
                log.info("UDP bind %s:%d: %s", bind, event.local_port, exc)
                return _os_error_code(exc, 556), None
            link.transport = transport
            return 0, link
        try:
            address = await network_map.resolve(event.host)
            route = network_map.route(address, event.remote_port, name=event.host)
        except HostNotFound as exc:
            log.info("QIOPEN %s: %s", key, exc.reason)
            return 565, None
        except DestinationRefused as exc:
            log.info("QIOPEN %s: %s", key, exc.reason)
            return 566, None
        local = (
            (_bind_address(network_map, route.address), event.local_port)
            if event.local_port
            else None
        )
        try:
            if event.service is ServiceType.TCP:
                stream, _ = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: _Stream(self, key, None),
                        route.address,
                        route.port,
                        local_addr=local,
                    ),
                    event.timeout,
                )
                link.transport = stream
            else:
                datagrams, _ = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(self, key),
                    remote_addr=(route.address, route.port),
                    local_addr=local,
                )
                link.transport = datagrams
        except TimeoutError:
            return 566, None
        except OSError as exc:
            log.info("QIOPEN %s to %s:%d: %s", key, route.address, route.port, exc)
            return _os_error_code(exc, 566), None
        return 0, link

    # ----------------------------------------------------------- data flows
    def _send(self, event: SocketSend) -> None:
        key = (event.connect_id, event.token)
        link = self.links.get(key)
        if link is None or link.transport is None or link.transport.is_closing():
            return  # the core learns of the close from connection_lost
        if link.service in (ServiceType.UDP, ServiceType.UDP_SERVICE):
            datagrams = cast(asyncio.DatagramTransport, link.transport)
            target: tuple[str, int] | None = None
            if event.remote is not None:
                network_map = network_map_of(self.host.module)
                try:
                    found = network_map.lookup(event.remote[0])
                    address = found[0] if found else event.remote[0]
                    route = network_map.route(address, event.remote[1])
                except (HostNotFound, DestinationRefused) as exc:
                    log.info("UDP send %s: %s", key, exc.reason)
                    return
                target = (route.address, route.port)
            if target is None:
                datagrams.sendto(event.data)
            else:
                datagrams.sendto(event.data, target)
            return
        stream = cast(asyncio.Transport, link.transport)
        if stream.get_write_buffer_size() + len(event.data) > STREAM_BACKLOG_LIMIT:
            if not link.dropped:
                log.warning("socket %s: the peer does not read; dropping what is sent", key)
            link.dropped += len(event.data)
            return
        stream.write(event.data)
        self._watch_ack(link)

    def _watch_ack(self, link: _Link) -> None:
        if link.ack_timer is not None:
            return
        loop = asyncio.get_running_loop()

        def check() -> None:
            link.ack_timer = None
            transport = cast(asyncio.Transport | None, link.transport)
            if transport is None or transport.is_closing():
                return
            pending = transport.get_write_buffer_size() + _unsent_bytes(
                transport.get_extra_info("socket")
            )
            self.host.apply(lambda now: self.core.acknowledged(*link.key, pending))
            if pending:
                link.ack_timer = loop.call_later(ACK_POLL, check)

        link.ack_timer = loop.call_later(ACK_POLL, check)

    def _received(
        self,
        key: Key,
        data: bytes,
        source: tuple[str, int] | None,
        transport: asyncio.Transport | None,
    ) -> None:
        link = self.links.get(key)
        conn = self.core.connections.get(key[0])
        if (
            link is not None
            and transport is not None
            and conn is not None
            and (conn.access_mode is AccessMode.PUSH or conn.online)
        ):
            link.held += data
            self._push_held(link, transport)
            return
        more = self.host.apply(lambda now: self.core.received(key[0], key[1], data, now, source))
        if not more and transport is not None and self._current(key):
            transport.pause_reading()

    def _push_piece(self, key: Key, data: bytes, now: float) -> bool:
        return self.core.received(key[0], key[1], data, now)

    def _push_held(self, link: _Link, transport: asyncio.Transport) -> None:
        """Direct push (or transparent access), as fast as the host takes it: URCs (raw
        bytes) while the AT port holds at most PUSH_HOLD_BYTES of output; otherwise the
        socket stops reading until the host has taken it down to half (its receive window
        closes, nothing is dropped)."""
        key = link.key
        piece = max(1, self.core.settings.push_chunk)
        while link.held and self._current(key):
            if self.host.output_backlog() > PUSH_HOLD_BYTES:
                break
            data = bytes(link.held[:piece])
            del link.held[:piece]
            self.host.apply(functools.partial(self._push_piece, key, data))
        if not self._current(key):
            return
        if not link.held:
            if link.lost:
                self._lost(key)
            else:
                with contextlib.suppress(RuntimeError):
                    transport.resume_reading()
            return
        with contextlib.suppress(RuntimeError):
            transport.pause_reading()

        def check() -> None:
            link.push_timer = None
            if self.host.output_backlog() > PUSH_HOLD_BYTES // 2:
                link.push_timer = asyncio.get_running_loop().call_later(PUSH_POLL, check)
            else:
                self._push_held(link, transport)

        if link.push_timer is None:
            link.push_timer = asyncio.get_running_loop().call_later(PUSH_POLL, check)

    def _lost(self, key: Key) -> None:
        held = self.links.get(key)
        if held is not None and held.held:
            held.lost = True  # "closed" comes after the data still to be pushed
            return
        link = self.links.pop(key, None)
        if link is not None:
            link.close()
        self.host.apply(lambda now: self.core.peer_closed(key[0], key[1], now))

    def _accepted(self, stream: _Stream, server_key: Key) -> None:
        transport = stream.transport
        assert transport is not None
        if server_key not in self.links:
            transport.close()
            return
        peer = transport.get_extra_info("peername") or ("0.0.0.0", 0)
        local = transport.get_extra_info("sockname") or ("0.0.0.0", 0)
        assigned = self.host.apply(
            lambda now: self.core.incoming(
                server_key[0], server_key[1], (str(peer[0]), int(peer[1])), int(local[1]), now
            )
        )
        if assigned is None:
            transport.close()
            return
        stream.key = assigned
        self.links[assigned] = _Link(
            key=assigned, service=ServiceType.TCP_INCOMING, transport=transport
        )

    # --------------------------------------------------------- DNS, ping, NTP
    async def _addresses(self, host: str) -> list[str]:
        network_map = network_map_of(self.host.module)
        found = network_map.lookup(host)
        if found is not None:
            return list(found)
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise HostNotFound(f"{host!r}: {exc}") from None
        addresses: list[str] = []
        for info in sorted(infos, key=lambda i: i[0] != socket.AF_INET):
            address = str(info[4][0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise HostNotFound(f"{host!r}: no address")
        return addresses

    async def _dns(self, event: DnsQuery) -> None:
        try:
            addresses: list[str] | None = await self._addresses(event.host)
        except HostNotFound as exc:
            log.info("QIDNSGIP: %s", exc.reason)
            addresses = None
        self.host.apply(lambda now: self.core.dns_result(event.query_id, addresses, 565, now))

    async def _ping(self, event: PingRequest) -> None:
        qid = event.query_id
        try:
            address = (await self._addresses(event.host))[0]
        except HostNotFound as exc:
            log.info("QPING: %s", exc.reason)
            self.host.apply(lambda now: self.core.ping_done(qid, 565, now))
            return
        network_map = network_map_of(self.host.module)
        try:
            network_map.route(address, 0)
            reachable = True
        except DestinationRefused as exc:
            log.info("QPING: %s", exc.reason)
            reachable = False  # like a host that never answers
        pinger = _Pinger.open(address) if reachable else None
        if reachable and pinger is None:
            log.warning(
                "AT+QPING needs ICMP sockets: run as root, or allow this group in "
                "net.ipv4.ping_group_range"
            )
            self.host.apply(lambda now: self.core.ping_done(qid, 550, now))
            return
        try:
            for seq in range(1, event.count + 1):
                reply = await pinger.echo(seq, event.size, event.timeout) if pinger else None
                if reply is None:
                    if pinger is None:
                        await asyncio.sleep(event.timeout)
                    self.host.apply(lambda now: self.core.ping_reply(qid, None, None, 0, 569, now))
                else:
                    rtt, ttl = reply
                    self._ping_reply(qid, address, rtt, ttl)
        finally:
            if pinger is not None:
                pinger.close()
        self.host.apply(lambda now: self.core.ping_done(qid, 0, now))

    def _ping_reply(self, qid: int, address: str, rtt: float, ttl: int) -> None:
        self.host.apply(lambda now: self.core.ping_reply(qid, address, rtt, ttl, 0, now))

    async def _ntp(self, event: NtpRequest) -> None:
        qid = event.query_id
        network_map = network_map_of(self.host.module)
        try:
            address = (await self._addresses(event.host))[0]
            route = network_map.route(address, event.port, name=event.host)
        except HostNotFound as exc:
            log.info("QNTP: %s", exc.reason)
            self.host.apply(lambda now: self.core.ntp_result(qid, None, 565, now))
            return
        except DestinationRefused as exc:
            log.info("QNTP: %s", exc.reason)
            await asyncio.sleep(event.timeout)  # the request goes nowhere
            self.host.apply(lambda now: self.core.ntp_result(qid, None, 569, now))
            return
        unix_time = await _sntp_query(route.address, route.port, event.timeout)
        code = 0 if unix_time is not None else 569
        self.host.apply(lambda now: self.core.ntp_result(qid, unix_time, code, now))


async def _sntp_query(address: str, port: int, timeout: float) -> float | None:
    """One SNTP client exchange (RFC 4330 §5): the server's transmit time, or None."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bytes] = loop.create_future()
    sent_at = time.time()
    origin = struct.pack(
        "!II", int(sent_at) + NTP_EPOCH_OFFSET, int((sent_at % 1) * 2**32) & 0xFFFFFFFF
    )
    request = bytes([0x23]) + bytes(39) + origin  # LI 0, version 4, mode 3 (client)

    class _Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
            if not answer.done():
                answer.set_result(data)

    try:
        transport, _ = await loop.create_datagram_endpoint(_Client, remote_addr=(address, port))
    except OSError:
        return None
    try:
        transport.sendto(request)
        try:
            data = await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            return None
    finally:
        transport.close()
    # RFC 4330 §5: a reply is mode 4 (server), echoes our transmit time as its originate
    # time, and has a non-zero transmit time and stratum.
    if len(data) < 48 or data[0] & 0x7 != 4 or data[24:32] != origin or data[1] == 0:
        return None
    seconds, fraction = struct.unpack("!II", data[40:48])
    if seconds == 0:
        return None
    return float(seconds - NTP_EPOCH_OFFSET + fraction / 2**32)


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


class _Pinger:
    """ICMP echo (RFC 792) over an unprivileged ICMP socket, or a raw one as root."""

    def __init__(self, sock: socket.socket, raw: bool, address: str) -> None:
        self.sock = sock
        self.raw = raw
        self.address = address
        self.ident = os.getpid() & 0xFFFF

    @classmethod
    def open(cls, address: str) -> _Pinger | None:
        if ":" in address:
            return None  # ICMPv6 echo is not implemented
        for kind, raw in ((socket.SOCK_DGRAM, False), (socket.SOCK_RAW, True)):
            try:
                sock = socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP)
            except OSError:
                continue
            sock.setblocking(False)
            return cls(sock, raw, address)
        return None

    async def echo(self, seq: int, size: int, timeout: float) -> tuple[float, int] | None:
        loop = asyncio.get_running_loop()
        payload = bytes(range(max(0, size - 8))) if size > 8 else b""
        payload = bytes(b & 0xFF for b in payload)
        header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, self.ident, seq)
        packet = header[:2] + struct.pack("!H", _checksum(header + payload)) + header[4:]
        packet += payload
        started = time.monotonic()
        deadline = started + timeout
        await loop.sock_sendto(self.sock, packet, (self.address, 0))
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                data, addr = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 2048), left)
            except TimeoutError:
                return None
            ttl = DEFAULT_TTL
            if self.raw:
                header_length = (data[0] & 0x0F) * 4
                ttl = int(data[8])
                data = data[header_length:]
            if len(data) < 8 or str(addr[0]) != self.address:
                continue
            kind, _, _, ident, got_seq = struct.unpack("!BBHHH", data[:8])
            if kind != ICMP_ECHO_REPLY or got_seq != seq:
                continue
            if self.raw and ident != self.ident:
                continue  # the kernel rewrites the ID of an unprivileged ICMP socket
            return (time.monotonic() - started) * 1000.0, ttl

    def close(self) -> None:
        self.sock.close()


def create_service(host: ModuleHost) -> SocketAdapter:
    """The asyncio socket adapter of the module's TCP/IP stack."""
    return SocketAdapter(host, core_for(host.module))
