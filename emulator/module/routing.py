"""Event routing: a handler names the event classes it takes, and an event reaches only the
handlers that take its class.

A module in a fleet emits two events per periodic LwM2M Update, and most of the handlers
beside it (the TCP/IP, MQTT and HTTP stacks, the netinfo or nitz families, a fleet's
listeners) want neither. Letting each of them look at every event and return cost a
10,000-module ``serve`` a good part of its idle CPU (issue 14); working out once per event
class which handlers take it costs one dictionary look-up per event instead.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from emulator.module.events import ModuleEvent

__all__ = ["EVERY_EVENT", "EventRoutes", "EventTypes"]

EventTypes = tuple[type[ModuleEvent], ...]
#: What a handler that names nothing takes: every event.
EVERY_EVENT: EventTypes = (ModuleEvent,)

H = TypeVar("H")


class EventRoutes(Generic[H]):
    """Handlers in the order they were added, each with the event classes it takes (an
    event takes the route of a handler when it is an instance of one of them)."""

    def __init__(self) -> None:
        self._handlers: list[tuple[H, EventTypes]] = []
        self._by_class: dict[type[ModuleEvent], tuple[H, ...]] = {}

    def add(self, handler: H, events: EventTypes = EVERY_EVENT) -> None:
        self._handlers.append((handler, events))
        self._by_class.clear()

    def remove(self, handler: H) -> None:
        """Forget the first route of ``handler``; ValueError when it has none."""
        for index, (known, _) in enumerate(self._handlers):
            if known == handler:
                del self._handlers[index]
                self._by_class.clear()
                return
        raise ValueError(f"{handler!r} is not routed")

    def handlers(self, event: ModuleEvent) -> tuple[H, ...]:
        """The handlers that take ``event``, in order. A tuple: a handler adding or removing
        handlers while the event is delivered changes the routes of later events only."""
        kind = type(event)
        try:
            return self._by_class[kind]
        except KeyError:
            routed = tuple(h for h, events in self._handlers if issubclass(kind, events))
            self._by_class[kind] = routed
            return routed
