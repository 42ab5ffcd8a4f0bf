"""The LwM2M server, sans-I/O: client requests, API calls, adapter reports and time in;
answers, actions and events out.

:class:`ServerCore` holds everything the server decides (OMA LwM2M TS 1.0): the registrations
(:class:`~.registration.RegistrationStore`), the device-management requests in flight and those
held for a sleeping queue-mode client, the observations and the freshness of their
notifications (RFC 7641 §3.4), the bootstrap sequences (TS 1.0 §5.2.7), PSKs and bootstrap
configurations. It never touches a socket or a clock: every input carries ``now``, the adapter
arms one timer at :meth:`ServerCore.get_timer` and calls :meth:`ServerCore.handle_timer`. What
the adapter must do comes from :meth:`ServerCore.next_action` (:mod:`.messages`), what the
server saw from :meth:`ServerCore.next_event` (:mod:`.events`).

An API call (``read``, ``observe``, ``wait_awake`` ...) returns a *ticket* at once; its outcome
is a :class:`~.messages.Completed` action with that ticket. A request's ticket is also the
number of its exchange in :class:`~.messages.SendRequest` and the adapter's reports.

Queue mode (TS 1.0 §5.3.1 binding Q, TS 1.1 §6.2.1.1): a request to a client whose awake window
has closed waits here, at most :attr:`ServerCore.max_queued` per client, until the client
registers or updates again; its deadline (the call's timeout) covers the wait and the exchange.
A request that gets no answer puts a queue-mode client to sleep (it evidently is).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Final
from urllib.parse import urlsplit

from emulator.lwm2m.errors import BadRequest, LwM2MError, MethodNotAllowed, NotFound
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.linkformat import parse_links
from emulator.lwm2m.model import Content
from emulator.lwm2m.paths import LwM2MPath
from emulator.lwm2m.registry import ObjectRegistry, default_registry

from . import operations
from .bootstrap import BootstrapConfig, bootstrap_requests, parse_bootstrap_query
from .credentials import PskCredentials, PskStore
from .errors import (
    BadDeviceResponse,
    DeviceErrorResponse,
    DeviceTimeout,
    Forbidden,
    NotRegistered,
    QueueFull,
    ServerApiError,
    ServiceUnavailable,
    code_text,
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
    Updated,
)
from .messages import (
    Action,
    Answer,
    CancelExchange,
    Completed,
    DeviceResponse,
    IncomingRequest,
    Peer,
    SendCancel,
    SendRequest,
    StartObservation,
    ToObservation,
)
from .operations import CHANGED, CONTENT, CREATED, DELETED, DeviceRequest, Method, WriteValue
from .registration import (
    DEFAULT_AWAKE_TIME,
    DEFAULT_MAX_LINK_BYTES,
    Registration,
    RegistrationStore,
)
from .text import printable

__all__ = ["DEFAULT_MAX_QUEUED", "ObservationRecord", "ServerCore"]

log = logging.getLogger("emulator.server")

#: Requests held for one sleeping queue-mode client before more are refused (QueueFull):
#: enough for a burst of management operations, small enough to bound memory per client.
DEFAULT_MAX_QUEUED: Final = 100
#: Max-Age of the 5.03 a stopping server answers: try again (elsewhere, or once it is back).
_RETRY_AFTER_STOP: Final = 30


class ObservationRecord:
    """What the core knows of one observation (TS 1.0 §5.5): its target, the first answer's
    content and, while it is active, the newest notification's sequence number and time."""

    def __init__(
        self, observation_id: int, endpoint: str, path: LwM2MPath, fmt: ContentFormat
    ) -> None:
        self.id = observation_id
        self.endpoint = endpoint
        self.path = path
        self.content_format = fmt
        self.initial: Content | None = None
        #: The CoAP token of its exchange, once the adapter reported it: an active cancel
        #: reuses it (RFC 7641 §3.6).
        self.token = b""
        #: Why it ended, or ``None`` while it is active (or not answered yet).
        self.end_cause: ObservationEndCause | None = None
        self.end_detail = ""
        self._last_sequence: int | None = None
        self._last_time = 0.0

    @property
    def active(self) -> bool:
        """True until it ended (cancelled, refused, ended by the client or the registration)."""
        return self.end_cause is None

    @property
    def end_reason(self) -> str | None:
        """Why it ended as one line of text, or ``None`` while it is active."""
        if self.end_cause is None:
            return None
        return f"{self.end_cause}: {self.end_detail}" if self.end_detail else str(self.end_cause)

    def accept(self, sequence: int | None, now: float) -> bool:
        """Take a notification's Observe value if it is newer than the last one taken.

        RFC 7641 §3.4: newer means the 24-bit sequence number is ahead modulo 2**24 (within
        half the space), or more than 128 s passed since the last notification, after which
        the sequence numbers may have wrapped. Without sequence numbers everything is new.
        """
        last = self._last_sequence
        if sequence is not None and last is not None:
            ahead = (last < sequence < last + 2**23) or (
                sequence < last and last - sequence > 2**23
            )
            if not ahead and now <= self._last_time + 128:
                return False
        self._last_sequence = sequence
        self._last_time = now
        return True

    def end(self, cause: ObservationEndCause, detail: str = "") -> bool:
        if self.end_cause is not None:
            return False
        self.end_cause, self.end_detail = cause, detail
        return True


