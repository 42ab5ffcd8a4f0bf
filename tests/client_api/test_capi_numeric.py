"""client_api over a real pty against ``quecemu serve`` after ATV0: numeric result codes
(V.250 §5.7.1) end commands, +CME ERROR lines keep their text, and the common EC200U set
answers a host as it would on hardware."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import client_api
from client_api.channel import AtChannel
from client_api.errors import CmeError, CommandError
from tests.client_api.capi_emulator import Emulator

WAIT = 10.0
FAMILIES = ["basic", "identity", "sim", "network", "pdp", "power", "clock"]
COMMON = ["serial", "device", "netinfo", "nitz", "simdet", "call"]


@pytest.fixture
def at(tmp_path: Path) -> Iterator[AtChannel]:
    profile = tmp_path / "common.json"
    profile.write_text(json.dumps({"extends": "EC200U", "command_families": FAMILIES + COMMON}))
    emulator = Emulator(tmp_path, "--profile", str(profile))
    channel = client_api.open(str(emulator.link), command_timeout=5.0, reconnect_interval=0.05)
    try:
        assert channel.wait_connected(WAIT)
        yield channel
    finally:
        channel.close()
        emulator.stop()


def test_numeric_result_codes_after_atv0(at: AtChannel) -> None:
    assert at.command("ATV0").final == "OK"
    csq = at.command("AT+CSQ")
    assert csq.lines == ("+CSQ: 24,99",) and csq.final == "OK"
    with pytest.raises(CommandError) as error:
        at.command("AT+NOSUCH")
    assert error.value.final == "ERROR"
    with pytest.raises(CmeError) as cme:
        at.command("AT+QPOWD=7")
    assert cme.value.final == "+CME ERROR: 50"
    assert at.command("AT+CMEE=2").final == "OK"
    with pytest.raises(CmeError) as text:
        at.command("AT+CGATT=5")
    assert text.value.final == "+CME ERROR: Incorrect parameters"
    # Several lines, several commands on one line, a one-digit answer among them.
    both = at.command("AT+CGREG?;+CTZR?")
    assert both.lines == ("+CGREG: 0,1", "+CTZR: 0")
    vendor = at.command("AT+QNWINFO;+QCSQ")
    assert vendor.value("+QNWINFO:") == '"FDD LTE","46000","LTE BAND 3",1650'
    assert vendor.value("+QCSQ:") == '"LTE",-65,-85,175,-9'
    assert at.command("ATV1").final == "OK"
    assert at.command("AT+QGMR").lines == ("EC200UCNAAR03A15M08_01.200.01.200",)


def test_a_boot_sequence_of_the_common_set_runs_without_an_error(at: AtChannel) -> None:
    """What a typical EC200U driver sends at boot (issue 11), each answered OK."""
    for command in (
        "ATE0",
        "AT+CMEE=2",
        "AT+QGMR",
        "AT+QCSQ",
        "AT+CGREG?",
        "AT+QNWINFO",
        'AT+QENG="servingcell"',
        "AT+QLTS=2",
        "AT+CGPADDR=1",
        'AT+QCFG="nwscanmode"',
        'AT+QURCCFG="urcport"',
        "AT+IFC?",
        "AT+IPR?",
        "AT&V",
        "AT+CLAC",
        "AT+CNUM",
        "AT+CLIP=1",
        "AT+CVHU=0",
        "AT+CCID",
        "AT+QINISTAT",
        "AT+CPAS",
        "AT+CEER",
    ):
        assert at.command(command).final == "OK", command
    with pytest.raises(CommandError):
        at.command("AT^CVOICE=0")  # a vendor probe a Quectel module does not know
