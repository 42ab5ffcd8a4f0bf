"""The asyncio adapter: :class:`LwM2MServer` runs the sans-I/O cores on aiocoap.

It owns one aiocoap context for the LwM2M server listeners (plain CoAP and/or DTLS-PSK) and,
if asked, a second one for a dedicated bootstrap listener. A single path-capable root resource
per context dispatches the client-initiated interfaces (``/rd``, ``/rd/{id}``, ``/bs``) to
:class:`~emulator.server.registration.RegistrationStore` and the bootstrap runner, renders
their errors at one place, and the public ``read``/``write``/... coroutines send the requests
of :mod:`emulator.server.operations` back to the client over the address (and DTLS session) it
last registered or updated from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiocoap import Code, Context, Message, resource
from aiocoap import error as coap_error

from emulator.lwm2m.errors import BadRequest, CodecError, LwM2MError, MethodNotAllowed, NotFound
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.linkformat import Link, parse_links
from emulator.lwm2m.model import Content
from emulator.lwm2m.paths import LwM2MPath
from emulator.lwm2m.registry import ObjectRegistry, default_registry

from . import operations
from .bootstrap import BootstrapConfig, bootstrap_requests, parse_bootstrap_query
from .credentials import PskClaim, PskCredentials, PskStore, parse_psk_key
from .errors import (
    BadDeviceResponse,
    DeviceErrorResponse,
    DeviceTimeout,
    Forbidden,
    NotRegistered,
    ObservationClosed,
    ServerApiError,
    ServiceUnavailable,
)
from .events import (
    Awake,
    BootstrapFailed,
    BootstrapFailure,
    BootstrapFinished,
    BootstrapRequested,
    Deregistered,
    Expired,
    Notification,
    ObservationEndCause,
    ObservationEnded,
    Registered,
    ServerEvent,
    Sleeping,
)
from .operations import DeviceRequest, WriteValue
from .registration import (
    DEFAULT_AWAKE_TIME,
    DEFAULT_MAX_LINK_BYTES,
    Registration,
    RegistrationStore,
)
from .text import printable
from .transport import (
    Listener,
    ObservationExchange,
    add_dtls_listener,
    add_udp_listener,
    send_with_token,
    start_observation,
)

__all__ = ["DeviceResponse", "LwM2MServer", "Observation", "Subscription"]

log = logging.getLogger("emulator.server")

Address = tuple[str, int]
EventT = TypeVar("EventT", bound=ServerEvent)

#: How many events :attr:`LwM2MServer.events` keeps for a caller that never reads it.
_EVENT_QUEUE_LIMIT = 10_000


class _RoutineTransportNoise(logging.Filter):
    """Drops two aiocoap warnings that describe normal operation, not problems: a DTLS client
    ending its session with close_notify (alert level 1, code 0, RFC 6347 §4.1.2 / RFC 5246
    §7.2.1) and a late error report while a context shuts down."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            message == "Unhandled alert level 1 code 0"
            or message.startswith("Internal shutdown sequence mismatch")
        )


_COAP_LOG = logging.getLogger("emulator.server.coap")
_COAP_LOG.addFilter(_RoutineTransportNoise())


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceResponse:
    """A client's raw answer (from :meth:`LwM2MServer.send`)."""

    code: int
    content_format: int | None
    payload: bytes
    location_path: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Peer:
    """Where a client is reached: the context it talked to and its remote (for DTLS the
    session; holding it keeps the session alive, stack-notes.md)."""

    context: Context
    remote: Any


