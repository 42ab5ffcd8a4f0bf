"""The asyncio face of the embedded server: :class:`LwM2MServer` runs the sans-I/O
:class:`~emulator.server.core.ServerCore` behind coroutines, event streams and a timer.

The public ``read``/``write``/``observe``... coroutines ask the core for a ticket and wait for
its :class:`~emulator.server.messages.Completed` action; the core's events go to
:attr:`LwM2MServer.events` and every :meth:`~LwM2MServer.subscribe` stream; its one timer is
armed on the event loop.
The wire is :class:`~.coap.CoapGlue` (aiocoap): it hands client requests and what the clients
answer to the core and performs the core's requests. What the server decides (queue mode,
observation freshness, bootstrap sequencing, expiry) is all in the core.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.linkformat import Link
from emulator.lwm2m.model import Content
from emulator.lwm2m.paths import LwM2MPath
from emulator.lwm2m.registry import ObjectRegistry
from emulator.server import operations
from emulator.server.bootstrap import BootstrapConfig
from emulator.server.core import DEFAULT_MAX_QUEUED, ObservationRecord, ServerCore
from emulator.server.credentials import PskCredentials, PskStore, parse_psk_key
from emulator.server.errors import ObservationClosed
from emulator.server.events import (
    Deregistered,
    Expired,
    Notification,
    ObservationEndCause,
    Registered,
    ServerEvent,
)
from emulator.server.messages import (
    Action,
    CancelExchange,
    Completed,
    DeviceResponse,
    SendCancel,
    SendRequest,
    StartObservation,
    ToObservation,
)
from emulator.server.operations import DeviceRequest, WriteValue
from emulator.server.registration import DEFAULT_AWAKE_TIME, DEFAULT_MAX_LINK_BYTES, Registration

from .coap import CoapGlue
from .transport import Listener

__all__ = ["DeviceResponse", "LwM2MServer", "Observation", "Subscription"]

log = logging.getLogger("emulator.server")

Address = tuple[str, int]
EventT = TypeVar("EventT", bound=ServerEvent)

#: How many events :attr:`LwM2MServer.events` keeps for a caller that never reads it.
_EVENT_QUEUE_LIMIT = 10_000


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

    def __init__(self, server: LwM2MServer, record: ObservationRecord) -> None:
        self._server = server
        self._record = record
        self.endpoint = record.endpoint
        self.path = record.path
        self.content_format = record.content_format
        self._queue: asyncio.Queue[Notification | None] = asyncio.Queue()

    @property
    def initial(self) -> Content | None:
        """The content of the first response."""
        return self._record.initial

    @property
    def token(self) -> bytes:
        """The CoAP token of the observation's exchange (an active cancel reuses it)."""
        return self._record.token

    @property
    def active(self) -> bool:
        """True until the observation is cancelled or ends."""
        return self._record.active

    @property
    def end_cause(self) -> ObservationEndCause | None:
        """Why it ended, or ``None`` while it is active."""
        return self._record.end_cause

    @property
    def end_reason(self) -> str | None:
        """Why it ended as text, or ``None`` while it is active."""
        return self._record.end_reason

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


def _as_path(path: str | LwM2MPath) -> LwM2MPath:
    return path if isinstance(path, LwM2MPath) else LwM2MPath.parse(path)


