"""Timers of many modules on one event loop, behind one asyncio timer.

A fleet arms two timers per module and Update: the module's own next timer (the next Update,
a retry, an AT command's deadline) and the response deadline of its request. As asyncio
timers, each cost a timer handle and a copy of the context (objects the cyclic collector
walks while they wait, 10,000 modules' worth), a cancellation, and comparisons in Python in
the loop's heap of all of them. Here a timer is a ``(when, key)`` entry in one heap (compared
in C; plain numbers, which the collector stops tracking) and its callback sits in a table by
key while it is live; one asyncio timer is armed for the earliest entry. A timer no longer
wanted drops its key; the one timer skips dropped entries when it fires and re-arms for the
first live one. Dropped entries are swept out once they are most of the heap, so it stays
bounded by the live timers.

What is due runs in the order it fell due (then in the order it was added), as separate
asyncio timers would; a timer added while the due ones run waits for the next turn of the
loop even when it is already due, so a callback that re-arms itself at once cannot hold the
loop.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import weakref
from collections.abc import Callable

__all__ = ["LoopTimers"]


class LoopTimers:
    """The timers of one event loop (see the module's docstring)."""

    COMPACT_AT = 1024  # dropped entries before a sweep is considered

    def __init__(self) -> None:
        # (No reference to the loop: the loop is the key of _TIMERS, held weakly; the
        # caller hands it in, or asyncio says which one runs.)
        self._heap: list[tuple[float, int]] = []
        self._live: dict[int, Callable[[], None]] = {}
        self._next_key = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> LoopTimers:
        """The loop's timers (made with the loop's first timer, gone with the loop)."""
        timers = _TIMERS.get(loop)
        if timers is None:
            timers = _TIMERS[loop] = cls()
        return timers

    def __len__(self) -> int:
        """Entries held, dropped ones included (for tests)."""
        return len(self._heap)

    def add(
        self, loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[[], None]
    ) -> int:
        """Call ``callback`` in ``delay`` seconds (on ``loop``, the running one) unless the
        key returned is dropped first (:meth:`drop`)."""
        when = loop.time() + delay
        key = self._next_key
        self._next_key = key + 1
        self._live[key] = callback
        heapq.heappush(self._heap, (when, key))
        if when < self._timer_at:
            self._arm(loop, when)
        return key

    def drop(self, key: int) -> None:
        """Forget a timer; nothing if it fired or was dropped."""
        if self._live.pop(key, None) is None:
            return
        heap = self._heap
        if len(heap) - len(self._live) >= self.COMPACT_AT and len(self._live) * 2 < len(heap):
            self._heap = [entry for entry in heap if entry[1] in self._live]
            heapq.heapify(self._heap)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        loop = asyncio.get_running_loop()
        now = loop.time()
        fence = self._next_key  # what is added from here on waits for the next turn
        try:
            while self._heap:  # (a callback may sweep: self._heap, not a local name)
                when, key = self._heap[0]
                if key not in self._live:
                    heapq.heappop(self._heap)
                elif when <= now and key < fence:
                    heapq.heappop(self._heap)
                    self._live.pop(key)()
                else:
                    break
        finally:  # even after a callback raised: the rest keep their timer
            self._rearm(loop)

    def _rearm(self, loop: asyncio.AbstractEventLoop) -> None:
        heap = self._heap
        while heap and heap[0][1] not in self._live:
            heapq.heappop(heap)
        if heap and heap[0][0] < self._timer_at:
            self._arm(loop, heap[0][0])


_TIMERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopTimers] = (
    weakref.WeakKeyDictionary()
)
