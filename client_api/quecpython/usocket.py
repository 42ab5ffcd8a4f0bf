"""QuecPython's ``usocket`` on the PC, over the module's TCP/IP AT commands.

Follows QuecPython's usocket documentation: ``socket(af, type, proto)``,
``getaddrinfo(host, port)``, and on a socket ``connect``, ``send``/``sendall``/``write``,
``sendto``, ``recv``/``read``, ``recvfrom``, ``bind``, ``listen``, ``accept``,
``settimeout``, ``setblocking``, ``getsocketsta`` and ``close``. Each call becomes the AT
commands a firmware would use on a real module (Quectel TCP(IP) AT manual):

=======================  ==================================================================
``connect`` (TCP)        ``AT+QIOPEN=1,<id>,"TCP","<ip>",<port>,0,0``, then ``+QIOPEN``
``connect`` (UDP)        ``AT+QIOPEN=1,<id>,"UDP","<ip>",<port>,0,0``
``sendto`` unconnected   ``AT+QIOPEN=1,<id>,"UDP SERVICE","127.0.0.1",0,<local>,0`` once,
                         then ``AT+QISEND=<id>,<n>,"<ip>",<port>``
``bind`` + ``listen``    ``AT+QIOPEN=1,<id>,"TCP LISTENER","0.0.0.0",0,<port>,0``
``send``                 ``AT+QISEND=<id>,<n>`` (1460 bytes at a time) -> ``SEND OK``
``recv``                 ``AT+QIRD=<id>,<n>``; waits for ``+QIURC: "recv",<id>``
``getaddrinfo``          ``AT+QIDNSGIP=1,"<host>"`` -> ``+QIURC: "dnsgip",...``
``close``                ``AT+QICLOSE=<id>``
=======================  ==================================================================

Data go in buffer access mode, so nothing binary ever rides on a URC. The PDP context 1 is
activated with ``AT+QIACT=1`` when it is not (QuecPython's firmware makes that data call at
boot). Errors are ``OSError`` with an ``errno`` as MicroPython raises them: ``ETIMEDOUT``
after ``settimeout``, ``EAGAIN`` for a non-blocking call with nothing to do,
``ECONNREFUSED`` for a refused or failed connect (the module's code in the message),
``EADDRINUSE`` when the local port is taken (+QIOPEN 574; an unbound UDP socket tries
other ports itself),
``ENOTCONN`` on a closed socket, and ``OSError(-202)`` (lwIP's "host not found", as
QuecPython's ``getaddrinfo`` raises it) when the module's DNS gives no address.
"""

from __future__ import annotations

import errno
import ipaddress
import random
import re
import socket as pysocket  # the PC's: this module's own ``socket`` is QuecPython's
import threading
import time
from typing import Any

from client_api.at_session import UrcReceived
from client_api.channel import AtChannel
from client_api.errors import AtChannelError, CommandError
from client_api.ports import default_channel

AF_INET = 2
AF_INET6 = 10
SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_TCP_SER = 69  # QuecPython: a TCP server socket (bind, listen, accept)
TCP_CUSTOMIZE_PORT = 124  # QuecPython setsockopt option: a chosen local port
PORT_BUSY = 574  # +QIOPEN: <id>,574: the local port is taken (Quectel TCP/IP manual)
AUTO_PORT_TRIES = 8  # an unbound UDP socket's local port: random picks before giving up
SOL_SOCKET = 4095
SO_REUSEADDR = 4
TCP_KEEPALIVE = 8

CONTEXT_ID = 1  # QuecPython's default data call
MAX_CONNECT_ID = 11
MAX_SEND = 1460  # AT+QISEND's limit per command
MAX_READ = 1500  # AT+QIRD's limit per command
OPEN_TIMEOUT = 150.0  # the manual's advice for +QIOPEN
DNS_TIMEOUT = 60.0
EAI_NONAME = -202  # lwIP / QuecPython getaddrinfo failure

# getsocketsta(): lwIP TCP states as QuecPython reports them, from +QISTATE <socket_state>
_TCP_STATES = {0: 0, 1: 2, 2: 4, 3: 1, 4: 7}

_QIRD = re.compile(r'^\+QIRD: ?(\d+)(?:,"([^"]*)",(\d+))?$')


