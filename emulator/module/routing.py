"""Event routing: a handler names the event classes it takes, and an event reaches only the
handlers that take its class.

A module in a fleet emits two events per periodic LwM2M Update, and most of the handlers
beside it (the TCP/IP, MQTT and HTTP stacks, the netinfo or nitz families, a fleet's
listeners) want neither. Letting each of them look at every event and return cost a
10,000-module ``serve`` a good part of its idle CPU (issue 14); working out once per event
class which handlers take it costs one dictionary look-up per event instead.

That work is shared: the modules of a fleet have the same services, listeners and families,
so every table whose handlers declare the same classes, in the same order, shares one
:class:`_Shape` (which positions take which class). A module carries no routing table of its
own, only its handlers: memory per module is a fleet's limit as well as CPU.
"""

from __future__ import annotations

import weakref
from typing import Generic, TypeVar

from emulator.module.events import ModuleEvent

__all__ = ["EVERY_EVENT", "EventRoutes", "EventTypes"]

EventTypes = tuple[type[ModuleEvent], ...]
#: What a handler that names nothing takes: every event.
EVERY_EVENT: EventTypes = (ModuleEvent,)

H = TypeVar("H")


class _Shape:
    """For one list of declarations (a handler's ``EventTypes`` each): the positions of the
    handlers that take each event class, worked out on the class's first event."""

    __slots__ = ("__weakref__", "by_class", "declared")

    def __init__(self, declared: tuple[EventTypes, ...]) -> None:
        self.declared = declared
        self.by_class: dict[type[ModuleEvent], tuple[int, ...]] = {}

    def route(self, kind: type[ModuleEvent]) -> tuple[int, ...]:
        positions = tuple(i for i, events in enumerate(self.declared) if issubclass(kind, events))
        self.by_class[kind] = positions
        return positions


# Shapes in use, by their declarations; one nobody uses any more goes (tests make many).
_SHAPES: weakref.WeakValueDictionary[tuple[EventTypes, ...], _Shape] = (
    weakref.WeakValueDictionary()
)


def _shape(declared: tuple[EventTypes, ...]) -> _Shape:
    shape = _SHAPES.get(declared)
    if shape is None:
        shape = _SHAPES[declared] = _Shape(declared)
    return shape


class EventRoutes(Generic[H]):
    """Handlers in the order they were added, each with the event classes it takes (an
    event takes the route of a handler when it is an instance of one of them)."""

    __slots__ = ("_handlers", "_shape")

    def __init__(self) -> None:
        self._handlers: tuple[H, ...] = ()
        self._shape = _shape(())

    def add(self, handler: H, events: EventTypes = EVERY_EVENT) -> None:
        self._handlers = (*self._handlers, handler)
        self._shape = _shape((*self._shape.declared, events))

    def remove(self, handler: H) -> None:
        """Forget the first route of ``handler``; ValueError when it has none."""
        for index, known in enumerate(self._handlers):
            if known == handler:
                self._handlers = self._handlers[:index] + self._handlers[index + 1 :]
                declared = self._shape.declared
                self._shape = _shape(declared[:index] + declared[index + 1 :])
                return
        raise ValueError(f"{handler!r} is not routed")

    def handlers(self, event: ModuleEvent) -> tuple[H, ...]:
        """The handlers that take ``event``, in order. A tuple: a handler adding or removing
        handlers while the event is delivered changes the routes of later events only."""
        kind = type(event)
        shape = self._shape
        try:
            positions = shape.by_class[kind]
        except KeyError:
            positions = shape.route(kind)
        # The usual answers without building a tuple through a generator: none, all, one.
        if not positions:
            return ()
        handlers = self._handlers
        count = len(positions)
        if count == len(handlers):
            return handlers
        if count == 1:
            return (handlers[positions[0]],)
        return tuple(handlers[i] for i in positions)
