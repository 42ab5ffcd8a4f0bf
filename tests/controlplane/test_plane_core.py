"""The control plane's core without a broker: requests in, module changes and messages out.

Real modules (ModuleHost on the running loop, a short boot); the broker side is the plane's
own inputs (receive, broker_connected/lost) and outputs (next_message)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from emulator.adapters.factory import hosted_module
from emulator.adapters.host import ModuleHost
from emulator.app.replica import ReplicaError, ordinal_from_name, resolve_replica
from emulator.controlplane.controls import ControlError, parse_control
from emulator.controlplane.plane import ControlPlane, Outgoing
from emulator.controlplane.schema import (
    PayloadError,
    Topics,
    parse_at_request,
    parse_control_request,
    split_response,
)
from emulator.module.events import BootCompleted, ModuleEvent
from emulator.module.profile import load_profile
from emulator.module.state import derive_imei

FIRST = "869339060001965"


def quick_profile() -> Any:
    profile = load_profile("EC200U")
    return dataclasses.replace(
        profile,
        boot=dataclasses.replace(profile.boot, duration=0.05, urc_gap=0.001),
        network=dataclasses.replace(profile.network, attach_delay=0.0),
        command_families=tuple(f for f in profile.command_families if f != "lwm2m"),
    )


class Fleet:
    def __init__(self, count: int = 2) -> None:
        profile = quick_profile()
        self.hosts: dict[str, ModuleHost] = {}
        self.port_output: dict[str, bytearray] = {}
        loop = asyncio.get_running_loop()
        for index in range(count):
            imei = derive_imei(FIRST, index)
            host = hosted_module(profile, imei=imei, clock=loop.time)
            output = bytearray()
            host.add_sink(output.extend)
            self.hosts[imei] = host
            self.port_output[imei] = output
        self.plane = ControlPlane(Topics("t"), "test-1", self.hosts, wall_clock=lambda: 1000.0)
        self.backlog: list[Outgoing] = []
        self.woken = asyncio.Event()
        self.plane.wake = self.woken.set
        self.plane.attach()
        self.plane.broker_connected()

    async def start(self) -> None:
        booted = []
        for host in self.hosts.values():
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def listener(event: ModuleEvent, done: asyncio.Future[None] = done) -> None:
                if isinstance(event, BootCompleted) and not done.done():
                    done.set_result(None)

            host.add_listener(listener)
            booted.append(done)
            await host.start()
        await asyncio.wait_for(asyncio.gather(*booted), 5)

    def messages(self) -> list[Outgoing]:
        out = []
        while (message := self.plane.next_message()) is not None:
            out.append(message)
        return out

    async def answer(self, topic: str, within: float = 5.0) -> dict[str, Any]:
        """Run the plane until a message on ``topic`` comes out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            self.plane.service(loop.time())
            self.backlog.extend(self.messages())
            for index, message in enumerate(self.backlog):
                if message.topic == topic:
                    del self.backlog[index]
                    body: dict[str, Any] = json.loads(message.payload)
                    return body
            self.woken.clear()
            timer = self.plane.get_timer()
            wait = 0.5 if timer is None else max(0.0, min(0.5, timer - loop.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.woken.wait(), wait)
        raise AssertionError(f"nothing on {topic} within {within} s")


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    fleet = Fleet()
    await fleet.start()
    fleet.messages()  # boot traffic
    yield fleet
    for host in fleet.hosts.values():
        await host.stop()


def request(fleet: Fleet, kind: str, body: dict[str, Any] | bytes, imei: str = FIRST) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    fleet.plane.receive(f"t/{imei}/{kind}/request", payload, asyncio.get_running_loop().time())


# ------------------------------------------------------------------ pure parts
def test_topics_and_request_topics() -> None:
    topics = Topics("quecemu")
    assert topics.urc(FIRST) == f"quecemu/{FIRST}/urc"
    assert topics.parse_request(f"quecemu/{FIRST}/at/request") == (FIRST, "at")
    assert topics.parse_request(f"quecemu/{FIRST}/control/request") == (FIRST, "control")
    assert topics.parse_request(f"quecemu/{FIRST}/at/response") is None
    assert topics.parse_request(f"other/{FIRST}/at/request") is None
    for bad in ("", "a/#", "a/+/b", "$SYS"):
        with pytest.raises(ValueError, match="prefix"):
            Topics(bad)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"AT+CSQ", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1]", "must be a JSON object"),
        (b"{}", "'line' must be a non-empty string"),
        (b'{"line": "AT\\rAT"}', "no CR or LF"),
        (b'{"line": "AT", "timeout": 0}', "'timeout' must be seconds"),
        (b'{"line": "AT", "timeout": true}', "'timeout' must be seconds"),
        (b'{"line": "AT", "colour": 1}', "unknown field(s) colour"),
        (b'{"line": "AT", "v": 2}', "schema version 2 is not supported"),
        (b'{"line": "AT", "id": [1]}', "'id' must be a string"),
        (b"{" + b" " * 70_000 + b"}", "is over 65536"),
    ],
)
def test_malformed_at_requests_say_what_is_wrong(payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_at_request(payload)


def test_control_requests_are_typed_and_checked() -> None:
    request = parse_control_request(b'{"id": 7, "control": "signal", "rssi": 12}')
    assert request.request_id == 7 and request.name == "signal"
    cases: list[tuple[dict[str, object], str]] = [
        ({"control": "warp"}, "unknown control 'warp'"),
        ({"control": "signal", "rssi": 40}, "0-31 or 99"),
        ({"control": "signal", "rssi": "12"}, "whole number"),
        ({"control": "coverage"}, "'present' must be true or false"),
        ({"control": "power", "on": True, "speed": 1}, "takes on, not speed"),
        ({"control": "sms", "sender": "+1", "text": ""}, "'text' must be a non-empty"),
        ({"control": "sms_reject", "code": 900}, "0-511"),
        ({}, "'control' must name a control"),
    ]
    for body, reason in cases:
        with pytest.raises(PayloadError, match=reason) as caught:
            parse_control_request(json.dumps({"id": "x", **body}).encode())
        assert caught.value.request_id == "x"
    with pytest.raises(ControlError):
        parse_control("reboot", {"factory_reset": "yes"})


def test_split_response_finds_the_final_result_code() -> None:
    assert split_response("\r\n+CSQ: 20,99\r\n\r\nOK\r\n") == (["+CSQ: 20,99", "OK"], "OK")
    assert split_response("\r\n+CME ERROR: 10\r\n")[1] == "+CME ERROR: 10"
    assert split_response("0\r") == (["0"], "0")
    assert split_response("") == ([], "")


def test_replica_ordinals_from_names() -> None:
    assert ordinal_from_name("emulator-3") == 3
    assert ordinal_from_name("quecemu-emulator-4.quecemu_default", first=1) == 3
    assert ordinal_from_name("quecemu_emulator_1", first=1) == 0
    assert resolve_replica("12") == 12
    with pytest.raises(ReplicaError, match="does not end in -N"):
        ordinal_from_name("laptop")
    with pytest.raises(ReplicaError, match="not 0-"):
        ordinal_from_name("x_0", first=1)
    with pytest.raises(ReplicaError, match="'hostname' or 'compose'"):
        resolve_replica("first")


# ---------------------------------------------------------- on real modules
async def test_an_at_line_gets_its_whole_response_and_the_port_sees_it_too(
    fleet: Fleet,
) -> None:
    request(fleet, "at", {"id": "a1", "line": "AT+CSQ;+CGSN"})
    answer = await fleet.answer(f"t/{FIRST}/at/response")
    assert answer["v"] == 1 and answer["id"] == "a1" and answer["error"] is None
    assert answer["response"] == f"\r\n+CSQ: 24,99\r\n\r\n{FIRST}\r\n\r\nOK\r\n"
    assert answer["lines"] == ["+CSQ: 24,99", FIRST, "OK"] and answer["final"] == "OK"
    assert fleet.port_output[FIRST].endswith(answer["response"].encode())


async def test_an_error_is_the_response_not_a_failure_of_the_request(fleet: Fleet) -> None:
    request(fleet, "at", {"id": 2, "line": "AT+CMEE=2;+CPIN=1234"})
    answer = await fleet.answer(f"t/{FIRST}/at/response")
    assert answer["error"] is None
    assert answer["final"].startswith("+CME ERROR: ")


async def test_a_prompt_takes_the_data_or_is_cancelled(fleet: Fleet) -> None:
    request(fleet, "at", {"id": 1, "line": "AT+CMGF=1"})
    await fleet.answer(f"t/{FIRST}/at/response")
    request(fleet, "at", {"id": 2, "line": 'AT+CMGS="+8613800000000"', "data": "hello"})
    answer = await fleet.answer(f"t/{FIRST}/at/response")
    assert answer["error"] is None and answer["response"].startswith("\r\n> ")
    assert answer["lines"][-2:] == ["+CMGS: 0", "OK"]
    request(fleet, "at", {"id": 3, "line": 'AT+CMGS="+8613800000000"'})
    answer = await fleet.answer(f"t/{FIRST}/at/response")
    assert "waits for data after its prompt" in answer["error"]
    request(fleet, "at", {"id": 4, "line": "AT"})  # the port is usable again
    assert (await fleet.answer(f"t/{FIRST}/at/response"))["final"] == "OK"


async def test_urcs_are_published_exactly_as_the_port_shows_them(fleet: Fleet) -> None:
    request(fleet, "at", {"line": "AT+CEREG=2"})
    await fleet.answer(f"t/{FIRST}/at/response")
    request(fleet, "control", {"id": "c", "control": "coverage", "present": False})
    urc = await fleet.answer(f"t/{FIRST}/urc")
    assert f"\r\n{urc['text']}\r\n".encode() in fleet.port_output[FIRST]
    assert urc["text"].startswith("+CEREG: 2")


async def test_controls_change_the_module_and_answer(fleet: Fleet) -> None:
    request(fleet, "control", {"id": 1, "control": "signal", "rssi": 7})
    answer = await fleet.answer(f"t/{FIRST}/control/response")
    assert answer == {
        "v": 1,
        "id": 1,
        "control": "signal",
        "error": None,
        "result": {"rssi": 7, "ber": 99},
    }
    request(fleet, "at", {"line": "AT+CSQ"})
    assert (await fleet.answer(f"t/{FIRST}/at/response"))["lines"][0] == "+CSQ: 7,99"
    request(fleet, "control", {"id": 2, "control": "power", "on": True})
    answer = await fleet.answer(f"t/{FIRST}/control/response")
    assert answer["error"] == "the module is already on"


async def test_bad_requests_get_an_error_on_the_response_topic(fleet: Fleet) -> None:
    request(fleet, "at", b"not json")
    answer = await fleet.answer(f"t/{FIRST}/at/response")
    assert answer["id"] is None and "not JSON" in answer["error"]
    request(fleet, "control", b'{"id": 5, "control": "signal"}')
    answer = await fleet.answer(f"t/{FIRST}/control/response")
    assert answer["id"] == 5 and "'rssi' must be a whole number" in answer["error"]
    request(fleet, "at", {"line": "AT"}, imei="12345")
    answer = await fleet.answer("t/12345/at/response")
    assert "'12345' is not an IMEI" in answer["error"]
    unknown = derive_imei(FIRST, 500)
    request(fleet, "at", {"line": "AT"}, imei=unknown)
    assert fleet.messages() == [] and fleet.plane.counters.foreign == 1


async def test_a_flood_of_at_requests_is_bounded(fleet: Fleet, caplog: Any) -> None:
    host = fleet.hosts[FIRST]
    host.feed(b"AT+CSQ")  # a line half-typed on the port: requests wait their turn
    for number in range(50):
        request(fleet, "at", {"id": number, "line": "AT"})
    answers = [json.loads(m.payload) for m in fleet.messages() if m.topic.endswith("/response")]
    waiting = 1 + fleet.plane.at_queue_limit  # one running (waiting for the port), the queue
    assert len(answers) == 50 - waiting
    assert all("AT requests already wait for this module" in a["error"] for a in answers)
    assert fleet.plane.counters.refused == len(answers)
    assert sum("AT request flood" in r.message for r in caplog.records) == 1
    host.feed(b"\r")  # the port's line ends: its answer first, then every queued request
    for number in range(waiting):  # the first ones came first, in order
        answer = await fleet.answer(f"t/{FIRST}/at/response")
        assert answer["id"] == number and answer["response"] == "\r\nOK\r\n"
    assert b"+CSQ: 24,99" in fleet.port_output[FIRST]


async def test_events_are_dropped_and_counted_while_no_broker_is_there(fleet: Fleet) -> None:
    fleet.plane.broker_lost()
    request(fleet, "control", {"control": "signal", "rssi": 3})
    assert fleet.plane.next_message() is None
    assert fleet.plane.counters.dropped >= 2  # the signal event, its response
    fleet.plane.broker_connected()
    first = fleet.plane.next_message()
    assert first is not None and first.topic == "t/_instance/test-1" and first.retain
    body = json.loads(first.payload)
    assert body["online"] and body["counters"]["dropped"] >= 2
    statuses = {json.loads(m.payload)["imei"]: json.loads(m.payload) for m in fleet.messages()}
    assert statuses[FIRST]["rssi"] == 3 and len(statuses) == 2


def test_state_events_map_to_versioned_payloads() -> None:
    from emulator.controlplane.schema import event_fields
    from emulator.lwm2m.client.events import LwM2MStatus, LwM2MStatusChanged
    from emulator.module.events import PdpContextChanged, RegistrationChanged
    from emulator.module.state import RegStat

    changed = LwM2MStatusChanged(status=LwM2MStatus.REGISTERED, previous=LwM2MStatus.REGISTERING)
    assert event_fields(changed) == (
        "lwm2m",
        {"stat": 2, "state": "registered", "previous": "registering"},
    )
    assert event_fields(RegistrationChanged(stat=RegStat.ROAMING)) == (
        "registration",
        {"stat": 5, "state": "roaming", "registered": True},
    )
    pdp = PdpContextChanged(cid=1, active=False, address=None, by_network=True)
    assert event_fields(pdp) == (
        "pdp",
        {"cid": 1, "active": False, "address": None, "by_network": True},
    )
    assert event_fields(BootCompleted()) == ("boot", {})
