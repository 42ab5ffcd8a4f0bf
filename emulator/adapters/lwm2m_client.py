"""The aiocoap adapter of the LwM2M client: the only part that does I/O.

One aiocoap server context per module: its socket sends Register/Update/
Deregister and receives the server's requests, which a single path-capable root resource
hands to the sans-I/O client with the whole Uri-Path. DTLS-PSK runs on our own message
interface over Mbed TLS (:mod:`emulator.adapters.dtls.coap`): the handshake is explicit and bounded
(a wrong PSK is often dropped silently by the server; the bound turns that into
``"dtls","failed"``, while a fatal alert or nobody listening fails it at once), the cipher
suites are the profile's, and the session object is the remote of both directions.

What aiocoap 0.4 has no public API for is pinned with tests
(tests/lwm2m/client/test_aiocoap_contract.py, test_observe_end_wire.py). For queue mode's sleeping
radio the context's message managers get a filter in front of ``dispatch_message`` that drops
requests from a server the device is asleep to, so they are neither acknowledged nor answered
(TS 1.0 §7.3). The same filter sees an RST that answers a notification (RFC 7641 §3.6: the
server lost interest; aiocoap matches RSTs only to confirmable exchanges and drops the rest),
and the transport's ``send`` is wrapped to note each notification's message ID, so the RST
ends the right observation.

A fleet of modules in one process needs the context cheap to build and to send on: its udp6
message interface runs on a socket bound by :mod:`emulator.adapters.udpbind` (aiocoap's own
binding resolves the address in a worker thread, checks the route on another socket and sets
SO_REUSEPORT, under which two modules could be given one port), and each session's request
carries its remote, so nothing is resolved per send.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import ipaddress
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import aiocoap
from aiocoap import error as coap_error
from aiocoap.blockwise import Block1Spool, Block2Cache
from aiocoap.numbers.codes import Code
from aiocoap.numbers.constants import TransportTuning
from aiocoap.numbers.optionnumbers import OptionNumber
from aiocoap.numbers.types import RST
from aiocoap.pipe import Pipe
from aiocoap.transports.udp6 import MessageInterfaceUDP6, UDP6EndpointAddress

from emulator.adapters.block1 import Block1Assembly
from emulator.adapters.coap_exchange import Exchange, PreparedOptions, fits_one_message
from emulator.adapters.dedup import bound_duplicate_detection
from emulator.adapters.dtls.coap import (
    DtlsClientConnection,
    DtlsClientInterface,
    append_message_interface,
)
from emulator.adapters.host import ModuleHost
from emulator.adapters.looptimers import LoopTimers
from emulator.adapters.port.fdlimit import RESOURCE_ERRNOS
from emulator.adapters.udpbind import udp6_interface, udp6_socket
from emulator.adapters.undecodable import JunkReport, UdpRemote, guard_udp_interface
from emulator.at.errors import OperationNotSupported
from emulator.commands.lwm2m import client_for
from emulator.lwm2m.client.client import LwM2MClient
from emulator.lwm2m.client.events import ClientWork
from emulator.lwm2m.client.firmware import DownloadError
from emulator.lwm2m.client.messages import (
    INTERNAL_SERVER_ERROR,
    Action,
    CancelDownload,
    CloseSession,
    CoapRequest,
    CoapResponse,
    Handshake,
    PrepareSession,
    ResetTransport,
    SendNotification,
    SendRequest,
    SetReachable,
    StartDownload,
)
from emulator.lwm2m.client.settings import CoapTuning
from emulator.module.events import ModuleEvent
from emulator.module.routing import EventTypes

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 300.0  # seconds for a whole firmware package
MAX_NOTED_NOTIFICATIONS = 256  # recent notification message IDs kept for matching an RST
LOGGER_NAME = "quecemu.lwm2m.coap"


@functools.cache  # one class per profile's tuning, not two per module
def _tuning(settings: CoapTuning, *, reliable: bool | None = None) -> TransportTuning:
    """RFC 7252 §4.8 parameters from the profile, on aiocoap's per-message tuning object;
    ``reliable`` picks CON (True) or NON (False) for messages whose type is not given."""

    class ProfileTuning(TransportTuning):  # type: ignore[misc]  # aiocoap is untyped
        ACK_TIMEOUT = settings.ack_timeout
        ACK_RANDOM_FACTOR = settings.ack_random_factor
        MAX_RETRANSMIT = settings.max_retransmit
        reliability = reliable

    return ProfileTuning()


def _peer(remote: Any) -> object:
    """A hashable key for the peer of a message (its socket address; else the object)."""
    sockaddr = getattr(remote, "sockaddr", None)
    if sockaddr is not None:
        return (_plain_ip(str(sockaddr[0])), sockaddr[1])
    return remote


def _plain_ip(address: str) -> str:
    """``::ffff:127.0.0.1`` → ``127.0.0.1`` (the udp6 transport reports IPv4 peers mapped)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _literal_ip(host: str) -> str | None:
    """``host`` as a plain IP address when it is one (nothing to resolve), else None."""
    try:
        return _plain_ip(str(ipaddress.ip_address(host.strip("[]"))))
    except ValueError:
        return None


