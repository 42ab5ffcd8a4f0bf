"""One interface to an LwM2M server, two implementations (embedded, Leshan).

Every scenario runs against either: the runner only calls :class:`ServerDriver`. What a
server reports (registrations, updates, notifications ...) arrives as :class:`ServerEvent`
in one :class:`EventBox` per driver; a ``wait`` takes the oldest matching event not taken
yet, so an event that came before the step asked for it is still found (registrations race
the steps that trigger them; waiting on the event, never a sleep, is what keeps that stable).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Protocol, TypeAlias, TypeVar

from scenario_tool.errors import StepTimeout
from scenario_tool.values import Tree, describe_code, render


@dataclass(frozen=True, kw_only=True)
class Registration:
    """What a server knows of a registration (LwM2M TS 1.0 §5.3.1 Register parameters)."""

    endpoint: str
    registration_id: str = ""
    lifetime: int | None = None
    binding: str | None = None
    lwm2m_version: str | None = None
    object_links: tuple[str, ...] = ()  # "</3/0>" or with attributes "</1/0>;ver=1.1"
    secure: bool | None = None
    address: str | None = None

    def summary(self) -> str:
        parts = [f"ep={self.endpoint}"]
        if self.lifetime is not None:
            parts.append(f"lt={self.lifetime}")
        if self.binding:
            parts.append(f"b={self.binding}")
        if self.lwm2m_version:
            parts.append(f"lwm2m={self.lwm2m_version}")
        if self.secure is not None:
            parts.append("dtls" if self.secure else "nosec")
        if self.object_links:
            parts.append(",".join(self.object_links))
        return " ".join(parts)


# --------------------------------------------------------------------------- events
# One union of small frozen events, produced alike by both drivers (from our server's own
# events, or from Leshan's server-sent events): the runner waits on a type, the transcript
# prints ``summary()``; nothing is told apart by a string.
@dataclass(frozen=True, kw_only=True)
class Registered:
    """The server accepted a Register (TS 1.0 §5.3.1)."""

    name: ClassVar[str] = "registration"
    endpoint: str
    at: float  # loop time when the driver received it
    registration: Registration

    def summary(self) -> str:
        return f"REGISTRATION {self.registration.summary()}"


@dataclass(frozen=True, kw_only=True)
class Updated:
    """The server accepted an Update (TS 1.0 §5.3.2)."""

    name: ClassVar[str] = "update"
    endpoint: str
    at: float
    registration: Registration

    def summary(self) -> str:
        return f"UPDATE {self.registration.summary()}"


@dataclass(frozen=True, kw_only=True)
class Deregistered:
    """A registration ended: a De-register (TS 1.0 §5.3.3) or, ``expired``, its lifetime."""

    name: ClassVar[str] = "deregistration"
    endpoint: str
    at: float
    registration: Registration | None = None
    expired: bool = False

    def summary(self) -> str:
        return f"DEREGISTRATION ep={self.endpoint}" + (
            " (lifetime expired)" if self.expired else ""
        )


@dataclass(frozen=True, kw_only=True)
class BootstrapEnded:
    """A bootstrap sequence finished (``ok``) or failed (TS 1.0 §5.2)."""

    name: ClassVar[str] = "bootstrap"
    endpoint: str
    at: float
    ok: bool = True
    detail: str = ""

    def summary(self) -> str:
        state = "finished" if self.ok else "FAILED"
        return f"BOOTSTRAP ep={self.endpoint} {state} {self.detail}".rstrip()


@dataclass(frozen=True, kw_only=True)
class Notified:
    """An Observe notification (RFC 7641 §4.2); ``error`` when its content was unreadable."""

    name: ClassVar[str] = "notification"
    endpoint: str
    at: float
    path: str
    value: Tree | None = None
    error: str = ""

    def summary(self) -> str:
        shown = f"({self.error})" if self.error else render(self.value)
        return f"NOTIFY ep={self.endpoint} {self.path} = {shown}"


@dataclass(frozen=True, kw_only=True)
class ServerNote:
    """Something for the transcript only (a sleeping client, a stopped server, and with
    ``coap`` a CoAP message the server traced)."""

    name: ClassVar[str] = "log"
    endpoint: str
    at: float
    text: str
    coap: bool = False

    def summary(self) -> str:
        return self.text


ServerEvent: TypeAlias = (
    Registered | Updated | Deregistered | BootstrapEnded | Notified | ServerNote
)
# What a scenario's ``wait:`` names, by the name it uses (format.WAIT_EVENTS).
WAITABLE: Final[Mapping[str, type[ServerEvent]]] = {
    kind.name: kind for kind in (Registered, Updated, Deregistered, BootstrapEnded, Notified)
}
EventT = TypeVar("EventT", bound=ServerEvent)


@dataclass(frozen=True, kw_only=True)
class Response:
    """A server operation's outcome: the CoAP code the client answered and any content."""

    code: str | None  # dotted CoAP code; None when the server does not report one
    value: Tree | None = None
    links: tuple[str, ...] = ()  # Discover
    error: str = ""  # the server's explanation of a failure, if it gave one

    def summary(self) -> str:
        text = describe_code(self.code) if self.code else "done"
        if self.value is not None:
            text += f" {render(self.value)}"
        if self.links:
            text += " " + ",".join(self.links)
        if self.error:
            text += f" ({self.error})"
        return text


