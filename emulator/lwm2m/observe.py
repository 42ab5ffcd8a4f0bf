"""Observation bookkeeping (RFC 7641, OMA LwM2M TS 1.0 §5.5), sans-I/O.

The adapter registers an observation when a server's GET with Observe=0 succeeds, tells the
manager about changes (``on_change``), arms one timer from ``get_timer()`` and on expiry (or
right after ``on_change``) sends what ``due(now)`` returns. ``now`` is any monotonic clock in
seconds. Rules: never two notifications closer than pmin; at least one every pmax (if set); a
change only notifies when gt/lt/st (numeric resources) say it is significant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .attributes import NotificationAttributes
from .events import Notification
from .formats import ContentFormat
from .model import Content
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


class ObservationManager:
    """All observations on one store."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

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
        first response. Read errors (``NotFound``, ``MethodNotAllowed``) propagate and nothing is
        registered."""
        raise NotImplementedError

    def cancel(self, token: bytes) -> bool:
        """Stop the observation with ``token`` (GET Observe=1 or an RST, RFC 7641 §3.6)."""
        raise NotImplementedError

    def cancel_all(self, *, short_server_id: int | None = None) -> int:
        """Stop every observation (of one server, if given); returns how many were stopped."""
        raise NotImplementedError

    def cancel_under(self, path: LwM2MPath) -> int:
        """Stop observations at or below ``path`` (e.g. after the instance was deleted)."""
        raise NotImplementedError

    def observations(self) -> tuple[Observation, ...]:
        """The active observations."""
        raise NotImplementedError

    def effective_attributes(self, observation: Observation) -> NotificationAttributes:
        """The attributes in force for an observation (from the store, inherited/defaulted)."""
        raise NotImplementedError

    def on_change(self, paths: Iterable[LwM2MPath], now: float) -> None:
        """Mark observations overlapping ``paths`` as changed (evaluated at ``due``)."""
        raise NotImplementedError

    def get_timer(self) -> float | None:
        """The earliest time ``due`` may return something, or ``None`` if nothing is pending."""
        raise NotImplementedError

    def due(self, now: float) -> list[Notification]:
        """Notifications to send now; their observations count as notified at ``now``."""
        raise NotImplementedError
