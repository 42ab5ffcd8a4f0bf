"""Event routing: a handler gets exactly the events of the classes it names, and every class a
handler looks at is one it names (or it would silently never see those events)."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from emulator.adapters.http import HttpAdapter
from emulator.adapters.mqtt import MqttAdapter
from emulator.adapters.sockets import SocketAdapter
from emulator.commands import lwm2m, netinfo, nitz, simdet, tcpip
from emulator.module.events import BootCompleted, ModuleEvent, SignalChanged
from emulator.module.routing import EventRoutes, EventTypes


@dataclass(frozen=True, kw_only=True)
class Special(BootCompleted):
    """A subclass: it takes the routes of its base class."""


def test_an_event_reaches_the_handlers_of_its_classes_in_order() -> None:
    routes: EventRoutes[str] = EventRoutes()
    routes.add("everything")
    routes.add("boot", (BootCompleted,))
    routes.add("signal", (SignalChanged,))
    routes.add("both", (SignalChanged, BootCompleted))
    assert routes.handlers(BootCompleted()) == ("everything", "boot", "both")
    assert routes.handlers(Special()) == ("everything", "boot", "both")
    assert routes.handlers(SignalChanged(rssi=1, ber=99)) == ("everything", "signal", "both")


def test_routes_follow_handlers_added_and_removed_after_events_went_through() -> None:
    routes: EventRoutes[str] = EventRoutes()
    routes.add("boot", (BootCompleted,))
    delivered = routes.handlers(BootCompleted())
    routes.add("late", (BootCompleted,))
    assert delivered == ("boot",)  # what was being delivered does not change
    assert routes.handlers(SignalChanged(rssi=1, ber=99)) == ()
    assert routes.handlers(BootCompleted()) == ("boot", "late")
    routes.remove("boot")
    assert routes.handlers(BootCompleted()) == ("late",)
    with pytest.raises(ValueError, match="not routed"):
        routes.remove("boot")


def test_tables_with_the_same_declarations_keep_their_own_handlers() -> None:
    # A fleet's modules share the work of routing, never each other's handlers.
    first: EventRoutes[str] = EventRoutes()
    second: EventRoutes[str] = EventRoutes()
    other: EventRoutes[str] = EventRoutes()
    for routes, name in ((first, "first"), (second, "second")):
        routes.add(f"{name} boot", (BootCompleted,))
        routes.add(f"{name} all")
    other.add("other all")
    other.add("other boot", (BootCompleted,))
    assert first.handlers(BootCompleted()) == ("first boot", "first all")
    assert second.handlers(SignalChanged(rssi=1, ber=99)) == ("second all",)
    assert second.handlers(BootCompleted()) == ("second boot", "second all")
    assert other.handlers(SignalChanged(rssi=1, ber=99)) == ("other all",)
    second.remove("second boot")
    assert second.handlers(BootCompleted()) == ("second all",)
    assert first.handlers(BootCompleted()) == ("first boot", "first all")


def _event_classes(expr: ast.expr, names: dict[str, Any]) -> set[type]:
    if isinstance(expr, ast.Name):
        found = names[expr.id]
        assert isinstance(found, type)
        return {found}
    if isinstance(expr, ast.BinOp):
        return _event_classes(expr.left, names) | _event_classes(expr.right, names)
    if isinstance(expr, ast.Tuple):
        return set().union(*(_event_classes(e, names) for e in expr.elts))
    raise AssertionError(f"cannot tell the classes of {ast.unparse(expr)}")


def looked_at(function: Callable[..., object]) -> set[type]:
    """The event classes ``function`` tests events against with ``isinstance``."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    classes: set[type] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "isinstance":
            classes |= _event_classes(node.args[1], function.__globals__)
    return {c for c in classes if issubclass(c, ModuleEvent)}


HANDLERS: list[tuple[str, Callable[..., object], EventTypes]] = [
    ("sockets", SocketAdapter.on_event, SocketAdapter.handled_events),
    ("mqtt", MqttAdapter.on_event, MqttAdapter.handled_events),
    ("http", HttpAdapter.on_event, HttpAdapter.handled_events),
    ("lwm2m family", lwm2m._on_event, lwm2m.OBSERVED_EVENTS),
    ("netinfo family", netinfo._on_event, netinfo.OBSERVED_EVENTS),
    ("nitz family", nitz._on_event, nitz.OBSERVED_EVENTS),
    ("simdet family", simdet._on_event, simdet.OBSERVED_EVENTS),
    ("tcpip family", tcpip.attach, tcpip.OBSERVED_EVENTS),
]


@pytest.mark.parametrize(("name", "function", "declared"), HANDLERS, ids=[h[0] for h in HANDLERS])
def test_a_handler_names_every_event_class_it_looks_at(
    name: str, function: Callable[..., object], declared: EventTypes
) -> None:
    seen = looked_at(function)
    assert seen, f"{name}: no isinstance test found"
    missing = {c.__name__ for c in seen if not issubclass(c, declared)}
    assert not missing, f"{name} looks at {sorted(missing)} but is not routed them"