class _Purpose(Enum):
    """What a ticket is for, which decides how its answer, failure and deadline are handled."""

    REQUEST = "request"
    OBSERVE = "observe"
    CANCEL = "cancel-observe"
    WAIT_AWAKE = "wait-awake"
    BOOTSTRAP = "bootstrap"


@dataclass(eq=False, slots=True, kw_only=True)
class _Pending:
    ticket: int
    endpoint: str
    purpose: _Purpose
    operation: str
    deadline: float
    request: DeviceRequest | None = None
    check: bool = True
    #: Turns a successful answer into the call's result (raises LwM2MError/ValueError).
    interpret: Callable[[DeviceResponse], object] | None = None
    observation: ObservationRecord | None = None
    #: For SendCancel: the token of the observation it cancels.
    token: bytes = b""
    #: On the wire (else held for a sleeping client).
    sent: bool = False


@dataclass(eq=False, slots=True)
class _BootstrapRun:
    endpoint: str
    peer: Peer
    requests: deque[DeviceRequest]
    exchange: int = 0


def _diagnostic(payload: bytes) -> str:
    return payload.decode("utf-8", "replace")[:200]


class ServerCore:
    """One LwM2M server's state and decisions (see the module docstring)."""

    def __init__(
        self,
        *,
        registry: ObjectRegistry | None = None,
        awake_time: float = DEFAULT_AWAKE_TIME,
        request_timeout: float = 20.0,
        supported_versions: Iterable[str] = ("1.0", "1.1"),
        max_registrations: int | None = None,
        max_link_bytes: int | None = DEFAULT_MAX_LINK_BYTES,
        max_queued: int = DEFAULT_MAX_QUEUED,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self.registry = registry or default_registry()
        #: Default timeout of an API call (seconds), covering a queue-mode wait.
        self.request_timeout = request_timeout
        self.max_queued = max_queued
        self.credentials = PskStore()
        self.bootstrap_configs: dict[str, BootstrapConfig] = {}
        #: Where our DTLS listeners are (host, port): a bootstrap account pointing there also
        #: stores its PSK here.
        self.dtls_listeners: set[tuple[str, int]] = set()
        self.store = RegistrationStore(
            supported_versions=tuple(supported_versions),
            psk_required=self.credentials.__contains__,
            awake_time=awake_time,
            new_id=new_id,
            max_registrations=max_registrations,
            max_link_bytes=max_link_bytes,
        )
        self._tickets = itertools.count(1)
        self._peers: dict[str, Peer] = {}
        self._pending: dict[int, _Pending] = {}
        self._deadlines: list[tuple[float, int]] = []
        self._queued: dict[str, deque[int]] = {}
        self._observations: dict[str, dict[int, ObservationRecord]] = {}
        self._observation_by_id: dict[int, ObservationRecord] = {}
        self._bootstraps: dict[str, _BootstrapRun] = {}
        self._actions: deque[Action] = deque()
        self._events: deque[ServerEvent] = deque()
        self._closed = False

    # ================================================================= outputs
    def next_action(self) -> Action | None:
        """The oldest action for the adapter, or ``None``."""
        return self._actions.popleft() if self._actions else None

    def next_event(self) -> ServerEvent | None:
        """The oldest event not yet pulled, or ``None``."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` next has something to do, or ``None``."""
        if self._closed:
            return None
        while self._deadlines and not self._is_live(self._deadlines[0]):
            heapq.heappop(self._deadlines)
        registrations = self.store.get_timer()
        calls = self._deadlines[0][0] if self._deadlines else None
        if registrations is None or calls is None:
            return calls if registrations is None else registrations
        return min(registrations, calls)

    def _is_live(self, entry: tuple[float, int]) -> bool:
        pending = self._pending.get(entry[1])
        return pending is not None and pending.deadline == entry[0]

    def handle_timer(self, now: float) -> None:
        """Expire registrations and awake windows; fail the calls whose deadline passed."""
        if self._closed:
            return
        self.store.handle_timer(now)
        self._pump(now)
        while self._deadlines and self._deadlines[0][0] <= now:
            when, ticket = heapq.heappop(self._deadlines)
            pending = self._pending.get(ticket)
            if pending is not None and pending.deadline == when:
                self._expire(pending, now)

    # ============================================================ state queries
    def registration(self, endpoint: str) -> Registration | None:
        return self.store.by_endpoint(endpoint)

    def registrations(self) -> tuple[Registration, ...]:
        return self.store.registrations()

    def is_awake(self, endpoint: str) -> bool:
        return self.store.is_awake(endpoint)

    def observations(self, endpoint: str) -> tuple[ObservationRecord, ...]:
        """``endpoint``'s active observations, oldest first."""
        return tuple(self._observations.get(endpoint, {}).values())

    def observation(self, observation_id: int) -> ObservationRecord | None:
        """An observation by id (its observe call's ticket), while the core still knows it."""
        return self._observation_by_id.get(observation_id)

    def queued(self, endpoint: str) -> int:
        """How many calls wait for ``endpoint`` to wake up."""
        return len(self._queued.get(endpoint, ()))

    # ============================================================ configuration
    def set_psk(self, endpoint: str, identity: str | bytes, key: bytes) -> PskCredentials:
        return self.credentials.set(endpoint, identity, key)

    def set_bootstrap_config(self, endpoint: str, config: BootstrapConfig) -> None:
        """What ``endpoint`` receives on Bootstrap-Request; an account whose ``coaps://`` URI
        is one of :attr:`dtls_listeners` also puts its PSK in the credential store."""
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
        return parts.scheme == "coaps" and (parts.hostname, port) in self.dtls_listeners

    # ===================================== the client-initiated interfaces (§5.2, §5.3)
    def handle_request(
        self, request: IncomingRequest, peer: Peer, now: float, *, registration: bool = True
    ) -> Answer:
        """A request a client sent; ``registration=False`` for a listener that serves only
        the bootstrap interface. Errors become the answer here, at one place."""
        try:
            answer = self._dispatch(request, peer, now, registration)
        except LwM2MError as err:
            query = "&".join(request.query)
            uri = "/" + "/".join(request.path) + (f"?{query}" if query else "")
            log.info(
                "%s %s from %s: %s %s",
                operations.method_name(request.method),
                printable(uri),
                request.address,
                err.code_text,
                printable(str(err)),
            )
            max_age = err.max_age if isinstance(err, ServiceUnavailable) else None
            answer = Answer(code=err.code, payload=str(err).encode(), max_age=max_age)
        self._pump(now)
        return answer

    def _dispatch(
        self, request: IncomingRequest, peer: Peer, now: float, registration: bool
    ) -> Answer:
        if self._closed:
            raise ServiceUnavailable("the server is stopping", max_age=_RETRY_AFTER_STOP)
        path, method = request.path, request.method
        if registration and path[:1] == ("rd",):
            if len(path) == 1:
                if method != Method.POST:
                    raise MethodNotAllowed("/rd takes POST (Register)")
                return self._register(request, peer, now)
            if len(path) == 2:
                if method == Method.POST:
                    return self._update(request, path[1], peer, now)
                if method == Method.DELETE:
                    self.store.deregister(path[1], secure_endpoint=request.secure_endpoint)
                    return Answer(code=DELETED)
                raise MethodNotAllowed("/rd/{id} takes POST (Update) or DELETE (De-register)")
        elif path == ("bs",):
            if method != Method.POST:
                raise MethodNotAllowed("/bs takes POST (Bootstrap-Request)")
            return self._bootstrap_request(request, peer, now)
        raise NotFound(f"no such resource: /{'/'.join(path)}")

    def _register(self, request: IncomingRequest, peer: Peer, now: float) -> Answer:
        registration = self.store.register(
            request.query,
            request.payload,
            content_format=request.content_format,
            address=request.address,
            secure_endpoint=request.secure_endpoint,
            now=now,
        )
        self._peers[registration.endpoint] = peer
        return Answer(code=CREATED, location_path=("rd", registration.registration_id))

    def _update(
        self, request: IncomingRequest, registration_id: str, peer: Peer, now: float
    ) -> Answer:
        registration = self.store.update(
            registration_id,
            request.query,
            request.payload,
            content_format=request.content_format,
            address=request.address,
            secure_endpoint=request.secure_endpoint,
            now=now,
        )
        # The client may come from a new port or DTLS session: answer there from now on.
        self._peers[registration.endpoint] = peer
        return Answer(code=CHANGED)

    def _bootstrap_request(self, request: IncomingRequest, peer: Peer, now: float) -> Answer:
        endpoint = parse_bootstrap_query(request.query)
        claimed = request.secure_endpoint
        if claimed is not None and claimed != endpoint:
            raise Forbidden(f"the DTLS identity belongs to endpoint {claimed!r}, not {endpoint!r}")
        # A PSK in the store is for registering; bootstrapping in the clear stays allowed (a
        # factory-fresh device often knows only a NoSec bootstrap account).
        config = self.bootstrap_configs.get(endpoint)
        if config is None:
            # TS 1.0 §5.2.7.1: 4.00 Bad Request for an unknown endpoint client name.
            raise BadRequest(f"no bootstrap configuration for endpoint {endpoint!r}")
        running = self._bootstraps.pop(endpoint, None)
        if running is not None:  # the client started over: the old sequence is void
            self._drop(running.exchange)
        self._publish(BootstrapRequested(endpoint=endpoint))
        try:
            requests = bootstrap_requests(config, self.registry)
        except Exception as exc:  # a codec error in our own config: report, do not crash
            log.exception("bootstrap of %s failed", endpoint)
            self._publish(
                BootstrapFailed(
                    endpoint=endpoint,
                    cause=BootstrapFailure.CONFIGURATION,
                    reason=f"internal error: {exc}",
                )
            )
            return Answer(code=CHANGED)
        # The 2.04 goes out first (the adapter sends requests after answering); then the
        # server drives the client through Delete, Write ... and Finish, one at a time.
        run = _BootstrapRun(endpoint, peer, deque(requests))
        self._bootstraps[endpoint] = run
        self._bootstrap_next(run, now)
        return Answer(code=CHANGED)

    def _bootstrap_next(self, run: _BootstrapRun, now: float) -> None:
        if not run.requests:
            del self._bootstraps[run.endpoint]
            self._publish(BootstrapFinished(endpoint=run.endpoint))
            return
        request = run.requests.popleft()
        pending = self._new_pending(run.endpoint, _Purpose.BOOTSTRAP, now, None, request=request)
        pending.sent = True  # to where the Bootstrap-Request came from: no registration yet
        run.exchange = pending.ticket
        self._act(SendRequest(exchange=pending.ticket, peer=run.peer, request=request))

    def _bootstrap_failed(self, pending: _Pending, error: ServerApiError) -> None:
        run = self._bootstraps.get(pending.endpoint)
        if run is None or run.exchange != pending.ticket:
            return
        del self._bootstraps[pending.endpoint]
        cause = (
            BootstrapFailure.NO_ANSWER
            if isinstance(error, DeviceTimeout)
            else BootstrapFailure.DEVICE_ERROR
        )
        self._publish(BootstrapFailed(endpoint=pending.endpoint, cause=cause, reason=str(error)))

    # ================================================ device management (TS 1.0 §5.4)
    def _format(self, endpoint: str, fmt: ContentFormat | None) -> ContentFormat:
        return self._require(endpoint).default_format if fmt is None else fmt

    def read(
        self,
        endpoint: str,
        path: LwM2MPath,
        fmt: ContentFormat | None = None,
        *,
        now: float,
        timeout: float | None = None,
    ) -> int:
        """Read; the result is the decoded :class:`Content`."""
        fmt = self._format(endpoint, fmt)
        return self._call(
            endpoint,
            operations.read(path, fmt),
            now,
            timeout,
            interpret=self._content(path, fmt),
        )

    def write(
        self,
        endpoint: str,
        path: LwM2MPath,
        value: WriteValue,
        fmt: ContentFormat | None = None,
        *,
        replace: bool = True,
        now: float,
        timeout: float | None = None,
    ) -> int:
        """Write (PUT) or, with ``replace=False``, partial update (POST); result ``None``."""
        fmt = self._format(endpoint, fmt)
        request = operations.write(path, value, fmt, self.registry, replace=replace)
        return self._call(endpoint, request, now, timeout)

    def create(
        self,
        endpoint: str,
        path: LwM2MPath,
        value: WriteValue,
        fmt: ContentFormat | None = None,
        *,
        now: float,
        timeout: float | None = None,
    ) -> int:
        """Create; the result is the new instance's :class:`LwM2MPath`."""
        fmt = self._format(endpoint, fmt)
        request = operations.create(path, value, fmt, self.registry)

        def created(response: DeviceResponse) -> LwM2MPath:
            if response.location_path:
                return LwM2MPath.from_segments(response.location_path)
            if path.is_object_instance:
                return path
            raise ValueError("2.01 without Location-Path")

        return self._call(endpoint, request, now, timeout, interpret=created)

    def discover(
        self, endpoint: str, path: LwM2MPath, *, now: float, timeout: float | None = None
    ) -> int:
        """Discover; the result is the list of :class:`~emulator.lwm2m.linkformat.Link`."""
        return self._call(
            endpoint,
            operations.discover(path),
            now,
            timeout,
            interpret=lambda response: parse_links(response.payload),
        )

    def send(
        self,
        endpoint: str,
        request: DeviceRequest,
        *,
        now: float,
        timeout: float | None = None,
        check: bool = False,
    ) -> int:
        """Any request; the result is the raw :class:`DeviceResponse` (whatever its code
        unless ``check``)."""
        self._require(endpoint)
        return self._call(
            endpoint, request, now, timeout, check=check, interpret=lambda response: response
        )

    def request(
        self, endpoint: str, request: DeviceRequest, *, now: float, timeout: float | None = None
    ) -> int:
        """A request whose success needs no result (Execute, Delete, Write-Attributes ...)."""
        self._require(endpoint)
        return self._call(endpoint, request, now, timeout)

    def wait_awake(self, endpoint: str, *, now: float, timeout: float | None) -> int:
        """Done (with the :class:`Registration`) once requests to ``endpoint`` can be sent:
        at once unless it is a sleeping queue-mode client, else at its next Register/Update.
        ``timeout=None`` waits without end."""
        self._require(endpoint)
        deadline = math.inf if timeout is None else now + timeout
        pending = self._new_pending(
            endpoint, _Purpose.WAIT_AWAKE, now, deadline, operation="wait-awake"
        )
        if self.store.is_awake(endpoint):
            self._complete(pending, result=self.store.by_endpoint(endpoint))
        else:
            self._enqueue(pending)
        return pending.ticket

    def _content(self, path: LwM2MPath, fmt: ContentFormat) -> Callable[[DeviceResponse], Content]:
        def decode(response: DeviceResponse) -> Content:
            return operations.decode_answer(
                response.payload, response.content_format, path, fmt, self.registry
            )

        return decode

    def _call(
        self,
        endpoint: str,
        request: DeviceRequest,
        now: float,
        timeout: float | None,
        *,
        purpose: _Purpose = _Purpose.REQUEST,
        check: bool = True,
        interpret: Callable[[DeviceResponse], object] | None = None,
        observation: ObservationRecord | None = None,
    ) -> int:
        self._require(endpoint)
        pending = self._new_pending(
            endpoint,
            purpose,
            now,
            self._deadline(now, timeout),
            request=request,
            ticket=None if observation is None else observation.id,
        )
        pending.check, pending.interpret, pending.observation = check, interpret, observation
        if self.store.is_awake(endpoint):
            self._transmit(pending)
        else:
            self._enqueue(pending)
        return pending.ticket

    # ================================================ information reporting (§5.5)
    def observe(
        self,
        endpoint: str,
        path: LwM2MPath,
        fmt: ContentFormat | None = None,
        *,
        now: float,
        timeout: float | None = None,
    ) -> int:
        """Observe; the ticket is also the observation's id (:meth:`observation`). The result
        is the :class:`ObservationRecord` with the first answer's content; it is inactive if
        the client answered without Observe (the target is not observable)."""
        fmt = self._format(endpoint, fmt)
        request = operations.observe(path, fmt)
        ticket = next(self._tickets)  # an observation is known by its observe call's ticket
        record = ObservationRecord(ticket, endpoint, path, fmt)
        self._observation_by_id[ticket] = record
        try:
            self._call(
                endpoint,
                request,
                now,
                timeout,
                purpose=_Purpose.OBSERVE,
                observation=record,
            )
        except ServerApiError:
            del self._observation_by_id[ticket]
            raise
        return ticket

    def cancel_observation(
        self,
        observation_id: int,
        *,
        active: bool = True,
        now: float,
        timeout: float | None = None,
    ) -> int | None:
        """End an active observation (``ObservationEnded``, cause ``CANCELLED``) and forget
        its token. ``active`` also sends a GET with Observe=1 and that token (TS 1.0 §5.5.3,
        RFC 7641 §3.6): the returned ticket is done when the client answered. ``None`` when
        there is nothing to wait for (passive, or the observation was not active)."""
        record = self._observation_by_id.get(observation_id)
        if record is None or not record.active:
            return None
        self._end_observation(record, ObservationEndCause.CANCELLED)
        peer = self._peers.get(record.endpoint)
        if not active or peer is None:
            return None
        request = operations.cancel_observe(record.path, record.content_format)
        pending = self._new_pending(
            record.endpoint, _Purpose.CANCEL, now, self._deadline(now, timeout), request=request
        )
        pending.token = record.token
        self._transmit(pending)
        return pending.ticket

    def abandon(self, ticket: int) -> None:
        """The caller of ``ticket`` gave up (its task was cancelled): forget the call."""
        pending = self._pending.get(ticket)
        if pending is not None:
            self._finish(pending)
            if pending.observation is not None:
                self._observation_by_id.pop(pending.observation.id, None)

    # ============================================== reports from the adapter
    def response_received(self, exchange: int, response: DeviceResponse, now: float) -> None:
        """The client answered ``exchange`` (for an observation: its first answer)."""
        pending = self._pending.get(exchange)
        if pending is None or not pending.sent:
            return  # too late: the call timed out or was abandoned
        self._finish(pending, drop=False)
        if pending.purpose is _Purpose.BOOTSTRAP:
            assert pending.request is not None
            if response.code in pending.request.success:
                run = self._bootstraps.get(pending.endpoint)
                if run is not None and run.exchange == exchange:
                    self._bootstrap_next(run, now)
            else:
                self._bootstrap_failed(pending, self._error_response(pending, response))
            return
        # Any answer shows the client is awake (queue mode).
        self._heard(pending.endpoint, now)
        if pending.purpose is _Purpose.OBSERVE:
            self._observe_answered(pending, response, now)
        elif pending.purpose is _Purpose.CANCEL:
            self._complete(pending)
        elif pending.check and pending.request and response.code not in pending.request.success:
            self._complete(pending, error=self._error_response(pending, response))
        else:
            self._interpret(pending, response)

    def request_failed(self, exchange: int, reason: str, now: float) -> None:
        """The transport gave up on ``exchange`` (no route, DTLS session gone ...)."""
        pending = self._pending.get(exchange)
        if pending is None or not pending.sent:
            return
        self._finish(pending, drop=False)
        error = DeviceTimeout(
            endpoint=pending.endpoint, operation=pending.operation, reason=f"transport: {reason}"
        )
        if pending.purpose is _Purpose.BOOTSTRAP:
            self._bootstrap_failed(pending, error)
            return
        if pending.purpose is _Purpose.REQUEST:
            self._asleep(pending.endpoint, now)
        self._complete(pending, error=error)

    def observation_started(self, exchange: int, token: bytes) -> None:
        """The observe request of ``exchange`` went out with ``token``."""
        record = self._observation_by_id.get(exchange)
        if record is not None:
            record.token = token

    def notification_received(self, exchange: int, response: DeviceResponse, now: float) -> None:
        """A notification on the observation started as ``exchange`` (RFC 7641 §4.2)."""
        record = self._observation_by_id.get(exchange)
        if record is None or not record.active or record.id in self._pending:
            return
        if not record.accept(response.observe, now):
            return  # a retransmitted or reordered notification (RFC 7641 §3.4)
        content: Content | None = None
        problem: str | None = None
        if response.code != CONTENT:
            problem = f"notification with code {code_text(response.code)}"
        else:
            try:
                content = self._content(record.path, record.content_format)(response)
            except (LwM2MError, ValueError) as exc:
                problem = str(exc)
        fmt = response.content_format
        event = Notification(
            endpoint=record.endpoint,
            path=record.path,
            content=content,
            content_format=ContentFormat.from_number(fmt) or fmt,
            payload=response.payload,
            sequence=response.observe,
            error=problem,
        )
        self._heard(record.endpoint, now)
        self._act(ToObservation(observation=record.id, notification=event))
        self._publish(event)

    def observation_ended(self, exchange: int, error: str | None, now: float) -> None:
        """The exchange of an observation ended: the client answered without Observe
        (``error=None``) or the transport failed."""
        pending = self._pending.get(exchange)
        if pending is not None and pending.sent and error is not None:
            self.request_failed(exchange, error, now)
            return
        record = self._observation_by_id.get(exchange)
        if record is None or exchange in self._pending:
            return
        if error is None:
            self._end_observation(record, ObservationEndCause.ENDED_BY_CLIENT)
        else:
            self._end_observation(record, ObservationEndCause.TRANSPORT, error)
        self._pump(now)

    def close(self) -> None:
        """The server stops: every call fails, observations and bootstrap runs end."""
        if self._closed:
            return
        self._closed = True
        self._bootstraps.clear()
        for table in list(self._observations.values()):
            for record in list(table.values()):
                self._end_observation(record, ObservationEndCause.SERVER_STOPPED)
        for pending in list(self._pending.values()):
            self._finish(pending)
            if pending.purpose is not _Purpose.BOOTSTRAP:
                error = DeviceTimeout(
                    endpoint=pending.endpoint, operation=pending.operation, reason="stopped"
                )
                self._act(Completed(ticket=pending.ticket, error=error))

    # ================================================================ helpers
    def _require(self, endpoint: str) -> Registration:
        registration = self.store.by_endpoint(endpoint)
        if registration is None:
            raise NotRegistered(endpoint)
        return registration

    def _deadline(self, now: float, timeout: float | None) -> float:
        return now + (self.request_timeout if timeout is None else timeout)

    def _new_pending(
        self,
        endpoint: str,
        purpose: _Purpose,
        now: float,
        deadline: float | None,
        *,
        operation: str = "",
        request: DeviceRequest | None = None,
        ticket: int | None = None,
    ) -> _Pending:
        if self._closed:
            # Nothing would ever answer: the adapter sends nothing more and no timer runs.
            raise DeviceTimeout(
                endpoint=endpoint,
                operation=request.operation if request is not None else operation,
                reason="the server is stopped",
            )
        pending = _Pending(
            ticket=next(self._tickets) if ticket is None else ticket,
            endpoint=endpoint,
            purpose=purpose,
            operation=request.operation if request is not None else operation,
            deadline=self._deadline(now, None) if deadline is None else deadline,
            request=request,
        )
        self._pending[pending.ticket] = pending
        if math.isfinite(pending.deadline):
            heapq.heappush(self._deadlines, (pending.deadline, pending.ticket))
        return pending

    def _enqueue(self, pending: _Pending) -> None:
        queue = self._queued.setdefault(pending.endpoint, deque())
        if len(queue) >= self.max_queued:
            del self._pending[pending.ticket]
            raise QueueFull(endpoint=pending.endpoint, limit=self.max_queued)
        # Queue mode (TS 1.0 §5.3.1 binding Q): hold the call until the client is heard from.
        queue.append(pending.ticket)

    def _release(self, endpoint: str) -> None:
        """The client is awake: what waited for it goes out, oldest first."""
        queue = self._queued.pop(endpoint, None)
        for ticket in queue or ():
            pending = self._pending.get(ticket)
            if pending is None:
                continue
            if pending.purpose is _Purpose.WAIT_AWAKE:
                self._complete(pending, result=self.store.by_endpoint(endpoint))
            else:
                self._transmit(pending)

    def _transmit(self, pending: _Pending) -> None:
        peer = self._peers.get(pending.endpoint)
        registration = self.store.by_endpoint(pending.endpoint)
        if peer is None or registration is None or pending.request is None:
            self._complete(pending, error=NotRegistered(pending.endpoint))
            return
        request = pending.request
        if registration.alternate_path != "/":
            # Objects live under the alternate path the client announced (TS 1.0 §5.3.1).
            prefix = tuple(s for s in registration.alternate_path.split("/") if s)
            request = operations.under(prefix, request)
        pending.sent = True
        if pending.purpose is _Purpose.OBSERVE:
            self._act(StartObservation(exchange=pending.ticket, peer=peer, request=request))
        elif pending.purpose is _Purpose.CANCEL:
            self._act(
                SendCancel(exchange=pending.ticket, token=pending.token, peer=peer, request=request)
            )
        else:
            self._act(SendRequest(exchange=pending.ticket, peer=peer, request=request))

    def _finish(self, pending: _Pending, *, drop: bool = True) -> None:
        """Forget ``pending`` (its deadline entry goes stale); ``drop`` also stops its
        exchange if it was sent."""
        del self._pending[pending.ticket]
        if not pending.sent:
            queue = self._queued.get(pending.endpoint)
            if queue is not None and pending.ticket in queue:
                queue.remove(pending.ticket)
                if not queue:
                    del self._queued[pending.endpoint]
        elif drop:
            self._act(CancelExchange(exchange=pending.ticket))

    def _drop(self, ticket: int) -> None:
        pending = self._pending.get(ticket)
        if pending is not None:
            self._finish(pending)

    def _complete(
        self, pending: _Pending, *, result: object = None, error: ServerApiError | None = None
    ) -> None:
        if pending.ticket in self._pending:
            self._finish(pending, drop=False)
        if error is not None and pending.observation is not None:
            self._observation_by_id.pop(pending.observation.id, None)
        self._act(Completed(ticket=pending.ticket, result=result, error=error))

    def _expire(self, pending: _Pending, now: float) -> None:
        was_sent = pending.sent
        self._finish(pending)
        if not was_sent:
            reason = "the queue-mode client did not wake up in time"
        elif pending.purpose is _Purpose.REQUEST or pending.purpose is _Purpose.BOOTSTRAP:
            reason = "no answer in time"
        else:
            reason = "no answer"
        error = DeviceTimeout(endpoint=pending.endpoint, operation=pending.operation, reason=reason)
        if pending.purpose is _Purpose.BOOTSTRAP:
            self._bootstrap_failed(pending, error)
            return
        if was_sent and pending.purpose in (_Purpose.REQUEST, _Purpose.OBSERVE):
            self._asleep(pending.endpoint, now)
        self._complete(pending, error=error)

    def _error_response(self, pending: _Pending, response: DeviceResponse) -> ServerApiError:
        return DeviceErrorResponse(
            endpoint=pending.endpoint,
            operation=pending.operation,
            code=response.code,
            diagnostic=_diagnostic(response.payload),
        )

    def _interpret(self, pending: _Pending, response: DeviceResponse) -> None:
        if pending.interpret is None:
            self._complete(pending)
            return
        try:
            result = pending.interpret(response)
        except (LwM2MError, ValueError) as exc:
            error = BadDeviceResponse(
                endpoint=pending.endpoint, operation=pending.operation, reason=str(exc)
            )
            self._complete(pending, error=error)
            return
        self._complete(pending, result=result)

    def _observe_answered(self, pending: _Pending, response: DeviceResponse, now: float) -> None:
        record = pending.observation
        assert record is not None
        if response.code != CONTENT:
            record.end(ObservationEndCause.REFUSED)
            self._act(CancelExchange(exchange=record.id))
            self._complete(pending, error=self._error_response(pending, response))
            return
        try:
            record.initial = self._content(record.path, record.content_format)(response)
        except (LwM2MError, ValueError) as exc:
            record.end(ObservationEndCause.REFUSED, "undecodable answer")
            self._act(CancelExchange(exchange=record.id))
            error = BadDeviceResponse(
                endpoint=pending.endpoint, operation=pending.operation, reason=str(exc)
            )
            self._complete(pending, error=error)
            return
        if response.observe is None:
            record.end(ObservationEndCause.NOT_OBSERVABLE)
            self._observation_by_id.pop(record.id, None)
            self._act(CancelExchange(exchange=record.id))
        else:
            self._observations.setdefault(record.endpoint, {})[record.id] = record
        self._complete(pending, result=record)

    def _end_observation(
        self, record: ObservationRecord, cause: ObservationEndCause, detail: str = ""
    ) -> None:
        if not record.end(cause, detail):
            return
        self._observation_by_id.pop(record.id, None)
        table = self._observations.get(record.endpoint, {})
        table.pop(record.id, None)
        if not table:
            self._observations.pop(record.endpoint, None)
        self._act(CancelExchange(exchange=record.id))
        self._act(ToObservation(observation=record.id))
        self._publish(
            ObservationEnded(endpoint=record.endpoint, path=record.path, cause=cause, detail=detail)
        )

    def _end_observations(self, endpoint: str, cause: ObservationEndCause) -> None:
        for record in list(self._observations.get(endpoint, {}).values()):
            self._end_observation(record, cause)

    def _heard(self, endpoint: str, now: float) -> None:
        self.store.mark_heard(endpoint, now)
        self._pump(now)

    def _asleep(self, endpoint: str, now: float) -> None:
        """A request went unanswered: a queue-mode client is evidently asleep."""
        self.store.mark_sleeping(endpoint)
        self._pump(now)

    def _pump(self, now: float) -> None:
        while (event := self.store.next_event()) is not None:
            self._registration_changed(event)
            self._publish(event)

    def _registration_changed(self, event: ServerEvent) -> None:
        if isinstance(event, Registered) and event.replaced is not None:
            self._end_observations(event.endpoint, ObservationEndCause.REGISTERED_AGAIN)
        if isinstance(event, Deregistered | Expired):
            cause = (
                ObservationEndCause.EXPIRED
                if isinstance(event, Expired)
                else ObservationEndCause.DEREGISTERED
            )
            self._end_observations(event.endpoint, cause)
            self._peers.pop(event.endpoint, None)
            for ticket in list(self._queued.get(event.endpoint, ())):
                pending = self._pending.get(ticket)
                if pending is not None:
                    self._complete(pending, error=NotRegistered(event.endpoint))
        elif isinstance(event, Registered | Updated | Awake) and self.store.is_awake(
            event.endpoint
        ):
            self._release(event.endpoint)

    def _publish(self, event: ServerEvent) -> None:
        log.debug("event %s", event)
        self._events.append(event)

    def _act(self, action: Action) -> None:
        self._actions.append(action)
