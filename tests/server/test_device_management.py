"""Device management and information reporting from the server to an aiocoap device
(TS 1.0 §5.4, §5.5), checked on both sides: what the server's API returns and what arrived on
the device's socket. Most run over DTLS, where the requests travel back over the device's own
session."""

from __future__ import annotations

import asyncio

import pytest
from aiocoap import Code

from emulator.adapters.lwm2m_server import (
    Deregistered,
    DeviceErrorResponse,
    DeviceTimeout,
    LwM2MServer,
    Notification,
    NotRegistered,
    ObservationClosed,
    ObservationEndCause,
    ObservationEnded,
)
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.model import LwM2MObject, ObjectInstance, SingleResource
from emulator.lwm2m.paths import LwM2MPath

from .aiocoap_device import AiocoapDevice, next_seen
from .conftest import DeviceFactory


async def registered(
    server: LwM2MServer, make_device: DeviceFactory, endpoint: str, **options: object
) -> AiocoapDevice:
    device = await make_device(endpoint, **options)
    response = await device.register()
    assert response.code == Code.CREATED, response.payload
    await server.wait_registered(endpoint, timeout=5)
    return device


@pytest.mark.parametrize(
    ("lwm2m", "wire_format"), [("1.0", ContentFormat.TLV), ("1.1", ContentFormat.SENML_JSON)]
)
async def test_read_negotiates_the_format_by_version(
    server: LwM2MServer, make_device: DeviceFactory, lwm2m: str, wire_format: ContentFormat
) -> None:
    device = await registered(server, make_device, "reader", secure=True, lwm2m=lwm2m)
    content = await server.read("reader", "/3/0")
    seen = await next_seen(device)
    assert (seen.method, seen.path, seen.accept) == ("GET", ("3", "0"), wire_format)
    assert content == device.store.read(LwM2MPath(3, 0))
    whole_object = await server.read("reader", "/3")
    assert isinstance(whole_object, LwM2MObject) and 0 in whole_object.instances
    text = await server.read("reader", "/3/0/1", format=ContentFormat.TEXT)
    assert text == SingleResource(1, "EC200U")


async def test_write_replace_and_partial_update(
    server: LwM2MServer, make_device: DeviceFactory
) -> None:
    device = await registered(server, make_device, "writer", secure=True)
    await server.write("writer", "/3/0/14", "+02")
    seen = await next_seen(device)
    assert (seen.method, seen.path, seen.content_format) == ("PUT", ("3", "0", "14"), 11542)
    assert device.store.get_value(LwM2MPath(3, 0, 14)) == "+02"

    await server.write("writer", "/3/0", {14: "+05", 15: "Asia/Kolkata"}, replace=False)
    seen = await next_seen(device)
    assert (seen.method, seen.path) == ("POST", ("3", "0"))
    assert device.store.get_value(LwM2MPath(3, 0, 15)) == "Asia/Kolkata"
    assert device.store.get_value(LwM2MPath(3, 0, 0)) == "Quectel"  # untouched

    await server.write("writer", "/3/0/15", "UTC", format=ContentFormat.TEXT)
    seen = await next_seen(device)
    assert (seen.payload, seen.content_format) == (b"UTC", ContentFormat.TEXT)


async def test_execute_discover_write_attributes(
    server: LwM2MServer, make_device: DeviceFactory
) -> None:
    device = await registered(server, make_device, "manager", secure=True)
    executed: list[bytes] = []
    device.store.on_execute(LwM2MPath(3, 0, 4), lambda path, arguments: executed.append(arguments))
    await server.execute("manager", "/3/0/4", "0='now'")
    seen = await next_seen(device)
    assert (seen.method, seen.path, seen.payload) == ("POST", ("3", "0", "4"), b"0='now'")
    assert executed == [b"0='now'"]

    await server.write_attributes("manager", "/3/0/13", {"pmin": 1, "pmax": 30.0})
    seen = await next_seen(device)
    assert (seen.method, seen.query, seen.payload) == ("PUT", ("pmin=1", "pmax=30"), b"")

    links = await server.discover("manager", "/3/0")
    seen = await next_seen(device)
    assert seen.accept == ContentFormat.LINK_FORMAT
    by_target = {link.target: dict(link.params) for link in links}
    assert by_target["/3/0/13"] == {"pmin": "1", "pmax": "30"}
    assert "/3/0/0" in by_target


async def test_create_then_delete(server: LwM2MServer, make_device: DeviceFactory) -> None:
    device = await registered(server, make_device, "creator", secure=True)
    created = await server.create("creator", "/11", {0: "internet", 1: "iot.example", 4: 0})
    seen = await next_seen(device)
    assert (seen.method, seen.path, seen.content_format) == ("POST", ("11",), 11542)
    assert created == LwM2MPath(11, 0)
    assert device.store.get_value(LwM2MPath(11, 0, 1)) == "iot.example"

    chosen = await server.create(
        "creator", "/11/7", {0: "second", 4: 1}, format=ContentFormat.SENML_JSON
    )
    assert chosen == LwM2MPath(11, 7)
    seen = await next_seen(device)
    assert (seen.path, seen.content_format) == (("11",), ContentFormat.SENML_JSON)
    assert b'"n":"7/0"' in seen.payload

    await server.delete("creator", created)
    seen = await next_seen(device)
    assert (seen.method, seen.path) == ("DELETE", ("11", "0"))
    with pytest.raises(DeviceErrorResponse) as raised:
        await server.read("creator", "/11/0")
    assert raised.value.code_text == "4.04"