@dataclass(frozen=True, kw_only=True)
class BootstrapConfig:
    """What a bootstrap server writes to a client: one LwM2M server account (TS 1.0 §5.2)."""

    server_uri: str
    short_id: int = 1
    lifetime: int = 86400
    binding: str = "U"
    security: str = "nosec"  # or "psk"
    identity: str | None = None
    key: bytes | None = None


EventListener = Callable[[ServerEvent], None]


class ServerDriver(Protocol):
    """The operations a scenario can ask of a server. All waits are bounded by ``timeout``."""

    kind: str  # "embedded" or "leshan"

    @property
    def events(self) -> EventBox: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def coap_address(self) -> tuple[str, int]:
        """Where the server's CoAP (NoSec) endpoint is."""

    def coaps_address(self) -> tuple[str, int] | None:
        """Where its CoAP-over-DTLS endpoint is (None: no DTLS)."""

    def bootstrap_address(self, secure: bool = False) -> tuple[str, int] | None:
        """Where the bootstrap server is (None: none)."""

    async def watch(self, endpoint: str) -> None:
        """Start following one endpoint's events before it registers."""

    async def read(
        self, endpoint: str, path: str, *, content_format: str | None, timeout: float
    ) -> Response: ...

    async def write(
        self,
        endpoint: str,
        path: str,
        value: Any,
        value_type: str | None,
        *,
        content_format: str | None,
        timeout: float,
    ) -> Response: ...

    async def execute(
        self, endpoint: str, path: str, args: str | None, *, timeout: float
    ) -> Response: ...

    async def discover(self, endpoint: str, path: str, *, timeout: float) -> Response: ...

    async def observe(
        self, endpoint: str, path: str, *, content_format: str | None, timeout: float
    ) -> Response: ...

    async def cancel_observe(self, endpoint: str, path: str, *, timeout: float) -> Response: ...

    async def write_attributes(
        self, endpoint: str, path: str, attributes: Mapping[str, float], *, timeout: float
    ) -> Response: ...

    async def set_psk(self, endpoint: str, identity: str, key: bytes) -> None: ...

    async def configure_bootstrap(self, endpoint: str, config: BootstrapConfig) -> None: ...

    async def stop(self) -> None:
        """Take the server down (its endpoints stop answering)."""

    async def restart(self) -> None:
        """Bring it back on the same addresses, with its registrations forgotten."""


@dataclass
class _Waiter:
    kind: type[Any]  # one of ServerEvent's types
    endpoint: str
    path: str | None
    future: asyncio.Future[ServerEvent]

    def matches(self, event: ServerEvent) -> bool:
        if type(event) is not self.kind or event.endpoint != self.endpoint:
            return False
        return self.path is None or (isinstance(event, Notified) and event.path == self.path)


@dataclass
class EventBox:
    """Server events in arrival order; each is taken by at most one wait. Both drivers post
    here, and every wait of the runner is :meth:`take` of an event type."""

    events: list[ServerEvent] = field(default_factory=list)
    listeners: list[EventListener] = field(default_factory=list)
    _taken: set[int] = field(default_factory=set)
    _waiters: list[_Waiter] = field(default_factory=list)

    def add_listener(self, listener: EventListener) -> None:
        self.listeners.append(listener)

    def post(self, event: ServerEvent) -> None:
        index = len(self.events)
        self.events.append(event)
        for listener in list(self.listeners):
            listener(event)
        for waiter in list(self._waiters):
            if not waiter.future.done() and waiter.matches(event):
                self._taken.add(index)
                self._waiters.remove(waiter)
                waiter.future.set_result(event)
                return

    async def take(
        self,
        kind: type[EventT],
        endpoint: str,
        timeout: float,
        *,
        path: str | None = None,
        since: float | None = None,
    ) -> EventT:
        """The oldest untaken ``kind`` event of ``endpoint`` (and, for notifications,
        ``path``), waiting if needed; with ``since``, events that came before that time do
        not count."""
        waiter = _Waiter(kind, endpoint, path, asyncio.get_running_loop().create_future())
        for index, event in enumerate(self.events):
            if since is not None and event.at < since:
                continue
            if index not in self._taken and waiter.matches(event):
                self._taken.add(index)
                return _as(kind, event)
        self._waiters.append(waiter)
        try:
            return _as(kind, await asyncio.wait_for(asyncio.shield(waiter.future), timeout))
        except TimeoutError:
            if waiter.future.done():  # matched in the same instant the time ran out
                return _as(kind, waiter.future.result())
            what = f"{kind.name} of {endpoint}" + (f" on {path}" if path else "")
            seen = self.describe_recent(endpoint)
            raise StepTimeout(f"no {what} within {timeout:g} s{seen}") from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def previous(self, event: ServerEvent) -> ServerEvent | None:
        """The latest event before ``event`` of its kind and endpoint (for notifications, of
        its path), taken or not."""
        found = False
        for earlier in reversed(self.events):
            if earlier is event:
                found = True
            elif (
                found
                and type(earlier) is type(event)
                and earlier.endpoint == event.endpoint
                and getattr(earlier, "path", None) == getattr(event, "path", None)
            ):
                return earlier
        return None

    def describe_recent(self, endpoint: str) -> str:
        """A hint for timeouts: what the server did see (other endpoints' names matter)."""
        others = sorted({e.endpoint for e in self.events if isinstance(e, Registered)} - {endpoint})
        if others:
            return f" (the server saw registrations of: {', '.join(others)})"
        return ""


def _as(kind: type[EventT], event: ServerEvent) -> EventT:
    assert isinstance(event, kind)  # _Waiter.matches compared the type
    return event
