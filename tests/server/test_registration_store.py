"""The registration interface core, sans-I/O, on an explicit clock (TS 1.0 §5.3)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from emulator.lwm2m.errors import BadRequest, LwM2MError, NotFound, UnsupportedContentFormat
from emulator.lwm2m.formats import ContentFormat
from emulator.server import (
    Awake,
    Deregistered,
    Expired,
    Forbidden,
    PreconditionFailed,
    Registered,
    Registration,
    RegistrationStore,
    Sleeping,
    Updated,
)
from emulator.server.events import ServerEvent

PAYLOAD = b'</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0>,</5>'


def make_store(**options: Any) -> RegistrationStore:
    counter = itertools.count(1)
    return RegistrationStore(new_id=lambda: f"r{next(counter)}", **options)


def events(store: RegistrationStore) -> list[ServerEvent]:
    drained = []
    while (event := store.next_event()) is not None:
        drained.append(event)
    return drained


def register(
    store: RegistrationStore,
    *query: str,
    payload: bytes = PAYLOAD,
    now: float = 100.0,
    content_format: int | None = ContentFormat.LINK_FORMAT,
    secure_endpoint: str | None = None,
) -> Registration:
    return store.register(
        query or ("ep=dev", "lt=60", "lwm2m=1.0", "b=U"),
        payload,
        content_format=content_format,
        address="127.0.0.1:5000",
        secure_endpoint=secure_endpoint,
        now=now,
    )


def test_register_keeps_what_the_client_said() -> None:
    store = make_store()
    registration = register(store, "ep=dev", "lt=60", "lwm2m=1.1", "b=UQ", "sms=+100", "x=1")
    assert events(store) == [
        Registered(endpoint="dev", registration=registration),
        Awake(endpoint="dev"),
    ]
    assert registration == store.by_endpoint("dev") == store.get("r1")
    assert registration.location == "/rd/r1"
    assert registration.lifetime == 60
    assert registration.lwm2m_version == "1.1"
    assert registration.queue_mode
    assert registration.sms_number == "+100"
    assert registration.objects == {1: (0,), 3: (0,), 5: ()}
    assert registration.preferred_format == 11542
    assert registration.extra_parameters == {"x": "1"}
    assert registration.expires_at == 160.0


def test_defaults_and_format_negotiation() -> None:
    store = make_store()
    plain = store.register(
        ["ep=a"], b"</3/0>", content_format=None, address="x", secure_endpoint=None, now=0
    )
    assert (plain.lifetime, plain.lwm2m_version, plain.binding) == (86400, "1.0", "U")
    assert not plain.queue_mode
    assert plain.default_format is ContentFormat.TLV
    newer = store.register(
        ["ep=b", "lwm2m=1.1", "Q"],
        b"</3/0>",
        content_format=None,
        address="x",
        secure_endpoint=None,
        now=0,
    )
    assert newer.queue_mode
    assert newer.default_format is ContentFormat.SENML_JSON
    assert newer.announced_formats == frozenset()
    only_tlv = store.register(
        ["ep=c", "lwm2m=1.1"],
        b'</>;rt="oma.lwm2m";ct=11542,</3/0>',
        content_format=None,
        address="x",
        secure_endpoint=None,
        now=0,
    )
    assert only_tlv.default_format is ContentFormat.TLV
    listing = store.register(
        ["ep=d", "lwm2m=1.1"],
        b'</>;rt="oma.lwm2m";ct="60 110 11542",</3/0>',
        content_format=None,
        address="x",
        secure_endpoint=None,
        now=0,
    )
    assert listing.announced_formats == {60, 110, 11542}
    assert listing.default_format is ContentFormat.SENML_JSON
    old_json = store.register(
        ["ep=e"],
        b'</>;rt="oma.lwm2m";ct=11543,</3/0>',
        content_format=None,
        address="x",
        secure_endpoint=None,
        now=0,
    )
    assert old_json.default_format is ContentFormat.TLV  # 1.0: TLV is mandatory


@pytest.mark.parametrize(
    ("query", "payload", "content_format", "error", "code"),
    [
        (("lt=60",), PAYLOAD, 40, BadRequest, "4.00"),  # no ep
        (("ep=",), PAYLOAD, 40, BadRequest, "4.00"),  # empty ep
        (("ep",), PAYLOAD, 40, BadRequest, "4.00"),  # ep without value
        (("ep=a", "ep=b"), PAYLOAD, 40, BadRequest, "4.00"),  # repeated
        (("ep=a", "lt=abc"), PAYLOAD, 40, BadRequest, "4.00"),
        (("ep=a", "lt=-5"), PAYLOAD, 40, BadRequest, "4.00"),
        (("ep=a", "lt=0"), PAYLOAD, 40, BadRequest, "4.00"),
        (("ep=a", "lt=4294967296"), PAYLOAD, 40, BadRequest, "4.00"),
        (("ep=a", "lt=1.5"), PAYLOAD, 40, BadRequest, "4.00"),
        (("ep=a", "b=X"), PAYLOAD, 40, BadRequest, "4.00"),
        (("ep=a", "b=UU"), PAYLOAD, 40, BadRequest, "4.00"),
        (("ep=a", "b="), PAYLOAD, 40, BadRequest, "4.00"),
        (("ep=a", "=1"), PAYLOAD, 40, BadRequest, "4.00"),
        (("ep=a", "lwm2m=2.0"), PAYLOAD, 40, PreconditionFailed, "4.12"),
        (("ep=a", "lwm2m=one"), PAYLOAD, 40, BadRequest, "4.00"),
        (("ep=a",), b"", 40, BadRequest, "4.00"),  # no object list
        (("ep=a",), b"</3/0", 40, BadRequest, "4.00"),  # unterminated link
        (("ep=a",), b"3/0>,", 40, BadRequest, "4.00"),
        (("ep=a",), b"</3/0>;=x", 40, BadRequest, "4.00"),
        (("ep=a",), b"\xff\xfe", 40, BadRequest, "4.00"),  # not UTF-8
        (("ep=a",), PAYLOAD, 11542, UnsupportedContentFormat, "4.15"),
    ],
)
def test_bad_registers_are_refused_with_their_code(
    query: tuple[str, ...],
    payload: bytes,
    content_format: int,
    error: type[LwM2MError],
    code: str,
) -> None:
    store = make_store()
    with pytest.raises(error) as raised:
        register(store, *query, payload=payload, content_format=content_format)
    assert raised.value.code_text == code
    assert str(raised.value)  # a reason for the diagnostic payload
    assert len(store) == 0 and events(store) == []


def test_update_changes_lifetime_binding_and_objects() -> None:
    store = make_store()
    first = register(store)
    events(store)
    updated = store.update(
        "r1",
        ["lt=30", "b=UQ"],
        b"</3/0>,</4/0>",
        content_format=40,
        address="127.0.0.1:6000",
        secure_endpoint=None,
        now=150.0,
    )
    assert updated.lifetime == 30 and updated.queue_mode
    assert updated.objects == {3: (0,), 4: (0,)}
    assert updated.address == "127.0.0.1:6000"
    assert updated.expires_at == 180.0
    assert events(store) == [
        Updated(endpoint="dev", registration=updated, previous=first),
        Awake(endpoint="dev"),
    ]
    # An empty Update only refreshes the lifetime.
    again = store.update(
        "r1", [], b"", content_format=None, address="a", secure_endpoint=None, now=170.0
    )
    assert again.objects == updated.objects and again.expires_at == 200.0


def test_update_and_deregister_of_unknown_ids_are_4_04() -> None:
    store = make_store()
    register(store)
    with pytest.raises(NotFound):
        store.update("nope", [], b"", content_format=None, address="a", secure_endpoint=None, now=1)
    with pytest.raises(NotFound):
        store.deregister("nope", secure_endpoint=None)
    with pytest.raises(BadRequest):
        store.update(
            "r1", ["lt=x"], b"", content_format=None, address="a", secure_endpoint=None, now=1
        )
    with pytest.raises(BadRequest):
        store.update(
            "r1", [], b"<broken", content_format=40, address="a", secure_endpoint=None, now=1
        )
    assert store.by_endpoint("dev") is not None


def test_deregister_removes() -> None:
    store = make_store()
    registration = register(store)
    events(store)
    assert store.deregister("r1", secure_endpoint=None) == registration
    assert events(store) == [Deregistered(endpoint="dev", registration=registration)]
    assert store.by_endpoint("dev") is None and store.get_timer() is None


def test_lifetime_expiry_on_the_clock() -> None:
    store = make_store()
    registration = register(store, "ep=dev", "lt=60", now=100.0)
    events(store)
    assert store.get_timer() == 160.0
    store.handle_timer(159.9)
    assert events(store) == [] and len(store) == 1
    # An Update pushes the expiry out.
    store.update("r1", [], b"", content_format=None, address="a", secure_endpoint=None, now=150.0)
    events(store)
    store.handle_timer(200.0)
    assert events(store) == [] and store.get_timer() == 210.0
    store.handle_timer(210.0)
    (expired,) = events(store)
    assert isinstance(expired, Expired) and expired.endpoint == "dev"
    assert expired.registration.registration_id == registration.registration_id
    assert len(store) == 0 and store.get_timer() is None
    with pytest.raises(NotFound):
        store.update("r1", [], b"", content_format=None, address="a", secure_endpoint=None, now=211)


def test_registering_again_replaces_the_old_registration() -> None:
    store = make_store()
    old = register(store)
    events(store)
    new = register(store, "ep=dev", "lt=100", now=120.0)
    assert events(store) == [Registered(endpoint="dev", registration=new, replaced=old)]
    assert store.get("r1") is None and store.by_endpoint("dev") == new
    with pytest.raises(NotFound):
        store.deregister("r1", secure_endpoint=None)


def test_queue_mode_awake_window() -> None:
    store = make_store(awake_time=10.0)
    register(store, "ep=q", "b=UQ", now=0.0)
    register(store, "ep=plain", "b=U", now=0.0)
    events(store)
    assert store.is_awake("q") and store.is_awake("plain")
    assert store.get_timer() == 10.0
    store.mark_heard("q", 5.0)  # a response keeps it awake
    store.handle_timer(10.0)
    assert events(store) == [] and store.is_awake("q")
    store.handle_timer(15.0)
    assert events(store) == [Sleeping(endpoint="q")]
    assert not store.is_awake("q") and store.is_awake("plain")
    store.update("r1", [], b"", content_format=None, address="a", secure_endpoint=None, now=40.0)
    assert [type(e) for e in events(store)] == [Updated, Awake]
    assert store.is_awake("q")
    store.mark_sleeping("q")
    assert events(store) == [Sleeping(endpoint="q")]
    store.mark_sleeping("plain")  # not in queue mode: nothing changes
    assert events(store) == [] and store.is_awake("plain")


def test_security_rules() -> None:
    store = make_store(psk_required=lambda endpoint: endpoint == "locked")
    with pytest.raises(Forbidden) as raised:
        register(store, "ep=locked")
    assert raised.value.code_text == "4.03"
    with pytest.raises(Forbidden):
        register(store, "ep=other", secure_endpoint="locked")  # someone else's identity
    secure = register(store, "ep=locked", secure_endpoint="locked")
    assert secure.secure
    events(store)
    with pytest.raises(Forbidden):  # the clear-text side cannot touch a secure registration
        store.deregister("r1", secure_endpoint=None)
    assert store.deregister("r1", secure_endpoint="locked") == secure


def test_many_updates_keep_one_live_deadline_each() -> None:
    store = make_store(awake_time=5.0)
    register(store, "ep=a", "lt=10", "b=UQ", now=0.0)
    register(store, "ep=b", "lt=20", now=0.0)
    for step in range(1, 500):
        store.update("r1", [], b"", content_format=None, address="x", secure_endpoint=None,
                     now=step / 100)  # fmt: skip
    events(store)
    assert len(store._deadlines) < 2 * 3 + 64 + 1  # stale entries are compacted away
    assert store.get_timer() == 4.99 + 5.0  # a's awake window
    store.handle_timer(14.98)
    assert events(store) == [Sleeping(endpoint="a")]
    store.handle_timer(14.99)  # a expires 10 s after its last update at 4.99
    assert [type(e) for e in events(store)] == [Expired]
    assert store.get_timer() == 20.0
    store.handle_timer(25.0)
    assert [e.endpoint for e in events(store)] == ["b"]
    assert store.get_timer() is None
