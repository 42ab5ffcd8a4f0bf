"""What the client works out after every input (its status, its next timer, the Update
spread), computed cheaply: each must say what the plain definition says."""

from __future__ import annotations

import ast
import inspect
import itertools
import textwrap
from collections.abc import Callable

from emulator.adapters.lwm2m_client import CoapAdapter
from emulator.lwm2m.client.client import LwM2MClient
from emulator.lwm2m.client.events import ClientWork, LwM2MStatus
from emulator.lwm2m.client.links import ACTIVE_PHASES, Phase, ServerLink
from emulator.lwm2m.client.messages import CHANGED, CREATED, DELETE, DELETED, NOT_FOUND
from emulator.module.events import ModuleEvent

from .rig import Rig
from .test_core import first_update_after


def defined_status(rig: Rig) -> LwM2MStatus:
    """``AT+QLWSTAT?`` as the phases of the links define it (the order of the tests is the
    precedence: deregistering, registered, registering, login failed)."""
    client = rig.client
    phases = {link.phase for link in client._links.values()}
    if Phase.DEREGISTERING in phases:
        return LwM2MStatus.DEREGISTERING
    if phases & {Phase.REGISTERED, Phase.UPDATING}:
        return LwM2MStatus.REGISTERED
    if (
        client._awaiting_network
        or client._apn_retry_at is not None
        or phases & (ACTIVE_PHASES - {Phase.REGISTERED, Phase.UPDATING})
    ):
        return LwM2MStatus.REGISTERING
    if Phase.FAILED in phases or client._pdp_failed:
        return LwM2MStatus.LOGIN_FAILED
    return LwM2MStatus.NOT_REGISTERED


def test_status_is_what_the_phases_of_the_links_define() -> None:
    rig = Rig()
    rig.register(lifetime=60)
    client = rig.client
    first = client._links[1]
    second = ServerLink(security=first.security, server=first.server, uri=first.uri)
    for count in (0, 1, 2):
        for phases in itertools.product(Phase, repeat=count):
            for flags in itertools.product((False, True), repeat=3):
                links = [first, second][:count]
                for link, phase in zip(links, phases, strict=True):
                    link.phase = phase
                client._links = dict(enumerate(links, start=1))
                client._awaiting_network, client._pdp_failed, retrying = flags
                client._apn_retry_at = 5.0 if retrying else None
                assert client.stat() is defined_status(rig), (phases, flags)


def test_next_timer_is_the_earliest_of_all() -> None:
    rig = Rig()
    rig.register(lifetime=60)
    client = rig.client
    link = client._links[1]
    assert client.get_timer() == link.update_at
    names = ("update_at", "retry_at", "sleep_at", "deadline")
    for values in itertools.product((None, 7.0, 3.0), repeat=len(names)):
        for name, value in zip(names, values, strict=True):
            setattr(link, name, value)
        for apn_retry_at in (None, 5.0, 1.0):
            client._apn_retry_at = apn_retry_at
            times = [t for t in (*values, apn_retry_at) if t is not None]
            assert client.get_timer() == (min(times) if times else None)
    client._apn_retry_at = None
    link.update_at = link.retry_at = link.sleep_at = link.deadline = None
    client._later(4.0, lambda now: None)
    assert client.get_timer() == rig.now + 4.0


def test_update_spread_follows_a_new_endpoint_name() -> None:
    """The spread share is worked out once per endpoint name: a run under another name
    updates at that name's moment, as a module that always had it."""

    def registered_as(rig: Rig, name: str) -> float:
        assert rig.at(f'AT+QLWCFG="epname","{name}"') == ["OK"]
        assert f"ep={name}" in rig.register(lifetime=120).request.query
        return first_update_after(rig)

    fresh: dict[str, float] = {}
    for name in ("meter-1", "meter-2"):
        rig = Rig()
        assert rig.at('AT+QLWCFG="epname/mode",1') == ["OK"]
        fresh[name] = registered_as(rig, name)
    assert fresh["meter-1"] != fresh["meter-2"]
    rig = Rig()
    assert rig.at('AT+QLWCFG="epname/mode",1') == ["OK"]
    assert registered_as(rig, "meter-1") == fresh["meter-1"]
    rig.respond(CHANGED)
    assert rig.at("AT+QLWDEREG") == ["OK"]
    assert rig.respond(DELETED).request.method == DELETE
    assert rig.stat() == 0
    assert registered_as(rig, "meter-2") == fresh["meter-2"]


def test_the_adapter_is_routed_every_module_event_the_client_follows() -> None:
    """The CoAP adapter names the events it takes (emulator.module.routing): ClientWork and
    the client's MODULE_EVENTS. Every event class on_module_event tests for must be among
    them, or the client would never see those events."""
    assert set(CoapAdapter.handled_events) == {ClientWork, *LwM2MClient.MODULE_EVENTS}
    tested = event_classes_tested(LwM2MClient.on_module_event)
    assert len(tested) >= len(LwM2MClient.MODULE_EVENTS), tested
    missing = {c.__name__ for c in tested if not issubclass(c, LwM2MClient.MODULE_EVENTS)}
    assert not missing, f"on_module_event looks at {sorted(missing)}, which are not routed"
    assert event_classes_tested(CoapAdapter.on_event) == {ClientWork}


def event_classes_tested(function: Callable[..., object]) -> set[type]:
    """The module event classes ``function`` names in its ``isinstance`` tests."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    classes: set[type] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "isinstance":
            for name in ast.walk(node.args[1]):
                if isinstance(name, ast.Name):
                    found = function.__globals__.get(name.id)
                    if isinstance(found, type) and issubclass(found, ModuleEvent):
                        classes.add(found)
    return classes


def test_the_periodic_update_follows_the_location_and_the_pending_changes() -> None:
    """The plain Update (nothing but the location) is built once per location; one that
    carries a change is built for it, and a new registration's location shows at once."""
    rig = Rig()
    rig.register(lifetime=60)
    assert rig.at("AT+QLWUPDATE") == ["OK"]
    first = rig.respond(CHANGED).request
    assert rig.at("AT+QLWUPDATE") == ["OK"]
    second = rig.respond(CHANGED).request
    assert first.path == second.path == ("rd", "r1") and second.query == ()
    assert rig.at('AT+QLWCFG="server",1,90,1,60,30,1,"U"') == ["OK"]  # a new lifetime
    assert rig.respond(CHANGED).request.query == ("lt=90",)
    assert rig.at("AT+QLWUPDATE") == ["OK"]
    assert rig.respond(NOT_FOUND).request.query == ()  # forgotten: register afresh
    assert rig.respond(CREATED, ("rd", "r2")).request.path == ("rd",)
    assert rig.at("AT+QLWUPDATE") == ["OK"]
    moved = rig.respond(CHANGED).request
    assert (moved.path, moved.query, moved.payload) == (("rd", "r2"), (), b"")
