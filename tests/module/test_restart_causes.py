"""Why the module restarted or switched off, as a cause from a fixed set (what a fleet watcher
matches on) and the wording shown beside it (the control plane's ``reason``)."""

from __future__ import annotations

from emulator.controlplane.controls import Reboot, SetPower, apply_control
from emulator.controlplane.schema import event_fields
from emulator.lwm2m.client.messages import CHANGED, POST, PUT, CoapRequest
from emulator.module.events import (
    ModuleEvent,
    PowerDownCause,
    PoweredDown,
    RebootCause,
    RebootStarted,
)
from emulator.module.virtual import VirtualModule
from tests.commands.conftest import common_profile
from tests.lwm2m.client.rig import Rig
from tests.support import FakeClockModule


def watch(module: VirtualModule) -> list[ModuleEvent]:
    seen: list[ModuleEvent] = []
    module.observe(lambda event, now: seen.append(event))
    return seen


def restarts(seen: list[ModuleEvent]) -> list[RebootStarted | PoweredDown]:
    return [e for e in seen if isinstance(e, RebootStarted | PoweredDown)]


def test_at_commands_and_the_power_key() -> None:
    m = FakeClockModule(common_profile())
    seen = watch(m.module)
    m.send(b"AT+CFUN=1,1\r")
    m.advance(10.0)
    m.send(b"AT+QPOWD=0\r")
    m.advance(1.0)
    m.module.power_on(m.now)
    m.advance(10.0)
    m.send(b"AT+QPOWD=1\r")
    m.advance(1.0)
    assert restarts(seen) == [
        RebootStarted(cause=RebootCause.AT_CFUN),
        PoweredDown(cause=PowerDownCause.AT_QPOWD_IMMEDIATE),
        RebootStarted(cause=RebootCause.POWER_ON),
        PoweredDown(cause=PowerDownCause.AT_QPOWD_NORMAL),
    ]
    assert [e.reason for e in restarts(seen)] == [
        "AT+CFUN=1,1",
        "AT+QPOWD=0",
        "power on",
        "AT+QPOWD=1",
    ]


def test_server_executes_and_firmware_updates_restart_with_their_cause() -> None:
    rig = Rig()
    seen = watch(rig.module)
    rig.register()
    assert rig.server_request(CoapRequest(method=POST, path=("3", "0", "4"))).code == CHANGED
    rig.advance(1.0)
    rig.at("ATE0")
    rig.register()
    rig.server_request(CoapRequest(method=POST, path=("3", "0", "5")))
    rig.advance(1.0)
    rig.at("ATE0")
    rig.register()
    package = CoapRequest(method=PUT, path=("5", "0", "0"), payload=b"\x01" * 64, content_format=42)
    assert rig.server_request(package).code == CHANGED  # "fota" 1,1: applied at once
    rig.advance(1.0)
    assert restarts(seen) == [
        RebootStarted(cause=RebootCause.LWM2M_REBOOT),
        RebootStarted(cause=RebootCause.LWM2M_FACTORY_RESET, factory_reset=True),
        RebootStarted(cause=RebootCause.LWM2M_FIRMWARE_UPDATE),
    ]


def test_controls_say_control_and_the_control_plane_shows_cause_and_wording() -> None:
    m = FakeClockModule(common_profile())
    m.module.handle_timer(m.now)
    apply_control(m.module, Reboot(factory_reset=False), m.now)
    m.advance(10.0)
    apply_control(m.module, SetPower(on=False), m.now)
    events: list[ModuleEvent] = []
    while (event := m.module.next_event()) is not None:
        events.append(event)
    reboot, power = restarts(events)
    assert event_fields(reboot) == (
        "reboot",
        {"reason": "control", "cause": "control", "factory_reset": False},
    )
    assert event_fields(power) == ("power", {"on": False, "reason": "control", "cause": "control"})
    fields = event_fields(RebootStarted(cause=RebootCause.AT_CFUN))
    assert fields is not None and fields[1]["reason"] == "AT+CFUN=1,1"


def test_a_caller_outside_the_emulator_keeps_its_wording() -> None:
    m = FakeClockModule(common_profile())
    seen = watch(m.module)
    m.module.reboot(m.now, RebootCause.CONTROL, detail="soak test: reboot 3 of 10")
    (event,) = restarts(seen)
    assert event == RebootStarted(cause=RebootCause.CONTROL, detail="soak test: reboot 3 of 10")
    assert event.reason == "soak test: reboot 3 of 10"
    down = PoweredDown(cause=PowerDownCause.AT_QPOWD_IMMEDIATE)
    assert down.reason == "AT+QPOWD=0"