async def test_device_errors_and_unknown_endpoints(
    server: LwM2MServer, make_device: DeviceFactory
) -> None:
    await registered(server, make_device, "picky")
    with pytest.raises(DeviceErrorResponse) as missing:
        await server.read("picky", "/3/0/21")
    assert missing.value.code_text == "4.04" and missing.value.diagnostic
    with pytest.raises(DeviceErrorResponse) as read_only:
        await server.write("picky", "/3/0/0", "someone else")
    assert read_only.value.code_text == "4.05"
    with pytest.raises(NotRegistered):
        await server.read("nobody", "/3/0")
    with pytest.raises(ValueError, match="not a decimal number"):
        await server.read("picky", "/3/x")
    with pytest.raises(ValueError, match="attribute"):
        await server.write_attributes("picky", "/3/0/13", {"pmax_": 3})
    with pytest.raises(ValueError):
        await server.execute("picky", "/3/0", b"")


async def test_a_silent_device_times_out(server: LwM2MServer, make_device: DeviceFactory) -> None:
    device = await registered(server, make_device, "silent")
    await device.close()  # its socket is gone; the registration stays
    with pytest.raises(DeviceTimeout):
        await server.read("silent", "/3/0", timeout=0.5)


async def test_observe_notify_and_active_cancel(
    server: LwM2MServer, make_device: DeviceFactory
) -> None:
    device = await registered(server, make_device, "watched", secure=True)
    observation = await server.observe("watched", "/3/0/13")
    seen = await next_seen(device)
    assert (seen.method, seen.observe) == ("GET", 0)
    assert observation.initial == SingleResource(13, 1_700_000_000)
    assert server.observations("watched") == (observation,)

    with server.subscribe() as events:
        device.set_value("/3/0/13", 1_700_000_060)
        notification = await observation.next(timeout=5)
        published = await events.wait_for(lambda e: isinstance(e, Notification), timeout=5)
    assert notification.content == SingleResource(13, 1_700_000_060)
    assert notification == published and notification.endpoint == "watched"
    assert notification.sequence is not None and notification.sequence >= 1

    await server.cancel_observe(observation)
    cancel = await next_seen(device)
    # RFC 7641 §3.6: GET with Observe=1 and the observation's own token.
    assert (cancel.method, cancel.observe, cancel.token) == ("GET", 1, seen.token)
    assert await asyncio.wait_for(device.cancelled_observations.get(), 5) == LwM2MPath(3, 0, 13)
    assert not observation.active and server.observations("watched") == ()
    assert [n async for n in observation] == []  # the iterator ends
    with pytest.raises(ObservationClosed, match="cancelled"):
        await observation.next(timeout=1)


async def test_passive_cancel_answers_the_next_notification_with_rst(
    server: LwM2MServer, make_device: DeviceFactory
) -> None:
    device = await registered(server, make_device, "forgotten")
    observation = await server.observe("forgotten", "/3/0/14", format=ContentFormat.TEXT)
    await server.cancel_observe("forgotten", "/3/0/14", active=False)
    with server.subscribe() as events:
        device.set_value("/3/0/14", "+09")
        # The device learns it from the RST to its confirmable notification.
        assert await asyncio.wait_for(device.cancelled_observations.get(), 10) == LwM2MPath(
            3, 0, 14
        )
        assert events.queue.empty()  # no Notification was reported
    assert not observation.active and observation.end_cause is ObservationEndCause.CANCELLED


async def test_deregistration_ends_observations(
    server: LwM2MServer, make_device: DeviceFactory
) -> None:
    device = await registered(server, make_device, "leaving", secure=True)
    observation = await server.observe("leaving", "/3/0")
    assert isinstance(observation.initial, ObjectInstance)
    with server.subscribe() as events:
        await device.deregister()
        ended = await events.wait_for(lambda e: isinstance(e, ObservationEnded), timeout=5)
        gone = await events.wait_for(lambda e: isinstance(e, Deregistered), timeout=5)
    assert isinstance(ended, ObservationEnded) and ended.path == LwM2MPath(3, 0)
    assert ended.cause is ObservationEndCause.DEREGISTERED
    assert ended.reason == "registration deregistered"
    assert isinstance(gone, Deregistered)
    assert not observation.active
    with pytest.raises(NotRegistered):
        await server.read("leaving", "/3/0")


async def test_lwm2m_1_1_notifications_come_in_senml(
    server: LwM2MServer, make_device: DeviceFactory
) -> None:
    device = await registered(server, make_device, "modern", secure=True, lwm2m="1.1")
    observation = await server.observe("modern", "/3/0")
    assert (await next_seen(device)).accept == ContentFormat.SENML_JSON
    device.set_value("/3/0/14", "+03")
    notification = await observation.next(timeout=5)
    assert notification.content_format == ContentFormat.SENML_JSON
    assert isinstance(notification.content, ObjectInstance)
    assert notification.content.resources[14] == SingleResource(14, "+03")
    assert notification.payload.startswith(b"[{")
