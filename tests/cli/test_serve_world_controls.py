"""``quecemu serve --control`` world controls on a hosted module (no pty): the power key
after AT+QPOWD, the cell going and coming back, the network tearing a PDP context down."""

from __future__ import annotations

import dataclasses

import pytest

from emulator.adapters.factory import hosted_module
from emulator.app.control import ControlChannel, ControlError, WorldControl, parse_line
from emulator.app.serve import ServedModule
from emulator.controlplane import controls
from emulator.module.profile import load_profile


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("power-on 0", WorldControl(0, controls.SetPower(on=True), "power-on 0")),
        ("coverage 1 off", WorldControl(1, controls.SetCoverage(present=False), "coverage 1 off")),
        (" coverage  0 on", WorldControl(0, controls.SetCoverage(present=True), "coverage 0 on")),
        ("pdp-deactivate 2", WorldControl(2, controls.DeactivatePdp(), "pdp-deactivate 2")),
        (
            "pdp-deactivate 0 15",
            WorldControl(0, controls.DeactivatePdp(cid=15), "pdp-deactivate 0 15"),
        ),
    ],
)
def test_world_control_lines(line: str, parsed: WorldControl) -> None:
    assert parse_line(line) == parsed


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("power-on", "usage: power-on <module>"),
        ("power-on 0 now", "usage: power-on <module>"),
        ("coverage 0", "usage: coverage <module> on\\|off"),
        ("coverage 0 maybe", "usage: coverage"),
        ("coverage x off", "usage: coverage"),
        ("pdp-deactivate 0 16", "'16' is not a PDP context 1-15"),
        ("pdp-deactivate 0 one", "usage: pdp-deactivate"),
    ],
)
def test_bad_world_control_lines(line: str, reason: str) -> None:
    with pytest.raises(ControlError, match=reason):
        parse_line(line)


async def test_controls_change_the_served_modules_world() -> None:
    profile = load_profile("EC200U")
    families = tuple(f for f in profile.command_families if f != "lwm2m")  # no CoAP here
    host = hosted_module(dataclasses.replace(profile, command_families=families))
    module = host.module
    port = bytearray()
    host.add_sink(port.extend)
    await host.start()
    out: list[str] = []
    err: list[str] = []
    channel = ControlChannel(
        [ServedModule(index=0, imei="866000000000000", profile=module.profile, host=host)],
        out.append,
        err.append,
    )
    try:
        host.apply(lambda now: module.handle_timer(now + 10))  # booted and registered
        host.feed(b"ATE0;+CEREG=1;+QIACT=1\r")
        port.clear()
        channel.handle("pdp-deactivate 0 1")
        assert b'+QIURC: "pdpdeact",1' in port
        channel.handle("coverage 0 off")
        assert b"+CEREG: 2" in port
        channel.handle("coverage 0 on")
        channel.handle("power-on 0")  # it is on: refused with the reason
        assert err == ["control: power-on 0: the module is already on"]
        host.feed(b"AT+QPOWD\r")
        host.apply(lambda now: module.handle_timer(now + 5))
        assert module.powered_off and b"POWERED DOWN" in port
        channel.handle("power-on 0")
        host.apply(lambda now: module.handle_timer(now + 10))
        assert not module.powered_off
        assert out == ["pdp-deactivate 0 1", "coverage 0 off", "coverage 0 on", "power-on 0"]
        channel.handle("coverage 3 off")
        assert err[-1] == "control: coverage 3 off: no module 3 (there are 1)"
    finally:
        await host.stop()


def test_the_control_plane_names_pdp_deactivate_too() -> None:
    assert controls.parse_control("pdp_deactivate", {"cid": 3}) == controls.DeactivatePdp(cid=3)
    assert controls.parse_control("pdp_deactivate", {}) == controls.DeactivatePdp()
    with pytest.raises(controls.ControlError, match="'cid' must be a whole number 1-15"):
        controls.parse_control("pdp_deactivate", {"cid": 0})