def _v6_sockaddr(ip: str, port: int) -> tuple[str, int, int, int]:
    """The udp6 socket's form of an address: IPv4 as IPv4-mapped IPv6 (RFC 4291 §2.5.5.2)."""
    return (ip if ":" in ip else f"::ffff:{ip}", port, 0, 0)


@dataclass(kw_only=True)
class Session:
    """One server's transport state."""

    server_id: int
    scheme: str
    ip: str
    port: int
    connection: DtlsClientConnection | None = None  # coaps: the DTLS session
    remote: UDP6EndpointAddress | None = None  # coap: the server's address on our socket
    reachable: bool = True
    tokens: set[bytes] = field(default_factory=set)
    #: The options of the last request sent on the remote, by what they were built from
    #: (path, query, content format): each Update carries the same ones.
    options: tuple[tuple[object, ...], PreparedOptions] | None = None

    @property
    def base(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{self.scheme}://{host}:{self.port}"


class _Root:
    """The one resource of the context: every request goes to the client with its whole path
    (aiocoap's Site would give a child only the path below its prefix)."""

    def __init__(self, adapter: CoapAdapter) -> None:
        self.adapter = adapter
        # The largest body a server sends the module is a firmware package (/5/0/0).
        self._block1 = Block1Assembly(adapter.client.settings.firmware.max_package_bytes)
        self._block2 = Block2Cache()

    async def needs_blockwise_assembly(self, request: aiocoap.Message) -> bool:
        return False

    async def render(self, request: aiocoap.Message) -> aiocoap.Message:
        raise coap_error.UnsupportedMethod()

    async def render_to_pipe(self, pipe: Pipe) -> None:
        await self.adapter.serve(pipe, self._block1, self._block2)


class CoapAdapter:
    """The module service that performs the client's actions on aiocoap."""

    #: The events it acts on: the client's work signal, and what the client follows of the
    #: module (not the client's own notices, two per Update: nothing to do on them).
    handled_events: ClassVar[EventTypes] = (ClientWork, *LwM2MClient.MODULE_EVENTS)

    def __init__(self, host: ModuleHost, client: LwM2MClient) -> None:
        self.host = host
        self.client = client
        self._tuning = _tuning(client.settings.coap)
        self._notify_tuning = _tuning(
            client.settings.coap, reliable=client.settings.coap.confirmable_notifications
        )
        self._context: aiocoap.Context | None = None
        self._dtls: DtlsClientInterface | None = None
        self._context_lock = asyncio.Lock()
        self._bound_loopback = False
        self._bind_host = "::"
        self._udp: MessageInterfaceUDP6 | None = None
        # The token managers in front of the UDP and DTLS interfaces: a request to a
        # session's remote goes straight to the one that serves it (coap_exchange).
        self._udp_requests: Any = None
        self._dtls_requests: Any = None
        self._exchanges: set[Exchange] = set()
        self._deadlines: LoopTimers | None = None  # the loop's (an adapter lives in one loop)
        self._sessions: dict[int, Session] = {}
        self._notifications: dict[bytes, asyncio.Queue[tuple[CoapResponse, bool]]] = {}
        #: (peer, message ID) of recent notifications → their token, for an RST (bounded).
        self._notified: collections.OrderedDict[tuple[object, int], bytes] = (
            collections.OrderedDict()
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._download: asyncio.Task[None] | None = None
        self._root = _Root(self)
        self.requests_served = 0
        self._observe_number = 0
        #: Datagrams on the module's CoAP socket that were not CoAP (dropped or reset).
        self.junk = JunkReport(log, f"module {host.module.identity.imei} LwM2M socket")

    # ------------------------------------------------------------ service API
    async def start(self) -> None:
        """Nothing to open yet: the context is created with the first session."""

    async def stop(self) -> None:
        self._cancel_exchanges()
        for task in list(self._tasks):
            task.cancel()
        if self._download is not None:
            self._download.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_context()

    def on_event(self, event: ModuleEvent) -> None:
        if not isinstance(event, ClientWork):
            self.client.on_module_event(event, self.host.now())
        self._drain()

    # ----------------------------------------------------------------- actions
    def _drain(self) -> None:
        while (action := self.client.next_action()) is not None:
            try:
                self._perform(action)
            except Exception:  # an adapter bug must not take the AT port down
                log.exception("LwM2M action %r failed", action)

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("LwM2M task %s failed", task.get_name(), exc_info=task.exception())

    def _perform(self, action: Action) -> None:
        if isinstance(action, SendRequest):  # the usual one (every Update)
            if not self._exchange(action):
                self._spawn(self._request(action), f"lwm2m request {action.request_id}")
        elif isinstance(action, PrepareSession):
            self._spawn(self._prepare(action), f"lwm2m prepare {action.server_id}")
        elif isinstance(action, Handshake):
            self._spawn(self._handshake(action), f"lwm2m dtls {action.server_id}")
        elif isinstance(action, SendNotification):
            queue = self._notifications.get(action.token)
            if queue is not None:
                queue.put_nowait((action.response, action.last))
        elif isinstance(action, SetReachable):
            session = self._sessions.get(action.server_id)
            if session is not None:
                session.reachable = action.reachable
        elif isinstance(action, CloseSession):
            self._close_session(action.server_id)
        elif isinstance(action, StartDownload):
            self._cancel_download()
            self._download = asyncio.get_running_loop().create_task(
                self._fetch(action), name="lwm2m firmware download"
            )
        elif isinstance(action, CancelDownload):
            self._cancel_download()
        elif isinstance(action, ResetTransport):
            for server_id in list(self._sessions):
                self._close_session(server_id)
            self._cancel_download()
            self._cancel_exchanges()
            for task in list(self._tasks):
                task.cancel()
            self._spawn(self._close_context(), "lwm2m reset")

    def _report(self, fn: Callable[[float], object]) -> None:
        """Feed a result to the client and flush the module (its URCs, its new actions)."""
        self.host.apply(fn)

    # ---------------------------------------------------------------- context
    async def _ensure_context(self, ip: str, *, scheme: str) -> aiocoap.Context:
        """The module's context, with what ``scheme`` needs: its UDP socket for plain CoAP,
        the DTLS interface for coaps (a module holds only the one it uses: a DTLS-only module
        just its session's socket, a plain one no DTLS machinery)."""
        async with self._context_lock:
            loopback = ipaddress.ip_address(ip).is_loopback
            if self._context is not None and self._bound_loopback and not loopback:
                raise OSError(f"the module's socket is bound to loopback; {ip} is not")
            if self._context is None:
                self._context = self._new_context(ip, loopback)
            if scheme == "coap" and self._udp is None:
                self._udp = await self._add_udp(self._context, self._bind_host)
            if scheme == "coaps" and self._dtls is None:
                self._dtls = await DtlsClientInterface.create(
                    self._context,
                    bind_host=self._bind_host if self._bound_loopback else None,
                    rehandshake_timeout=self.client.settings.timing.dtls_handshake_timeout,
                )
                self._dtls_requests = self._context.request_interfaces[-1]
                self._install_sleep_filter(self._dtls_requests)
            return self._context

    def _new_context(self, ip: str, loopback: bool) -> aiocoap.Context:
        family_v6 = ":" in ip
        self._bind_host = ("::1" if family_v6 else "127.0.0.1") if loopback else "::"
        self._bound_loopback = loopback
        # Built by hand rather than by create_server_context: its udp6 binding resolves the
        # bind address in a worker thread, checks the route on yet another socket and sets
        # SO_REUSEPORT; a fleet of modules pays for that thousands of times at once.
        return aiocoap.Context(
            loop=asyncio.get_running_loop(), serversite=self._root, loggername=LOGGER_NAME
        )

    async def _add_udp(self, context: aiocoap.Context, bind_host: str) -> MessageInterfaceUDP6:
        sock = udp6_socket((bind_host, 0))

        async def construct(manager: Any) -> MessageInterfaceUDP6:
            return await udp6_interface(sock, manager, context)

        interface = await append_message_interface(context, construct)
        assert isinstance(interface, MessageInterfaceUDP6)
        self._udp_requests = context.request_interfaces[-1]
        self._install_sleep_filter(self._udp_requests)
        return interface

    async def _close_context(self) -> None:
        async with self._context_lock:
            context, self._context = self._context, None
            self._dtls = None
            self._udp = None
            self._udp_requests = self._dtls_requests = None
            if context is not None:
                with contextlib.suppress(Exception):
                    await context.shutdown()

    def _install_sleep_filter(self, interface: Any) -> None:
        """Put the filter in front of one request interface's message manager (and, on the
        udp6 transport, the guard that counts undecodable datagrams)."""
        manager = getattr(interface, "token_interface", None)
        dispatch = getattr(manager, "dispatch_message", None)
        if manager is None or dispatch is None:
            return
        manager.dispatch_message = functools.partial(self._dispatch_unless_asleep, dispatch)
        transport = getattr(manager, "message_interface", None)
        if hasattr(transport, "datagram_msg_received"):  # udp6, not our DTLS interface
            guard_udp_interface(transport, self.junk)
        bound_duplicate_detection(manager)
        send = getattr(transport, "send", None)
        if transport is not None and send is not None:
            transport.send = functools.partial(self._send_noting_notifications, send)

    def _send_noting_notifications(
        self, send: Callable[[aiocoap.Message], None], message: aiocoap.Message
    ) -> None:
        # Response codes are 2.00-5.31 (RFC 7252 §12.1.2); compared as numbers first, so a
        # request (every Update) costs no option lookup.
        code = message.code
        if 64 <= code < 192 and message.mid and message.opt.observe is not None:
            self._notified[(_peer(message.remote), message.mid)] = bytes(message.token)
            while len(self._notified) > MAX_NOTED_NOTIFICATIONS:
                self._notified.popitem(last=False)
        send(message)

    def _dispatch_unless_asleep(
        self, dispatch: Callable[[aiocoap.Message], None], message: aiocoap.Message
    ) -> None:
        if message.mtype is RST and message.code is Code.EMPTY:
            token = self._notified.pop((_peer(message.remote), message.mid), None)
            queue = self._notifications.get(token) if token is not None else None
            if queue is not None:
                log.debug("RST to a notification: observation %s ends", token)
                queue.put_nowait((CoapResponse(code=0), False))  # ended by the server
        if 0 < message.code < 32:  # a request (RFC 7252 §12.1.1); numbers compare in C
            session = self._session_of(message.remote)
            if session is not None and not session.reachable:
                log.debug("asleep: dropping %s from server %s", message, session.server_id)
                return
        dispatch(message)

    def _session_of(self, remote: Any) -> Session | None:
        for session in self._sessions.values():
            if session.connection is not None:
                if remote is session.connection:
                    return session
                continue
            sockaddr = getattr(remote, "sockaddr", None)
            if (
                session.scheme == "coap"
                and sockaddr is not None
                and _plain_ip(str(sockaddr[0])) == session.ip
                and sockaddr[1] == session.port
            ):
                return session
        return None

    # --------------------------------------------------------------- sessions
    async def _prepare(self, action: PrepareSession) -> None:
        loop = asyncio.get_running_loop()
        error: str | None = None
        try:
            ip = _literal_ip(action.host)
            if ip is None:  # a name: resolved here once, not on every send
                infos = await loop.getaddrinfo(action.host, action.port, type=socket.SOCK_DGRAM)
                ip = _plain_ip(str(infos[0][4][0]))
            await self._ensure_context(ip, scheme=action.scheme)
            self._close_session(action.server_id)
            session = Session(
                server_id=action.server_id, scheme=action.scheme, ip=ip, port=action.port
            )
            if action.scheme == "coap" and self._udp is not None:
                session.remote = UdpRemote(_v6_sockaddr(ip, action.port), self._udp)
            self._sessions[action.server_id] = session
        except (OSError, UnicodeError, ValueError) as exc:
            error = f"{action.host}:{action.port}: {exc}"
            if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS:
                # Not the server's fault: say so where the operator looks (the URC is the
                # usual "initial","failed" and the back-off retries).
                log.warning(
                    "module %s: no socket for LwM2M server %d: %s",
                    self.host.module.identity.imei,
                    action.server_id,
                    exc.strerror or exc,
                )
        self._report(
            lambda now: self.client.session_prepared(
                action.server_id, action.attempt, now, error=error
            )
        )

    async def _handshake(self, action: Handshake) -> None:
        session = self._sessions.get(action.server_id)
        error: str | None = None
        try:
            if session is None or self._dtls is None:
                raise OSError("no session to shake hands on")
            session.connection = await self._dtls.connect(
                session.ip,
                session.port,
                identity=action.identity,
                key=action.key,
                cipher_suites=self.client.settings.dtls_cipher_suites,
                timeout=action.timeout,
            )
        except (OSError, ValueError) as exc:  # DtlsHandshakeError and TimeoutError are OSErrors
            error = str(exc) or type(exc).__name__
        if (
            session is not None
            and self._sessions.get(action.server_id) is not session
            and session.connection is not None
        ):  # the session was closed while the handshake ran
            session.connection.close()
            session.connection = None
        self._report(
            lambda now: self.client.handshake_done(
                action.server_id, action.attempt, now, error=error
            )
        )

    def _close_session(self, server_id: int) -> None:
        session = self._sessions.pop(server_id, None)
        if session is None:
            return
        for token in session.tokens:
            queue = self._notifications.get(token)
            if queue is not None:
                queue.put_nowait((CoapResponse(code=0), True))  # ends the observation quietly
        if session.connection is not None:
            session.connection.close()
            session.connection = None

    # ------------------------------------------------------- client requests
    def _exchange(self, action: SendRequest) -> bool:
        """Send the request as an :class:`Exchange` on the session's request interface; False
        when it needs aiocoap's block-wise wrapper (a body past one message: RFC 7959 Block1)
        or there is no session yet (``_request`` then reports why)."""
        session = self._sessions.get(action.server_id)
        context = self._context
        if session is None or context is None:
            return False
        if session.connection is not None:
            interface = self._dtls_requests
        else:
            interface = self._udp_requests if session.remote is not None else None
        if interface is None:
            return False
        message = self._message(session, action.request)
        if message.payload and not fits_one_message(message):  # (no body always fits)
            return False
        outcome = functools.partial(self._exchange_ended, action)
        if self._deadlines is None:
            self._deadlines = LoopTimers.of(asyncio.get_running_loop())
        exchange = Exchange(context, interface, message, action.timeout, outcome, self._deadlines)
        if not exchange.done:
            self._exchanges.add(exchange)
        return True

    def _exchange_ended(
        self,
        action: SendRequest,
        exchange: Exchange,
        response: aiocoap.Message | None,
        error: BaseException | None,
    ) -> None:
        self._exchanges.discard(exchange)
        self._report_outcome(action, response, error)

    def _cancel_exchanges(self) -> None:
        for exchange in list(self._exchanges):
            exchange.cancel()
        self._exchanges.clear()

    def _report_outcome(
        self, action: SendRequest, response: aiocoap.Message | None, error: BaseException | None
    ) -> None:
        if response is None:
            if not isinstance(error, OSError | TimeoutError | coap_error.Error):
                log.error("LwM2M request %s failed", action.request_id, exc_info=error)
            reason = (str(error) or type(error).__name__) if error is not None else "no response"
            self._report(lambda now: self.client.request_failed(action.request_id, reason, now))
            return
        # The options by number (one lookup each) rather than by aiocoap's views: an
        # Update's answer (2.04) carries none.
        get_option = response.opt.get_option
        content_format = get_option(OptionNumber.CONTENT_FORMAT)
        location_path = get_option(OptionNumber.LOCATION_PATH)
        if response.payload or content_format or location_path:
            result = CoapResponse(
                code=int(response.code),
                payload=bytes(response.payload),
                content_format=int(content_format[0].value) if content_format else None,
                location_path=tuple(o.value for o in location_path) if location_path else (),
            )
        else:  # a bare code (an Update's 2.04): one shared value per code
            result = _bare_response(int(response.code))
        self.host.apply(
            functools.partial(self.client.response_received, action.request_id, result)
        )

    async def _request(self, action: SendRequest) -> None:
        session = self._sessions.get(action.server_id)
        context = self._context
        try:
            if session is None or context is None:
                raise OSError("no session")
            message = self._message(session, action.request)
            response = await asyncio.wait_for(
                context.request(message).response, timeout=action.timeout
            )
        except (OSError, TimeoutError, coap_error.Error) as exc:
            self._report_outcome(action, None, exc)
            return
        self._report_outcome(action, response, None)

    def _message(self, session: Session, request: CoapRequest) -> aiocoap.Message:
        # The session's remote, not a lookup by URI: aiocoap would resolve the address on
        # every send (getaddrinfo in a worker thread, then a route check on a new socket).
        # With the remote known, the path and query go straight into their options (the
        # server is an IP literal: no Uri-Host, RFC 7252 §6.4 step 3).
        remote = session.connection if session.connection is not None else session.remote
        if remote is not None:
            message = aiocoap.Message(payload=request.payload, transport_tuning=self._tuning)
            message.code = _request_code(request.method)
            message.opt = self._options(session, request)
            message.remote = remote
            return message
        path = "/".join(quote(segment, safe="") for segment in request.path)
        uri = f"{session.base}/{path}"
        if request.query:
            uri += "?" + "&".join(quote(q, safe="=") for q in request.query)
        message = aiocoap.Message(
            code=Code(request.method),
            uri=uri,
            payload=request.payload,
            transport_tuning=self._tuning,
        )
        if request.content_format is not None:
            message.opt.content_format = request.content_format
        return message

    def _options(self, session: Session, request: CoapRequest) -> PreparedOptions:
        """The request's Uri-Path, Uri-Query and Content-Format options: built once for the
        requests a session repeats (an Update's path is its registration's location until a
        new Register moves it), a copy for each message."""
        key = (request.path, request.query, request.content_format)
        cached = session.options
        if cached is None or cached[0] != key:
            options = PreparedOptions()
            options.uri_path = request.path
            options.uri_query = request.query
            if request.content_format is not None:
                options.content_format = request.content_format
            cached = session.options = (key, options)
        return cached[1].copy()

    # ------------------------------------------------------- server requests
    async def serve(self, pipe: Pipe, block1: Block1Spool, block2: Block2Cache) -> None:
        """Answer one request from a server (the root resource's render_to_pipe)."""
        request = pipe.request
        session = self._session_of(request.remote)
        self.requests_served += 1
        try:
            if request.opt.block1 is not None:
                request = block1.feed_and_take(request)
            coap_request = _to_request(request)
        except coap_error.RenderableError as exc:
            pipe.add_response(exc.to_message(), is_last=True)
            return
        server_id = session.server_id if session is not None else None

        def handle(now: float) -> CoapResponse:
            return self.client.handle_request(server_id, coap_request, now)

        if coap_request.observe == 0:
            response = self.host.apply(handle)
            if response.observe and session is not None:
                await self._observe(pipe, session, coap_request.token, response)
                return
            pipe.add_response(_to_message(response), is_last=True)
            return

        async def render() -> aiocoap.Message:
            return _to_message(self.host.apply(handle))

        try:
            message = await block2.extract_or_insert(request, render)
        except coap_error.RenderableError as exc:
            message = exc.to_message()
        if request.opt.block1 is not None:
            message.opt.block1 = request.opt.block1
        pipe.add_response(message, is_last=True)

    async def _observe(
        self, pipe: Pipe, session: Session, token: bytes, first: CoapResponse
    ) -> None:
        """RFC 7641: the first answer carries Observe 0, each notification the next number;
        an error code or the server's loss of interest ends it."""
        queue: asyncio.Queue[tuple[CoapResponse, bool]] = asyncio.Queue()
        self._notifications[token] = queue
        session.tokens.add(token)
        ended_here = False
        try:
            message = _to_message(first)
            message.opt.observe = self._next_observe_number()
            pipe.add_response(message, is_last=False)
            while True:
                response, last = await queue.get()
                if response.code == 0:
                    # last: the session closed (the client knows); else an RST (tell it).
                    ended_here = last
                    return
                message = _to_message(response)
                message.transport_tuning = self._notify_tuning
                if not last and response.code >> 5 == 2:
                    message.opt.observe = self._next_observe_number()
                else:
                    last = True
                pipe.add_response(message, is_last=last)
                if last:
                    ended_here = True
                    return
        finally:
            if self._notifications.get(token) is queue:
                del self._notifications[token]
            session.tokens.discard(token)
            if not ended_here:
                self.host.apply(lambda now: self.client.observation_ended(token, now))

    def _next_observe_number(self) -> int:
        """RFC 7641 §4.4: one increasing 24-bit counter for all notifications of the device.
        It starts at 1: some observers (node-coap) drop a first answer numbered 0."""
        self._observe_number = self._observe_number % ((1 << 24) - 1) + 1
        return self._observe_number

    # -------------------------------------------------------------- firmware
    def _cancel_download(self) -> None:
        if self._download is not None:
            self._download.cancel()
            self._download = None

    async def _fetch(self, action: StartDownload) -> None:
        data: bytes | None = None
        error: DownloadError | None = None
        try:
            scheme = urlsplit(action.uri).scheme
            if scheme == "coap":
                data = await asyncio.wait_for(self._fetch_coap(action), DOWNLOAD_TIMEOUT)
            elif scheme in ("http", "https"):
                data = await asyncio.wait_for(
                    _fetch_http(action.uri, action.max_bytes), DOWNLOAD_TIMEOUT
                )
            else:
                error = DownloadError.PROTOCOL
        except _TooLarge:
            error = DownloadError.TOO_LARGE
        except _Refused:
            error = DownloadError.NOT_FOUND
        except (OSError, TimeoutError, ValueError, coap_error.Error, ssl.SSLError):
            error = DownloadError.CONNECTION
        self._download = None
        self._report(lambda now: self.client.download_finished(now, data=data, error=error))

    async def _fetch_coap(self, action: StartDownload) -> bytes:
        parts = urlsplit(action.uri)
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or 5683, type=socket.SOCK_DGRAM
        )
        context = await self._ensure_context(_plain_ip(str(infos[0][4][0])), scheme="coap")
        message = aiocoap.Message(code=Code.GET, uri=action.uri, transport_tuning=self._tuning)
        response = await context.request(message).response  # block2 is reassembled here
        if not response.code.is_successful():
            raise _Refused(str(response.code))
        if len(response.payload) > action.max_bytes:
            raise _TooLarge()
        return bytes(response.payload)


class _TooLarge(Exception):
    pass


class _Refused(Exception):
    pass


async def _fetch_http(uri: str, max_bytes: int) -> bytes:
    """A plain HTTP/1.1 GET (RFC 9112) with Content-Length, chunked or close-delimited bodies."""
    parts = urlsplit(uri)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    context = ssl.create_default_context() if secure else None
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n"
            "User-Agent: quecemu-lwm2m\r\n\r\n".encode("ascii")
        )
        await writer.drain()
        status = (await reader.readline()).decode("latin-1").split()
        if len(status) < 2 or not status[1].isdigit():
            raise ValueError("not an HTTP response")
        headers: dict[str, str] = {}
        while (line := (await reader.readline()).decode("latin-1").strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status[1] != "200":
            raise _Refused(f"HTTP {status[1]}")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    break
                body.extend(await reader.readexactly(size))
                await reader.readline()
                if len(body) > max_bytes:
                    raise _TooLarge()
            return bytes(body)
        if "content-length" in headers:
            length = int(headers["content-length"])
            if length > max_bytes:
                raise _TooLarge()
            return await reader.readexactly(length)
        rest = await reader.read(max_bytes + 1)
        if len(rest) > max_bytes:
            raise _TooLarge()
        return rest
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


@functools.cache
def _bare_response(code: int) -> CoapResponse:
    """A response with nothing but its code (frozen: one instance serves every time)."""
    return CoapResponse(code=code)


@functools.cache
def _request_code(method: int) -> Code:
    """aiocoap's code for a method number, looked up once (Code(...) is two Python calls)."""
    return Code(method)


def _format_number(message: aiocoap.Message) -> int | None:
    cf = message.opt.content_format
    return None if cf is None else int(cf)


def _to_request(message: aiocoap.Message) -> CoapRequest:
    accept = message.opt.accept
    return CoapRequest(
        method=int(message.code),
        path=tuple(message.opt.uri_path),
        query=tuple(message.opt.uri_query),
        payload=bytes(message.payload),
        content_format=_format_number(message),
        accept=None if accept is None else int(accept),
        observe=message.opt.observe,
        token=bytes(message.token),
    )


def _to_message(response: CoapResponse) -> aiocoap.Message:
    try:
        code = Code(response.code)
    except ValueError:
        code = Code(INTERNAL_SERVER_ERROR)
    message = aiocoap.Message(code=code, payload=response.payload)
    if response.content_format is not None:
        message.opt.content_format = response.content_format
    if response.location_path:
        message.opt.location_path = response.location_path
    return message


def create_service(host: ModuleHost) -> CoapAdapter | None:
    """The CoAP adapter of the module's client (one aiocoap context per module); none for a
    profile whose LwM2M section turns the client off."""
    try:
        client = client_for(host.module)
    except OperationNotSupported:
        return None
    return CoapAdapter(host, client)