class _Stack:
    """The connect IDs in use on one channel and what the module said about them."""

    def __init__(self, channel: AtChannel) -> None:
        self.channel = channel
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.used: set[int] = set()
        self.opened: dict[int, int] = {}  # +QIOPEN results
        self.readable: set[int] = set()
        self.closed: set[int] = set()
        self.incoming: dict[int, list[tuple[int, str, int]]] = {}
        self.dns: list[str] = []
        self.context_ready = False
        channel.add_urc_listener(self._on_urc)

    def _on_urc(self, urc: UrcReceived) -> None:
        line = urc.line
        with self.changed:
            if line.startswith("+QIOPEN:"):
                connect_id, code = (int(f) for f in line.split(":", 1)[1].split(","))
                self.opened[connect_id] = code
            elif line.startswith("+QIURC:"):
                fields = [f.strip().strip('"') for f in line.split(":", 1)[1].split(",")]
                kind = fields[0]
                if kind == "recv":
                    self.readable.add(int(fields[1]))
                elif kind == "closed":
                    self.closed.add(int(fields[1]))
                elif kind == "pdpdeact":
                    self.closed.update(self.used)
                    self.context_ready = False
                elif kind == "incoming" and len(fields) >= 5:
                    server = int(fields[2])
                    self.incoming.setdefault(server, []).append(
                        (int(fields[1]), fields[3], int(fields[4]))
                    )
                elif kind == "dnsgip":
                    self.dns.append(",".join(fields[1:]))
            else:
                return
            self.changed.notify_all()

    def wait(self, ready: Any, timeout: float | None) -> bool:
        """Wait until ``ready()`` (under the lock); False on timeout."""
        with self.changed:
            return bool(self.changed.wait_for(ready, timeout))

    def allocate(self) -> int:
        with self.lock:
            for connect_id in range(MAX_CONNECT_ID + 1):
                if connect_id not in self.used:
                    self.used.add(connect_id)
                    self.closed.discard(connect_id)
                    self.readable.discard(connect_id)
                    self.opened.pop(connect_id, None)
                    return connect_id
        raise OSError(errno.EMFILE, "all 12 connect IDs of the module are in use")

    def release(self, connect_id: int) -> None:
        with self.lock:
            self.used.discard(connect_id)
            self.closed.discard(connect_id)
            self.readable.discard(connect_id)

    def at(self, command: str, **kwargs: Any) -> Any:
        try:
            return self.channel.command(command, **kwargs)
        except CommandError as exc:
            raise OSError(errno.EIO, f"the module answered {exc.final!r} to {command}") from None
        except AtChannelError as exc:
            raise OSError(errno.EIO, f"{command}: {exc}") from None

    def ensure_context(self) -> None:
        """QuecPython's firmware makes the data call at boot; here it is made on first use."""
        if self.context_ready:
            return
        response = self.at("AT+QIACT?")
        active = any(v.split(",")[0].strip() == str(CONTEXT_ID) for v in response.values("+QIACT:"))
        if not active:
            self.at(f"AT+QIACT={CONTEXT_ID}", timeout=150.0)
        self.context_ready = True


_stacks: dict[int, _Stack] = {}
_stacks_lock = threading.Lock()


def _stack() -> _Stack:
    channel = default_channel()
    with _stacks_lock:
        stack = _stacks.get(id(channel))
        if stack is None or stack.channel is not channel:
            stack = _Stack(channel)
            _stacks[id(channel)] = stack
        return stack


def _free_udp_port() -> int:
    """A UDP port the PC has free right now (a random one when it cannot tell)."""
    try:
        with pysocket.socket(pysocket.AF_INET, pysocket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])
    except OSError:
        return random.randint(49152, 65000)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def getaddrinfo(
    host: str, port: int, *args: Any
) -> list[tuple[int, int, int, str, tuple[str, int]]]:
    """``[(af, type, proto, canonname, (ip, port))]``; a name is resolved by the module."""
    if _is_address(host):
        return [(AF_INET, SOCK_STREAM, IPPROTO_TCP, "", (host, int(port)))]
    stack = _stack()
    stack.ensure_context()
    with stack.lock:
        stack.dns.clear()
    stack.at(f'AT+QIDNSGIP={CONTEXT_ID},"{host}"')
    if not stack.wait(lambda: bool(stack.dns), DNS_TIMEOUT):
        raise OSError(errno.ETIMEDOUT, f"getaddrinfo({host!r}): no answer from the module")
    with stack.lock:
        head = stack.dns[0].split(",")
    if head[0] != "0":
        raise OSError(EAI_NONAME, f"getaddrinfo({host!r}): the module's DNS failed ({head[0]})")
    count = int(head[1])
    stack.wait(lambda: len(stack.dns) >= 1 + count, DNS_TIMEOUT)
    with stack.lock:
        addresses = stack.dns[1 : 1 + count]
    return [(AF_INET, SOCK_STREAM, IPPROTO_TCP, "", (a, int(port))) for a in addresses]


