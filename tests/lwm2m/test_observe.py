"""Observations on a fake clock: pmin, pmax, gt/lt/st, cancellation, deletion."""

from __future__ import annotations

import pytest

from emulator.lwm2m import (
    ContentFormat,
    LwM2MPath,
    MethodNotAllowed,
    NotFound,
    ObjectInstance,
    ObjectStore,
    ObservationManager,
    SingleResource,
    Unauthorized,
    default_registry,
)

P = LwM2MPath.parse


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def setup(default_pmin: int = 0, default_pmax: int = 0) -> tuple[ObjectStore, ObservationManager]:
    store = ObjectStore(default_registry())
    store.add_instance(1, 0, {0: 101, 1: 300, 2: default_pmin, 3: default_pmax, 6: False, 7: "U"})
    store.add_instance(3, 0, {9: 80, 13: 1700000000, 16: "U"})
    store.add_instance(4, 0, {0: 6, 1: {0: 6}, 2: -80, 4: {0: "10.0.0.2"}})
    return store, ObservationManager(store)


def test_change_is_notified_at_once_without_pmin() -> None:
    clock = FakeClock()
    store, manager = setup()
    first = manager.observe(b"\x01", P("/3/0/9"), clock.now, content_format=ContentFormat.TEXT)
    assert first == SingleResource(9, 80)
    assert manager.get_timer() is None  # no pmax, nothing changed
    store.set_value(P("/3/0/9"), 75)
    assert manager.get_timer() == clock.now
    [notification] = manager.due(clock.now)
    assert notification.token == b"\x01"
    assert notification.content == SingleResource(9, 75)
    assert notification.content_format is ContentFormat.TEXT
    assert notification.error is None
    assert manager.due(clock.now) == []
    assert manager.get_timer() is None


def test_pmin_holds_changes_back() -> None:
    clock = FakeClock()
    store, manager = setup()
    store.write_attributes(P("/3/0/9"), {"pmin": 10})
    start = clock.now
    manager.observe(b"t", P("/3/0/9"), start)
    clock.advance(3)
    store.set_value(P("/3/0/9"), 70)
    assert manager.get_timer() == start + 10
    assert manager.due(clock.now) == []
    clock.advance(4)
    store.set_value(P("/3/0/9"), 60)  # still inside pmin: folded into one notification
    assert manager.due(clock.now) == []
    [notification] = manager.due(clock.advance(3))
    assert notification.content == SingleResource(9, 60)
    # the next change must again wait pmin after this notification
    store.set_value(P("/3/0/9"), 50)
    assert manager.get_timer() == clock.now + 10


def test_pmax_sends_even_without_change() -> None:
    clock = FakeClock()
    store, manager = setup(default_pmin=1, default_pmax=60)  # Server object defaults
    start = clock.now
    manager.observe(b"t", P("/3/0/13"), start)
    assert manager.get_timer() == start + 60
    assert manager.due(start + 59.9) == []
    [notification] = manager.due(start + 60)
    assert notification.content == SingleResource(13, 1700000000)
    assert manager.get_timer() == start + 120
    # a change inside pmax is sent (after pmin) and restarts the pmax period
    store.set_value(P("/3/0/13"), 1700000100)
    assert manager.get_timer() == start + 61
    [notification] = manager.due(start + 61)
    assert notification.content == SingleResource(13, 1700000100)
    assert manager.get_timer() == start + 121


def test_pmax_below_pmin_is_ignored() -> None:
    clock = FakeClock()
    store, manager = setup()
    store.write_attributes(P("/3"), {"pmax": 5})
    store.write_attributes(P("/3/0/9"), {"pmin": 10})
    manager.observe(b"t", P("/3/0/9"), clock.now)
    assert manager.get_timer() is None


def test_attribute_inheritance_from_object_and_instance() -> None:
    clock = FakeClock()
    store, manager = setup(default_pmin=1, default_pmax=600)
    store.write_attributes(P("/3"), {"pmax": 30})
    store.write_attributes(P("/3/0"), {"pmin": 7})
    manager.observe(b"t", P("/3/0/9"), clock.now)
    [observation] = manager.observations()
    effective = manager.effective_attributes(observation)
    assert (effective.pmin, effective.pmax) == (7, 30)
    assert manager.get_timer() == clock.now + 30