class Subscription:
    """Events from the moment of subscribing, in order (an ``async for`` iterator)."""

    def __init__(self, server: LwM2MServer) -> None:
        self._server = server
        self.queue: asyncio.Queue[ServerEvent] = asyncio.Queue()

    async def get(self, timeout: float | None = None) -> ServerEvent:
        """The next event; ``TimeoutError`` after ``timeout`` seconds."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def wait_for(
        self, predicate: Callable[[ServerEvent], bool], timeout: float | None
    ) -> ServerEvent:
        """The next event ``predicate`` accepts (earlier ones are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.queue.get()
                if predicate(event):
                    return event

    def close(self) -> None:
        """Stop receiving events."""
        self._server._subscribers.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[ServerEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ServerEvent]:
        while True:
            yield await self.queue.get()


class Observation:
    """An observation the server holds on a client's path (TS 1.0 §5.5).

    ``initial`` is the content of the first response. ``async for notification in
    observation`` yields :class:`~emulator.server.events.Notification` events until the
    observation ends; :meth:`next` waits for one with a timeout.
    """

    def __init__(
        self, server: LwM2MServer, endpoint: str, path: LwM2MPath, fmt: ContentFormat
    ) -> None:
        self.endpoint = endpoint
        self.path = path
        self.content_format = fmt
        self.initial: Content | None = None
        self.token = b""
        #: Why it ended, or ``None`` while it is active.
        self.end_cause: ObservationEndCause | None = None
        self.end_detail = ""
        self._server = server
        self._exchange: ObservationExchange | None = None
        self._queue: asyncio.Queue[Notification | None] = asyncio.Queue()
        self._last_sequence: int | None = None
        self._last_time = 0.0

    @property
    def active(self) -> bool:
        """True until the observation is cancelled or ends."""
        return self.end_cause is None

    @property
    def end_reason(self) -> str | None:
        """Why it ended as text, or ``None`` while it is active."""
        if self.end_cause is None:
            return None
        return f"{self.end_cause}: {self.end_detail}" if self.end_detail else str(self.end_cause)

    async def next(self, timeout: float | None = None) -> Notification:
        """The next notification (those that arrived before the end are still returned).
        ``TimeoutError`` after ``timeout`` seconds; :class:`ObservationClosed` once the
        observation has ended."""
        item = await asyncio.wait_for(self._queue.get(), timeout)
        if item is None:
            self._queue.put_nowait(None)  # later calls see the end too
            raise ObservationClosed(self.end_reason or "ended")
        return item

    def __aiter__(self) -> AsyncIterator[Notification]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Notification]:
        while True:
            try:
                yield await self.next()
            except ObservationClosed:
                return

    async def cancel(self, *, active: bool = True, timeout: float | None = None) -> None:
        """Cancel it (see :meth:`LwM2MServer.cancel_observe`)."""
        await self._server.cancel_observe(self, active=active, timeout=timeout)

    def _is_fresh(self, sequence: int | None, now: float) -> bool:
        # RFC 7641 §3.4: a notification is newer if its 24-bit sequence number is ahead
        # (modulo wrap) or more than 128 s passed since the last one.
        if sequence is None or self._last_sequence is None:
            return True
        last = self._last_sequence
        return (
            (last < sequence < last + 2**23)
            or (sequence < last and last - sequence > 2**23)
            or now > self._last_time + 128
        )

    def _end(self, cause: ObservationEndCause, detail: str = "") -> bool:
        if self.end_cause is not None:
            return False
        self.end_cause, self.end_detail = cause, detail
        self._queue.put_nowait(None)
        return True


class _RootResource(resource.Resource):  # type: ignore[misc]
    """Every request to one context lands here with its whole Uri-Path (a ``Site`` would hand
    children only the path below their prefix)."""

    def __init__(self, server: LwM2MServer, *, serves_registration: bool) -> None:
        super().__init__()
        self._server = server
        self._serves_registration = serves_registration
        self.context: Context | None = None

    async def render(self, request: Message) -> Message:
        try:
            return self._dispatch(request)
        except LwM2MError as err:
            # The one place client-request errors become CoAP answers.
            log.info(
                "%s %s from %s: %s %s",
                request.code,
                _uri(request),
                _where(request),
                err.code_text,
                printable(str(err)),
            )
            answer = Message(code=Code(err.code), payload=str(err).encode())
            if isinstance(err, ServiceUnavailable):
                answer.opt.max_age = err.max_age
            return answer

    def _dispatch(self, request: Message) -> Message:
        path = tuple(request.opt.uri_path)
        method = request.code
        if self._serves_registration and path[:1] == ("rd",):
            if len(path) == 1:
                if method != Code.POST:
                    raise MethodNotAllowed("/rd takes POST (Register)")
                return self._server._handle_register(self, request)
            if len(path) == 2:
                if method == Code.POST:
                    return self._server._handle_update(self, request, path[1])
                if method == Code.DELETE:
                    return self._server._handle_deregister(request, path[1])
                raise MethodNotAllowed("/rd/{id} takes POST (Update) or DELETE (De-register)")
        elif path == ("bs",):
            if method != Code.POST:
                raise MethodNotAllowed("/bs takes POST (Bootstrap-Request)")
            return self._server._handle_bootstrap_request(self, request)
        raise NotFound(f"no such resource: /{'/'.join(path)}")


def _uri(request: Message) -> str:
    """The request's path and query, escaped for a log line (the peer chose them)."""
    query = "&".join(request.opt.uri_query)
    return printable("/" + "/".join(request.opt.uri_path) + (f"?{query}" if query else ""))


def _where(request: Message) -> str:
    return str(getattr(request.remote, "hostinfo", request.remote))


def _claimed_endpoint(remote: Any) -> str | None:
    """The endpoint of the PSK the remote's DTLS session used (``None`` over plain CoAP)."""
    for claim in getattr(remote, "authenticated_claims", None) or ():
        if isinstance(claim, PskClaim):
            return claim.endpoint
    return None


def _as_path(path: str | LwM2MPath) -> LwM2MPath:
    return path if isinstance(path, LwM2MPath) else LwM2MPath.parse(path)


def _diagnostic(payload: bytes) -> str:
    return payload.decode("utf-8", "replace")[:200]


