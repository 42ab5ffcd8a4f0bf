"""AT&C/&D/&V, AT+IFC, AT+IPR, AT+QGMR, AT+CLAC, AT+CPAS, AT+CEER, AT+QPOWD, AT+QSCLK,
AT+QURCCFG, AT+QCFG: byte-exact on the AT port, with their errors."""

from __future__ import annotations

import dataclasses

import pytest

from emulator.at.errors import CmeError
from emulator.module.events import PowerDownCause, PoweredDown
from tests.commands.conftest import cme, common_profile, ok
from tests.support import FakeClockModule


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        (b"AT+IFC?", ok("+IFC: 0,0")),
        (b"AT+IFC=?", ok("+IFC: (0,2),(0,2)")),
        (b"AT+IPR?", ok("+IPR: 115200")),
        (
            b"AT+IPR=?",
            ok("+IPR: (0),(4800,9600,19200,38400,57600,115200,230400,460800,921600)"),
        ),
        (b"AT+QGMR", ok("EC200UCNAAR03A15M08_01.200.01.200")),
        (b"AT+QGMR=?", ok()),
        (b"AT+CPAS", ok("+CPAS: 0")),
        (b"AT+CPAS=?", ok("+CPAS: (0,3,4)")),
        (b"AT+CEER", ok('+CEER: "No cause information available"')),
        (b"AT+CEER=?", ok()),
        (b"AT+CLAC=?", ok()),
        (b"AT+QPOWD=?", ok("+QPOWD: (0,1)")),
        (b"AT+QSCLK?", ok("+QSCLK: 0")),
        (b"AT+QSCLK=?", ok("+QSCLK: (0,1)")),
        (b'AT+QURCCFG="urcport"', ok('+QURCCFG: "urcport","usbat"')),
        (b"AT+QURCCFG=?", ok('+QURCCFG: "urcport",("usbat","usbmodem","uart1","uart2","all")')),
        (b'AT+QCFG="nwscanmode"', ok('+QCFG: "nwscanmode",0')),
        (b'AT+QCFG="NWSCANMODE"', ok('+QCFG: "nwscanmode",0')),
        (b'AT+QCFG="roamservice"', ok('+QCFG: "roamservice",255')),
        (b'AT+QCFG="risignaltype"', ok('+QCFG: "risignaltype","respective"')),
        (
            b"AT+QCFG=?",
            ok(
                '+QCFG: "nwscanmode",(0,1,3),(0,1)',
                '+QCFG: "roamservice",(1,2,255),(0,1)',
                '+QCFG: "servicedomain",(0-2),(0,1)',
                '+QCFG: "risignaltype",("respective","physical")',
                '+QCFG: "urc/cache",(0,1)',
            ),
        ),
    ],
)
def test_read_and_test_forms(m: FakeClockModule, command: bytes, answer: bytes) -> None:
    assert m.send(command + b"\r") == answer


def test_amp_v_shows_the_current_settings(m: FakeClockModule) -> None:
    assert m.send(b"AT&C0;&D1;+IFC=2,2\r") == ok()
    lines = ["&C: 0", "&D: 1", "&F: 0", "&W: 0", "E: 0", "Q: 0", "V: 1", "X: 4", "Z: 0"]
    lines += ["S0: 0", "S3: 13", "S4: 10", "S5: 8", "S6: 2", "S7: 0", "S8: 2", "S10: 15"]
    assert m.send(b"AT&V\r") == ok(*lines, "S12: 50")
    assert m.send(b"AT&V1\r") == b"\r\n+CME ERROR: 50\r\n"
    assert m.send(b"AT&C2\r") == b"\r\n+CME ERROR: 50\r\n"
    assert m.send(b"AT&D3\r") == b"\r\n+CME ERROR: 50\r\n"


