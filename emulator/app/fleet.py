"""What a run of many modules tells about itself: LwM2M status counts, failed registrations
(never silent), descriptors in use, and how late the event loop runs.

``FleetWatch`` follows every module's :class:`~emulator.lwm2m.client.events.LwM2MStatusChanged`
events, so its counts cost nothing to read and a failed registration is reported as it
happens: the first one at once, later ones summed up at most once per ``summary_interval``
(10,000 modules failing together must not print 10,000 lines). ``LoopLag`` measures the
event loop the way a module's host feels it: a timer asks to run every ``interval`` seconds
and records how late it ran; the percentiles cover the samples since the last reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.lwm2m.client.events import LwM2MStatus, LwM2MStatusChanged
from emulator.module.events import ModuleEvent

if TYPE_CHECKING:
    from emulator.app.serve import ServedModule

SUMMARY_INTERVAL = 10.0  # seconds between two summaries of failed registrations
LAG_INTERVAL = 0.02  # seconds between two lag samples (50 per second)
MAX_LAG_SAMPLES = 100_000  # about half an hour of samples between two readings
FULL_COLLECTION_HOLD_LIMIT = 120.0  # seconds a storm may hold full collections at most
_NEVER = 1 << 30  # a full-collection threshold no run reaches


def startup_state(
    server_uri: str, *, imei: str, lifetime: int, psk_key: bytes | None = None
) -> dict[str, object]:
    """A state file for ``serve --state-dir`` (``<IMEI>.json``): what
    ``AT+QLWCFG="security"``, ``"server"``, ``"startup",1`` and ``AT&W`` leave on a module, so
    it registers with ``server_uri`` as it boots. With ``psk_key``: DTLS-PSK (security mode 0)
    with the identity ``urn:imei:<IMEI>``; without: no security (mode 3)."""
    security: dict[str, object] = {
        "server_id": 1,
        "ssid": 100,
        "address": server_uri,
        "bootstrap": False,
        "mode": 0 if psk_key is not None else 3,
        "psk_identity": f"urn:imei:{imei}" if psk_key is not None else "",
        "psk_key": psk_key.hex() if psk_key is not None else "",
    }
    server = {
        "server_id": 1,
        "lifetime": lifetime,
        "pmin": 1,
        "pmax": 60,
        "disable_timeout": 86400,
        "storing": 1,
        "binding": "U",
    }
    return {"lwm2m": {"config": {"security": [security], "servers": [server], "startup": 1}}}


@dataclass(frozen=True, kw_only=True)
class LagReading:
    """How late the loop ran its timers since the last reading, in milliseconds."""

    samples: int
    median_ms: float
    p99_ms: float
    max_ms: float


class LoopLag:
    """Samples the lateness of a repeating timer on the running loop."""

    def __init__(self, interval: float = LAG_INTERVAL) -> None:
        self.interval = interval
        self._samples: list[float] = []
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        if self._handle is None:
            loop = asyncio.get_running_loop()
            self._due = loop.time() + self.interval
            self._handle = loop.call_at(self._due, self._tick)

    @property
    def running(self) -> bool:
        return self._handle is not None

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if len(self._samples) < MAX_LAG_SAMPLES:
            self._samples.append(max(0.0, now - self._due))
        self._due = now + self.interval
        self._handle = loop.call_at(self._due, self._tick)

    def reading(self) -> LagReading:
        """Percentiles of the samples since the previous reading (which starts a new window)."""
        samples, self._samples = sorted(self._samples), []
        if not samples:
            return LagReading(samples=0, median_ms=0.0, p99_ms=0.0, max_ms=0.0)

        def at(fraction: float) -> float:
            return round(samples[min(len(samples) - 1, int(fraction * len(samples)))] * 1000, 3)

        return LagReading(samples=len(samples), median_ms=at(0.5), p99_ms=at(0.99), max_ms=at(1.0))


class GcPauses:
    """How long the cyclic garbage collector held the loop: the longest pause per generation
    since the last reading (a pause is invisible to the loop's own timers until it ends)."""

    def __init__(self) -> None:
        self._started = 0.0
        self.longest: dict[int, float] = {}
        self.count = 0

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        generation = info.get("generation", 0)
        self.count += 1
        if pause > self.longest.get(generation, 0.0):
            self.longest[generation] = pause

    def reading(self) -> dict[int, float]:
        longest, self.longest, self.count = self.longest, {}, 0
        return longest


class FullCollectionHold:
    """Holds the collector's full collections while a registration storm runs.

    A full (generation 2) collection walks every object that is not frozen; during a storm
    that is everything the storm builds, and at 10,000 modules one such walk stalled every
    module for 0.4-0.7 s on a quiet machine (2.6 s loaded), at the worst moment. While held,
    generations 0 and 1 still collect (young cyclic garbage is freed as usual); only the
    threshold of the full collection is raised. :meth:`release` restores it (after the owner
    froze what the storm built); a hold releases itself after ``limit`` seconds, so a fleet
    that never settles is not left without full collections.
    """

    def __init__(self, limit: float = FULL_COLLECTION_HOLD_LIMIT) -> None:
        self.limit = limit
        self._thresholds: tuple[int, int, int] | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def held(self) -> bool:
        return self._thresholds is not None

    def hold(self) -> None:
        if self._thresholds is not None:
            return
        young, middle, _ = self._thresholds = gc.get_threshold()
        gc.set_threshold(young, middle, _NEVER)
        self._timer = asyncio.get_running_loop().call_later(self.limit, self.release)

    def release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None


class FleetWatch:
    """LwM2M status counts of a run's modules, and its failed registrations reported."""

    def __init__(
        self,
        modules: Sequence[ServedModule],
        warn: Callable[[str], None],
        *,
        summary_interval: float = SUMMARY_INTERVAL,
        on_settled: Callable[[], None] | None = None,
        on_registering: Callable[[], None] | None = None,
    ) -> None:
        self.warn = warn
        self.on_settled = on_settled  # called (soon) when no module is registering any more
        self.on_registering = on_registering  # called when the first module starts to
        self.summary_interval = summary_interval
        self.modules = len(modules)
        self.status: dict[int, LwM2MStatus] = {}  # modules whose status is not NOT_REGISTERED
        self.counts: Counter[LwM2MStatus] = Counter()
        self.failures = 0  # registrations that ended in LOGIN_FAILED, over the whole run
        self._unreported: list[ServedModule] = []
        self._summary: asyncio.TimerHandle | None = None
        for served in modules:
            served.host.add_listener(self._listener(served), (LwM2MStatusChanged,))

    def _listener(self, served: ServedModule) -> Callable[[ModuleEvent], None]:
        def on_event(event: ModuleEvent) -> None:
            if isinstance(event, LwM2MStatusChanged):
                self._changed(served, event)

        return on_event

    def _changed(self, served: ServedModule, event: LwM2MStatusChanged) -> None:
        self.counts[event.previous] -= 1
        self.counts[event.status] += 1
        if event.status is LwM2MStatus.NOT_REGISTERED:
            self.status.pop(served.index, None)
        else:
            self.status[served.index] = event.status
        if event.status is LwM2MStatus.LOGIN_FAILED:
            self.failures += 1
            self._failed(served)
        if (
            event.status is LwM2MStatus.REGISTERING
            and self.counts[LwM2MStatus.REGISTERING] == 1
            and self.on_registering is not None
        ):
            self.on_registering()
        if (
            event.previous is LwM2MStatus.REGISTERING
            and self.counts[LwM2MStatus.REGISTERING] == 0
            and self.on_settled is not None
        ):
            asyncio.get_running_loop().call_soon(self.on_settled)

    def _failed(self, served: ServedModule) -> None:
        if self.failures == 1:
            self.warn(
                f"module {served.index} (IMEI {served.imei}): LwM2M registration failed "
                f"(AT+QLWSTAT? 4); further failures are summed up every "
                f"{self.summary_interval:g} s"
            )
            return
        self._unreported.append(served)
        if self._summary is None:
            loop = asyncio.get_running_loop()
            self._summary = loop.call_later(self.summary_interval, self._summarize)

    def _summarize(self) -> None:
        self._summary = None
        failed, self._unreported = self._unreported, []
        if not failed:
            return
        shown = ", ".join(str(m.index) for m in failed[:10])
        more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
        self.warn(
            f"{len(failed)} more LwM2M registrations failed (modules {shown}{more}); "
            f"{self.failures} in all, {self.count(LwM2MStatus.LOGIN_FAILED)} modules failed now"
        )

    def count(self, status: LwM2MStatus) -> int:
        if status is LwM2MStatus.NOT_REGISTERED:
            return self.modules - len(self.status)
        return self.counts[status]

    def close(self) -> None:
        if self._summary is not None:
            self._summary.cancel()
            self._summarize()


def open_descriptors() -> int | None:
    """Descriptors this process holds (Linux /proc), or None where that cannot be read."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less the one listdir itself opened
    except OSError:
        return None


def stats_line(
    watch: FleetWatch, lag: LagReading | None, ports: int, gc_pauses: dict[int, float] | None = None
) -> str:
    """``stats modules=... registered=... failed=... lag_p99_ms=...`` (the control line)."""
    words = [
        f"modules={watch.modules}",
        f"registered={watch.count(LwM2MStatus.REGISTERED)}",
        f"registering={watch.count(LwM2MStatus.REGISTERING)}",
        f"failed={watch.count(LwM2MStatus.LOGIN_FAILED)}",
        f"deregistering={watch.count(LwM2MStatus.DEREGISTERING)}",
        f"idle={watch.count(LwM2MStatus.NOT_REGISTERED)}",
        f"failures={watch.failures}",
        f"at_ports={ports}",
    ]
    fds = open_descriptors()
    if fds is not None:
        words.append(f"fds={fds}")
    if lag is not None:
        words += [
            f"lag_samples={lag.samples}",
            f"lag_p50_ms={lag.median_ms}",
            f"lag_p99_ms={lag.p99_ms}",
            f"lag_max_ms={lag.max_ms}",
        ]
    if gc_pauses is not None:
        words += [f"gc{gen}_max_ms={gc_pauses.get(gen, 0.0) * 1000:.1f}" for gen in (0, 1, 2)]
    return "stats " + " ".join(words)
