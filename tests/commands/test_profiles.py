"""Every built-in profile carries the common set: its driver boot sequence answers OK."""

from __future__ import annotations

import dataclasses

import pytest

from emulator.module.profile import builtin_names, load_profile
from tests.support import FakeClockModule

BOOT = (
    b"AT+QGMR",
    b"AT+QCSQ",
    b"AT+CGREG?",
    b"AT+QNWINFO",
    b'AT+QENG="servingcell"',
    b"AT+QLTS=2",
    b"AT+CGPADDR=1",
    b'AT+QCFG="nwscanmode"',
    b'AT+QURCCFG="urcport"',
    b"AT+IFC?",
    b"AT+IPR?",
    b"AT&V",
    b"AT+CLAC",
    b"AT+CCID",
    b"AT+CNUM",
    b"AT+CLIP=1",
    b"AT+CVHU=0",
    b"AT+CPAS",
    b"AT+CEER",
    b"AT+CTZR?",
    b"AT+QSIMSTAT?",
    b"AT+CPSMS?",
    b"AT+CEDRXS?",
)


@pytest.mark.parametrize("name", builtin_names())
def test_the_boot_sequence_answers_ok_on_every_builtin_profile(name: str) -> None:
    profile = load_profile(name)
    families = tuple(f for f in profile.command_families if f != "lwm2m")
    m = FakeClockModule(dataclasses.replace(profile, command_families=families))
    m.send(b"ATE0\r")
    for command in BOOT:
        answer = m.send(command + b"\r")
        assert answer.endswith(b"\r\nOK\r\n"), (name, command, answer)


def test_the_model_shows_in_the_firmware_version_and_the_cell() -> None:
    ec200a = load_profile("EC200A")
    families = ("basic", "device", "netinfo")
    m = FakeClockModule(dataclasses.replace(ec200a, command_families=families))
    m.send(b"ATE0\r")
    assert m.send(b"AT+QGMR\r") == b"\r\nEC200AAUHAR01A05M16_01.200.01.200\r\n\r\nOK\r\n"
    assert m.send(b"AT+QNWINFO\r") == (
        b'\r\n+QNWINFO: "FDD LTE","50501","LTE BAND 28",9410\r\n\r\nOK\r\n'
    )
