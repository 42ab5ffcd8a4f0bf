"""The registration interface, sans-I/O (OMA LwM2M TS 1.0 §5.3, TS 1.1 §6.2).

:class:`RegistrationStore` takes what arrived (Uri-Query values, payload, Content-Format, the
DTLS identity's endpoint) plus ``now`` and keeps the registrations; what happened is pulled
with :meth:`RegistrationStore.next_event`, and time moves with
:meth:`RegistrationStore.handle_timer` at :meth:`RegistrationStore.get_timer`. Bad requests
raise :class:`~emulator.lwm2m.errors.LwM2MError` subclasses carrying the CoAP code (4.00, 4.03,
4.04, 4.12, 4.15); the adapter renders them.

Queue mode (binding ``Q`` in 1.0, the ``Q`` parameter in 1.1, TS 1.0 §5.3.1 / TS 1.1 §6.2.1.1)
is tracked here too: a queue-mode client counts as awake for ``awake_time`` seconds after it was
last heard from, then as sleeping until its next Register/Update.
"""

from __future__ import annotations

import functools
import heapq
import re
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from emulator.lwm2m.errors import BadRequest, NotFound, UnsupportedContentFormat
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.linkformat import Link, RegisterPayload, parse_register_payload

from .errors import Forbidden, PreconditionFailed, RequestEntityTooLarge, ServiceUnavailable
from .events import Awake, Deregistered, Expired, Registered, ServerEvent, Sleeping, Updated
from .text import check_endpoint_name

__all__ = [
    "DEFAULT_AWAKE_TIME",
    "DEFAULT_LIFETIME",
    "DEFAULT_MAX_LINK_BYTES",
    "Registration",
    "RegistrationStore",
]

#: Lifetime when Register has no ``lt`` (TS 1.0 §5.3.1, Table 20).
DEFAULT_LIFETIME: Final = 86400
#: How long a queue-mode client stays reachable after it was heard from: CoAP's
#: MAX_TRANSMIT_WAIT (RFC 7252 §4.8.2), as TS 1.0 §8.3 suggests for the awake window.
DEFAULT_AWAKE_TIME: Final = 93.0
#: Largest lifetime: the Server object's Lifetime resource is an unsigned 32-bit value.
_MAX_LIFETIME: Final = 2**32 - 1
#: Binding letters of TS 1.0 §5.3.1 (U, S, Q) and TS 1.1 §6.2.1.1 (T, N added).
_BINDING_LETTERS: Final = frozenset("UTSNQ")
# Deadline kinds in the timer heap.
#: Default bound on a Register/Update object list: 64 KiB is room for thousands of object
#: instances and keeps a registration's memory bounded.
DEFAULT_MAX_LINK_BYTES: Final = 65536

#: Max-Age of the 5.03 a full server answers: the client may try again after a minute.
_RETRY_WHEN_FULL: Final = 60
_EXPIRY: Final = 0
_AWAKE_END: Final = 1
#: Distinct object lists kept parsed: a fleet of one model sends the same list thousands of
#: times (every Register, every Update that carries it), and parsing it is most of a Register.
_PARSED_LISTS: Final = 64
#: Random bytes drawn at once for registration ids (4 bytes each): one read of the system's
#: randomness per 256 registrations instead of one per registration, just as unpredictable.
_ID_BATCH: Final = 256