def test_ifc_and_ipr_are_saved_by_at_w_and_restored(m: FakeClockModule) -> None:
    assert m.send(b"AT+IFC=2,2\r") == ok()
    assert m.send(b"AT+IFC?\r") == ok("+IFC: 2,2")
    assert m.send(b"AT+IFC=0\r") == ok()  # the second value is kept
    assert m.send(b"AT+IFC?\r") == ok("+IFC: 0,2")
    assert m.send(b"AT+IPR=921600\r") == ok()
    assert m.send(b"AT&W\r") == ok()
    assert m.send(b"AT+IFC=0,0\r") == ok()
    assert m.send(b"ATZ\r") == ok()
    assert m.send(b"AT+IFC?\r") == ok("+IFC: 0,2")
    assert m.send(b"AT&F\r") == ok()
    assert m.send(b"ATE0\r") == b"ATE0\r\r\nOK\r\n"  # AT&F turned echo back on
    assert m.send(b"AT+IFC?\r") == ok("+IFC: 0,0")
    assert m.send(b"AT+IPR?\r") == ok("+IPR: 921600")  # AT&F leaves the rate alone
    assert m.send(b"AT+CFUN=1,1\r") == ok()
    m.advance(5)
    m.take()
    # The AT&W profile (echo off, +IFC: 0,2) is what the module boots with.
    assert m.send(b"AT+IPR?;+IFC?\r") == b"\r\n+IPR: 921600\r\n" + ok("+IFC: 0,2")


@pytest.mark.parametrize(
    "command",
    [
        b"AT+IFC=1,0",
        b"AT+IFC=0,0,0",
        b'AT+IFC="2",2',
        b"AT+IPR=1234",
        b"AT+IPR=115200,1",
        b"AT+IPR=",
        b"AT+QSCLK=2",
        b"AT+QSCLK=",
        b"AT+QPOWD=2",
        b"AT+QPOWD=0,1",
        b'AT+QURCCFG="urcport","usb"',
        b'AT+QURCCFG="port"',
        b'AT+QURCCFG="urcport","usbat",1',
        b'AT+QCFG="nwscanmode",2',
        b'AT+QCFG="nwscanmode",3,2',
        b'AT+QCFG="nwscanmode",3,1,1',
        b'AT+QCFG="risignaltype","loud"',
        b'AT+QCFG="urc/cache",1,1',
        b'AT+QCFG="nosuch"',
        b"AT+QCFG=1",
    ],
)
def test_wrong_parameters_are_cme_50(m: FakeClockModule, command: bytes) -> None:
    cme(m, command, 50)


@pytest.mark.parametrize(
    "command", [b"AT+QGMR?", b"AT+CLAC=1", b"AT+CPAS?", b"AT+IFC", b"AT+QSCLK", b"AT+QCFG"]
)
def test_forms_a_command_lacks_are_error(m: FakeClockModule, command: bytes) -> None:
    assert m.send(command + b"\r") == b"\r\nERROR\r\n"


def test_qcfg_values_are_stored_and_survive_a_reset(m: FakeClockModule) -> None:
    assert m.send(b'AT+QCFG="nwscanmode",3,1\r') == ok()
    assert m.send(b'AT+QCFG="risignaltype","PHYSICAL"\r') == ok()
    assert m.send(b'AT+QCFG="urc/cache",1\r') == ok()
    assert m.send(b"AT+CFUN=1,1\r") == ok()
    m.advance(5)
    m.take()
    m.send(b"ATE0\r")
    assert m.send(b'AT+QCFG="nwscanmode"\r') == ok('+QCFG: "nwscanmode",3')
    assert m.send(b'AT+QCFG="risignaltype"\r') == ok('+QCFG: "risignaltype","physical"')
    assert m.send(b'AT+QCFG="urc/cache"\r') == ok('+QCFG: "urc/cache",1')


def test_qsclk_is_not_saved(m: FakeClockModule) -> None:
    assert m.send(b"AT+QSCLK=1\r") == ok()
    assert m.send(b"AT+QSCLK?\r") == ok("+QSCLK: 1")
    assert m.send(b"AT+CFUN=1,1\r") == ok()
    m.advance(5)
    m.take()
    m.send(b"ATE0\r")
    assert m.send(b"AT+QSCLK?\r") == ok("+QSCLK: 0")