class LwM2MServer:
    """An LwM2M server (TS 1.0 registration, bootstrap, device management, information
    reporting, queue mode, DTLS-PSK) for tests, scenarios and ``quecemu server``.

    Start it with :meth:`start`; see the package docstring of :mod:`emulator.adapters.lwm2m_server`.
    """

    def __init__(self, core: ServerCore) -> None:
        #: The sans-I/O server this runs.
        self.core = core
        self.registry = self.core.registry
        self.credentials: PskStore = self.core.credentials
        self.bootstrap_configs: dict[str, BootstrapConfig] = self.core.bootstrap_configs
        #: Every event in order (the oldest are dropped past 10 000 unread events).
        self.events: asyncio.Queue[ServerEvent] = asyncio.Queue()
        self.events_dropped = 0
        self._loop = asyncio.get_running_loop()
        self._coap = CoapGlue(core, self._flush)
        #: The bound listeners by name (``coap``, ``coaps``, ``bootstrap``, ``bootstrap_coaps``).
        self.listeners: dict[str, Listener] = self._coap.listeners
        self._subscribers: set[Subscription] = set()
        self._calls: dict[int, asyncio.Future[object]] = {}
        self._watched: dict[int, Observation] = {}
        self._flushing = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._stopped = False

    @property
    def request_timeout(self) -> float:
        return self.core.request_timeout

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
        max_queued_requests: int = DEFAULT_MAX_QUEUED,
    ) -> LwM2MServer:
        """Bind the listeners and return the running server.

        ``coap``/``coaps`` serve the registration interface (and ``/bs``); ``bootstrap`` /
        ``bootstrap_coaps`` add a listener that serves only the bootstrap interface. Port 0
        picks a free port (read it back from :attr:`coap_port` ...). DTLS listeners need a
        specific address (not ``0.0.0.0``). ``psk`` maps endpoint → (identity, key as hex
        text or bytes). ``max_queued_requests`` bounds the calls waiting for one sleeping
        queue-mode client (more raise :class:`~emulator.server.errors.QueueFull`).
        """
        if coap is None and coaps is None and bootstrap is None and bootstrap_coaps is None:
            raise ValueError("give at least one listener address")
        core = ServerCore(
            registry=registry,
            awake_time=awake_time,
            request_timeout=request_timeout,
            supported_versions=supported_versions,
            max_registrations=max_registrations,
            max_link_bytes=max_link_bytes,
            max_queued=max_queued_requests,
        )
        server = cls(core)
        for endpoint, (identity, key) in (psk or {}).items():
            server.set_psk(endpoint, identity, key)
        try:
            await server._coap.listen(
                coap=coap, coaps=coaps, bootstrap=bootstrap, bootstrap_coaps=bootstrap_coaps
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

    async def stop(self) -> None:
        """End observations and bootstrap runs, close the sockets. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self.core.close()
        self._flush()
        if self._timer is not None:
            self._timer.cancel()
        await self._coap.close()

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
        return self.core.set_psk(endpoint, identity, key_bytes)

    def remove_psk(self, endpoint: str) -> bool:
        """Forget ``endpoint``'s PSK."""
        return self.credentials.remove(endpoint)

    def set_bootstrap_config(self, endpoint: str, config: BootstrapConfig) -> None:
        """What ``endpoint`` receives when it sends a Bootstrap-Request.

        An account whose ``coaps://`` URI is this server's own DTLS listener also puts its PSK
        in the credential store, so the client can register with what it was given.
        """
        self.core.set_bootstrap_config(endpoint, config)

    def remove_bootstrap_config(self, endpoint: str) -> bool:
        """Forget ``endpoint``'s bootstrap configuration."""
        return self.bootstrap_configs.pop(endpoint, None) is not None

    # -- state and waiting --------------------------------------------------------------------

    def registration(self, endpoint: str) -> Registration | None:
        """``endpoint``'s current registration, or ``None``."""
        return self.core.registration(endpoint)

    def registrations(self) -> tuple[Registration, ...]:
        """All current registrations."""
        return self.core.registrations()

    def is_awake(self, endpoint: str) -> bool:
        """True if a request to ``endpoint`` would be sent now (see queue mode)."""
        return self.core.is_awake(endpoint)

    def observations(self, endpoint: str) -> tuple[Observation, ...]:
        """``endpoint``'s active observations."""
        records = self.core.observations(endpoint)
        return tuple(self._watched[r.id] for r in records if r.id in self._watched)

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
            current = self.core.registration(endpoint)
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
            if self.core.registration(endpoint) is None:
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
        ticket = self.core.wait_awake(endpoint, now=self._loop.time(), timeout=timeout)
        return cast(Registration, await self._result(ticket))

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
        now = self._loop.time()
        ticket = self.core.read(endpoint, _as_path(path), format, now=now, timeout=timeout)
        return cast(Content, await self._result(ticket))

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
        target, now = _as_path(path), self._loop.time()
        ticket = self.core.write(
            endpoint, target, value, format, replace=replace, now=now, timeout=timeout
        )
        await self._result(ticket)

    async def execute(
        self,
        endpoint: str,
        path: str | LwM2MPath,
        arguments: bytes | str = b"",
        *,
        timeout: float | None = None,
    ) -> None:
        """Execute (TS 1.0 §5.4.4)."""
        await self._request(endpoint, operations.execute(_as_path(path), arguments), timeout)

    async def discover(
        self, endpoint: str, path: str | LwM2MPath, *, timeout: float | None = None
    ) -> list[Link]:
        """Discover (TS 1.0 §5.4.2): the links (with attributes) the client reports."""
        now = self._loop.time()
        ticket = self.core.discover(endpoint, _as_path(path), now=now, timeout=timeout)
        return cast(list[Link], await self._result(ticket))

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
        request = operations.write_attributes(_as_path(path), attributes)
        await self._request(endpoint, request, timeout)

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
        now = self._loop.time()
        ticket = self.core.create(endpoint, _as_path(path), value, format, now=now, timeout=timeout)
        return cast(LwM2MPath, await self._result(ticket))

    async def delete(
        self, endpoint: str, path: str | LwM2MPath, *, timeout: float | None = None
    ) -> None:
        """Delete (TS 1.0 §5.4.6) an object instance."""
        await self._request(endpoint, operations.delete(_as_path(path)), timeout)

    async def send(
        self, endpoint: str, request: DeviceRequest, *, timeout: float | None = None
    ) -> DeviceResponse:
        """Send any :class:`~emulator.server.operations.DeviceRequest` and return the raw
        answer, whatever its code (for tests of odd cases)."""
        ticket = self.core.send(endpoint, request, now=self._loop.time(), timeout=timeout)
        return cast(DeviceResponse, await self._result(ticket))

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
        now = self._loop.time()
        ticket = self.core.observe(endpoint, _as_path(path), format, now=now, timeout=timeout)
        record = self.core.observation(ticket)
        assert record is not None
        observation = self._watched[ticket] = Observation(self, record)
        try:
            await self._result(ticket)
        except BaseException:
            self._watched.pop(ticket, None)
            raise
        if not observation.active:
            self._watched.pop(ticket, None)
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
            ticket = self.core.cancel_observation(
                observation._record.id, active=active, now=self._loop.time(), timeout=timeout
            )
            if ticket is None:
                self._flush()
            else:
                await self._result(ticket)
        return cancelled

    # -- calls: a ticket from the core, its outcome from a Completed action --------------------

    async def _request(self, endpoint: str, request: DeviceRequest, timeout: float | None) -> None:
        ticket = self.core.request(endpoint, request, now=self._loop.time(), timeout=timeout)
        await self._result(ticket)

    async def _result(self, ticket: int) -> Any:
        future = self._calls[ticket] = self._loop.create_future()
        self._flush()
        try:
            result = await future
        except asyncio.CancelledError:
            self.core.abandon(ticket)
            self._flush()
            raise
        finally:
            self._calls.pop(ticket, None)
        return result

    # -- the core's actions -------------------------------------------------------------------

    def _flush(self) -> None:
        """Publish the core's events and perform its actions, then re-arm the timer."""
        if self._flushing:
            return  # a callback while flushing: the loop below picks its output up
        self._flushing = True
        try:
            while True:
                event = self.core.next_event()
                if event is not None:
                    self._publish(event)
                    continue
                action = self.core.next_action()
                if action is None:
                    break
                self._perform(action)
        finally:
            self._flushing = False
        self._arm_timer()

    def _perform(self, action: Action) -> None:
        if isinstance(action, Completed):
            future = self._calls.pop(action.ticket, None)
            if future is not None and not future.done():
                if action.error is not None:
                    future.set_exception(action.error)
                else:
                    future.set_result(action.result)
        elif isinstance(action, ToObservation):
            observation = self._watched.get(action.observation)
            if observation is not None:
                observation._queue.put_nowait(action.notification)
                if action.notification is None:
                    del self._watched[action.observation]
        elif isinstance(action, SendRequest | StartObservation | SendCancel | CancelExchange):
            self._coap.perform(action)

    # -- events and time ----------------------------------------------------------------------

    def _arm_timer(self) -> None:
        when = self.core.get_timer()
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
        self.core.handle_timer(max(self._loop.time(), self._timer_when))
        self._flush()

    def _publish(self, event: ServerEvent) -> None:
        if self.events.qsize() >= _EVENT_QUEUE_LIMIT:
            self.events.get_nowait()
            self.events_dropped += 1
        self.events.put_nowait(event)
        for subscription in list(self._subscribers):
            subscription.queue.put_nowait(event)


@contextlib.asynccontextmanager
async def running_server(**options: Any) -> AsyncIterator[LwM2MServer]:
    """``async with running_server(coap=..., coaps=...) as server:`` — start, then stop."""
    server = await LwM2MServer.start(**options)
    try:
        yield server
    finally:
        await server.stop()
