"""One software timer on a host thread: the engine under ``osTimer``, ``machine.Timer``
and ``machine.WDT``.

Each ``start`` runs a fresh thread with its own stop event, so a callback that restarts
or stops its own timer (common in QuecPython code) never waits on itself. Expiries are
scheduled on the monotonic clock from the start time, so a periodic timer does not
drift by its callback's run time; when a callback overruns a whole period, the missed
expiries are dropped rather than fired in a burst. While a timer is running it holds the
run open (:func:`client_api.quecpython._host.hold`).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

from client_api.quecpython import _host

_all: weakref.WeakSet[SoftTimer] = weakref.WeakSet()


def stop_all() -> None:
    """Stop every timer of the process (the runtime, when a run ends)."""
    for timer in list(_all):
        timer.stop()


class SoftTimer:
    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None
        _all.add(self)

    @property
    def running(self) -> bool:
        with self._lock:
            return self._stop is not None and not self._stop.is_set()

    def start(self, period_s: float, repeat: bool, fire: Callable[[], None]) -> None:
        """(Re)start: ``fire()`` after ``period_s``, and every ``period_s`` if ``repeat``."""
        if period_s <= 0:
            raise ValueError("period must be positive")
        stop = threading.Event()
        with self._lock:
            if self._stop is not None:
                self._stop.set()
            self._stop = stop
        _host.hold(stop)
        thread = threading.Thread(
            target=self._run, args=(stop, period_s, repeat, fire), name=self.name, daemon=True
        )
        thread.start()

    def stop(self) -> bool:
        """Stop it; False when it was not running."""
        with self._lock:
            stop, self._stop = self._stop, None
        if stop is None or stop.is_set():
            return False
        stop.set()
        _host.release(stop)
        return True

    def _run(
        self, stop: threading.Event, period: float, repeat: bool, fire: Callable[[], None]
    ) -> None:
        deadline = time.monotonic() + period
        try:
            while not stop.wait(max(0.0, deadline - time.monotonic())):
                if not repeat:
                    with self._lock:
                        if self._stop is stop:
                            self._stop = None
                    stop.set()
                fire()
                if not repeat:
                    return
                deadline += period
                now = time.monotonic()
                if deadline <= now:  # the callback overran: skip what was missed
                    deadline = now + period - (now - deadline) % period
        finally:
            stop.set()
            _host.release(stop)
