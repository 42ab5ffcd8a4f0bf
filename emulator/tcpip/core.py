"""The connection table behind Quectel's TCP/IP AT commands. Sans-I/O.

AT handlers call the request methods (``open``, ``send``, ``read``, ``close``...), which
check what a module checks, change the table and post request events for the adapter.
The adapter reports back with the result methods (``opened``, ``open_failed``,
``received``, ``peer_closed``, ``incoming``...) with the time; the core answers with the
URCs of Quectel's TCP/IP application notes (``+QIOPEN``, ``+QIURC: "recv"`` / ``"closed"``
/ ``"incoming"`` / ``"incoming full"`` / ``"pdpdeact"`` / ``"dnsgip"``, ``+QPING``, ``+QNTP``).

Socket states are the ``<socket_state>`` values of AT+QISTATE: 0 initial, 1 opening,
2 connected, 3 listening, 4 closing (the peer closed; data may still be read until
AT+QICLOSE frees the ID).
"""

from __future__ import annotations

import enum
import itertools
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from emulator.at.errors import AtError, CmeError
from emulator.at.registry import OnlineData
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
from emulator.tcpip.settings import TcpipSettings

if TYPE_CHECKING:
    from emulator.module.virtual import VirtualModule

log = logging.getLogger(__name__)


class SocketState(enum.IntEnum):
    INITIAL = 0
    OPENING = 1
    CONNECTED = 2
    LISTENING = 3
    CLOSING = 4


class AccessMode(enum.IntEnum):
    BUFFER = 0  # +QIURC: "recv",<id>, then AT+QIRD
    PUSH = 1  # +QIURC: "recv",<id>,<len><CR><LF><data>
    TRANSPARENT = 2  # CONNECT, then the port carries the connection's bytes until +++


class SocketError(Exception):
    """A TCP/IP request refused with one of the manual's result codes (550-574)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class TcpipRefused(AtError):
    """A TCP/IP command refused: ``ERROR`` on the port (the code is for AT+QIGETERROR)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class Connection:
    connect_id: int
    token: int
    context_id: int
    service: ServiceType
    host: str  # as the host gave it (a name or an address)
    remote_port: int
    local_port: int
    access_mode: AccessMode
    state: SocketState = SocketState.OPENING
    server_id: int = 0  # a TCP INCOMING's listener; a listener's own ID
    rx: bytearray = field(default_factory=bytearray)
    datagrams: deque[tuple[bytes, str, int]] = field(default_factory=deque)  # UDP SERVICE
    rx_paused: bool = False
    recv_reported: bool = False
    total_received: int = 0
    total_read: int = 0
    total_sent: int = 0
    unacked: int = 0
    incoming: int = 0  # listener: connections it accepted that are still open
    online: bool = False  # transparent access: the AT port carries this connection now
    typed: bytearray = field(default_factory=bytearray)  # transparent input not yet sent
    flush_armed: bool = False  # a transwaittm timer will send ``typed``

    def buffered(self) -> int:
        return len(self.rx) + sum(len(d[0]) for d in self.datagrams)


