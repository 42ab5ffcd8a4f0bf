"""AT+CBC: battery charge status, level and voltage, byte-exact on the AT port."""

from __future__ import annotations

import dataclasses

from tests.commands.conftest import common_profile, ok
from tests.support import FakeClockModule


def test_cbc_reports_the_profile_supply(m: FakeClockModule) -> None:
    assert m.send(b"AT+CBC\r") == ok("+CBC: 0,100,3800")
    assert m.send(b"AT+CBC=?\r") == ok()


def test_cbc_follows_the_profile_battery_section() -> None:
    profile = common_profile()
    sections = {**profile.sections, "battery": {"bcs": 1, "bcl": 42, "voltage_mv": 3612}}
    module = FakeClockModule(dataclasses.replace(profile, sections=sections))
    assert module.send(b"ATE0\r") == b"ATE0\r\r\nOK\r\n"
    assert module.send(b"AT+CBC\r") == ok("+CBC: 1,42,3612")