def _random_ids() -> Iterator[str]:
    """Registration ids: 8 random hex digits each (as ``secrets.token_hex(4)``)."""
    while True:
        block = secrets.token_bytes(4 * _ID_BATCH)
        for start in range(0, len(block), 4):
            yield block[start : start + 4].hex()


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    """One client's registration as the server holds it."""

    registration_id: str
    endpoint: str
    lifetime: int
    lwm2m_version: str
    binding: str
    queue_mode: bool
    sms_number: str | None
    #: Object id → instance ids the client listed (empty tuple: object without instances).
    objects: Mapping[int, tuple[int, ...]]
    object_versions: Mapping[int, str]
    alternate_path: str
    #: ``ct`` on the root link, if the client gave one.
    preferred_format: int | None
    links: tuple[Link, ...]
    #: Where the client's last Register/Update came from, e.g. ``"127.0.0.1:56830"``.
    address: str
    #: The endpoint of the PSK the client's DTLS session authenticated with (None: plain CoAP).
    secure_endpoint: str | None
    registered_at: float
    last_update: float
    #: Query parameters we do not interpret (kept for the curious).
    extra_parameters: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def expires_at(self) -> float:
        """When the registration ends unless the client updates it."""
        return self.last_update + self.lifetime

    @property
    def location(self) -> str:
        """The Location-Path the client uses for Update/De-register, e.g. ``"/rd/5f2c"``."""
        return f"/rd/{self.registration_id}"

    @property
    def secure(self) -> bool:
        """True when the client registered over DTLS."""
        return self.secure_endpoint is not None

    @property
    def announced_formats(self) -> frozenset[int]:
        """Content formats the client listed in ``ct`` on its root link (TS 1.1 §6.2.1 allows
        a space-separated list); empty if it gave none."""
        for link in self.links:
            if link.params.get("rt") == "oma.lwm2m":
                text = link.params.get("ct") or ""
                return frozenset(int(part) for part in text.split() if part.isdigit())
        return frozenset() if self.preferred_format is None else frozenset({self.preferred_format})

    @property
    def default_format(self) -> ContentFormat:
        """The format the server asks for / writes in when the caller names none.

        TLV for LwM2M 1.0 (TS 1.0 §6.4.3: every 1.0 client supports it). From 1.1 on SenML
        JSON (TS 1.1 §7.4), unless the client announced formats without it: then TLV or LwM2M
        JSON if it listed those.
        """
        if self.lwm2m_version == "1.0":
            return ContentFormat.TLV
        announced = {ContentFormat.from_number(n) for n in self.announced_formats}
        announced = {fmt.canonical for fmt in announced if fmt is not None}
        if not announced or ContentFormat.SENML_JSON in announced:
            return ContentFormat.SENML_JSON
        for fallback in (ContentFormat.TLV, ContentFormat.LWM2M_JSON):
            if fallback in announced:
                return fallback
        return ContentFormat.SENML_JSON

    def has_instance(self, object_id: int, instance_id: int | None = None) -> bool:
        """True if the client listed the object (and instance, if given) when it registered."""
        if object_id not in self.objects:
            return False
        return instance_id is None or instance_id in self.objects[object_id]


def _parse_query(queries: Iterable[str]) -> dict[str, str | None]:
    parameters: dict[str, str | None] = {}
    for query in queries:
        name, sep, value = query.partition("=")
        if not name:
            raise BadRequest(f"query parameter {query!r} has no name")
        if name in parameters:
            raise BadRequest(f"query parameter {name!r} is given twice")
        parameters[name] = value if sep else None
    return parameters


def _value(parameters: Mapping[str, str | None], name: str) -> str | None:
    if name not in parameters:
        return None
    value = parameters[name]
    if value is None:
        raise BadRequest(f"query parameter {name!r} needs a value")
    return value


