"""Observation bookkeeping (RFC 7641, OMA LwM2M TS 1.0 §5.5), sans-I/O.

The adapter registers an observation when a server's GET with Observe=0 comes in
(``observe`` returns the content for the first response), arms one timer from ``get_timer()``
and, when it fires (or right after a store operation), sends what ``due(now)`` returns. ``now``
is any monotonic clock in seconds.

Store events (server writes, local ``set_value``, create, delete) mark overlapping observations
as changed by themselves; values served by a getter change silently, so call ``on_change``
for those. Rules (TS 1.0 §5.1.2):

* never two notifications closer than pmin (a change inside pmin waits for pmin to pass);
* at least one notification every pmax, changed or not (pmax ignored when below pmin);
* a change is only notified if the content differs from the last notification and, for a
  numeric resource with gt/lt/st, if the value crossed gt or lt or moved by at least st.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .attributes import NotificationAttributes
from .errors import LwM2MError
from .events import InstanceCreated, InstanceDeleted, Notification, ResourcesWritten, StoreEvent
from .formats import ContentFormat
from .model import Content, ResourceInstance, SingleResource
from .paths import LwM2MPath
from .store import ObjectStore

__all__ = ["Notification", "Observation", "ObservationManager"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """One active observation as seen from outside."""

    token: bytes
    path: LwM2MPath
    short_server_id: int | None
    content_format: ContentFormat | None
    last_content: Content
    last_sent: float


@dataclass(slots=True, kw_only=True)
class _Active:
    token: bytes
    path: LwM2MPath
    short_server_id: int | None
    content_format: ContentFormat | None
    last_content: Content
    last_sent: float
    changed: bool = False

    def snapshot(self) -> Observation:
        return Observation(
            token=self.token,
            path=self.path,
            short_server_id=self.short_server_id,
            content_format=self.content_format,
            last_content=self.last_content,
            last_sent=self.last_sent,
        )


def _periods(attributes: NotificationAttributes) -> tuple[float, float | None]:
    pmin = attributes.pmin or 0.0
    pmax = attributes.pmax
    if pmax is not None and (pmax <= 0 or pmax < pmin):
        pmax = None  # TS 1.0 §5.1.2: a pmax below pmin is ignored; 0 means none
    return pmin, pmax


def _number(content: Content) -> float | None:
    if isinstance(content, SingleResource | ResourceInstance):
        value = content.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _significant(old: Content, new: Content, attributes: NotificationAttributes) -> bool:
    if old == new:
        return False
    old_number, new_number = _number(old), _number(new)
    if old_number is None or new_number is None:
        return True
    conditions = (attributes.gt, attributes.lt, attributes.st)
    if all(condition is None for condition in conditions):
        return True
    for threshold in (attributes.gt, attributes.lt):
        if threshold is not None and (old_number > threshold) != (new_number > threshold):
            return True  # crossed the threshold in either direction
        if threshold is not None and (old_number < threshold) != (new_number < threshold):
            return True
    return attributes.st is not None and abs(new_number - old_number) >= attributes.st


class ObservationManager:
    """All observations on one store."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._active: dict[bytes, _Active] = {}
        #: The active observations by token, read-only outside (never rebound: a cheap
        #: "anything observed?" for the client, which asks after every input).
        self.active: Mapping[bytes, object] = self._active
        store.add_listener(self._on_store_event)

    def _on_store_event(self, event: StoreEvent) -> None:
        if isinstance(event, ResourcesWritten):
            self._mark(event.paths)
        elif isinstance(event, InstanceCreated | InstanceDeleted):
            self._mark((event.path,))

    def _mark(self, paths: Iterable[LwM2MPath]) -> None:
        changed = list(paths)
        for active in self._active.values():
            if any(active.path.overlaps(path) for path in changed):
                active.changed = True

    def observe(
        self,
        token: bytes,
        path: LwM2MPath,
        now: float,
        *,
        short_server_id: int | None = None,
        content_format: ContentFormat | None = None,
    ) -> Content:
        """Start (or, for a known token, restart) an observation and return the content for the
        first response. Read errors (``NotFound``, ``MethodNotAllowed``, ``Unauthorized``)
        propagate and nothing is registered."""
        content = self.store.read(path)
        self._active[bytes(token)] = _Active(
            token=bytes(token),
            path=path,
            short_server_id=short_server_id,
            content_format=content_format,
            last_content=content,
            last_sent=now,
        )
        return content

    def cancel(self, token: bytes) -> bool:
        """Stop the observation with ``token`` (GET Observe=1 or an RST, RFC 7641 §3.6)."""
        return self._active.pop(bytes(token), None) is not None

    def cancel_all(self, *, short_server_id: int | None = None) -> int:
        """Stop every observation (of one server, if given); returns how many were stopped."""
        doomed = [
            token
            for token, active in self._active.items()
            if short_server_id is None or active.short_server_id == short_server_id
        ]
        for token in doomed:
            del self._active[token]
        return len(doomed)

    def cancel_under(self, path: LwM2MPath) -> int:
        """Stop observations at or below ``path`` (e.g. after the instance was deleted)."""
        doomed = [token for token, active in self._active.items() if path.contains(active.path)]
        for token in doomed:
            del self._active[token]
        return len(doomed)

    def observations(self) -> tuple[Observation, ...]:
        """The active observations."""
        return tuple(active.snapshot() for active in self._active.values())

    def _attributes_of(self, active: _Active) -> NotificationAttributes:
        return self.store.effective_attributes(active.path, short_server_id=active.short_server_id)

    def effective_attributes(self, observation: Observation) -> NotificationAttributes:
        """The attributes in force for an observation (from the store, inherited/defaulted)."""
        return self.store.effective_attributes(
            observation.path, short_server_id=observation.short_server_id
        )

    def on_change(self, paths: Iterable[LwM2MPath], now: float) -> None:
        """Mark observations overlapping ``paths`` as changed (evaluated at ``due``).

        ``now`` is accepted for symmetry with the other inputs; timing is decided in ``due``.
        """
        del now
        self._mark(paths)

    def _next_time(self, active: _Active) -> float | None:
        pmin, pmax = _periods(self._attributes_of(active))
        candidates = []
        if active.changed:
            candidates.append(active.last_sent + pmin)
        if pmax is not None:
            candidates.append(active.last_sent + pmax)
        return min(candidates) if candidates else None

    def get_timer(self) -> float | None:
        """The earliest time ``due`` may return something, or ``None`` if nothing is pending."""
        if not self._active:  # the usual case: asked after every input of the client
            return None
        times = [t for t in (self._next_time(a) for a in self._active.values()) if t is not None]
        return min(times) if times else None

    def due(self, now: float) -> list[Notification]:
        """Notifications to send now; their observations count as notified at ``now``."""
        if not self._active:
            return []
        notifications: list[Notification] = []
        for token, active in list(self._active.items()):
            attributes = self._attributes_of(active)
            pmin, pmax = _periods(attributes)
            periodic = pmax is not None and now >= active.last_sent + pmax
            change_due = active.changed and now >= active.last_sent + pmin
            if not (periodic or change_due):
                continue
            try:
                content = self.store.read(active.path)
            except LwM2MError as error:
                del self._active[token]
                notifications.append(self._notification(active, active.last_content, error))
                continue
            if change_due:
                active.changed = False
            if periodic or (change_due and _significant(active.last_content, content, attributes)):
                active.last_content = content
                active.last_sent = now
                notifications.append(self._notification(active, content, None))
        return notifications

    @staticmethod
    def _notification(active: _Active, content: Content, error: LwM2MError | None) -> Notification:
        return Notification(
            token=active.token,
            path=active.path,
            content=content,
            content_format=active.content_format,
            short_server_id=active.short_server_id,
            error=error,
        )