class socket:
    def __init__(self, af: int = AF_INET, type: int = SOCK_STREAM, proto: int = IPPROTO_TCP):
        if af not in (AF_INET, AF_INET6):
            raise OSError(errno.EAFNOSUPPORT, f"address family {af} is not supported")
        if type not in (SOCK_STREAM, SOCK_DGRAM):
            raise OSError(errno.EPROTONOSUPPORT, f"socket type {type} is not supported")
        self.af = af
        self.type = type
        self.proto = proto
        self._timeout: float | None = None
        self._stack = _stack()
        self._id: int | None = None
        self._service: str | None = None
        self._local_port = 0
        self._peer: tuple[str, int] | None = None
        self._eof = False
        self._pending = b""
        self._pending_from: tuple[str, int] | None = None

    # ---------------------------------------------------------------- options
    def settimeout(self, value: float | None) -> None:
        """Seconds for blocking calls (None: wait for ever; 0: non-blocking)."""
        if value is not None and value < 0:
            raise ValueError("timeout must be None or >= 0")
        self._timeout = value

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def setsockopt(self, level: int, optname: int, value: Any) -> None:
        if optname == TCP_CUSTOMIZE_PORT:
            self._local_port = int(value)
        # SO_REUSEADDR, keep-alive: accepted, the module decides

    def getsocketsta(self) -> int:
        """The TCP state as QuecPython numbers it (0 closed, 1 listen, 4 established,
        7 close-wait...), read from AT+QISTATE."""
        if self._id is None:
            return 0
        response = self._stack.at(f"AT+QISTATE=1,{self._id}")
        for value in response.values("+QISTATE:"):
            state = int(value.split(",")[5])
            return _TCP_STATES.get(state, 0)
        return 0

    # ------------------------------------------------------------- open/close
    def _open(self, service: str, host: str, remote_port: int, local_port: int) -> None:
        stack = self._stack
        stack.ensure_context()
        connect_id = stack.allocate()
        try:
            stack.at(
                f'AT+QIOPEN={CONTEXT_ID},{connect_id},"{service}","{host}",{remote_port},'
                f"{local_port},0"
            )
        except OSError:
            stack.release(connect_id)
            raise
        limit = OPEN_TIMEOUT if self._timeout is None else max(self._timeout, 1.0)
        if not stack.wait(lambda: connect_id in stack.opened, limit):
            stack.at(f"AT+QICLOSE={connect_id}")
            stack.release(connect_id)
            raise OSError(errno.ETIMEDOUT, f"{service} {host}:{remote_port}: no +QIOPEN")
        with stack.lock:
            code = stack.opened.pop(connect_id)
        if code != 0:
            stack.release(connect_id)
            raise OSError(
                errno.EADDRINUSE if code == PORT_BUSY else errno.ECONNREFUSED,
                f"{service} {host}:{remote_port}: the module answered +QIOPEN: {connect_id},{code}",
            )
        self._id = connect_id
        self._service = service

    def connect(self, address: tuple[str, int]) -> None:
        host, port = address[0], int(address[1])
        if self._id is not None:
            raise OSError(errno.EISCONN, "the socket is already connected")
        self._open("TCP" if self.type == SOCK_STREAM else "UDP", host, port, self._local_port)
        self._peer = (host, port)

    def bind(self, address: tuple[str, int]) -> None:
        self._local_port = int(address[1])

    def listen(self, backlog: int = 1) -> None:
        if not self._local_port:
            raise OSError(errno.EINVAL, "bind() a port before listen()")
        self._open("TCP LISTENER", "0.0.0.0", 0, self._local_port)

    def accept(self) -> tuple[socket, tuple[str, int]]:
        stack = self._stack
        server = self._require_id()
        if not stack.wait(lambda: bool(stack.incoming.get(server)), self._timeout):
            raise self._timeout_error("accept")
        with stack.lock:
            connect_id, ip, port = stack.incoming[server].pop(0)
            stack.used.add(connect_id)
        conn = socket(self.af, SOCK_STREAM, IPPROTO_TCP)
        conn._id, conn._service, conn._peer = connect_id, "TCP INCOMING", (ip, port)
        return conn, (ip, port)

    def close(self) -> None:
        if self._id is None:
            return
        connect_id, self._id = self._id, None
        try:
            self._stack.at(f"AT+QICLOSE={connect_id}")
        finally:
            self._stack.release(connect_id)

    def __enter__(self) -> socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------- data
    def _require_id(self) -> int:
        if self._id is None:
            raise OSError(errno.ENOTCONN, "the socket is not connected")
        return self._id

    def _timeout_error(self, call: str) -> OSError:
        if self._timeout == 0:
            return OSError(errno.EAGAIN, f"{call}: would block")
        return OSError(errno.ETIMEDOUT, f"{call}: timed out after {self._timeout} s")

    def _send(self, data: bytes, target: str) -> int:
        connect_id = self._require_id()
        view = bytes(data)
        sent = 0
        while sent < len(view):
            chunk = view[sent : sent + MAX_SEND]
            try:
                self._stack.channel.command(
                    f"AT+QISEND={connect_id},{len(chunk)}{target}", payload=chunk
                )
            except CommandError as exc:
                if exc.final == "SEND FAIL":
                    if sent:
                        return sent
                    raise OSError(errno.ENOBUFS, "the module's send buffer is full") from None
                raise OSError(errno.ENOTCONN, f"send on connect ID {connect_id}: {exc}") from None
            except AtChannelError as exc:
                raise OSError(errno.EIO, f"send: {exc}") from None
            sent += len(chunk)
        return sent

    def send(self, data: bytes) -> int:
        if self._service == "UDP SERVICE":
            raise OSError(errno.EDESTADDRREQ, "use sendto() on an unconnected UDP socket")
        return self._send(data, "")

    def sendall(self, data: bytes) -> None:
        total = 0
        while total < len(data):
            total += self.send(data[total:])

    write = send

    def sendto(self, data: bytes, address: tuple[str, int]) -> int:
        if self.type != SOCK_DGRAM:
            raise OSError(errno.EOPNOTSUPP, "sendto() is for UDP sockets")
        if self._id is not None and self._service == "UDP":
            return self._send(data, "")
        if self._id is None and self._local_port:
            self._open("UDP SERVICE", "127.0.0.1", 0, self._local_port)
        elif self._id is None:
            # Not bound: a local port of our choosing, another one if it is taken (a module
            # picks a free one itself). The PC's own pick is the best first guess, as an
            # emulated module binds on this PC; random ports follow.
            for attempt in range(AUTO_PORT_TRIES):
                local = _free_udp_port() if attempt == 0 else random.randint(49152, 65000)
                try:
                    self._open("UDP SERVICE", "127.0.0.1", 0, local)
                    break
                except OSError as exc:
                    if exc.errno != errno.EADDRINUSE or attempt == AUTO_PORT_TRIES - 1:
                        raise
            self._local_port = local
        return self._send(data, f',"{address[0]}",{int(address[1])}')

    def _read(self, size: int) -> tuple[bytes, tuple[str, int] | None]:
        """One AT+QIRD, waiting for "recv" first when the buffer is empty."""
        stack = self._stack
        connect_id = self._require_id()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            with stack.lock:
                stack.readable.discard(connect_id)
                closed = connect_id in stack.closed

            def announce(line: str) -> int | None:
                match = _QIRD.match(line)  # "+QIRD: <n>[,"<ip>",<port>]": <n> bytes follow
                return int(match.group(1)) if match else None

            response = stack.at(f"AT+QIRD={connect_id},{min(size, MAX_READ)}", raw_after=announce)
            head = response.value("+QIRD:")
            match = _QIRD.match(f"+QIRD: {head}") if head is not None else None
            if match is not None and int(match.group(1)) > 0:
                source = (match.group(2), int(match.group(3))) if match.group(2) else None
                return response.data, source
            if closed:
                self._eof = True
                return b"", None
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise self._timeout_error("recv")
            if not stack.wait(
                lambda: connect_id in stack.readable or connect_id in stack.closed, left
            ):
                raise self._timeout_error("recv")

    def recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` bytes; b"" once the peer has closed and all is read."""
        if bufsize <= 0:
            return b""
        if self._eof:
            return b""
        data, _ = self._read(bufsize)
        return data

    read = recv

    def recvfrom(self, bufsize: int) -> tuple[bytes, tuple[str, int] | None]:
        data, source = self._read(bufsize)
        return data, source if source is not None else self._peer

    def __repr__(self) -> str:
        return f"<socket id={self._id} {self._service or 'unopened'}>"
