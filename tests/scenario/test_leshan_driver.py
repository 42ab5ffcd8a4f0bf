"""LeshanDriver against a fake of Leshan's HTTP API (both generations): the requests it sends
and how it reads answers and server-sent events. The real-Leshan tests are in
test_leshan_real.py and run only when QUECEMU_LESHAN_URL names a Leshan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from scenario_tool.driver import (
    BootstrapConfig,
    BootstrapEnded,
    Deregistered,
    Notified,
    Registered,
    Updated,
)
from scenario_tool.errors import DriverError, StepTimeout, Unreachable, UnsupportedOperation
from scenario_tool.leshan import LeshanDriver
from tests.scenario.fake_leshan import SLEEPY, SLOW, FakeLeshan, registration_json

EP = "urn:imei:869339060001965"


@pytest.fixture(params=[2, 1], ids=["leshan-2.x", "leshan-1.x"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeLeshan]:
    server = FakeLeshan(request.param).start()
    server.registered.add(EP)
    yield server
    server.stop()


@pytest.fixture
async def driver(fake: FakeLeshan) -> AsyncIterator[LeshanDriver]:
    driver = LeshanDriver(fake.url, coap_host="127.0.0.1")
    await driver.start()
    yield driver
    await driver.close()


async def test_the_generation_is_found_out(fake: FakeLeshan, driver: LeshanDriver) -> None:
    assert driver.api == str(fake.generation)
    # Finding out uses the event streams (1.x answers 404 on /api/event), not the device API.
    assert {r.path for r in fake.requests} == (set() if fake.generation == 2 else {"/api/event"})


async def test_registration_update_and_deregistration_events_are_waited_for(
    fake: FakeLeshan, driver: LeshanDriver
) -> None:
    await driver.watch(EP)
    fake.wait_streams(2)
    fake.emit("REGISTRATION", registration_json(EP, generation=fake.generation), endpoint=EP)
    event = await driver.events.take(Registered, EP, 2)
    registration = event.registration
    assert registration is not None
    assert (registration.lifetime, registration.binding, registration.lwm2m_version) == (
        86400,
        "U",
        "1.0",
    )
    assert "</3/0>" in registration.object_links
    assert registration.secure is False
    update = {"registration": registration_json(EP, lifetime=60), "update": {"lifetime": 60}}
    fake.emit("UPDATED", update, endpoint=EP)
    updated = await driver.events.take(Updated, EP, 2)
    assert updated.registration.lifetime == 60
    fake.emit("DEREGISTRATION", registration_json(EP), endpoint=EP)
    await driver.events.take(Deregistered, EP, 2)
    # The ep-filtered stream delivered the same events: none of them counts twice.
    with pytest.raises(StepTimeout, match="no registration"):
        await driver.events.take(Registered, EP, 0.3)


async def test_coap_log_events_of_a_watched_endpoint_reach_the_transcript(
    fake: FakeLeshan, driver: LeshanDriver
) -> None:
    await driver.watch(EP)
    fake.wait_streams(2)
    seen = asyncio.Event()
    lines: list[str] = []

    def listener(event: object) -> None:
        lines.append(getattr(event, "text", ""))
        seen.set()

    driver.events.add_listener(listener)
    log = {
        "incoming": True,
        "type": "CON",
        "code": "POST",
        "mId": 7,
        "token": "ab",
        "options": "Uri-Path: rd",
        "payload": "</1/0>",
    }
    fake.emit("COAPLOG", log, endpoint=EP)
    await asyncio.wait_for(seen.wait(), 2)
    assert lines == ["<- CON POST mid=7 token=ab Uri-Path: rd '</1/0>'"]


async def test_a_timeout_names_other_endpoints_the_server_saw(
    fake: FakeLeshan, driver: LeshanDriver
) -> None:
    fake.emit("REGISTRATION", registration_json("urn:imei:111"))
    await asyncio.sleep(0)  # nothing to wait on: the point is that EP never comes
    with pytest.raises(StepTimeout, match="saw registrations of: urn:imei:111"):
        await driver.events.take(Registered, EP, 0.5)


async def test_reads_come_back_as_plain_values(fake: FakeLeshan, driver: LeshanDriver) -> None:
    response = await driver.read(EP, "/3/0/0", content_format=None, timeout=2)
    assert (response.code, response.value) == ("2.05", "Quectel")
    response = await driver.read(EP, "/3/0", content_format="tlv", timeout=2)
    # 2.x gives integers as text and time in ms; 1.x types come from our object definitions
    assert response.value == {0: "Quectel", 6: {0: 1, 1: 5}, 9: 87, 13: 1_700_000_000}
    read = fake.requests[-1]
    assert read.path == f"/api/clients/{EP}/3/0"
    assert read.query["format"] == ["TLV"] and read.query["timeout"] == ["2"]
    response = await driver.read(EP, "/3/0/13", content_format=None, timeout=2)
    assert response.value == 1_700_000_000
    response = await driver.read(EP, "/4/0/0", content_format=None, timeout=2)
    assert response.code == "4.04" and response.error == "no such resource"


async def test_opaque_values_are_bytes(fake: FakeLeshan, driver: LeshanDriver) -> None:
    response = await driver.read(EP, "/5/0/0", content_format=None, timeout=2)
    assert response.value == b"\x0a\x0b\xff"


async def test_write_bodies_follow_each_generation(fake: FakeLeshan, driver: LeshanDriver) -> None:
    response = await driver.write(EP, "/1/0/1", 120, None, content_format=None, timeout=2)
    assert response.code == "2.04"
    body = fake.requests[-1].json()
    if fake.generation == 2:
        assert body == {"id": 1, "kind": "singleResource", "value": "120", "type": "INTEGER"}
    else:
        assert body == {"id": 1, "value": 120}
    await driver.write(EP, "/3/0/13", 1_700_000_000, None, content_format=None, timeout=2)
    body = fake.requests[-1].json()
    # Both generations read a JSON integer for a Time resource as epoch milliseconds.
    assert body["value"] == 1_700_000_000_000
    assert fake.device_time == 1_700_000_000
    await driver.write(EP, "/1/0", {1: 60, 7: "U"}, None, content_format="tlv", timeout=2)
    request = fake.requests[-1]
    assert request.query["replace"] == ["false"] and request.query["format"] == ["TLV"]
    resources = {r["id"]: r["value"] for r in request.json()["resources"]}
    assert resources == ({1: "60", 7: "U"} if fake.generation == 2 else {1: 60, 7: "U"})
    assert request.content_type == "application/json"


async def test_execute_observe_attributes_discover_cancel(
    fake: FakeLeshan, driver: LeshanDriver
) -> None:
    assert (await driver.execute(EP, "/3/0/4", "0='x'", timeout=2)).code == "2.04"
    execute = fake.requests[-1]
    assert (execute.method, execute.body, execute.content_type) == ("POST", b"0='x'", "text/plain")
    fake.notify_on_observe = 80
    response = await driver.observe(EP, "/3/0/9", content_format=None, timeout=2)
    assert (response.code, response.value) == ("2.05", 87)
    assert fake.requests[-1].path.endswith("/3/0/9/observe")
    notification = await driver.events.take(Notified, EP, 2, path="/3/0/9")
    assert notification.value == 80
    response = await driver.write_attributes(EP, "/3/0/9", {"pmin": 1.0, "pmax": 2.0}, timeout=2)
    assert response.code == "2.04"
    attributes = fake.requests[-1]
    assert attributes.path.endswith("/3/0/9/attributes")
    assert (attributes.query["pmin"], attributes.query["pmax"]) == (["1"], ["2"])
    response = await driver.discover(EP, "/3/0", timeout=2)
    assert response.links == ("</3/0>", "</3/0/9>;pmin=1")
    await driver.cancel_observe(EP, "/3/0/9", timeout=2)
    cancel = fake.requests[-1]
    assert cancel.method == "DELETE" and cancel.path.endswith("/3/0/9/observe")
    assert ("active" in cancel.query) == (fake.generation == 2)


async def test_psk_bodies_follow_each_generation(fake: FakeLeshan, driver: LeshanDriver) -> None:
    await driver.set_psk(EP, "quecemu", bytes.fromhex("00112233"))
    request = fake.requests[-1]
    assert request.method == "PUT"
    if fake.generation == 2:
        assert request.path == "/api/security/clients"
        assert request.json() == {
            "endpoint": EP,
            "tls": {"mode": "psk", "details": {"identity": "quecemu", "key": "00112233"}},
        }
    else:
        assert request.path == "/api/security/clients/"
        assert request.json() == {"endpoint": EP, "psk": {"identity": "quecemu", "key": "00112233"}}
    # What the driver configured is taken back when it closes (the next scenario's NoSec
    # registration of the same endpoint would be refused otherwise).
    await driver.close()
    removal = fake.requests[-1]
    assert removal.method == "DELETE"
    assert removal.path == f"/api/security/clients/{EP}"


async def test_device_timeouts_unknown_endpoints_and_sleepers(
    fake: FakeLeshan, driver: LeshanDriver
) -> None:
    with pytest.raises(StepTimeout, match="did not answer Leshan within 1 s"):
        await driver.read(SLOW, "/3/0/0", content_format=None, timeout=1)
    with pytest.raises(DriverError, match="no registration of urn:imei:999"):
        await driver.read("urn:imei:999", "/3/0/0", content_format=None, timeout=1)
    # queue mode: the answer comes later as a REQUEST_RESPONSE event
    response = await driver.write(SLEEPY, "/1/0/1", 60, None, content_format=None, timeout=2)
    assert response.code == "2.04"


async def test_stopping_leshan_is_not_ours(driver: LeshanDriver) -> None:
    with pytest.raises(UnsupportedOperation, match="docker-compose"):
        await driver.stop()
    with pytest.raises(UnsupportedOperation, match="bootstrap server"):
        await driver.configure_bootstrap(EP, BootstrapConfig(server_uri="coap://x:1"))


async def test_the_bootstrap_server_is_configured_and_followed() -> None:
    server = FakeLeshan(2).start()
    bootstrap = FakeLeshan(2).start()
    driver = LeshanDriver(server.url, bootstrap_url=bootstrap.url)
    try:
        await driver.start()
        config = BootstrapConfig(
            server_uri="coaps://127.0.0.1:5684",
            short_id=1,
            lifetime=300,
            security="psk",
            identity="id",
            key=b"\x01\xff",
        )
        await driver.configure_bootstrap(EP, config)
        posted = next(r for r in bootstrap.requests if r.method == "POST")
        assert posted.path == f"/api/bootstrap/{EP}"
        body = posted.json()
        assert body["toDelete"] == ["/0", "/1"]
        assert body["servers"]["0"]["shortId"] == 1 and body["servers"]["0"]["lifetime"] == 300
        assert body["servers"]["0"]["binding"] == ["U"]
        security = body["security"]["1"]
        assert security["uri"] == "coaps://127.0.0.1:5684"
        assert security["securityMode"] == "PSK" and security["serverId"] == 1
        assert security["publicKeyOrId"] == [105, 100] and security["secretKey"] == [1, -1]
        bootstrap.wait_streams(1)
        bootstrap.emit("BSSESSION", {"name": "new session", "endpoint": EP, "message": "hi"})
        bootstrap.emit("BSSESSION", {"name": "finished", "endpoint": EP, "message": "ok"})
        event = await driver.events.take(BootstrapEnded, EP, 2)
        assert event.ok
    finally:
        await driver.close()
        server.stop()
        bootstrap.stop()


async def test_a_leshan_1x_bootstrap_is_seen_through_the_dm_registration() -> None:
    # Leshan 1.x's bootstrap server publishes no events; the client registering with the DM
    # server it was given is what proves the bootstrap went through.
    server = FakeLeshan(1).start()
    bootstrap = FakeLeshan(1, bootstrap=True).start()
    driver = LeshanDriver(server.url, bootstrap_url=bootstrap.url)
    try:
        await driver.start()
        assert driver.api == "1"
        await driver.configure_bootstrap(EP, BootstrapConfig(server_uri="coap://127.0.0.1:5683"))
        with pytest.raises(StepTimeout):
            await driver.events.take(BootstrapEnded, EP, 0.2)
        server.wait_streams(1)
        server.emit("REGISTRATION", registration_json(EP, generation=1))
        event = await driver.events.take(BootstrapEnded, EP, 2)
        assert event.ok and "registration" in event.summary()
        # The registration itself is still there for the scenario's next wait.
        registration = await driver.events.take(Registered, EP, 2)
        assert registration.registration is not None
        assert not [r for r in bootstrap.requests if "event" in r.path]
    finally:
        await driver.close()
        server.stop()
        bootstrap.stop()


async def test_an_unreachable_leshan_is_one_clear_error() -> None:
    driver = LeshanDriver("http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(Unreachable, match=r"http://127.0.0.1:9 is not reachable"):
        await driver.start()


async def test_something_that_is_not_leshan_is_named() -> None:
    server = FakeLeshan(2).start()
    server.generation = 3  # neither /api/event nor /event streams any more
    try:
        driver = LeshanDriver(server.url)
        with pytest.raises(DriverError, match="does not look like a Leshan demo server"):
            await driver.start()
    finally:
        server.stop()
