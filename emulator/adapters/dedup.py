"""Duplicate detection with a bound (RFC 7252 §4.5), in place of aiocoap's unbounded one.

aiocoap's message manager remembers every received request by (peer, Message ID) for
EXCHANGE_LIFETIME (247 s), with the response to resend, and arms one timer per request to
forget it. A flood of well-formed requests with fresh Message IDs (from one peer or from
spoofed ones) therefore costs about half a kilobyte each for four minutes: 100,000 of them
left the module and the server 23 MB larger, and the cost grows with the rate.

:class:`BoundedRecent` keeps the same map in arrival order, forgets entries older than the
exchange lifetime as new ones arrive (no timer per entry), and never holds more than
``per_peer`` entries for one peer nor ``limit`` in all (each holds the answer, which holds its
request: about 1.5 KB): past that, the oldest is forgotten first, so a duplicate of a request
that many requests old is handled again instead of answered from memory. RFC 7252 §4.5
makes duplicate detection a SHOULD for exactly this trade-off ("the recipient SHOULD ... within
the EXCHANGE_LIFETIME"), and an idempotent-request server is unaffected.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any

from aiocoap.numbers.constants import TransportTuning
from aiocoap.numbers.types import CON

__all__ = ["DEFAULT_LIMIT", "DEFAULT_PER_PEER", "BoundedRecent", "bound_duplicate_detection"]

DEFAULT_LIMIT = 4096  # received requests remembered per message manager (about 6 MB at most)
#: ... and per peer: a device has a few requests in flight, never dozens (NSTART is 1, §4.7)
DEFAULT_PER_PEER = 64


class BoundedRecent(collections.OrderedDict[Any, Any]):
    """(peer, Message ID) → the response to resend (or None), oldest first, bounded in all
    and per peer.

    Entries are only added by :meth:`remember` (aiocoap later replaces a value, which keeps
    its place), so the order is the order of arrival, overall and for each peer."""

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        per_peer: int = DEFAULT_PER_PEER,
        lifetime: float = TransportTuning().EXCHANGE_LIFETIME,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.limit = limit
        self.per_peer = per_peer
        self.lifetime = lifetime
        self.clock = clock
        self._arrived: dict[Any, float] = {}
        self._by_peer: dict[Any, collections.deque[Any]] = {}
        self.forgotten_early = 0  # entries dropped for room before their lifetime ended

    def remember(self, key: Any) -> None:
        now = self.clock()
        while self:
            oldest = next(iter(self))
            if now - self._arrived[oldest] < self.lifetime:
                break
            self._forget(oldest)
        peer = key[0]
        mine = self._by_peer.setdefault(peer, collections.deque())
        if len(mine) >= self.per_peer:
            self._forget(mine[0])
            self.forgotten_early += 1
        self[key] = None
        self._arrived[key] = now
        mine.append(key)
        while len(self) > self.limit:
            self._forget(next(iter(self)))
            self.forgotten_early += 1

    def _forget(self, key: Any) -> None:
        del self[key]
        del self._arrived[key]
        mine = self._by_peer[key[0]]
        mine.popleft()  # a peer's entries go in the order they came, like all entries
        if not mine:
            del self._by_peer[key[0]]


def bound_duplicate_detection(manager: Any, limit: int = DEFAULT_LIMIT) -> BoundedRecent:
    """Replace ``manager``'s (an aiocoap MessageManager) duplicate detection by a bounded
    one. aiocoap's ``_deduplicate_message`` and ``_recent_messages`` are the two names used
    (pinned by tests/server/test_aiocoap_internals.py); its ``_store_response_for_duplicates``
    keeps working on the new map."""
    recent = BoundedRecent(limit)
    manager._recent_messages = recent

    def deduplicate(message: Any) -> bool:
        key = (message.remote, message.mid)
        if key in recent:
            if message.mtype is CON and recent[key] is not None:
                # the stored answer again, as aiocoap does (no new Message ID)
                manager._send_initially(recent[key])
            return True
        recent.remember(key)
        return False

    manager._deduplicate_message = deduplicate
    return recent
