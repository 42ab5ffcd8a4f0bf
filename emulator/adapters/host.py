"""ModuleHost: runs one VirtualModule on asyncio (the thin adapter around the sans-I/O core).

It feeds bytes from a transport, keeps exactly one timer armed at ``module.get_timer()``,
hands output to its sinks (the transport, a trace) and module events to its services (the
LwM2M client, ...). Anything that changes the module from outside goes through
``host.apply(fn)``, so output and events are flushed right after (aioquic's "feed, drain
events, transmit, re-arm the timer" loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from emulator.adapters.looptimers import LoopTimers
from emulator.module.events import ModuleEvent
from emulator.module.routing import EVERY_EVENT, EventRoutes, EventTypes
from emulator.module.virtual import BUILTIN_FAMILIES, VirtualModule

log = logging.getLogger(__name__)

T = TypeVar("T")


class ModuleService(Protocol):
    """Something that lives beside a module and reacts to its events (e.g. LwM2M client).

    A service may name the event classes its ``on_event`` looks at in a class attribute
    ``handled_events`` (an ``EventTypes`` tuple): it then gets only those. One that names
    none gets every event."""

    async def start(self) -> None: ...

    def on_event(self, event: ModuleEvent) -> None: ...

    async def stop(self) -> None: ...


OutputSink = Callable[[bytes], object]  # what a sink returns (a port's dropped count) is not used
EventListener = Callable[[ModuleEvent], None]


#: The adapter module offering ``create_service(host)`` for a built-in command family (the
#: cores do not know their adapters; loaded only for the families a profile names).
FAMILY_SERVICES: dict[str, str] = {
    "lwm2m": "emulator.adapters.lwm2m_client",
    "tcpip": "emulator.adapters.sockets",
    "mqtt": "emulator.adapters.mqtt",
    "http": "emulator.adapters.http",
}


def _handled_events(service: ModuleService) -> EventTypes:
    """The event classes ``service`` says it takes (see :class:`ModuleService`)."""
    events: EventTypes = getattr(service, "handled_events", EVERY_EVENT)
    return events


class ModuleHost:
    def __init__(self, module: VirtualModule, *, clock: Callable[[], float] = time.monotonic):
        self.module = module
        self.clock = clock
        self.services: list[ModuleService] = []
        self._sinks: list[OutputSink] = []
        self._backlogs: list[Callable[[], int]] = []
        self._service_routes: EventRoutes[ModuleService] = EventRoutes()
        self._listener_routes: EventRoutes[EventListener] = EventRoutes()
        # The one timer, on the loop's shared timers (emulator.adapters.looptimers): a key
        # there, not an asyncio timer handle per module.
        self._timers: LoopTimers | None = None
        self._timer: int | None = None
        self._timer_at: float | None = None
        # Bound once: a module re-arms its timer at every Update, and what it keeps until the
        # next one (thousands of modules' worth) is what a young collection must walk.
        self._timer_due = self._on_timer
        self._started = False

    # ------------------------------------------------------------------ wiring
    def add_sink(self, sink: OutputSink) -> None:
        """Output bytes go to every sink (the transport first, then traces)."""
        self._sinks.append(sink)

    def add_output_backlog(self, measure: Callable[[], int]) -> None:
        """A transport reports the output it holds that the host program has not taken yet
        (a pty's backlog, a --baud line's queue), so a stack pushing data can wait for it."""
        self._backlogs.append(measure)

    def output_backlog(self) -> int:
        """Bytes of output not yet taken by the host program (0 with no transport)."""
        return max((measure() for measure in self._backlogs), default=0)

    def add_listener(self, listener: EventListener, events: EventTypes = EVERY_EVENT) -> None:
        """Module events go to listeners (tests, scenarios) as well as services; ``events``:
        the classes of events this listener takes (all by default)."""
        self._listener_routes.add(listener, events)

    def remove_listener(self, listener: EventListener) -> None:
        with contextlib.suppress(ValueError):
            self._listener_routes.remove(listener)

    def add_service(self, service: ModuleService) -> None:
        self.services.append(service)
        self._service_routes.add(service, _handled_events(service))

    def load_family_services(self) -> None:
        """The I/O service of each command family that has one (the LwM2M client's CoAP,
        the sockets, MQTT and HTTP stacks): built-in ones from ``FAMILY_SERVICES``, a
        plug-in family from its own module's ``create_service(host)``."""
        for name in self.module.profile.command_families:
            if name in BUILTIN_FAMILIES:
                module_name = FAMILY_SERVICES.get(name)
                if module_name is None:
                    continue
            else:
                module_name = name
            family = importlib.import_module(module_name)
            factory = getattr(family, "create_service", None)
            if factory is not None:
                service = factory(self)
                if service is not None:
                    self.add_service(service)

    # --------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._started = True
        for service in self.services:
            await service.start()
        self.flush()

    async def stop(self) -> None:
        self._started = False
        self._disarm()
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:  # one service failing to stop must not keep others running
                log.exception("stopping %r failed", service)

    # ------------------------------------------------------------------ inputs
    def now(self) -> float:
        return self.clock()

    def feed(self, data: bytes) -> None:
        """Bytes from the host program (the transport calls this)."""
        self.module.receive_data(data, self.clock())
        self.flush()

    def apply(self, fn: Callable[[float], T]) -> T:
        """Change the module from outside (a service, a test, a scenario fault) and flush."""
        try:
            return fn(self.clock())
        finally:
            self.flush()

    def raise_urc(self, text: str) -> None:
        self.apply(lambda now: self.module.raise_urc(text, now))

    # ----------------------------------------------------------------- outputs
    def flush(self) -> None:
        """Drain output and events, then re-arm the one timer."""
        for _ in range(1000):  # events may cause output and more events; bounded
            data = self.module.data_to_send()
            if data:
                for sink in self._sinks:
                    sink(data)
            event = self.module.next_event()
            if event is None and not data:
                break
            if event is not None:
                self._dispatch(event)
        self._arm_timer()

    def _dispatch(self, event: ModuleEvent) -> None:
        for service in self._service_routes.handlers(event):
            try:
                service.on_event(event)
            except Exception:  # a service bug must not take the AT port down
                log.exception("service %r failed on %r", service, event)
        for listener in self._listener_routes.handlers(event):
            try:
                listener(event)
            except Exception:
                log.exception("listener failed on %r", event)

    def _arm_timer(self) -> None:
        when = self.module.get_timer()
        if when == self._timer_at and self._timer is not None:
            return
        self._disarm()
        self._timer_at = when
        if when is None:
            return
        loop = asyncio.get_running_loop()  # (only to arm: on Python 3.11 it asks for the pid)
        if self._timers is None:
            self._timers = LoopTimers.of(loop)
        delay = max(0.0, when - self.clock())
        self._timer = self._timers.add(loop, delay, self._timer_due)

    def _disarm(self) -> None:
        if self._timer is not None and self._timers is not None:
            self._timers.drop(self._timer)
        self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.module.handle_timer(self.clock())
        self.flush()
