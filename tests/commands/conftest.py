"""A module with the baseline and the common EC200U families, echo off, on a fake clock."""

from __future__ import annotations

import dataclasses

import pytest

from emulator.module.profile import ModuleProfile, load_profile
from tests.support import BASELINE_FAMILIES, FakeClockModule

COMMON_FAMILIES = ("serial", "device", "netinfo", "nitz", "simdet", "call")


def common_profile(name: str = "EC200U") -> ModuleProfile:
    profile = load_profile(name)
    return dataclasses.replace(profile, command_families=BASELINE_FAMILIES + COMMON_FAMILIES)


@pytest.fixture
def m() -> FakeClockModule:
    mod = FakeClockModule(common_profile())
    assert mod.send(b"ATE0\r") == b"ATE0\r\r\nOK\r\n"
    return mod


def ok(*lines: str) -> bytes:
    """A verbose (ATV1) answer: ``<CR><LF>`` before the information text, ``<CR><LF>``
    after each line, then ``<CR><LF>OK<CR><LF>`` (V.250 §5.7.1)."""
    text = b"\r\n" + b"".join(line.encode() + b"\r\n" for line in lines) if lines else b""
    return text + b"\r\nOK\r\n"


CME = {
    3: "Operation not allowed",
    10: "SIM not inserted",
    30: "No network service",
    50: "Incorrect parameters",
}


def cme(m: FakeClockModule, command: bytes, code: int) -> None:
    """The command fails with ``code`` as AT+CMEE 0, 1 and 2 render it."""
    for mode, text in ((0, "ERROR"), (1, f"+CME ERROR: {code}"), (2, f"+CME ERROR: {CME[code]}")):
        assert m.send(f"AT+CMEE={mode}\r".encode()) == ok()
        assert m.send(command + b"\r") == b"\r\n" + text.encode() + b"\r\n", (mode, command)
    assert m.send(b"AT+CMEE=1\r") == ok()