def _lifetime(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise BadRequest(f"lifetime lt={text!r} is not a whole number of seconds")
    lifetime = int(text)
    if not 1 <= lifetime <= _MAX_LIFETIME:
        raise BadRequest(f"lifetime lt={lifetime} is outside 1..{_MAX_LIFETIME}")
    return lifetime


def _binding(text: str) -> str:
    if not text or not set(text) <= _BINDING_LETTERS or len(set(text)) != len(text):
        raise BadRequest(f"binding b={text!r} is not made of the letters U, T, S, N, Q")
    return text


def _check_link_format(content_format: int | None) -> None:
    # Register/Update payloads are application/link-format (TS 1.0 §5.3.1); many clients
    # leave the option out, so only a different format is refused.
    if content_format not in (None, ContentFormat.LINK_FORMAT):
        raise UnsupportedContentFormat(
            f"the object list must be application/link-format (40), not {content_format}"
        )


class RegistrationStore:
    """All registrations of one server, keyed by registration id and by endpoint name."""

    def __init__(
        self,
        *,
        supported_versions: Sequence[str] = ("1.0", "1.1"),
        psk_required: Callable[[str], bool] = lambda endpoint: False,
        awake_time: float = DEFAULT_AWAKE_TIME,
        new_id: Callable[[], str] | None = None,
        max_registrations: int | None = None,
        max_link_bytes: int | None = DEFAULT_MAX_LINK_BYTES,
    ) -> None:
        self.supported_versions = tuple(supported_versions)
        #: At most this many registrations at once (None: no cap). A new endpoint past it is
        #: answered 5.03 Service Unavailable with Max-Age; an endpoint already registered may
        #: always register again (it replaces its own registration).
        self.max_registrations = max_registrations
        #: Longest object list (link-format payload, bytes) a Register/Update may carry; past
        #: it the answer is 4.13 Request Entity Too Large.
        self.max_link_bytes = max_link_bytes
        self.awake_time = awake_time
        self._psk_required = psk_required
        self._new_id = new_id or functools.partial(next, _random_ids())
        self._parsed: dict[bytes, RegisterPayload] = {}
        self._by_id: dict[str, Registration] = {}
        self._id_by_endpoint: dict[str, str] = {}
        #: Queue-mode endpoints → end of their awake window (absent: sleeping).
        self._awake_until: dict[str, float] = {}
        self._events: deque[ServerEvent] = deque()
        #: (when, kind, registration id or endpoint), a heap; entries whose registration or
        #: awake window changed since are skipped when they come up.
        self._deadlines: list[tuple[float, int, str]] = []

    # -- queries ------------------------------------------------------------------------------

    def get(self, registration_id: str) -> Registration | None:
        """The registration with that id, or ``None``."""
        return self._by_id.get(registration_id)

    def by_endpoint(self, endpoint: str) -> Registration | None:
        """The current registration of ``endpoint``, or ``None``."""
        registration_id = self._id_by_endpoint.get(endpoint)
        return None if registration_id is None else self._by_id[registration_id]

    def registrations(self) -> tuple[Registration, ...]:
        """All current registrations, oldest first."""
        return tuple(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def is_awake(self, endpoint: str) -> bool:
        """True if requests can go to ``endpoint`` now (always, unless it is in queue mode and
        its awake window has closed)."""
        registration = self.by_endpoint(endpoint)
        if registration is None:
            return False
        return not registration.queue_mode or endpoint in self._awake_until

    # -- the registration interface ----------------------------------------------------------

    def register(
        self,
        queries: Iterable[str],
        payload: bytes,
        *,
        content_format: int | None,
        address: str,
        secure_endpoint: str | None,
        now: float,
    ) -> Registration:
        """Handle ``POST /rd?ep=..&lt=..&lwm2m=..&b=..`` (TS 1.0 §5.3.1)."""
        parameters = _parse_query(queries)
        endpoint = _value(parameters, "ep")
        if not endpoint:
            raise BadRequest("Register needs a non-empty endpoint name (ep=)")
        check_endpoint_name(endpoint)
        self._check_security(endpoint, secure_endpoint)
        lifetime_text = _value(parameters, "lt")
        lifetime = DEFAULT_LIFETIME if lifetime_text is None else _lifetime(lifetime_text)
        version = _value(parameters, "lwm2m")
        if version is None:
            version = "1.0"
        elif not re.fullmatch(r"[0-9]+\.[0-9]+", version):
            raise BadRequest(f"LwM2M version lwm2m={version!r} is not of the form 1.0")
        if version not in self.supported_versions:
            raise PreconditionFailed(
                f"LwM2M version {version!r} is not supported "
                f"(supported: {', '.join(self.supported_versions)})"
            )
        binding_text = _value(parameters, "b")
        binding = "U" if binding_text is None else _binding(binding_text)
        self._check_link_size(payload)
        if (
            self.max_registrations is not None
            and len(self._by_id) >= self.max_registrations
            and self.by_endpoint(endpoint) is None
        ):
            raise ServiceUnavailable(
                f"the server holds its maximum of {self.max_registrations} registrations",
                max_age=_RETRY_WHEN_FULL,
            )
        _check_link_format(content_format)
        if not payload.strip():
            raise BadRequest("Register needs the object list as link-format payload")
        described = self._object_list(payload)
        registration_id = self._new_id()
        while registration_id in self._by_id:
            registration_id = self._new_id()
        registration = Registration(
            registration_id=registration_id,
            endpoint=endpoint,
            lifetime=lifetime,
            lwm2m_version=version,
            binding=binding,
            queue_mode="Q" in binding or "Q" in parameters,
            sms_number=_value(parameters, "sms"),
            objects=dict(described.objects),
            object_versions=dict(described.versions),
            alternate_path=described.alternate_path,
            preferred_format=described.content_format,
            links=described.links,
            address=address,
            secure_endpoint=secure_endpoint,
            registered_at=now,
            last_update=now,
            extra_parameters={
                name: value
                for name, value in parameters.items()
                if name not in ("ep", "lt", "lwm2m", "b", "sms", "Q")
            },
        )
        replaced = self.by_endpoint(endpoint)
        if replaced is not None:
            # A client registering again replaces its old registration (TS 1.0 §5.3.1: the
            # endpoint name identifies the client).
            self._remove(replaced)
        self._by_id[registration_id] = registration
        self._id_by_endpoint[endpoint] = registration_id
        self._push_deadline(registration.expires_at, _EXPIRY, registration_id)
        self._events.append(
            Registered(endpoint=endpoint, registration=registration, replaced=replaced)
        )
        self._wake(registration, now)
        return registration

    def update(
        self,
        registration_id: str,
        queries: Iterable[str],
        payload: bytes,
        *,
        content_format: int | None,
        address: str,
        secure_endpoint: str | None,
        now: float,
    ) -> Registration:
        """Handle ``POST /rd/{id}?lt=..&b=..&sms=..`` with an optional object list (§5.3.2)."""
        previous = self._lookup(registration_id, secure_endpoint)
        parameters = _parse_query(queries)
        changes: dict[str, object] = {"address": address, "last_update": now}
        lifetime_text = _value(parameters, "lt")
        if lifetime_text is not None:
            changes["lifetime"] = _lifetime(lifetime_text)
        binding_text = _value(parameters, "b")
        if binding_text is not None:
            binding = _binding(binding_text)
            changes["binding"] = binding
            changes["queue_mode"] = "Q" in binding or "Q" in parameters
        sms = _value(parameters, "sms")
        if sms is not None:
            changes["sms_number"] = sms
        if payload.strip():
            self._check_link_size(payload)
            _check_link_format(content_format)
            described = self._object_list(payload)
            changes.update(
                objects=dict(described.objects),
                object_versions=dict(described.versions),
                alternate_path=described.alternate_path,
                preferred_format=described.content_format,
                links=described.links,
            )
        registration = replace(previous, **changes)  # type: ignore[arg-type]
        self._by_id[registration_id] = registration
        self._push_deadline(registration.expires_at, _EXPIRY, registration_id)
        self._events.append(
            Updated(endpoint=registration.endpoint, registration=registration, previous=previous)
        )
        self._wake(registration, now)
        return registration

    def _object_list(self, payload: bytes) -> RegisterPayload:
        """The parsed object list (raises ``LinkFormatError``); the same bytes parse the same,
        and the result is immutable, so recent lists are kept (see _PARSED_LISTS)."""
        key = bytes(payload)
        described = self._parsed.get(key)
        if described is None:
            described = parse_register_payload(key)
            if len(self._parsed) >= _PARSED_LISTS:
                del self._parsed[next(iter(self._parsed))]  # the oldest
            self._parsed[key] = described
        return described

    def deregister(self, registration_id: str, *, secure_endpoint: str | None) -> Registration:
        """Handle ``DELETE /rd/{id}`` (§5.3.3)."""
        registration = self._lookup(registration_id, secure_endpoint)
        self._remove(registration)
        self._events.append(Deregistered(endpoint=registration.endpoint, registration=registration))
        return registration

    def remove(self, endpoint: str) -> Registration | None:
        """Drop ``endpoint``'s registration on the server's own initiative (no event)."""
        registration = self.by_endpoint(endpoint)
        if registration is not None:
            self._remove(registration)
        return registration

    # -- queue mode ---------------------------------------------------------------------------

    def mark_heard(self, endpoint: str, now: float) -> None:
        """The client sent something (a response, a notification): it is awake."""
        registration = self.by_endpoint(endpoint)
        if registration is not None:
            self._wake(registration, now)

    def mark_sleeping(self, endpoint: str) -> None:
        """A request to a queue-mode client went unanswered: treat it as asleep."""
        registration = self.by_endpoint(endpoint)
        if (
            registration is not None
            and registration.queue_mode
            and self._awake_until.pop(endpoint, None) is not None
        ):
            self._events.append(Sleeping(endpoint=endpoint))

    # -- time ---------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` next has something to do, or ``None``."""
        self._drop_stale_deadlines()
        return self._deadlines[0][0] if self._deadlines else None

    def handle_timer(self, now: float) -> None:
        """Expire registrations whose lifetime has passed; close awake windows."""
        while True:
            self._drop_stale_deadlines()
            if not self._deadlines or self._deadlines[0][0] > now:
                return
            _, kind, key = heapq.heappop(self._deadlines)
            if kind == _EXPIRY:
                registration = self._by_id[key]
                self._remove(registration)
                self._events.append(
                    Expired(endpoint=registration.endpoint, registration=registration)
                )
            else:
                del self._awake_until[key]
                self._events.append(Sleeping(endpoint=key))

    def _push_deadline(self, when: float, kind: int, key: str) -> None:
        heapq.heappush(self._deadlines, (when, kind, key))
        # Entries go stale on every Update; rebuild when they outnumber the live ones, so the
        # heap stays proportional to the registrations (O(log n) per registration).
        if len(self._deadlines) > 2 * (len(self._by_id) + len(self._awake_until)) + 64:
            self._deadlines = [entry for entry in self._deadlines if self._is_live(entry)]
            heapq.heapify(self._deadlines)

    def _is_live(self, entry: tuple[float, int, str]) -> bool:
        when, kind, key = entry
        if kind == _EXPIRY:
            registration = self._by_id.get(key)
            return registration is not None and registration.expires_at == when
        return self._awake_until.get(key) == when

    def _drop_stale_deadlines(self) -> None:
        while self._deadlines and not self._is_live(self._deadlines[0]):
            heapq.heappop(self._deadlines)

    def next_event(self) -> ServerEvent | None:
        """The oldest event not yet pulled, or ``None``."""
        return self._events.popleft() if self._events else None

    # -- helpers ------------------------------------------------------------------------------

    def _check_link_size(self, payload: bytes) -> None:
        if self.max_link_bytes is not None and len(payload) > self.max_link_bytes:
            raise RequestEntityTooLarge(
                f"the object list has {len(payload)} bytes, at most {self.max_link_bytes} taken"
            )

    def _check_security(self, endpoint: str, secure_endpoint: str | None) -> None:
        if secure_endpoint is None:
            if self._psk_required(endpoint):
                raise Forbidden(f"endpoint {endpoint!r} has a PSK: it must register over DTLS")
        elif secure_endpoint != endpoint:
            raise Forbidden(
                f"the DTLS identity belongs to endpoint {secure_endpoint!r}, not {endpoint!r}"
            )

    def _lookup(self, registration_id: str, secure_endpoint: str | None) -> Registration:
        registration = self._by_id.get(registration_id)
        if registration is None:
            raise NotFound(f"no registration /rd/{registration_id}")
        if registration.secure_endpoint != secure_endpoint:
            # Only the session that registered (or one with the same credentials) may change
            # the registration.
            raise Forbidden(f"/rd/{registration_id} belongs to another security context")
        return registration

    def _remove(self, registration: Registration) -> None:
        del self._by_id[registration.registration_id]
        if self._id_by_endpoint.get(registration.endpoint) == registration.registration_id:
            del self._id_by_endpoint[registration.endpoint]
            self._awake_until.pop(registration.endpoint, None)

    def _wake(self, registration: Registration, now: float) -> None:
        if not registration.queue_mode:
            self._awake_until.pop(registration.endpoint, None)
            return
        if registration.endpoint not in self._awake_until:
            self._events.append(Awake(endpoint=registration.endpoint))
        self._awake_until[registration.endpoint] = now + self.awake_time
        self._push_deadline(now + self.awake_time, _AWAKE_END, registration.endpoint)