class LwM2MServer:
    """An LwM2M server (TS 1.0 registration, bootstrap, device management, information
    reporting, queue mode, DTLS-PSK) for tests, scenarios and ``quecemu server``.

    Start it with :meth:`start`; see the package docstring of :mod:`emulator.server`.
    """

    def __init__(
        self,
        *,
        registry: ObjectRegistry | None = None,
        awake_time: float = DEFAULT_AWAKE_TIME,
        request_timeout: float = 20.0,
        supported_versions: Iterable[str] = ("1.0", "1.1"),
        max_registrations: int | None = None,
        max_link_bytes: int | None = DEFAULT_MAX_LINK_BYTES,
    ) -> None:
        self.registry = registry or default_registry()
        self.request_timeout = request_timeout
        self.credentials = PskStore()
        self.bootstrap_configs: dict[str, BootstrapConfig] = {}
        #: Every event in order (the oldest are dropped past 10 000 unread events).
        self.events: asyncio.Queue[ServerEvent] = asyncio.Queue()
        self.events_dropped = 0
        self.listeners: dict[str, Listener] = {}
        self._store = RegistrationStore(
            supported_versions=tuple(supported_versions),
            psk_required=self.credentials.__contains__,
            awake_time=awake_time,
            max_registrations=max_registrations,
            max_link_bytes=max_link_bytes,
        )
        self._loop = asyncio.get_running_loop()
        self._contexts: list[Context] = []
        self._peers: dict[str, _Peer] = {}
        self._observations: dict[str, dict[bytes, Observation]] = {}
        self._awake_signals: dict[str, asyncio.Event] = {}
        self._bootstrap_tasks: dict[str, asyncio.Task[None]] = {}
        self._subscribers: set[Subscription] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._stopped = False

    # -- life cycle ---------------------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        *,
        coap: Address | None = ("127.0.0.1", 0),
        coaps: Address | None = None,
        bootstrap: Address | None = None,
        bootstrap_coaps: Address | None = None,
        registry: ObjectRegistry | None = None,
        psk: Mapping[str, tuple[str | bytes, str | bytes]] | None = None,
        bootstrap_configs: Mapping[str, BootstrapConfig] | None = None,
        awake_time: float = DEFAULT_AWAKE_TIME,
        request_timeout: float = 20.0,
        supported_versions: Iterable[str] = ("1.0", "1.1"),
        max_registrations: int | None = None,
        max_link_bytes: int | None = DEFAULT_MAX_LINK_BYTES,
    ) -> LwM2MServer:
        """Bind the listeners and return the running server.

        ``coap``/``coaps`` serve the registration interface (and ``/bs``); ``bootstrap`` /
        ``bootstrap_coaps`` add a listener that serves only the bootstrap interface. Port 0
        picks a free port (read it back from :attr:`coap_port` ...). DTLS listeners need a
        specific address (not ``0.0.0.0``). ``psk`` maps endpoint → (identity, key as hex
        text or bytes).
        """
        if coap is None and coaps is None and bootstrap is None and bootstrap_coaps is None:
            raise ValueError("give at least one listener address")
        server = cls(
            registry=registry,
            awake_time=awake_time,
            request_timeout=request_timeout,
            supported_versions=supported_versions,
            max_registrations=max_registrations,
            max_link_bytes=max_link_bytes,
        )
        for endpoint, (identity, key) in (psk or {}).items():
            server.set_psk(endpoint, identity, key)
        try:
            if coap is not None or coaps is not None:
                context = await server._new_context(serves_registration=True)
                if coap is not None:
                    server.listeners["coap"] = await add_udp_listener(context, coap)
                if coaps is not None:
                    server.listeners["coaps"] = await add_dtls_listener(
                        context, coaps, server.credentials
                    )
            if bootstrap is not None or bootstrap_coaps is not None:
                context = await server._new_context(serves_registration=False)
                if bootstrap is not None:
                    server.listeners["bootstrap"] = await add_udp_listener(context, bootstrap)
                if bootstrap_coaps is not None:
                    server.listeners["bootstrap_coaps"] = await add_dtls_listener(
                        context, bootstrap_coaps, server.credentials
                    )
            # After binding: a config pointing at our own DTLS listener adds its PSK.
            for endpoint, config in (bootstrap_configs or {}).items():
                server.set_bootstrap_config(endpoint, config)
        except BaseException:
            await server.stop()
            raise
        for name, listener in server.listeners.items():
            log.info(
                "listening (%s) on %s://%s:%d", name, listener.scheme, listener.host, listener.port
            )
        return server

    async def _new_context(self, *, serves_registration: bool) -> Context:
        root = _RootResource(self, serves_registration=serves_registration)
        context = Context(loop=self._loop, serversite=root, loggername="emulator.server.coap")
        root.context = context
        self._contexts.append(context)
        return context

    async def stop(self) -> None:
        """End observations and bootstrap runs, close the sockets. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
        for task in self._bootstrap_tasks.values():
            task.cancel()
        for endpoint in list(self._observations):
            self._end_observations(endpoint, ObservationEndCause.SERVER_STOPPED)
        for signal in self._awake_signals.values():
            signal.set()
        for context in self._contexts:
            if context.request_interfaces:  # aiocoap cannot shut down a context without any
                await context.shutdown()
        self._contexts.clear()
        self._peers.clear()

    async def __aenter__(self) -> LwM2MServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _port(self, name: str) -> int:
        if name not in self.listeners:
            raise LookupError(f"the server has no {name} listener")
        return self.listeners[name].port

    @property
    def coap_port(self) -> int:
        """Port of the plain CoAP LwM2M listener."""
        return self._port("coap")

    @property
    def coaps_port(self) -> int:
        """Port of the DTLS LwM2M listener."""
        return self._port("coaps")

    @property
    def bootstrap_port(self) -> int:
        """Port of the dedicated plain CoAP bootstrap listener."""
        return self._port("bootstrap")

    @property
    def bootstrap_coaps_port(self) -> int:
        """Port of the dedicated DTLS bootstrap listener."""
        return self._port("bootstrap_coaps")

    def uri(self, name: str = "coap") -> str:
        """The URI of a listener, e.g. ``coap://127.0.0.1:40123``."""
        listener = self.listeners[name]
        host = f"[{listener.host}]" if ":" in listener.host else listener.host
        return f"{listener.scheme}://{host}:{listener.port}"

    # -- configuration ------------------------------------------------------------------------

    def set_psk(self, endpoint: str, identity: str | bytes, key: str | bytes) -> PskCredentials:
        """Give ``endpoint`` a PSK (``key`` as hex text or bytes). From now on the endpoint
        must register over DTLS with that identity; the next handshake uses the new key."""
        key_bytes = parse_psk_key(key) if isinstance(key, str) else bytes(key)
        return self.credentials.set(endpoint, identity, key_bytes)

    def remove_psk(self, endpoint: str) -> bool:
        """Forget ``endpoint``'s PSK."""
        return self.credentials.remove(endpoint)

    def set_bootstrap_config(self, endpoint: str, config: BootstrapConfig) -> None:
        """What ``endpoint`` receives when it sends a Bootstrap-Request.

        An account whose ``coaps://`` URI is this server's own DTLS listener also puts its PSK
        in the credential store, so the client can register with what it was given.
        """
        if not endpoint:
            raise ValueError("the endpoint name is empty")
        for account in config.servers:
            if account.psk_identity and account.psk_key and self._is_own_dtls_uri(account.uri):
                self.set_psk(endpoint, account.psk_identity, account.psk_key)
        self.bootstrap_configs[endpoint] = config

    def _is_own_dtls_uri(self, uri: str) -> bool:
        parts = urlsplit(uri)
        try:
            port = parts.port
        except ValueError:
            return False
        return any(
            listener.scheme == "coaps"
            and parts.scheme == "coaps"
            and parts.hostname == listener.host
            and port == listener.port
            for listener in self.listeners.values()
        )

    def remove_bootstrap_config(self, endpoint: str) -> bool:
        """Forget ``endpoint``'s bootstrap configuration."""
        return self.bootstrap_configs.pop(endpoint, None) is not None

    # -- state and waiting --------------------------------------------------------------------

    def registration(self, endpoint: str) -> Registration | None:
        """``endpoint``'s current registration, or ``None``."""
        return self._store.by_endpoint(endpoint)

    def registrations(self) -> tuple[Registration, ...]:
        """All current registrations."""
        return self._store.registrations()

    def is_awake(self, endpoint: str) -> bool:
        """True if a request to ``endpoint`` would be sent now (see queue mode)."""
        return self._store.is_awake(endpoint)

    def observations(self, endpoint: str) -> tuple[Observation, ...]:
        """``endpoint``'s active observations."""
        return tuple(self._observations.get(endpoint, {}).values())

    def subscribe(self) -> Subscription:
        """A new event stream from now on (use ``with server.subscribe() as events:``)."""
        subscription = Subscription(self)
        self._subscribers.add(subscription)
        return subscription

    async def wait_for(
        self, predicate: Callable[[ServerEvent], bool], timeout: float | None = 10.0
    ) -> ServerEvent:
        """The next event ``predicate`` accepts; ``TimeoutError`` after ``timeout``."""
        with self.subscribe() as subscription:
            return await subscription.wait_for(predicate, timeout)

    async def wait_event(
        self, kind: type[EventT], endpoint: str | None = None, timeout: float | None = 10.0
    ) -> EventT:
        """The next event of class ``kind`` (for ``endpoint``, if given)."""
        event = await self.wait_for(
            lambda e: isinstance(e, kind) and (endpoint is None or e.endpoint == endpoint),
            timeout,
        )
        assert isinstance(event, kind)
        return event

    async def wait_registered(self, endpoint: str, timeout: float | None = 10.0) -> Registration:
        """``endpoint``'s registration, waiting for it to register if it has not yet."""
        with self.subscribe() as subscription:
            current = self._store.by_endpoint(endpoint)
            if current is not None:
                return current
            event = await subscription.wait_for(
                lambda e: isinstance(e, Registered) and e.endpoint == endpoint, timeout
            )
        assert isinstance(event, Registered)
        return event.registration

    async def wait_deregistered(
        self, endpoint: str, timeout: float | None = 10.0
    ) -> Deregistered | Expired | None:
        """Wait until ``endpoint`` deregisters or expires (``None``: it was not registered)."""
        with self.subscribe() as subscription:
            if self._store.by_endpoint(endpoint) is None:
                return None
            event = await subscription.wait_for(
                lambda e: isinstance(e, Deregistered | Expired) and e.endpoint == endpoint,
                timeout,
            )
        assert isinstance(event, Deregistered | Expired)
        return event

    async def wait_awake(self, endpoint: str, timeout: float | None = 10.0) -> Registration:
        """Wait until requests to ``endpoint`` can be sent (at once unless it is a sleeping
        queue-mode client; then until its next Register/Update)."""
        deadline = None if timeout is None else self._loop.time() + timeout
        await self._wait_awake(endpoint, deadline, "wait-awake")
        registration = self._store.by_endpoint(endpoint)
        if registration is None:
            raise NotRegistered(endpoint)
        return registration

    # -- device management and information reporting ------------------------------------------

    async def read(
        self,
        endpoint: str,
        path: str | LwM2MPath,
        *,
        format: ContentFormat | None = None,
        timeout: float | None = None,
    ) -> Content:
        """Read (TS 1.0 §5.4.1) and return the decoded content."""
        target = _as_path(path)
        fmt = self._require(endpoint).default_format if format is None else format
        response = await self._device_request(endpoint, operations.read(target, fmt), timeout)
        return self._decode(endpoint, "read", response, target, fmt)

    async def write(
        self,
        endpoint: str,
        path: str | LwM2MPath,
        value: WriteValue,
        *,
        replace: bool = True,
        format: ContentFormat | None = None,
        timeout: float | None = None,
    ) -> None:
        """Write (TS 1.0 §5.4.3): replace (PUT) or, with ``replace=False``, partial update
        (POST) of an object instance. ``value`` is content, a bare value for a resource, or
        a mapping resource id → value for an instance."""
        target = _as_path(path)
        fmt = self._require(endpoint).default_format if format is None else format
        request = operations.write(target, value, fmt, self.registry, replace=replace)
        await self._device_request(endpoint, request, timeout)

    async def execute(
        self,
        endpoint: str,
        path: str | LwM2MPath,
        arguments: bytes | str = b"",
        *,
        timeout: float | None = None,
    ) -> None:
        """Execute (TS 1.0 §5.4.4)."""
        await self._device_request(endpoint, operations.execute(_as_path(path), arguments), timeout)

    async def discover(
        self, endpoint: str, path: str | LwM2MPath, *, timeout: float | None = None
    ) -> list[Link]:
        """Discover (TS 1.0 §5.4.2): the links (with attributes) the client reports."""
        target = _as_path(path)
        response = await self._device_request(endpoint, operations.discover(target), timeout)
        try:
            return parse_links(response.payload)
        except CodecError as exc:
            raise BadDeviceResponse(
                endpoint=endpoint, operation="discover", reason=str(exc)
            ) from exc

    async def write_attributes(
        self,
        endpoint: str,
        path: str | LwM2MPath,
        attributes: Mapping[str, float | None],
        *,
        timeout: float | None = None,
    ) -> None:
        """Write-Attributes (TS 1.0 §5.4.4), e.g. ``{"pmin": 1, "pmax": 10}``; a ``None``
        value removes that attribute."""
        await self._device_request(
            endpoint, operations.write_attributes(_as_path(path), attributes), timeout
        )

    async def create(
        self,
        endpoint: str,
        path: str | LwM2MPath,
        value: WriteValue,
        *,
        format: ContentFormat | None = None,
        timeout: float | None = None,
    ) -> LwM2MPath:
        """Create (TS 1.0 §5.4.5) on ``/o`` (the client picks the id) or ``/o/i``; returns
        the new instance's path."""
        target = _as_path(path)
        fmt = self._require(endpoint).default_format if format is None else format
        request = operations.create(target, value, fmt, self.registry)
        response = await self._device_request(endpoint, request, timeout)
        if response.location_path:
            try:
                return LwM2MPath.from_segments(response.location_path)
            except ValueError as exc:
                raise BadDeviceResponse(
                    endpoint=endpoint, operation="create", reason=str(exc)
                ) from exc
        if target.is_object_instance:
            return target
        raise BadDeviceResponse(
            endpoint=endpoint, operation="create", reason="2.01 without Location-Path"
        )

    async def delete(
        self, endpoint: str, path: str | LwM2MPath, *, timeout: float | None = None
    ) -> None:
        """Delete (TS 1.0 §5.4.6) an object instance."""
        await self._device_request(endpoint, operations.delete(_as_path(path)), timeout)

    async def send(
        self, endpoint: str, request: DeviceRequest, *, timeout: float | None = None
    ) -> DeviceResponse:
        """Send any :class:`~emulator.server.operations.DeviceRequest` and return the raw
        answer, whatever its code (for tests of odd cases)."""
        return await self._device_request(endpoint, request, timeout, check=False)

    async def observe(
        self,
        endpoint: str,
        path: str | LwM2MPath,
        *,
        format: ContentFormat | None = None,
        timeout: float | None = None,
    ) -> Observation:
        """Observe (TS 1.0 §5.5.1). Returns the :class:`Observation`; notifications arrive
        on it and as :class:`~emulator.server.events.Notification` events."""
        target = _as_path(path)
        fmt = self._require(endpoint).default_format if format is None else format
        deadline = self._deadline(timeout)
        await self._wait_awake(endpoint, deadline, "observe")
        peer = self._peers[endpoint]
        observation = Observation(self, endpoint, target, fmt)
        message = self._message(endpoint, operations.observe(target, fmt), peer)
        exchange = await start_observation(
            peer.context,
            message,
            on_notification=lambda m: self._on_notification(observation, m),
            on_end=lambda exc: self._on_observation_end(observation, exc),
        )
        observation._exchange = exchange
        observation.token = exchange.token
        try:
            async with asyncio.timeout_at(deadline):
                response = await asyncio.shield(exchange.response)
        except TimeoutError:
            exchange.forget()
            self._store.mark_sleeping(endpoint)
            self._pump()
            raise DeviceTimeout(
                endpoint=endpoint, operation="observe", reason="no answer"
            ) from None
        except (coap_error.Error, OSError) as exc:
            exchange.forget()
            raise DeviceTimeout(
                endpoint=endpoint, operation="observe", reason=str(exc) or type(exc).__name__
            ) from exc
        self._heard(endpoint)
        if response.code != Code.CONTENT:
            observation._end(ObservationEndCause.REFUSED)
            raise DeviceErrorResponse(
                endpoint=endpoint,
                operation="observe",
                code=int(response.code),
                diagnostic=_diagnostic(response.payload),
            )
        answer = DeviceResponse(
            code=int(response.code),
            content_format=response.opt.content_format,
            payload=bytes(response.payload),
        )
        try:
            observation.initial = self._decode(endpoint, "observe", answer, target, fmt)
        except BadDeviceResponse:
            exchange.forget()
            raise
        if response.opt.observe is None:
            observation._end(ObservationEndCause.NOT_OBSERVABLE)
        else:
            self._observations.setdefault(endpoint, {})[exchange.token] = observation
        return observation

    async def cancel_observe(
        self,
        observation_or_endpoint: Observation | str,
        path: str | LwM2MPath | None = None,
        *,
        active: bool = True,
        timeout: float | None = None,
    ) -> int:
        """Cancel observations: one :class:`Observation`, or all of an endpoint's on ``path``.

        ``active=True`` sends a GET with Observe=1 and the observation's token (TS 1.0 §5.5.3,
        RFC 7641 §3.6); ``active=False`` only forgets the token, so the client's next
        confirmable notification is answered with RST. Returns how many were cancelled.
        """
        if isinstance(observation_or_endpoint, Observation):
            targets = [observation_or_endpoint]
        else:
            if path is None:
                raise ValueError("give the path whose observations to cancel")
            target = _as_path(path)
            targets = [o for o in self.observations(observation_or_endpoint) if o.path == target]
        cancelled = 0
        for observation in targets:
            if not observation.active:
                continue
            cancelled += 1
            self._forget_observation(observation, ObservationEndCause.CANCELLED)
            if active:
                await self._cancel_actively(observation, timeout)
        return cancelled

    # -- the registration and bootstrap interfaces (called by _RootResource) ------------------

    def _handle_register(self, root: _RootResource, request: Message) -> Message:
        registration = self._store.register(
            request.opt.uri_query,
            bytes(request.payload),
            content_format=request.opt.content_format,
            address=_where(request),
            secure_endpoint=_claimed_endpoint(request.remote),
            now=self._loop.time(),
        )
        assert root.context is not None
        self._peers[registration.endpoint] = _Peer(root.context, request.remote)
        self._pump()
        return Message(code=Code.CREATED, location_path=("rd", registration.registration_id))

    def _handle_update(
        self, root: _RootResource, request: Message, registration_id: str
    ) -> Message:
        registration = self._store.update(
            registration_id,
            request.opt.uri_query,
            bytes(request.payload),
            content_format=request.opt.content_format,
            address=_where(request),
            secure_endpoint=_claimed_endpoint(request.remote),
            now=self._loop.time(),
        )
        assert root.context is not None
        # The client may come from a new port or DTLS session: answer there from now on.
        self._peers[registration.endpoint] = _Peer(root.context, request.remote)
        self._pump()
        return Message(code=Code.CHANGED)

    def _handle_deregister(self, request: Message, registration_id: str) -> Message:
        self._store.deregister(registration_id, secure_endpoint=_claimed_endpoint(request.remote))
        self._pump()
        return Message(code=Code.DELETED)

    def _handle_bootstrap_request(self, root: _RootResource, request: Message) -> Message:
        endpoint = parse_bootstrap_query(request.opt.uri_query)
        claimed = _claimed_endpoint(request.remote)
        if claimed is not None and claimed != endpoint:
            raise Forbidden(f"the DTLS identity belongs to endpoint {claimed!r}, not {endpoint!r}")
        # A PSK in the store is for registering; bootstrapping in the clear stays allowed (a
        # factory-fresh device often knows only a NoSec bootstrap account).
        config = self.bootstrap_configs.get(endpoint)
        if config is None:
            # TS 1.0 §5.2.7.1: 4.00 Bad Request for an unknown endpoint client name.
            raise BadRequest(f"no bootstrap configuration for endpoint {endpoint!r}")
        assert root.context is not None
        peer = _Peer(root.context, request.remote)
        running = self._bootstrap_tasks.pop(endpoint, None)
        if running is not None:
            running.cancel()
        self._publish(BootstrapRequested(endpoint=endpoint))
        self._bootstrap_tasks[endpoint] = self._loop.create_task(
            self._run_bootstrap(endpoint, peer, config), name=f"bootstrap of {endpoint}"
        )
        return Message(code=Code.CHANGED)

    async def _run_bootstrap(self, endpoint: str, peer: _Peer, config: BootstrapConfig) -> None:
        # The 2.04 to the Bootstrap-Request goes out first; then the server drives the client.
        await asyncio.sleep(0)
        try:
            for request in bootstrap_requests(config, self.registry):
                deadline = self._deadline(None)
                await self._exchange(
                    endpoint, peer, request, deadline, check=True, registered=False
                )
        except ServerApiError as exc:
            cause = (
                BootstrapFailure.NO_ANSWER
                if isinstance(exc, DeviceTimeout)
                else BootstrapFailure.DEVICE_ERROR
            )
            self._publish(BootstrapFailed(endpoint=endpoint, cause=cause, reason=str(exc)))
        except Exception as exc:  # a codec error in our own config: report, do not crash
            log.exception("bootstrap of %s failed", endpoint)
            self._publish(
                BootstrapFailed(
                    endpoint=endpoint,
                    cause=BootstrapFailure.CONFIGURATION,
                    reason=f"internal error: {exc}",
                )
            )
        else:
            self._publish(BootstrapFinished(endpoint=endpoint))
        finally:
            if self._bootstrap_tasks.get(endpoint) is asyncio.current_task():
                del self._bootstrap_tasks[endpoint]

    # -- sending ------------------------------------------------------------------------------

    def _require(self, endpoint: str) -> Registration:
        registration = self._store.by_endpoint(endpoint)
        if registration is None:
            raise NotRegistered(endpoint)
        return registration

    def _deadline(self, timeout: float | None) -> float:
        return self._loop.time() + (self.request_timeout if timeout is None else timeout)

    async def _wait_awake(self, endpoint: str, deadline: float | None, operation: str) -> None:
        while True:
            if self._store.by_endpoint(endpoint) is None:
                raise NotRegistered(endpoint)
            if self._store.is_awake(endpoint):
                return
            # Queue mode (TS 1.0 §5.3.1 binding Q): hold the request until the client is
            # heard from again.
            signal = self._awake_signals.setdefault(endpoint, asyncio.Event())
            try:
                async with asyncio.timeout_at(deadline):
                    await signal.wait()
            except TimeoutError:
                raise DeviceTimeout(
                    endpoint=endpoint,
                    operation=operation,
                    reason="the queue-mode client did not wake up in time",
                ) from None
            if self._stopped:
                raise DeviceTimeout(endpoint=endpoint, operation=operation, reason="stopped")

    async def _device_request(
        self,
        endpoint: str,
        request: DeviceRequest,
        timeout: float | None,
        *,
        check: bool = True,
    ) -> DeviceResponse:
        deadline = self._deadline(timeout)
        await self._wait_awake(endpoint, deadline, request.operation)
        peer = self._peers[endpoint]
        try:
            response = await self._exchange(endpoint, peer, request, deadline, check=check)
        except DeviceTimeout:
            self._store.mark_sleeping(endpoint)
            self._pump()
            raise
        self._heard(endpoint)
        return response

    def _message(self, endpoint: str | None, request: DeviceRequest, peer: _Peer) -> Message:
        path = request.path
        registration = self._store.by_endpoint(endpoint) if endpoint else None
        if registration is not None and registration.alternate_path != "/":
            # Objects live under the alternate path the client announced (TS 1.0 §5.3.1).
            prefix = tuple(s for s in registration.alternate_path.split("/") if s)
            path = prefix + path
        message = Message(
            code=Code(request.method),
            uri_path=path,
            uri_query=request.query,
            payload=request.payload,
        )
        if request.content_format is not None:
            message.opt.content_format = request.content_format
        if request.accept is not None:
            message.opt.accept = request.accept
        if request.observe is not None:
            message.opt.observe = request.observe
        message.remote = peer.remote
        return message

    async def _exchange(
        self,
        endpoint: str,
        peer: _Peer,
        request: DeviceRequest,
        deadline: float,
        *,
        check: bool,
        registered: bool = True,
    ) -> DeviceResponse:
        # Bootstrap requests address the client's objects directly: no registration (and so no
        # alternate path) is involved.
        message = self._message(endpoint if registered else None, request, peer)
        try:
            async with asyncio.timeout_at(deadline):
                response = await peer.context.request(message).response
        except TimeoutError:
            raise DeviceTimeout(
                endpoint=endpoint, operation=request.operation, reason="no answer in time"
            ) from None
        except (coap_error.Error, OSError) as exc:
            raise DeviceTimeout(
                endpoint=endpoint,
                operation=request.operation,
                reason=f"transport: {exc or type(exc).__name__}",
            ) from None
        code = int(response.code)
        if check and code not in request.success:
            raise DeviceErrorResponse(
                endpoint=endpoint,
                operation=request.operation,
                code=code,
                diagnostic=_diagnostic(response.payload),
            )
        return DeviceResponse(
            code=code,
            content_format=response.opt.content_format,
            payload=bytes(response.payload),
            location_path=tuple(response.opt.location_path),
        )

    def _decode(
        self,
        endpoint: str,
        operation: str,
        response: DeviceResponse,
        path: LwM2MPath,
        fmt: ContentFormat,
    ) -> Content:
        try:
            return operations.decode_answer(
                response.payload, response.content_format, path, fmt, self.registry
            )
        except (LwM2MError, ValueError) as exc:
            raise BadDeviceResponse(
                endpoint=endpoint, operation=operation, reason=str(exc)
            ) from exc

    async def _cancel_actively(self, observation: Observation, timeout: float | None) -> None:
        peer = self._peers.get(observation.endpoint)
        if peer is None:
            return
        request = operations.cancel_observe(observation.path, observation.content_format)
        message = self._message(observation.endpoint, request, peer)
        try:
            async with asyncio.timeout_at(self._deadline(timeout)):
                await send_with_token(peer.context, message, observation.token)
        except TimeoutError:
            raise DeviceTimeout(
                endpoint=observation.endpoint, operation="cancel-observe", reason="no answer"
            ) from None
        except (coap_error.Error, OSError) as exc:
            raise DeviceTimeout(
                endpoint=observation.endpoint,
                operation="cancel-observe",
                reason=str(exc) or type(exc).__name__,
            ) from None
        self._heard(observation.endpoint)

    # -- observations -------------------------------------------------------------------------

    def _on_notification(self, observation: Observation, message: Message) -> None:
        now = self._loop.time()
        sequence = message.opt.observe
        if not observation.active or not observation._is_fresh(sequence, now):
            return  # a retransmitted or reordered notification (RFC 7641 §3.4)
        observation._last_sequence = sequence
        observation._last_time = now
        content: Content | None = None
        problem: str | None = None
        if int(message.code) != Code.CONTENT:
            problem = f"notification with code {message.code}"
        else:
            try:
                content = operations.decode_answer(
                    bytes(message.payload),
                    message.opt.content_format,
                    observation.path,
                    observation.content_format,
                    self.registry,
                )
            except (LwM2MError, ValueError) as exc:
                problem = str(exc)
        fmt = message.opt.content_format
        event = Notification(
            endpoint=observation.endpoint,
            path=observation.path,
            content=content,
            content_format=ContentFormat.from_number(fmt) or fmt,
            payload=bytes(message.payload),
            sequence=sequence,
            error=problem,
        )
        self._heard(observation.endpoint)
        observation._queue.put_nowait(event)
        self._publish(event)

    def _on_observation_end(self, observation: Observation, exc: BaseException | None) -> None:
        if exc is None:
            self._forget_observation(observation, ObservationEndCause.ENDED_BY_CLIENT)
        else:
            self._forget_observation(observation, ObservationEndCause.TRANSPORT, str(exc))

    def _forget_observation(
        self, observation: Observation, cause: ObservationEndCause, detail: str = ""
    ) -> None:
        if not observation._end(cause, detail):
            return
        table = self._observations.get(observation.endpoint, {})
        if table.get(observation.token) is observation:
            del table[observation.token]
        if observation._exchange is not None:
            observation._exchange.forget()
        self._publish(
            ObservationEnded(
                endpoint=observation.endpoint, path=observation.path, cause=cause, detail=detail
            )
        )

    def _end_observations(self, endpoint: str, cause: ObservationEndCause) -> None:
        for observation in list(self._observations.pop(endpoint, {}).values()):
            self._forget_observation(observation, cause)

    # -- events and time ----------------------------------------------------------------------

    def _heard(self, endpoint: str) -> None:
        self._store.mark_heard(endpoint, self._loop.time())
        self._pump()

    def _pump(self) -> None:
        while (event := self._store.next_event()) is not None:
            self._publish(event)
        self._arm_timer()

    def _arm_timer(self) -> None:
        when = self._store.get_timer()
        if self._timer is not None:
            if when is not None and when == self._timer_when:
                return
            self._timer.cancel()
            self._timer = None
        if when is not None and not self._stopped:
            self._timer_when = when
            self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        # call_at may fire a hair early; never let that look like "not yet due" forever.
        self._store.handle_timer(max(self._loop.time(), self._timer_when))
        self._pump()

    def _publish(self, event: ServerEvent) -> None:
        if isinstance(event, Registered) and event.replaced is not None:
            self._end_observations(event.endpoint, ObservationEndCause.REGISTERED_AGAIN)
        elif isinstance(event, Deregistered | Expired):
            cause = (
                ObservationEndCause.EXPIRED
                if isinstance(event, Expired)
                else ObservationEndCause.DEREGISTERED
            )
            self._end_observations(event.endpoint, cause)
            self._peers.pop(event.endpoint, None)
            self._wake_waiters(event.endpoint)
        elif isinstance(event, Awake):
            self._wake_waiters(event.endpoint)
        elif isinstance(event, Sleeping):
            self._awake_signals[event.endpoint] = asyncio.Event()
        log.debug("event %s", event)
        if self.events.qsize() >= _EVENT_QUEUE_LIMIT:
            self.events.get_nowait()
            self.events_dropped += 1
        self.events.put_nowait(event)
        for subscription in list(self._subscribers):
            subscription.queue.put_nowait(event)

    def _wake_waiters(self, endpoint: str) -> None:
        signal = self._awake_signals.pop(endpoint, None)
        if signal is not None:
            signal.set()


@contextlib.asynccontextmanager
async def running_server(**options: Any) -> AsyncIterator[LwM2MServer]:
    """``async with running_server(coap=..., coaps=...) as server:`` — start, then stop."""
    server = await LwM2MServer.start(**options)
    try:
        yield server
    finally:
        await server.stop()
