"""DTLS-PSK for aiocoap: client and server message interfaces on
:mod:`emulator.adapters.dtls.session`.

aiocoap's documented extension point for a transport is :class:`aiocoap.interfaces.
MessageInterface` (send, determine_remote, recognize_remote, shutdown) with
:class:`~aiocoap.interfaces.EndpointAddress` remotes; a context runs it behind its own
message manager (RFC 7252 §4 reliability) and token manager (§5.3 request/response
matching). This module implements both sides on plain asyncio UDP sockets:

* :class:`DtlsClientInterface` (the module): one socket per server, connected, so an ICMP
  "port unreachable" (no server) ends a handshake at once; an explicit :meth:`connect` with a
  bound; after the server closed the session (close_notify, fatal alert) the next request
  shakes hands again on the same socket before it goes out, as an embedded client does.
* :class:`DtlsServerInterface` (the LwM2M server): one socket for all clients, a stateless
  HelloVerifyRequest cookie exchange before any per-client state (RFC 6347 §4.2.1), bounded
  numbers of half-open and established sessions, and requests *to* a client over the session
  it opened (LwM2M TS 1.0 §7.1: the server reaches the device on the device's session).

Bad input costs nothing lasting: datagrams that are not DTLS, cannot be decrypted or do not
parse as CoAP are dropped and counted, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiocoap import Message, interfaces
from aiocoap import error as coap_error
from aiocoap.messagemanager import MessageManager
from aiocoap.numbers.constants import COAPS_PORT
from aiocoap.tokenmanager import TokenManager
from aiocoap.util import hostportjoin
from mbedtls import tls

from emulator.adapters.udpbind import widen_receive_buffer
from emulator.adapters.undecodable import decode

from .ciphers import DEFAULT_CLIENT_SUITES, SERVER_SUITES, mbedtls_names
from .records import is_client_hello, psk_identity
from .session import (
    MAX_DATAGRAM,
    Closed,
    DtlsEndpoint,
    Established,
    HandshakeFailed,
    HelloVerifySent,
    Output,
    State,
)

__all__ = [
    "DtlsClientConnection",
    "DtlsClientInterface",
    "DtlsHandshakeError",
    "DtlsServerInterface",
    "PskLookup",
    "ServerLimits",
    "ServerSession",
    "append_message_interface",
]

log = logging.getLogger(__name__)

#: How often a handshake in progress lets the engine check its retransmission timer.
_TICK = 0.25
#: RFC 6347 §4.2.4.1: the initial retransmission timer; doubled up to the maximum.
_RETRANSMIT_MIN = 1.0
_RETRANSMIT_MAX = 16.0


class DtlsHandshakeError(ConnectionError):
    """A handshake failed. ``refused``: the peer refused it (a fatal alert, or nobody
    listening); otherwise our side gave up on what the peer sent."""

    def __init__(self, reason: str, *, refused: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused


async def append_message_interface(
    context: Any, construct: Callable[[MessageManager], Awaitable[interfaces.MessageInterface]]
) -> interfaces.MessageInterface:
    """Run a message interface in ``context`` behind aiocoap's message and token managers
    (the layering every aiocoap UDP-like transport has)."""
    token_manager = TokenManager(context)
    message_manager = MessageManager(token_manager)
    interface = await construct(message_manager)
    message_manager.message_interface = interface
    token_manager.token_interface = message_manager
    context.request_interfaces.append(token_manager)
    return interface


def _config(**kwargs: Any) -> tls.DTLSConfiguration:
    return tls.DTLSConfiguration(
        validate_certificates=False,
        lowest_supported_version=tls.DTLSVersion.DTLSv1_2,
        highest_supported_version=tls.DTLSVersion.DTLSv1_2,
        handshake_timeout_min=_RETRANSMIT_MIN,
        handshake_timeout_max=_RETRANSMIT_MAX,
        **kwargs,
    )


def _hostinfo(host: str, port: int) -> str:
    return str(hostportjoin(host, None if port == COAPS_PORT else port))


class _Datagrams(asyncio.DatagramProtocol):
    """Hands a socket's datagrams and errors to its owner."""

    def __init__(
        self,
        on_datagram: Callable[[bytes, tuple[Any, ...]], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        self._on_datagram = on_datagram
        self._on_error = on_error

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            self._on_datagram(data, addr)
        except Exception:  # one datagram must never take the socket down
            log.exception("DTLS: datagram from %s not handled", addr)

    def error_received(self, exc: Exception) -> None:
        self._on_error(exc)


# ============================================================================ client
class DtlsClientConnection(interfaces.EndpointAddress):  # type: ignore[misc]  # untyped base
    """The module's DTLS session with one server: the remote of its requests and of the
    server's requests to it."""

    scheme = "coaps"
    is_multicast = False
    is_multicast_locally = False

    def __init__(
        self,
        interface: DtlsClientInterface,
        host: str,
        port: int,
        *,
        identity: bytes,
        key: bytes,
        cipher_suites: Iterable[str],
    ) -> None:
        self._interface = interface
        self.host = host
        self.port = port
        self.identity = identity
        try:
            identity_text = identity.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("the PSK identity is not UTF-8 text") from None
        self._context = tls.ClientContext(
            _config(
                pre_shared_key=(identity_text, bytes(key)),
                ciphers=mbedtls_names(cipher_suites),
            )
        )
        self._transport: asyncio.DatagramTransport | None = None
        self._endpoint: DtlsEndpoint | None = None
        self._handshake: asyncio.Future[None] | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self._waiting: list[bytes] = []  # CoAP messages held while a new handshake runs
        self._closed = False
        self._heard_from_peer = False
        self.handshakes = 0
        self.dropped = 0

    # -- EndpointAddress ---------------------------------------------------------------------
    @property
    def hostinfo(self) -> str:
        return _hostinfo(self.host, self.port)

    @property
    def hostinfo_local(self) -> str:
        if self._transport is None:
            raise coap_error.AnonymousHost()
        host, port, *_ = self._transport.get_extra_info("sockname")
        return str(hostportjoin(host, port))

    @property
    def uri_base(self) -> str:
        return "coaps://" + self.hostinfo

    @property
    def uri_base_local(self) -> str:
        return "coaps://" + self.hostinfo_local

    @property
    def blockwise_key(self) -> object:
        return self

    @property
    def established(self) -> bool:
        return self._endpoint is not None and self._endpoint.state is State.ESTABLISHED

    @property
    def cipher_suite(self) -> str:
        return self._endpoint.cipher_suite if self._endpoint is not None else ""

    def __repr__(self) -> str:
        return f"<DTLS session with {self.hostinfo}>"

    # -- life cycle --------------------------------------------------------------------------
    async def handshake(self, timeout: float) -> None:
        """Open the socket if needed and shake hands; :class:`DtlsHandshakeError` or
        ``TimeoutError`` after ``timeout`` seconds."""
        if self._closed:
            raise DtlsHandshakeError("the session was closed", refused=False)
        if self._transport is None:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self._datagram, self._error),
                local_addr=(self._interface.bind_host, 0) if self._interface.bind_host else None,
                remote_addr=(self.host, self.port),
            )
            self._transport = transport
        future = self._start_handshake()
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            self._fail_handshake(DtlsHandshakeError("timed out", refused=False))
            raise TimeoutError(f"no DTLS handshake within {timeout:g} s") from None

    def _start_handshake(self) -> asyncio.Future[None]:
        if self._handshake is not None and not self._handshake.done():
            return self._handshake
        self._handshake = asyncio.get_running_loop().create_future()
        self._handshake.add_done_callback(_consume_exception)
        self.handshakes += 1
        self._heard_from_peer = False
        self._endpoint = DtlsEndpoint(self._context.wrap_buffers(None))
        self._apply(self._endpoint.start())
        self._schedule_tick()
        return self._handshake

    def _schedule_tick(self) -> None:
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().call_later(_TICK, self._tick)

    def _tick(self) -> None:
        self._ticker = None
        if self._endpoint is not None and self._endpoint.state is State.HANDSHAKING:
            self._apply(self._endpoint.tick())
            self._schedule_tick()

    def close(self) -> None:
        """Send close_notify if the session is up, and close the socket."""
        if self._closed:
            return
        self._closed = True
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._endpoint is not None:
            self._send_datagrams(self._endpoint.close())
        self._fail_handshake(DtlsHandshakeError("the session was closed", refused=False))
        if self._transport is not None:
            self._transport.close()
        self._interface._forget(self)

    # -- I/O -----------------------------------------------------------------------------------
    def send_message(self, message: Message) -> None:
        data = message.encode()
        if self._closed:
            raise ConnectionError("the DTLS session is closed")
        if self.established:
            assert self._endpoint is not None
            self._send_datagrams(self._endpoint.send(data))
            return
        # The server ended the session (or a handshake is under way): shake hands again and
        # send once it is up, as an embedded client's next write does.
        self._waiting.append(data)
        if self._handshake is None or self._handshake.done():
            log.info("DTLS %s: session ended; shaking hands again", self.hostinfo)
            future = self._start_handshake()

            def failed(done: asyncio.Future[None]) -> None:
                if done.cancelled() or done.exception() is not None:
                    reason = "cancelled" if done.cancelled() else str(done.exception())
                    self._interface.ctx.dispatch_error(ConnectionError(reason), self)

            future.add_done_callback(failed)
            asyncio.get_running_loop().call_later(
                self._interface.rehandshake_timeout,
                self._fail_handshake,
                DtlsHandshakeError("no DTLS handshake in time", refused=False),
                future,
            )

    def _send_datagrams(self, datagrams: list[bytes]) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        for datagram in datagrams:
            self._transport.sendto(datagram)

    def _datagram(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if self._endpoint is None or self._closed:
            self.dropped += 1
            return
        self._heard_from_peer = True
        self._apply(self._endpoint.receive(data))

    def _error(self, exc: Exception) -> None:
        if isinstance(exc, ConnectionRefusedError):
            reason = f"nothing listens on {self.hostinfo} (ICMP port unreachable)"
        else:
            reason = f"network error: {exc}"
        if self._handshake is not None and not self._handshake.done():
            if self._heard_from_peer:
                # ICMP errors are soft (RFC 1122 §4.2.3.9): a peer that already answered may
                # be rebinding its socket (gnutls-serv does after the cookie exchange).
                log.debug("DTLS %s: %s during the handshake; retransmitting", self.hostinfo, exc)
                return
            self._fail_handshake(DtlsHandshakeError(reason, refused=True))
        else:
            self._interface.ctx.dispatch_error(ConnectionError(reason), self)

    def _fail_handshake(
        self, exc: DtlsHandshakeError, only: asyncio.Future[None] | None = None
    ) -> None:
        if only is not None and only is not self._handshake:
            return
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(exc)
            if self._endpoint is not None:
                self._endpoint.close()
        self._waiting.clear()

    def _apply(self, out: Output) -> None:
        self._send_datagrams(out.datagrams)
        for event in out.events:
            if isinstance(event, Established):
                log.debug("DTLS %s: established (%s)", self.hostinfo, event.cipher_suite)
                if self._handshake is not None and not self._handshake.done():
                    self._handshake.set_result(None)
                waiting, self._waiting = self._waiting, []
                assert self._endpoint is not None
                for data in waiting:
                    self._send_datagrams(self._endpoint.send(data))
            elif isinstance(event, HandshakeFailed):
                self._fail_handshake(DtlsHandshakeError(event.reason, refused=event.refused))
            elif isinstance(event, Closed):
                log.info("DTLS %s: %s", self.hostinfo, event.reason)
        for data in out.data:
            self._interface._deliver(data, self)


def _consume_exception(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


class DtlsClientInterface(interfaces.MessageInterface):  # type: ignore[misc]  # untyped base
    """The client (module) side: sessions opened by :meth:`connect`."""

    def __init__(
        self, ctx: MessageManager, *, bind_host: str | None = None, rehandshake_timeout: float
    ) -> None:
        self.ctx = ctx
        self.bind_host = bind_host
        self.rehandshake_timeout = rehandshake_timeout
        self._connections: list[DtlsClientConnection] = []
        self.unparsable = 0

    @classmethod
    async def create(
        cls, context: Any, *, bind_host: str | None = None, rehandshake_timeout: float = 10.0
    ) -> DtlsClientInterface:
        async def construct(manager: MessageManager) -> DtlsClientInterface:
            return cls(manager, bind_host=bind_host, rehandshake_timeout=rehandshake_timeout)

        interface = await append_message_interface(context, construct)
        assert isinstance(interface, DtlsClientInterface)
        return interface

    async def connect(
        self,
        host: str,
        port: int,
        *,
        identity: bytes,
        key: bytes,
        cipher_suites: Iterable[str] = DEFAULT_CLIENT_SUITES,
        timeout: float,
    ) -> DtlsClientConnection:
        """A new session with ``host:port`` (an IP address), handshake done."""
        connection = DtlsClientConnection(
            self, host, port, identity=identity, key=key, cipher_suites=cipher_suites
        )
        self._connections.append(connection)
        try:
            await connection.handshake(timeout)
        except BaseException:
            connection.close()
            raise
        return connection

    def _forget(self, connection: DtlsClientConnection) -> None:
        with contextlib.suppress(ValueError):
            self._connections.remove(connection)

    def _deliver(self, data: bytes, remote: DtlsClientConnection) -> None:
        message = decode(data)  # (decoded once: the screening's message is the one sent on)
        if not isinstance(message, Message):
            self.unparsable += 1
            log.debug("DTLS %s: dropped data that is not CoAP", remote.hostinfo)
            return
        message.remote = remote
        self.ctx.dispatch_message(message)

    # -- MessageInterface ----------------------------------------------------------------------
    def send(self, message: Message) -> None:
        remote = message.remote
        assert isinstance(remote, DtlsClientConnection)
        try:
            remote.send_message(message)
        except ConnectionError as exc:
            asyncio.get_running_loop().call_soon(self.ctx.dispatch_error, exc, remote)

    async def recognize_remote(self, remote: object) -> bool:
        return isinstance(remote, DtlsClientConnection) and remote._interface is self

    async def determine_remote(self, message: Message) -> DtlsClientConnection | None:
        if message.requested_scheme != "coaps":
            return None
        host = message.opt.uri_host or ""
        port = message.opt.uri_port or COAPS_PORT
        if message.unresolved_remote:
            host, _, port_text = message.unresolved_remote.rpartition(":")
            if not host or "]" in port_text:
                host, port_text = message.unresolved_remote, ""
            host = host.strip("[]")
            port = int(port_text) if port_text.isdigit() else COAPS_PORT
        for connection in self._connections:
            if connection.host == host and connection.port == port:
                return connection
        raise ConnectionError(f"no DTLS session with {_hostinfo(host, port)}: handshake first")

    async def shutdown(self) -> None:
        for connection in list(self._connections):
            connection.close()


# ============================================================================ server
class PskLookup(Protocol):
    """Where the server finds a client's key during the handshake."""

    def find_dtls_psk(self, identity: bytes) -> tuple[bytes, object]:
        """``(key, claim)``; ``KeyError`` for an unknown identity (the handshake fails with
        unknown_psk_identity, RFC 4279 §2). The claim becomes the session's
        ``authenticated_claims``."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerLimits:
    """Bounds on what clients can make the server hold."""

    max_handshakes: int = 1024  # half-open associations (past the cookie exchange)
    max_sessions: int = 20_000  # established associations
    handshake_timeout: float = 30.0  # a half-open association is dropped after this long
    # With every half-open place taken, a new client waits (its ClientHello goes unanswered
    # and its retransmission timer, RFC 6347 §4.2.4, brings it back) unless the oldest
    # half-open association has run this long: then that one is dropped for it. A storm of
    # thousands of real clients so finishes its handshakes instead of evicting them one by
    # one, while a client that stalls (or an attacker's) cannot hold a place for long.
    handshake_patience: float = 10.0


class ServerSession(interfaces.EndpointAddress):  # type: ignore[misc]  # untyped base
    """One client's association with the server: the remote of its messages."""

    scheme = "coaps"
    is_multicast = False
    is_multicast_locally = False

    def __init__(self, interface: DtlsServerInterface, addr: tuple[Any, ...]) -> None:
        self._interface = interface
        self.addr = addr
        self.endpoint = DtlsEndpoint(interface._tls.wrap_buffers())
        self.endpoint._buffer.setcookieparam(_cookie_info(addr))
        self.started = time.monotonic()
        self.last_heard = self.started
        self.identity: bytes | None = None  # offered in the ClientKeyExchange
        self.claim: object | None = None
        self.failure_logged = False

    @property
    def hostinfo(self) -> str:
        return str(hostportjoin(self.addr[0], self.addr[1]))

    @property
    def hostinfo_local(self) -> str:
        return self._interface.hostinfo

    @property
    def uri_base(self) -> str:
        return "coaps://" + self.hostinfo

    @property
    def uri_base_local(self) -> str:
        return "coaps://" + self.hostinfo_local

    @property
    def blockwise_key(self) -> object:
        return self

    @property
    def authenticated_claims(self) -> list[object]:
        return [self.claim] if self.claim is not None else []

    def __repr__(self) -> str:
        return f"<DTLS session from {self.hostinfo}>"


def _cookie_info(addr: tuple[Any, ...]) -> bytes:
    """The client's transport address, which the cookie binds (RFC 6347 §4.2.1)."""
    return f"{addr[0]}|{addr[1]}".encode()


class _LivePskStore(Mapping[str, bytes]):
    """The engine's PSK store, asked during each handshake: it looks the identity up in the
    server's credentials as they are *now* and notes what the session offered and proved."""

    def __init__(self, interface: DtlsServerInterface) -> None:
        self._interface = interface

    def __getitem__(self, identity: str) -> bytes:
        session = self._interface._driving
        identity_bytes = identity.encode("utf-8", "surrogateescape")
        if session is not None:
            session.identity = identity_bytes
        key, claim = self._interface.credentials.find_dtls_psk(identity_bytes)
        if session is not None:
            session.claim = claim
        return key

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class DtlsServerInterface(interfaces.MessageInterface):  # type: ignore[misc]  # untyped base
    """The server side: one UDP socket, many client sessions."""

    def __init__(
        self,
        ctx: MessageManager,
        credentials: PskLookup,
        *,
        cipher_suites: Iterable[str] = SERVER_SUITES,
        limits: ServerLimits = ServerLimits(),  # frozen, shared safely
    ) -> None:
        self.ctx = ctx
        self.credentials = credentials
        self.limits = limits
        self._tls = tls.ServerContext(
            _config(
                pre_shared_key_store=_LivePskStore(self),
                ciphers=mbedtls_names(cipher_suites),
            )
        )
        self._sessions: dict[tuple[Any, ...], ServerSession] = {}
        #: The sessions still handshaking, oldest first (a subset of ``_sessions``).
        self._half_open: dict[tuple[Any, ...], ServerSession] = {}
        self._driving: ServerSession | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self.sockname: tuple[str, int] = ("", 0)
        # Counters a test or an operator can read.
        self.dropped = 0
        self.hello_verify_sent = 0
        self.handshakes_failed = 0
        self.unparsable = 0
        self.handshakes_deferred = 0  # ClientHellos left for later: no half-open place free

    @classmethod
    async def create(
        cls,
        context: Any,
        bind: tuple[str, int],
        credentials: PskLookup,
        *,
        cipher_suites: Iterable[str] = SERVER_SUITES,
        limits: ServerLimits = ServerLimits(),
    ) -> DtlsServerInterface:
        """Bind ``bind`` and run the interface in ``context``."""

        async def construct(manager: MessageManager) -> DtlsServerInterface:
            interface = cls(manager, credentials, cipher_suites=cipher_suites, limits=limits)
            await interface._bind(bind)
            return interface

        interface = await append_message_interface(context, construct)
        assert isinstance(interface, DtlsServerInterface)
        return interface

    async def _bind(self, bind: tuple[str, int]) -> None:
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Datagrams(self._datagram, self._error), local_addr=bind
        )
        self._transport = transport
        # A storm of ClientHellos overflows the default buffer as it would Registers
        # (measured: 2,000 DTLS modules at once lost 3,000 datagrams, and their handshakes
        # then waited out retransmission timers: 50 registrations/s instead of 2,000).
        widen_receive_buffer(transport.get_extra_info("socket"))
        host, port, *_ = transport.get_extra_info("sockname")
        self.sockname = (str(host), int(port))

    @property
    def hostinfo(self) -> str:
        return str(hostportjoin(*self.sockname))

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    # -- input -------------------------------------------------------------------------------
    def _datagram(self, data: bytes, addr: tuple[Any, ...]) -> None:
        addr = tuple(addr[:2])
        if len(data) > MAX_DATAGRAM:
            self.dropped += 1
            return
        session = self._sessions.get(addr)
        if is_client_hello(data) and (
            session is None or session.endpoint.state is not State.HANDSHAKING
        ):
            self._client_hello(data, addr, session)
            return
        if session is None:
            self.dropped += 1  # not a handshake start and no association: RFC 6347 §4.1.2.7
            return
        self._feed(session, data)

    def _client_hello(
        self, data: bytes, addr: tuple[Any, ...], existing: ServerSession | None
    ) -> None:
        """A ClientHello from an address without a handshake under way: answer it
        statelessly with a HelloVerifyRequest unless it carries this address's cookie
        (RFC 6347 §4.2.1); a client that reconnects from the same port (§4.2.8) gets a new
        association once it proves its address."""
        candidate = ServerSession(self, addr)
        out = self._drive(candidate, lambda: candidate.endpoint.receive(data))
        if any(isinstance(event, HelloVerifySent) for event in out.events):
            self.hello_verify_sent += 1
            self._send(out.datagrams, addr)
            return
        if any(isinstance(event, HandshakeFailed) for event in out.events):
            # Before the cookie exchange the address is unproven: no log line per datagram
            # (a flood would fill the log), only the counter.
            self._send(out.datagrams, addr)
            self.dropped += 1
            log.debug("DTLS from %s: ClientHello refused: %s", candidate.hostinfo, out.events)
            return
        if existing is not None:
            self._drop(existing)
        if not self._make_room():
            self.handshakes_deferred += 1
            candidate.endpoint.close()
            return
        self._sessions[addr] = candidate
        self._half_open[addr] = candidate
        self._send(out.datagrams, addr)
        self._schedule_tick()

    def _feed(self, session: ServerSession, data: bytes) -> None:
        if session.endpoint.state is State.HANDSHAKING and session.identity is None:
            session.identity = psk_identity(data)
        session.last_heard = time.monotonic()
        out = self._drive(session, lambda: session.endpoint.receive(data))
        self._apply(session, out)

    def _drive(self, session: ServerSession, step: Callable[[], Output]) -> Output:
        self._driving = session
        try:
            return step()
        finally:
            self._driving = None

    def _apply(self, session: ServerSession, out: Output) -> None:
        self._send(out.datagrams, session.addr)
        for event in out.events:
            if isinstance(event, Established):
                self._half_open.pop(session.addr, None)
                log.debug(
                    "DTLS from %s: established (identity %r, %s)",
                    session.hostinfo,
                    session.identity,
                    event.cipher_suite,
                )
            elif isinstance(event, HandshakeFailed):
                self._handshake_failed(session, out)
                self._drop(session)
                return
            elif isinstance(event, Closed):
                log.info("DTLS from %s: %s", session.hostinfo, event.reason)
                self._drop(session)
                self.ctx.dispatch_error(ConnectionResetError(event.reason), session)
        for data in out.data:
            message = decode(data)
            if not isinstance(message, Message):
                self.unparsable += 1  # an authenticated peer: counted, not logged
                continue
            message.remote = session
            self.ctx.dispatch_message(message)

    def _handshake_failed(
        self, session: ServerSession, out: Output | None, reason: str = ""
    ) -> None:
        """Log a failed handshake once: where from, which identity, why (never the key)."""
        if session.failure_logged:
            return
        session.failure_logged = True
        self.handshakes_failed += 1
        if out is not None:
            for event in out.events:
                if isinstance(event, HandshakeFailed):
                    reason = event.reason
        log.warning(
            "DTLS handshake from %s failed: identity %s: %s",
            session.hostinfo,
            "(none offered)" if session.identity is None else repr(session.identity),
            reason or "unknown reason",
        )

    def _error(self, exc: Exception) -> None:
        # ICMP errors for one client's address: nothing to do for the listener itself.
        log.debug("DTLS listener %s: %s", self.hostinfo, exc)

    # -- bookkeeping -------------------------------------------------------------------------
    def _drop(self, session: ServerSession) -> None:
        if self._sessions.get(session.addr) is session:
            del self._sessions[session.addr]
        if self._half_open.get(session.addr) is session:
            del self._half_open[session.addr]
        session.endpoint.close()

    def _make_room(self) -> bool:
        """Whether a new handshake may start, keeping within the limits: with every half-open
        place taken it waits, unless the oldest half-open association has run out of
        ``handshake_patience`` (then that one goes); at the session limit the least recently
        heard established association goes."""
        if len(self._half_open) >= self.limits.max_handshakes:
            oldest = next(iter(self._half_open.values()))
            if time.monotonic() - oldest.started < self.limits.handshake_patience:
                return False
            self._handshake_failed(oldest, None, "dropped: too many handshakes in progress")
            self._drop(oldest)
        if len(self._sessions) >= self.limits.max_sessions:
            idle = min(self._sessions.values(), key=lambda s: s.last_heard)
            log.info("DTLS from %s: dropped (session limit reached)", idle.hostinfo)
            self._drop(idle)
        return True

    def _schedule_tick(self) -> None:
        if self._ticker is None and self._transport is not None:
            self._ticker = asyncio.get_running_loop().call_later(_TICK, self._tick)

    def _tick(self) -> None:
        """Retransmit flights whose timer ran out; give up on silent half-open clients."""
        self._ticker = None
        now = time.monotonic()
        pending = False
        for session in list(self._half_open.values()):
            if session.endpoint.state is not State.HANDSHAKING:
                self._half_open.pop(session.addr, None)
                continue
            if now - session.started > self.limits.handshake_timeout:
                self._handshake_failed(session, None, "the client stopped answering")
                self._drop(session)
                continue
            pending = True
            self._apply(session, self._drive(session, session.endpoint.tick))
        if pending:
            self._schedule_tick()

    def _send(self, datagrams: list[bytes], addr: tuple[Any, ...]) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        for datagram in datagrams:
            self._transport.sendto(datagram, addr)

    # -- MessageInterface ----------------------------------------------------------------------
    def send(self, message: Message) -> None:
        session = message.remote
        assert isinstance(session, ServerSession)
        if (
            self._sessions.get(session.addr) is not session
            or session.endpoint.state is not State.ESTABLISHED
        ):
            asyncio.get_running_loop().call_soon(
                self.ctx.dispatch_error,
                ConnectionResetError(f"no DTLS session with {session.hostinfo} any more"),
                session,
            )
            return
        self._send(session.endpoint.send(message.encode()), session.addr)

    async def recognize_remote(self, remote: object) -> bool:
        return isinstance(remote, ServerSession) and remote._interface is self

    async def determine_remote(self, message: Message) -> None:
        return None  # the server never opens sessions; it answers on the client's

    async def shutdown(self) -> None:
        """close_notify to every client (RFC 5246 §7.2.1), then close the socket."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for session in list(self._sessions.values()):
            self._send(session.endpoint.close(), session.addr)
        self._sessions.clear()
        self._half_open.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
