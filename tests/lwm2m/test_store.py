"""The object store: server operations, access rules, bindings, execute handlers, events."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from emulator.lwm2m import (
    AttributesWritten,
    BadRequest,
    ContentFormat,
    InstanceCreated,
    InstanceDeleted,
    InternalServerError,
    LwM2MError,
    LwM2MObject,
    LwM2MPath,
    MethodNotAllowed,
    MultiResource,
    NotFound,
    ObjectInstance,
    ObjectStore,
    ResourceExecuted,
    ResourceInstance,
    ResourcesWritten,
    SingleResource,
    StoreEvent,
    Unauthorized,
    Value,
    decode,
    default_registry,
    encode,
    format_links,
)

P = LwM2MPath.parse


def make_store() -> ObjectStore:
    store = ObjectStore(default_registry())
    store.add_instance(0, 0, {0: "coap://127.0.0.1:5683", 1: False, 2: 3, 10: 101})
    store.add_instance(1, 0, {0: 101, 1: 86400, 2: 1, 3: 60, 6: False, 7: "U"})
    store.add_instance(
        3,
        0,
        {0: "Quectel", 1: "EC200U", 9: 80, 11: {0: 0}, 13: 1700000000, 16: "U", 6: {0: 1, 1: 5}},
    )
    store.add_object(5)
    return store


def drain(store: ObjectStore) -> list[StoreEvent]:
    events = []
    while (event := store.next_event()) is not None:
        events.append(event)
    return events


def code_of(error: LwM2MError) -> str:
    return error.code_text


def test_read_levels() -> None:
    store = make_store()
    instance = store.read(P("/3/0"))
    assert isinstance(instance, ObjectInstance)
    assert instance.resources[0] == SingleResource(0, "Quectel")
    assert 4 not in instance.resources  # executable: no value
    assert store.read(P("/3/0/6")) == MultiResource(6, {0: 1, 1: 5})
    assert store.read(P("/3/0/6/1")) == ResourceInstance(1, 5)
    assert store.read(P("/5")) == LwM2MObject(5, {})
    obj = store.read(P("/1"))
    assert isinstance(obj, LwM2MObject) and list(obj.instances) == [0]


@pytest.mark.parametrize(
    ("path", "error", "code"),
    [
        ("/", MethodNotAllowed, "4.05"),
        ("/42", NotFound, "4.04"),
        ("/3/1", NotFound, "4.04"),
        ("/3/0/2", NotFound, "4.04"),  # defined but not present
        ("/3/0/99", NotFound, "4.04"),
        ("/3/0/6/7", NotFound, "4.04"),
        ("/3/0/0/0", NotFound, "4.04"),
        ("/3/0/4", MethodNotAllowed, "4.05"),  # Reboot is executable
        ("/0/0", Unauthorized, "4.01"),
        ("/0", Unauthorized, "4.01"),
    ],
)
def test_read_errors(path: str, error: type[LwM2MError], code: str) -> None:
    with pytest.raises(error) as caught:
        make_store().read(P(path))
    assert code_of(caught.value) == code


def test_write_only_resource_is_not_readable_but_writable() -> None:
    store = make_store()
    store.add_instance(5, 0, {1: "", 3: 0, 5: 0, 9: 2})
    store.write(P("/5/0/0"), SingleResource(0, b"\x01\x02"))
    with pytest.raises(MethodNotAllowed):
        store.read(P("/5/0/0"))
    assert 0 not in store.read(P("/5/0")).resources  # type: ignore[union-attr]
    assert store.get_value(P("/5/0/0")) == b"\x01\x02"


def test_server_write_reports_paths_and_enforces_operations() -> None:
    store = make_store()
    drain(store)
    store.write(P("/1/0/1"), SingleResource(1, 300))
    assert drain(store) == [ResourcesWritten(paths=(P("/1/0/1"),), by_server=True)]
    assert store.get_value(P("/1/0/1")) == 300
    with pytest.raises(MethodNotAllowed, match="not writable") as caught:
        store.write(P("/1/0/0"), SingleResource(0, 5))
    assert code_of(caught.value) == "4.05"
    with pytest.raises(BadRequest, match="expected an integer"):
        store.write(P("/1/0/1"), SingleResource(1, "long"))
    with pytest.raises(NotFound):
        store.write(P("/1/7/1"), SingleResource(1, 5))
    with pytest.raises(MethodNotAllowed):
        store.write(P("/1"), LwM2MObject(1, {}))
    with pytest.raises(Unauthorized):
        store.write(P("/0/0/0"), SingleResource(0, "coap://evil"))
    with pytest.raises(MethodNotAllowed, match="executable"):
        store.write(P("/1/0/8"), SingleResource(8, "x"))
    with pytest.raises(BadRequest, match="resource 2"):
        store.write(P("/1/0/1"), SingleResource(2, 5))
    assert drain(store) == []  # refused writes report nothing
    # the device itself may write read-only resources
    store.write(P("/1/0/0"), SingleResource(0, 102), by_server=False)
    assert drain(store) == [ResourcesWritten(paths=(P("/1/0/0"),), by_server=False)]


def test_instance_write_is_checked_before_anything_changes() -> None:
    store = make_store()
    payload = ObjectInstance(0, {1: SingleResource(1, 120), 0: SingleResource(0, 7)})
    with pytest.raises(MethodNotAllowed):
        store.write(P("/1/0"), payload, replace=False)
    assert store.get_value(P("/1/0/1")) == 86400


def test_instance_replace_and_partial_update() -> None:
    store = make_store()
    store.write(P("/1/0/5"), SingleResource(5, 30))  # optional Disable Timeout
    drain(store)
    store.write(P("/1/0"), ObjectInstance(0, {1: SingleResource(1, 120)}), replace=False)
    assert store.get_value(P("/1/0/5")) == 30
    assert drain(store) == [ResourcesWritten(paths=(P("/1/0/1"),), by_server=True)]
    store.write(P("/1/0"), ObjectInstance(0, {1: SingleResource(1, 90)}), replace=True)
    assert not store.has(P("/1/0/5"))  # optional writable resource not in the payload: gone
    assert store.get_value(P("/1/0/7")) == "U"  # mandatory ones stay
    assert not store.has(P("/1/0/2")) and not store.has(P("/1/0/3"))
    assert drain(store) == [
        ResourcesWritten(paths=(P("/1/0/1"), P("/1/0/2"), P("/1/0/3"), P("/1/0/5")), by_server=True)
    ]


def test_multiple_resource_writes() -> None:
    store = make_store()
    store.add_instance(11, 0, {0: "p", 4: 3, 8: {0: "460,01"}})
    store.write(P("/11/0/8"), MultiResource(8, {1: "460,00"}), replace=False)
    assert store.get_value(P("/11/0/8")) == {0: "460,01", 1: "460,00"}
    store.write(P("/11/0/8"), MultiResource(8, {5: "001,01"}), replace=True)
    assert store.get_value(P("/11/0/8")) == {5: "001,01"}
    store.write(P("/11/0/8/6"), ResourceInstance(6, "002,02"))
    assert store.get_value(P("/11/0/8")) == {5: "001,01", 6: "002,02"}
    with pytest.raises(BadRequest, match="multiple resource"):
        store.write(P("/11/0/8"), SingleResource(8, "x"))
    with pytest.raises(BadRequest, match="single resource"):
        store.write(P("/11/0/0"), MultiResource(0, {0: "x"}))


def test_write_via_codec_like_the_adapter_does() -> None:
    store = make_store()
    registry = store.definitions
    payload = bytes.fromhex("C8 0D 04 65 00 00 00".replace(" ", ""))[:3]  # wrong on purpose
    with pytest.raises(LwM2MError) as caught:
        store.write(P("/3/0/13"), decode(payload, ContentFormat.TLV, P("/3/0/13"), registry))
    assert code_of(caught.value) == "4.00"
    content = decode(b"1800000000", ContentFormat.TEXT, P("/3/0/13"), registry)
    store.write(P("/3/0/13"), content)
    answer = encode(store.read(P("/3/0/13")), ContentFormat.TEXT, P("/3/0/13"), registry)
    assert answer == b"1800000000"


def test_bound_resources() -> None:
    store = make_store()
    state = {"rssi": -71, "time": 1700000000}
    written: list[object] = []

    def set_time(value: Value | Mapping[int, Value]) -> None:
        if isinstance(value, int) and value < 0:
            raise BadRequest("time before 1970")
        assert isinstance(value, int)
        state["time"] = value
        written.append(value)

    store.add_instance(4, 0, {0: 6, 1: {0: 6}, 4: {0: "10.0.0.2"}})
    store.bind(P("/4/0/2"), getter=lambda: state["rssi"])
    store.bind(P("/3/0/13"), getter=lambda: state["time"], setter=set_time)
    assert store.read(P("/4/0/2")) == SingleResource(2, -71)
    state["rssi"] = -90
    assert store.read(P("/4/0")).resources[2] == SingleResource(2, -90)  # type: ignore[union-attr]
    store.write(P("/3/0/13"), SingleResource(13, 1800000000))
    assert written == [1800000000] and store.read(P("/3/0/13")) == SingleResource(13, 1800000000)
    with pytest.raises(BadRequest, match="1970"):
        store.write(P("/3/0/13"), SingleResource(13, -5))
    store.bind(P("/4/0/3"), getter=lambda: "bad")
    with pytest.raises(InternalServerError, match="bad value"):
        store.read(P("/4/0/3"))

    def broken() -> Value:
        raise RuntimeError("modem gone")

    store.bind(P("/4/0/8"), getter=broken)
    with pytest.raises(InternalServerError, match="modem gone") as caught:
        store.read(P("/4/0/8"))
    assert code_of(caught.value) == "5.00"
    with pytest.raises(BadRequest):
        store.bind(P("/3/0/4"), getter=lambda: 1)


def test_execute() -> None:
    store = make_store()
    calls: list[tuple[LwM2MPath, bytes]] = []
    store.on_execute(P("/3/0/4"), lambda path, args: calls.append((path, args)))
    drain(store)
    store.execute(P("/3/0/4"))
    store.execute(P("/1/0/8"), b"")  # no handler: reported as an event only
    assert calls == [(P("/3/0/4"), b"")]
    assert drain(store) == [
        ResourceExecuted(path=P("/3/0/4"), arguments=b""),
        ResourceExecuted(path=P("/1/0/8"), arguments=b""),
    ]
    with pytest.raises(MethodNotAllowed):
        store.execute(P("/3/0/0"))
    with pytest.raises(MethodNotAllowed):
        store.execute(P("/3/0"))
    with pytest.raises(NotFound):
        store.execute(P("/3/1/4"))
    with pytest.raises(NotFound):
        store.execute(P("/3/0/99"))
    with pytest.raises(Unauthorized):
        store.execute(P("/0/0/0"))

    def refuse(path: LwM2MPath, args: bytes) -> None:
        raise MethodNotAllowed("no factory reset while registered")

    store.on_execute(P("/3/0/5"), refuse)
    with pytest.raises(MethodNotAllowed, match="no factory reset"):
        store.execute(P("/3/0/5"))
    with pytest.raises(BadRequest, match="not executable"):
        store.on_execute(P("/3/0/0"), refuse)


def test_create_and_delete() -> None:
    store = make_store()
    drain(store)
    created = store.create(
        P("/11"), ObjectInstance(None, {0: SingleResource(0, "iot"), 4: SingleResource(4, 3)})
    )
    assert created == P("/11/0")
    second = store.create(
        P("/11"), ObjectInstance(7, {0: SingleResource(0, "b"), 4: SingleResource(4, 0)})
    )
    assert second == P("/11/7")
    assert store.instance_ids()[11] == [0, 7]
    with pytest.raises(BadRequest, match="already exists"):
        store.create(
            P("/11"), ObjectInstance(7, {0: SingleResource(0, "b"), 4: SingleResource(4, 0)})
        )
    with pytest.raises(BadRequest, match="mandatory"):
        store.create(P("/11"), ObjectInstance(None, {0: SingleResource(0, "x")}))
    with pytest.raises(BadRequest, match="single-instance"):
        store.create(P("/3"), ObjectInstance(None, {}))
    with pytest.raises(MethodNotAllowed):
        store.create(P("/11/3"), ObjectInstance(None, {}))
    with pytest.raises(Unauthorized):
        store.create(P("/0"), ObjectInstance(None, {}))
    store.delete(P("/11/0"))
    assert drain(store) == [
        InstanceCreated(path=P("/11/0"), by_server=True),
        InstanceCreated(path=P("/11/7"), by_server=True),
        InstanceDeleted(path=P("/11/0"), by_server=True),
    ]
    with pytest.raises(NotFound):
        store.delete(P("/11/0"))
    with pytest.raises(MethodNotAllowed):
        store.delete(P("/3/0"))  # the Device instance always stays
    with pytest.raises(MethodNotAllowed):
        store.delete(P("/11"))
    with pytest.raises(Unauthorized):
        store.delete(P("/0/0"))


def test_discover_and_attributes() -> None:
    store = make_store()
    store.write_attributes(P("/3"), {"pmax": 300})
    store.write_attributes(P("/3/0"), {"pmin": 10})
    store.write_attributes(P("/3/0/9"), {"pmin": 5, "gt": 50})
    assert format_links(store.discover(P("/3"))) == (
        "</3>;pmax=300,</3/0>;pmin=10,</3/0/0>,</3/0/1>,</3/0/4>,</3/0/6>,</3/0/9>;pmin=5;gt=50,"
        "</3/0/11>,</3/0/13>,</3/0/16>"
    )
    assert format_links(store.discover(P("/3/0"), lwm2m_version="1.1")).startswith(
        "</3/0>;pmin=10,</3/0/0>,</3/0/1>,</3/0/4>,</3/0/6>;dim=2,"
    )
    # on a resource, the inherited attributes are included
    assert format_links(store.discover(P("/3/0/9"))) == "</3/0/9>;pmin=5;pmax=300;gt=50"
    assert store.effective_attributes(P("/3/0/0")).as_dict() == {"pmin": 10, "pmax": 300}
    # nothing attached at all: the Server object's defaults /1/0/2, /1/0/3 apply
    assert store.effective_attributes(P("/1/0/1")).as_dict() == {"pmin": 1, "pmax": 60}
    with pytest.raises(Unauthorized):
        store.discover(P("/0"))
    with pytest.raises(NotFound):
        store.discover(P("/3/0/2"))
    with pytest.raises(MethodNotAllowed):
        store.discover(P("/"))


def test_attributes_are_per_server() -> None:
    store = make_store()
    store.add_instance(1, 1, {0: 202, 1: 600, 2: 30, 6: False, 7: "U"})
    store.write_attributes(P("/3/0/13"), {"pmax": 99}, short_server_id=101)
    assert store.effective_attributes(P("/3/0/13"), short_server_id=101).as_dict() == {
        "pmin": 1,
        "pmax": 99,
    }
    assert store.effective_attributes(P("/3/0/13"), short_server_id=202).as_dict() == {"pmin": 30}


@pytest.mark.parametrize(
    ("path", "changes", "error", "reason"),
    [
        ("/3/0", {"gt": 5.0}, BadRequest, "only apply to resources"),
        ("/3/0/0", {"gt": 5.0}, BadRequest, "numeric single"),
        ("/3/0/6", {"st": 1.0}, BadRequest, "numeric single"),
        ("/3/0/13", {"gt": 5.0}, BadRequest, "numeric single"),  # Time is not numeric
        ("/3/0/9", {"lt": 5.0, "gt": 5.0}, BadRequest, "less than gt"),
        ("/3/0/9", {"lt": 0.0, "gt": 5.0, "st": 3.0}, BadRequest, "lt \\+ 2\\*st"),
        ("/3/0", {"pmin": 60.0, "pmax": 10.0}, BadRequest, "less than pmin"),
        ("/3/0", {"bogus": 1.0}, BadRequest, "unknown"),
        ("/3/1", {"pmin": 1.0}, NotFound, "does not exist"),
        ("/0/0", {"pmin": 1.0}, Unauthorized, "Security"),
        ("/3/0/6/0", {"pmin": 1.0}, MethodNotAllowed, "not allowed"),
    ],
)
def test_write_attributes_refusals(
    path: str, changes: dict[str, float | None], error: type[LwM2MError], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        make_store().write_attributes(P(path), changes)


def test_write_attributes_event_and_removal() -> None:
    store = make_store()
    drain(store)
    store.write_attributes(P("/3/0/13"), {"pmin": 5, "pmax": 50})
    store.write_attributes(P("/3/0/13"), {"pmin": None})
    assert store.attributes(P("/3/0/13")).as_dict() == {"pmax": 50}
    assert drain(store) == [
        AttributesWritten(
            path=P("/3/0/13"), short_server_id=None, attributes={"pmin": 5, "pmax": 50}
        ),
        AttributesWritten(path=P("/3/0/13"), short_server_id=None, attributes={"pmax": 50}),
    ]
    store.delete(P("/3/0"), by_server=False)
    assert store.attributes(P("/3/0/13")).is_empty()  # dropped with the instance


def test_local_changes_and_listeners() -> None:
    store = make_store()
    seen: list[StoreEvent] = []
    store.add_listener(seen.append)
    store.set_value(P("/3/0/13"), 1700000001)
    store.set_value(P("/3/0/13"), 1700000001)  # unchanged: no event
    store.set_value(P("/3/0/11/1"), 3)
    assert seen == [
        ResourcesWritten(paths=(P("/3/0/13"),), by_server=False),
        ResourcesWritten(paths=(P("/3/0/11"),), by_server=False),
    ]
    assert store.get_value(P("/3/0/11")) == {0: 0, 1: 3}
    with pytest.raises(BadRequest):
        store.set_value(P("/3/0/13"), "now")
    with pytest.raises(BadRequest):
        store.set_value(P("/3/0/11"), 5)


def test_event_queue_is_bounded_and_counts_drops() -> None:
    store = ObjectStore(default_registry(), max_queued_events=2)
    store.add_instance(3, 0, {13: 0})
    for second in range(1, 6):
        store.set_value(P("/3/0/13"), second)
    assert store.dropped_events == 3
    assert len(drain(store)) == 2


def test_add_instance_checks() -> None:
    store = make_store()
    with pytest.raises(NotFound):
        store.add_instance(77)
    with pytest.raises(NotFound):
        store.add_instance(11, None, {99: 1})
    with pytest.raises(BadRequest, match="multiple resource"):
        store.add_instance(11, None, {0: "x", 4: 1, 8: "not a dict"})
    with pytest.raises(BadRequest, match="single-instance"):
        store.add_instance(3)
    assert store.add_instance(11) == P("/11/0")
    assert store.add_instance(11) == P("/11/1")