def test_urc_port_elsewhere_silences_urcs_here_and_is_saved(m: FakeClockModule) -> None:
    assert m.send(b"AT+CEREG=1\r") == ok()
    assert m.send(b'AT+QURCCFG="urcport","uart1"\r') == ok()
    assert m.send(b'AT+QURCCFG="urcport"\r') == ok('+QURCCFG: "urcport","uart1"')
    m.module.set_coverage(False, m.now)
    m.run_timers()
    assert m.take() == b""  # +CEREG: 2 went to UART1
    assert m.send(b"AT+CFUN=1,1\r") == ok()
    m.advance(5)
    assert m.take() == b""  # no RDY here either: the boot URCs go to UART1 too
    assert m.send(b'AT+QURCCFG="urcport","ALL"\r') == b'AT+QURCCFG="urcport","ALL"\r\r\nOK\r\n'
    m.send(b"ATE0;+CEREG=1\r")
    m.module.set_coverage(True, m.now)
    m.run_timers()
    assert m.take() == b"\r\n+CEREG: 1\r\n"


def test_clac_lists_exactly_what_the_profile_enables() -> None:
    profile = common_profile()
    narrowed = dataclasses.replace(profile, commands=("E", "+CLAC", "+CSQ", "+QGMR", "&V"))
    m = FakeClockModule(narrowed)
    m.send(b"ATE0\r")
    assert m.send(b"AT+CLAC\r") == ok("AT&V", "AT+CLAC", "AT+CSQ", "AT+QGMR", "ATE")
    assert m.send(b"AT+CREG?\r") == b"\r\nERROR\r\n"


def test_clac_of_the_full_profile_names_the_common_set(m: FakeClockModule) -> None:
    listed = m.send(b"AT+CLAC\r").decode().split("\r\n")
    for name in ("AT+QGMR", "AT+QCSQ", "AT+CGREG", "AT+QNWINFO", "AT+QENG", "AT+QLTS"):
        assert name in listed
    assert "AT+CMGF" not in listed  # SMS belongs to another family


def test_ceer_reports_the_last_failed_activation(m: FakeClockModule) -> None:
    m.module.set_pdp_reject(True)
    assert m.send(b"AT+CGACT=1,1\r") == b"\r\n+CME ERROR: 148\r\n"
    assert m.send(b"AT+CEER\r") == ok('+CEER: "network rejected the activation"')


def test_qpowd_says_powered_down_then_the_port_is_dead_until_power_on(
    m: FakeClockModule,
) -> None:
    assert m.send(b"AT+QPOWD\r") == ok()
    m.advance(0.1)
    assert m.take() == b""  # a normal power-down first deregisters (0.3 s in the profile)
    m.advance(0.3)
    assert m.take() == b"\r\nPOWERED DOWN\r\n"
    events = []
    while (event := m.module.next_event()) is not None:
        events.append(event)
    assert PoweredDown(cause=PowerDownCause.AT_QPOWD_NORMAL) in events
    assert m.send(b"AT\r") == b""
    m.module.set_coverage(False, m.now)  # the world goes on; the module says nothing
    m.advance(60)
    assert m.take() == b"" and m.module.powered_off
    m.module.set_coverage(True, m.now)
    m.module.power_on(m.now)
    m.advance(5)
    assert m.take().startswith(b"\r\nRDY\r\n")
    assert m.send(b"AT\r") == b"AT\r\r\nOK\r\n"  # echo is back on: a fresh boot


def test_qpowd_immediate(m: FakeClockModule) -> None:
    assert m.send(b"AT+QPOWD=0\r") == ok() + b"\r\nPOWERED DOWN\r\n"
    assert m.send(b"AT+CSQ\r") == b""
    m.module.power_on(m.now)
    with pytest.raises(CmeError, match="already on"):
        m.module.power_on(m.now)
