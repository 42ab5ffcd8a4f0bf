"""AT+CRC (27.007 §6.11), which python-gsmmodem-new's connect() sets after AT+CLIP=1."""

from __future__ import annotations

import dataclasses

import pytest

from emulator.module.profile import ModuleProfile, load_profile
from tests.support import BASELINE_FAMILIES, FakeClockModule


def call_profile() -> ModuleProfile:
    return dataclasses.replace(
        load_profile("EC200U"), command_families=(*BASELINE_FAMILIES, "call")
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"AT+CRC?\r", b"\r\n+CRC: 0\r\n\r\nOK\r\n"),
        (b"AT+CRC=?\r", b"\r\n+CRC: (0,1)\r\n\r\nOK\r\n"),
        (b"AT+CRC=1\r", b"\r\nOK\r\n"),
        (b"AT+CRC=2\r", b"\r\n+CME ERROR: 50\r\n"),
        (b"AT+CRC=1,0\r", b"\r\n+CME ERROR: 50\r\n"),
    ],
)
def test_crc_forms(line: bytes, expected: bytes) -> None:
    m = FakeClockModule(call_profile())
    assert m.send(b"ATE0\r") == b"ATE0\r\r\nOK\r\n"
    assert m.send(line) == expected


def test_crc_is_kept_until_a_reboot() -> None:
    m = FakeClockModule(call_profile())
    m.send(b"ATE0\r")
    assert m.send(b"AT+CRC=1\r") == b"\r\nOK\r\n"
    assert m.send(b"AT+CRC?\r") == b"\r\n+CRC: 1\r\n\r\nOK\r\n"