@dataclass
class TcpipCore:
    module: VirtualModule
    settings: TcpipSettings
    connections: dict[int, Connection] = field(default_factory=dict)
    last_error: int = 0
    send_echo: bool = True
    dns_servers: dict[int, tuple[str, str]] = field(default_factory=dict)
    _tokens: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _queries: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _ping: dict[int, tuple[str, list[float], int]] = field(default_factory=dict)
    _ntp: dict[int, tuple[str, int, bool]] = field(default_factory=dict)
    _dns: set[int] = field(default_factory=set)
    packet_size: int = 0  # AT+QICFG="transpktsize"
    wait_units: int = 0  # AT+QICFG="transwaittm" (100 ms)
    suspended: tuple[int, int] | None = None  # the transparent link +++ left (for ATO)

    def __post_init__(self) -> None:
        self.send_echo = self.settings.send_echo
        self.packet_size = self.settings.transparent_packet_size
        self.wait_units = self.settings.transparent_wait

    def at_error(self, error: SocketError) -> AtError:
        """How a refusal shows on the port: ERROR (AT+QIGETERROR tells the code), or
        ``+CME ERROR: <code>`` with ``"sync_errors": "CME"``."""
        self.last_error = error.code
        if self.settings.sync_errors == "CME":
            return CmeError(error.reason, code=error.code)
        return TcpipRefused(error.code, error.reason)

    # ------------------------------------------------------------------ helpers
    def fail(self, code: int, reason: str) -> SocketError:
        self.last_error = code
        return SocketError(code, reason)

    def succeed(self) -> None:
        self.last_error = 0

    def _urc(self, text: str, now: float, payload: bytes | None = None) -> None:
        """A URC; ``payload`` (raw bytes, direct push mode) follows its line, then CRLF.
        The engine writes URC text as Latin-1, one character per byte."""
        if payload is not None:
            text += "\r\n" + payload.decode("latin-1")
        self.module.raise_urc(text, now)

    def context_active(self, context_id: int) -> bool:
        ctx = self.module.radio.contexts.get(context_id)
        return ctx is not None and ctx.active

    def get(self, connect_id: int) -> Connection:
        if not 0 <= connect_id <= self.settings.max_connect_id:
            raise self.fail(552, f"connect ID {connect_id} out of range")
        conn = self.connections.get(connect_id)
        if conn is None:
            raise self.fail(567, f"connect ID {connect_id} is not open")
        return conn

    def _current(self, connect_id: int, token: int) -> Connection | None:
        conn = self.connections.get(connect_id)
        return conn if conn is not None and conn.token == token else None

    # ------------------------------------------------------------ AT requests
    def open(
        self,
        context_id: int,
        connect_id: int,
        service: ServiceType,
        host: str,
        remote_port: int,
        local_port: int,
        access_mode: AccessMode,
        now: float,
    ) -> None:
        """AT+QIOPEN: checks, then the table entry (opening) and a SocketOpen request.
        The result comes later as ``+QIOPEN: <connectID>,<err>``."""
        if connect_id in self.connections:
            raise self.fail(563, f"connect ID {connect_id} is in use")
        transparent = access_mode is AccessMode.TRANSPARENT
        if transparent and service not in (ServiceType.TCP, ServiceType.UDP):
            raise self.fail(552, "transparent access mode is for TCP and UDP clients")
        if transparent and not self.context_active(context_id):
            # CONNECT or ERROR is the command's own answer: ERROR at once.
            raise self.fail(self.settings.inactive_context_error, "the context is not active")
        conn = Connection(
            connect_id=connect_id,
            token=next(self._tokens),
            context_id=context_id,
            service=service,
            host=host,
            remote_port=remote_port,
            local_port=local_port,
            access_mode=access_mode,
            server_id=connect_id if service is ServiceType.TCP_LISTENER else 0,
        )
        self.connections[connect_id] = conn
        self.succeed()
        if not self.context_active(context_id):
            # Answered after OK like any other open failure (the engine holds the URC
            # until the final result code).
            self.open_failed(connect_id, conn.token, self.settings.inactive_context_error, now)
            return
        self.module.post_event(
            SocketOpen(
                connect_id=connect_id,
                token=conn.token,
                service=service,
                host=host,
                remote_port=remote_port,
                local_port=local_port,
                timeout=self.settings.connect_timeout,
            )
        )

    def close(self, connect_id: int, now: float) -> None:
        """AT+QICLOSE: the ID is free at once (the adapter closes the socket)."""
        conn = self.get(connect_id)
        self._drop(conn)
        self.succeed()

    def _drop(self, conn: Connection) -> None:
        self.connections.pop(conn.connect_id, None)
        if conn.service is ServiceType.TCP_INCOMING:
            listener = self.connections.get(conn.server_id)
            if listener is not None and listener.incoming > 0:
                listener.incoming -= 1
        self.module.post_event(SocketClose(connect_id=conn.connect_id, token=conn.token))
        if self.suspended == (conn.connect_id, conn.token):
            self.suspended = None

    def check_send(self, connect_id: int, remote: tuple[str, int] | None) -> Connection:
        """Can AT+QISEND / AT+QISENDEX send on this ID now?"""
        conn = self.get(connect_id)
        if conn.service is ServiceType.TCP_LISTENER:
            raise self.fail(572, "a listener does not send")
        if conn.state is not SocketState.CONNECTED:
            raise self.fail(567, f"connect ID {connect_id} is not connected")
        if (conn.service is ServiceType.UDP_SERVICE) != (remote is not None):
            raise self.fail(552, "UDP SERVICE sends need <remoteIP>,<remote_port>; others not")
        return conn

    def send(
        self, connect_id: int, data: bytes, remote: tuple[str, int] | None, now: float
    ) -> bool:
        """Hand data to the socket. False: the send buffer is full (SEND FAIL)."""
        conn = self.check_send(connect_id, remote)
        if conn.unacked + len(data) > self.settings.send_buffer:
            self.last_error = 558
            return False
        conn.total_sent += len(data)
        conn.unacked += len(data)
        self.succeed()
        self.module.post_event(
            SocketSend(connect_id=connect_id, token=conn.token, data=data, remote=remote)
        )
        return True

    def send_counters(self, connect_id: int) -> tuple[int, int, int]:
        """AT+QISEND=<id>,0: total sent, acknowledged, unacknowledged."""
        conn = self.get(connect_id)
        self.succeed()
        return conn.total_sent, conn.total_sent - conn.unacked, conn.unacked

    def read(
        self, connect_id: int, length: int, now: float
    ) -> tuple[bytes, tuple[str, int] | None]:
        """AT+QIRD: up to ``length`` buffered bytes (one datagram for UDP SERVICE)."""
        conn = self.get(connect_id)
        if conn.access_mode is not AccessMode.BUFFER:
            raise self.fail(572, "AT+QIRD reads in buffer access mode only")
        if conn.service is ServiceType.TCP_LISTENER:
            raise self.fail(572, "a listener has no data")
        source: tuple[str, int] | None = None
        if conn.service is ServiceType.UDP_SERVICE:
            if conn.datagrams:
                datagram, ip, port = conn.datagrams.popleft()
                data, source = datagram[:length], (ip, port)
            else:
                data = b""
        else:
            data = bytes(conn.rx[:length])
            del conn.rx[:length]
        conn.total_read += len(data)
        if conn.buffered() == 0:
            # The next arrival raises +QIURC: "recv" again (application note, 2.4.2).
            conn.recv_reported = False
        if conn.rx_paused and conn.buffered() < self.settings.receive_buffer:
            conn.rx_paused = False
            self.module.post_event(SocketReadResume(connect_id=connect_id, token=conn.token))
        self.succeed()
        return data, source

    def read_counters(self, connect_id: int) -> tuple[int, int, int]:
        """AT+QIRD=<id>,0: total received, read, unread."""
        conn = self.get(connect_id)
        self.succeed()
        return conn.total_received, conn.total_read, conn.buffered()

    # ---------------------------------------------------------- adapter results
    def opened(self, connect_id: int, token: int, local_port: int, now: float) -> None:
        conn = self._current(connect_id, token)
        if conn is None or conn.state is not SocketState.OPENING:
            return
        conn.local_port = local_port
        conn.state = (
            SocketState.LISTENING
            if conn.service is ServiceType.TCP_LISTENER
            else SocketState.CONNECTED
        )
        if conn.access_mode is AccessMode.TRANSPARENT:
            conn.online = True
            if self.module.engine.complete(now, final="CONNECT", online=self._online(conn)):
                return
            conn.online = False  # nobody waits for CONNECT any more: an ordinary socket
            conn.access_mode = AccessMode.BUFFER
        self._urc(f"+QIOPEN: {connect_id},0", now)

    def open_failed(self, connect_id: int, token: int, code: int, now: float) -> None:
        conn = self._current(connect_id, token)
        if conn is None or conn.state is not SocketState.OPENING:
            return
        del self.connections[connect_id]
        self.last_error = code
        if conn.access_mode is AccessMode.TRANSPARENT:
            error = self.at_error(SocketError(code, self.settings.error_text(code)))
            if self.module.engine.complete(now, error=error):
                return
        self._urc(f"+QIOPEN: {connect_id},{code}", now)

    # ------------------------------------------------------ transparent access
    def _online(self, conn: Connection) -> OnlineData:
        connect_id, token = conn.connect_id, conn.token

        def on_data(data: bytes, now: float) -> None:
            self._typed(connect_id, token, data, now)

        def on_escape(now: float) -> None:
            self._escaped(connect_id, token, now)

        return OnlineData(on_data=on_data, on_escape=on_escape, guard=self.settings.escape_guard)

    def _typed(self, connect_id: int, token: int, data: bytes, now: float) -> None:
        """Transparent input goes out in packets of AT+QICFG="transpktsize" bytes, or
        whatever has come when "transwaittm" passes without a full packet."""
        conn = self._current(connect_id, token)
        if conn is None or conn.state is not SocketState.CONNECTED:
            return  # the link is going: what was typed after it is lost
        conn.typed += data
        size = max(1, self.packet_size)
        while len(conn.typed) >= size:
            self._transmit(conn, bytes(conn.typed[:size]))
            del conn.typed[:size]
        if conn.typed and not conn.flush_armed:
            conn.flush_armed = True
            self.module.call_at(
                now + self.wait_units * 0.1, lambda t: self._flush_typed(connect_id, token)
            )

    def _flush_typed(self, connect_id: int, token: int) -> None:
        conn = self._current(connect_id, token)
        if conn is None:
            return
        conn.flush_armed = False
        if conn.typed and conn.state is SocketState.CONNECTED:
            self._transmit(conn, bytes(conn.typed))
        conn.typed.clear()

    def _transmit(self, conn: Connection, data: bytes) -> None:
        conn.total_sent += len(data)
        conn.unacked += len(data)
        self.module.post_event(
            SocketSend(connect_id=conn.connect_id, token=conn.token, data=data, remote=None)
        )

    def _escaped(self, connect_id: int, token: int, now: float) -> None:
        """+++: the port is back in command mode; the socket stays up in buffer access
        mode (TCP/IP application notes), and what was typed before the escape still goes."""
        conn = self._current(connect_id, token)
        if conn is None:
            return
        self._flush_typed(connect_id, token)
        conn.online = False
        conn.access_mode = AccessMode.BUFFER
        self.suspended = (connect_id, token)

    def go_online(self, connect_id: int, now: float) -> OnlineData:
        """AT+QISWTMD=<id>,2 / ATO: the port carries the connection again (after CONNECT);
        data buffered meanwhile comes first."""
        conn = self.get(connect_id)
        if conn.service not in (ServiceType.TCP, ServiceType.UDP):
            raise self.fail(552, "transparent access mode is for TCP and UDP clients")
        if conn.state is not SocketState.CONNECTED:
            raise self.fail(567, f"connect ID {connect_id} is not connected")
        conn.access_mode = AccessMode.TRANSPARENT
        conn.online = True
        conn.recv_reported = False
        self.suspended = None
        token = conn.token

        def drain(now: float) -> None:
            current = self._current(connect_id, token)
            if current is None or not current.online:
                return
            data = bytes(current.rx) + b"".join(d[0] for d in current.datagrams)
            current.rx.clear()
            current.datagrams.clear()
            current.total_read += len(data)
            self.module.engine.write_online(data)
            if current.rx_paused:
                current.rx_paused = False
                self.module.post_event(SocketReadResume(connect_id=connect_id, token=token))

        self.module.call_at(now, drain)  # right after CONNECT has gone out
        self.succeed()
        return self._online(conn)

    def resume(self, now: float) -> OnlineData:
        """ATO: back to the transparent link that +++ left."""
        if self.suspended is None:
            raise self.fail(572, "no transparent connection to return to")
        connect_id, token = self.suspended
        if self._current(connect_id, token) is None:
            self.suspended = None
            raise self.fail(567, "the transparent connection is gone")
        return self.go_online(connect_id, now)

    def switch_mode(self, connect_id: int, mode: AccessMode, now: float) -> None:
        """AT+QISWTMD=<id>,0|1: buffer access or direct push from now on (data already
        buffered is pushed when switching to direct push)."""
        conn = self.get(connect_id)
        if conn.service is ServiceType.TCP_LISTENER:
            raise self.fail(572, "a listener carries no data")
        conn.access_mode = mode
        self.succeed()
        if mode is AccessMode.PUSH and conn.buffered():
            data = bytes(conn.rx)
            conn.rx.clear()
            datagrams = list(conn.datagrams)
            conn.datagrams.clear()
            conn.recv_reported = False
            conn.total_received -= len(data) + sum(len(d[0]) for d in datagrams)
            if data:
                self.received(connect_id, conn.token, data, now)
            for payload, ip, port in datagrams:
                self.received(connect_id, conn.token, payload, now, (ip, port))
            if conn.rx_paused:
                conn.rx_paused = False
                self.module.post_event(SocketReadResume(connect_id=connect_id, token=conn.token))

    def received(
        self,
        connect_id: int,
        token: int,
        data: bytes,
        now: float,
        source: tuple[str, int] | None = None,
    ) -> bool:
        """Data from the peer. Returns False when the adapter should stop reading (the
        buffer is full; ``SocketReadResume`` comes once the host has read it down)."""
        conn = self._current(connect_id, token)
        if conn is None or conn.state not in (SocketState.CONNECTED, SocketState.CLOSING):
            return False
        conn.total_received += len(data)
        cid = connect_id
        if conn.online:
            conn.total_read += len(data)
            self.module.engine.write_online(data)
            return True
        if conn.access_mode is AccessMode.PUSH:
            step = max(1, self.settings.push_chunk)
            for start in range(0, len(data), step):
                chunk = data[start : start + step]
                conn.total_read += len(chunk)
                if conn.service is ServiceType.UDP_SERVICE and source is not None:
                    head = f'+QIURC: "recv",{cid},{len(chunk)},"{source[0]}",{source[1]}'
                else:
                    head = f'+QIURC: "recv",{cid},{len(chunk)}'
                self._urc(head, now, chunk)
            return True
        if conn.service is ServiceType.UDP_SERVICE and source is not None:
            conn.datagrams.append((data, source[0], source[1]))
        else:
            conn.rx += data
        if not conn.recv_reported:
            conn.recv_reported = True
            self._urc(f'+QIURC: "recv",{cid}', now)
        if conn.buffered() >= self.settings.receive_buffer:
            conn.rx_paused = True
            return False
        return True

    def acknowledged(self, connect_id: int, token: int, unacked: int) -> None:
        """The adapter's view of bytes sent but not yet acknowledged by the peer."""
        conn = self._current(connect_id, token)
        if conn is not None:
            conn.unacked = max(0, min(unacked, conn.unacked))

    def peer_closed(self, connect_id: int, token: int, now: float) -> None:
        """The peer closed (or reset) the connection: "closing" until AT+QICLOSE."""
        conn = self._current(connect_id, token)
        if conn is None or conn.state is SocketState.CLOSING:
            return
        if conn.state is SocketState.OPENING:
            self.open_failed(connect_id, token, 566, now)
            return
        conn.state = SocketState.CLOSING
        if conn.online:
            self._drop_online(conn, now)  # NO CARRIER says it; no "closed" URC
            return
        self._urc(f'+QIURC: "closed",{connect_id}', now)

    def _drop_online(self, conn: Connection, now: float) -> None:
        """The transparent link died under the port: NO CARRIER, back to command mode;
        the ID stays taken (state "closing") until AT+QICLOSE."""
        conn.online = False
        conn.access_mode = AccessMode.BUFFER
        conn.typed.clear()
        self.module.engine.end_online(now)

    def incoming(
        self, server_id: int, token: int, remote: tuple[str, int], local_port: int, now: float
    ) -> tuple[int, int] | None:
        """A listener accepted a connection: its (connect ID, token), or None (the adapter
        closes it) after ``+QIURC: "incoming full"``."""
        listener = self._current(server_id, token)
        if listener is None or listener.state is not SocketState.LISTENING:
            return None
        free = [i for i in range(self.settings.max_connect_id + 1) if i not in self.connections]
        if not free or listener.incoming >= self.settings.max_incoming:
            self._urc('+QIURC: "incoming full"', now)
            return None
        connect_id = free[0]
        conn = Connection(
            connect_id=connect_id,
            token=next(self._tokens),
            context_id=listener.context_id,
            service=ServiceType.TCP_INCOMING,
            host=remote[0],
            remote_port=remote[1],
            local_port=local_port,
            access_mode=listener.access_mode,
            state=SocketState.CONNECTED,
            server_id=server_id,
        )
        self.connections[connect_id] = conn
        listener.incoming += 1
        self._urc(f'+QIURC: "incoming",{connect_id},{server_id},"{remote[0]}",{remote[1]}', now)
        return connect_id, conn.token

    # ------------------------------------------------------------- the network
    def context_down(self, context_id: int, by_network: bool, now: float) -> None:
        """The PDP context went down: its sockets die. The network doing it is reported
        with ``+QIURC: "pdpdeact",<contextID>`` (the host is expected to AT+QIDEACT)."""
        affected = [c for c in self.connections.values() if c.context_id == context_id]
        for conn in affected:
            if conn.state is SocketState.OPENING:
                self.open_failed(conn.connect_id, conn.token, 570, now)
                continue
            self.module.post_event(SocketClose(connect_id=conn.connect_id, token=conn.token))
            if conn.online:
                self._drop_online(conn, now)
            if by_network:
                # The ID stays taken in state "closing" until AT+QICLOSE, as after a
                # peer close; buffered data stays readable.
                conn.state = SocketState.CLOSING
                conn.token = next(self._tokens)  # late results of the dead socket are void
                if self.settings.pdpdeact_closes:
                    self._urc(f'+QIURC: "closed",{conn.connect_id}', now)
            else:
                self.connections.pop(conn.connect_id, None)
        if by_network:
            self._urc(f'+QIURC: "pdpdeact",{context_id}', now)

    def reset(self) -> None:
        """Reboot or power down: every socket is gone, nothing is reported."""
        self.connections.clear()
        self._ping.clear()
        self._ntp.clear()
        self._dns.clear()
        self.last_error = 0
        self.send_echo = self.settings.send_echo
        self.packet_size = self.settings.transparent_packet_size
        self.wait_units = self.settings.transparent_wait
        self.suspended = None
        self.dns_servers.clear()
        self.module.post_event(StackReset())

    # ------------------------------------------------------------- DNS / ping / NTP
    def dns_query(self, context_id: int, host: str, now: float) -> None:
        if not self.context_active(context_id):
            raise self.fail(561, f"context {context_id} is not active")
        if self._dns:
            raise self.fail(564, "a DNS query is running")
        query_id = next(self._queries)
        self._dns.add(query_id)
        self.succeed()
        self.module.post_event(DnsQuery(query_id=query_id, host=host))

    def dns_result(self, query_id: int, addresses: list[str] | None, code: int, now: float) -> None:
        if query_id not in self._dns:
            return
        self._dns.discard(query_id)
        if not addresses:
            self.last_error = code
            self._urc(f'+QIURC: "dnsgip",{code}', now)
            return
        self._urc(f'+QIURC: "dnsgip",0,{len(addresses)},{self.settings.dns_ttl}', now)
        for address in addresses:
            self._urc(f'+QIURC: "dnsgip","{address}"', now)

    def ping(self, context_id: int, host: str, timeout: float, count: int, now: float) -> None:
        if not self.context_active(context_id):
            raise self.fail(561, f"context {context_id} is not active")
        if self._ping:
            raise self.fail(568, "a ping is running")
        query_id = next(self._queries)
        self._ping[query_id] = (host, [], 0)
        self.succeed()
        self.module.post_event(
            PingRequest(
                query_id=query_id,
                host=host,
                timeout=timeout,
                count=count,
                size=self.settings.ping_bytes,
            )
        )

    def ping_reply(
        self,
        query_id: int,
        address: str | None,
        rtt_ms: float | None,
        ttl: int,
        code: int,
        now: float,
    ) -> None:
        """One echo request's outcome: a reply (``rtt_ms``) or ``code`` (569 timeout)."""
        entry = self._ping.get(query_id)
        if entry is None:
            return
        host, times, sent = entry
        self._ping[query_id] = (host, times, sent + 1)
        if rtt_ms is None or address is None:
            self._urc(f"+QPING: {code}", now)
            return
        times.append(rtt_ms)
        self._urc(f'+QPING: 0,"{address}",{self.settings.ping_bytes},{round(rtt_ms)},{ttl}', now)

    def ping_done(self, query_id: int, code: int, now: float) -> None:
        """The end: statistics, or ``code`` alone when no request could be sent (565)."""
        entry = self._ping.pop(query_id, None)
        if entry is None:
            return
        _, times, sent = entry
        if code != 0 or sent == 0:
            self.last_error = code or 550
            self._urc(f"+QPING: {code or 550}", now)
            return
        received = len(times)
        low = round(min(times)) if times else 0
        high = round(max(times)) if times else 0
        mean = round(sum(times) / len(times)) if times else 0
        self._urc(f"+QPING: 0,{sent},{received},{sent - received},{low},{high},{mean}", now)

    def ntp(self, context_id: int, host: str, port: int, set_clock: bool, now: float) -> None:
        if not self.context_active(context_id):
            raise self.fail(561, f"context {context_id} is not active")
        if self._ntp:
            raise self.fail(568, "an NTP request is running")
        query_id = next(self._queries)
        self._ntp[query_id] = (host, port, set_clock)
        self.succeed()
        self.module.post_event(
            NtpRequest(query_id=query_id, host=host, port=port, timeout=self.settings.ntp_timeout)
        )

    def ntp_running(self) -> tuple[str, int] | None:
        for host, port, _ in self._ntp.values():
            return host, port
        return None

    def ntp_result(self, query_id: int, unix_time: float | None, code: int, now: float) -> None:
        entry = self._ntp.pop(query_id, None)
        if entry is None:
            return
        _, _, set_clock = entry
        if unix_time is None:
            self.last_error = code
            self._urc(f"+QNTP: {code}", now)
            return
        module = self.module
        if set_clock:
            module.set_unix_time(unix_time, now)
        self._urc(f"+QNTP: 0,{self.format_time(unix_time)}", now)

    def format_time(self, unix_time: float) -> str:
        """The module's local time as +QNTP prints it (time zone in quarter hours)."""
        import time as _time

        quarters = self.module.utc_offset_quarters
        local = _time.gmtime(unix_time + quarters * 15 * 60)
        tz = f"{'+' if quarters >= 0 else '-'}{abs(quarters):02d}"
        return self.settings.ntp_time_format.format(
            year=local.tm_year,
            month=local.tm_mon,
            day=local.tm_mday,
            hour=local.tm_hour,
            minute=local.tm_min,
            second=local.tm_sec,
            tz=tz,
        )