def test_gt_lt_st_filter_changes() -> None:
    clock = FakeClock()
    store, manager = setup()
    store.write_attributes(P("/4/0/2"), {"gt": -70, "lt": -100})
    manager.observe(b"rssi", P("/4/0/2"), clock.now)
    store.set_value(P("/4/0/2"), -75)  # no threshold crossed
    assert manager.due(clock.advance(1)) == []
    assert manager.get_timer() is None
    store.set_value(P("/4/0/2"), -65)  # crossed gt upwards
    [up] = manager.due(clock.advance(1))
    assert up.content == SingleResource(2, -65)
    store.set_value(P("/4/0/2"), -72)  # crossed gt downwards
    assert len(manager.due(clock.advance(1))) == 1
    store.set_value(P("/4/0/2"), -101)  # crossed lt
    assert len(manager.due(clock.advance(1))) == 1
    store.write_attributes(P("/4/0/2"), {"gt": None, "lt": None, "st": 5})
    store.set_value(P("/4/0/2"), -98)  # moved 3 from the last notified value
    assert manager.due(clock.advance(1)) == []
    store.set_value(P("/4/0/2"), -96)  # now 5 from -101
    [step] = manager.due(clock.advance(1))
    assert step.content == SingleResource(2, -96)


def test_getter_backed_value_needs_on_change() -> None:
    clock = FakeClock()
    store, manager = setup()
    rssi = {"value": -80}
    store.bind(P("/4/0/2"), getter=lambda: rssi["value"])
    manager.observe(b"t", P("/4/0/2"), clock.now)
    rssi["value"] = -60
    assert manager.get_timer() is None  # the store cannot know
    manager.on_change([P("/4/0/2")], clock.now)
    [notification] = manager.due(clock.now)
    assert notification.content == SingleResource(2, -60)
    manager.on_change([P("/4/0")], clock.advance(1))  # no actual change: nothing sent
    assert manager.due(clock.now) == []


def test_instance_observation_sees_resource_changes_and_unchanged_values_are_quiet() -> None:
    clock = FakeClock()
    store, manager = setup()
    manager.observe(b"i", P("/3/0"), clock.now)
    manager.observe(b"r", P("/3/0/13"), clock.now)
    store.set_value(P("/3/0/9"), 10)
    notifications = manager.due(clock.now)
    assert [n.token for n in notifications] == [b"i"]
    store.write(P("/3/0/13"), SingleResource(13, 1700000000))  # same value written
    assert manager.due(clock.advance(1)) == []


def test_cancel_and_reset() -> None:
    clock = FakeClock()
    store, manager = setup()
    manager.observe(b"a", P("/3/0/9"), clock.now, short_server_id=101)
    manager.observe(b"b", P("/3/0/9"), clock.now, short_server_id=202)
    manager.observe(b"c", P("/4/0/2"), clock.now, short_server_id=101)
    assert manager.cancel(b"a") is True
    assert manager.cancel(b"a") is False
    store.set_value(P("/3/0/9"), 1)
    assert [n.token for n in manager.due(clock.now)] == [b"b"]
    assert manager.cancel_all(short_server_id=101) == 1
    assert [o.token for o in manager.observations()] == [b"b"]
    assert manager.cancel_under(P("/3")) == 1
    assert manager.observations() == ()


def test_observe_errors_register_nothing() -> None:
    clock = FakeClock()
    _, manager = setup()
    with pytest.raises(NotFound):
        manager.observe(b"x", P("/3/1"), clock.now)
    with pytest.raises(MethodNotAllowed):
        manager.observe(b"x", P("/3/0/4"), clock.now)
    with pytest.raises(Unauthorized):
        manager.observe(b"x", P("/0/0"), clock.now)
    assert manager.observations() == ()


def test_deleted_target_ends_the_observation_with_an_error() -> None:
    clock = FakeClock()
    store, manager = setup()
    store.create(P("/11"), ObjectInstance(None, {}), by_server=False)
    manager.observe(b"apn", P("/11/0"), clock.now)
    manager.observe(b"obj", P("/11"), clock.now)
    store.delete(P("/11/0"))
    notifications = {n.token: n for n in manager.due(clock.now)}
    assert isinstance(notifications[b"apn"].error, NotFound)
    assert notifications[b"obj"].error is None
    assert [o.token for o in manager.observations()] == [b"obj"]
