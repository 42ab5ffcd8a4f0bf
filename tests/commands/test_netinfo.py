"""AT+QCSQ, AT+QNWINFO, AT+QENG, AT+CGREG (and its URCs), AT+CGATT, AT+CGPADDR, AT+CPSMS,
AT+CEDRXS: byte-exact, with the world changing underneath."""

from __future__ import annotations

import pytest

from emulator.module.state import SimState
from tests.commands.conftest import cme, ok
from tests.support import FakeClockModule

SERVING = (
    '+QENG: "servingcell","NOCONN","LTE","FDD",460,00,B2C3D41,366,1650,3,5,5,5A1F,-85,-9,-65,15,40'
)


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        (b"AT+QCSQ", ok('+QCSQ: "LTE",-65,-85,175,-9')),
        (b"AT+QCSQ=?", ok('+QCSQ: "NOSERVICE","GSM","LTE"')),
        (b"AT+QNWINFO", ok('+QNWINFO: "FDD LTE","46000","LTE BAND 3",1650')),
        (b"AT+QNWINFO=?", ok()),
        (b'AT+QENG="servingcell"', ok(SERVING)),
        (b'AT+QENG="SERVINGCELL"', ok(SERVING)),
        (b'AT+QENG="neighbourcell"', ok()),
        (b"AT+QENG=?", ok('+QENG: ("servingcell","neighbourcell")')),
        (b"AT+CGREG?", ok("+CGREG: 0,1")),
        (b"AT+CGREG=?", ok("+CGREG: (0-2)")),
        (b"AT+CGATT?", ok("+CGATT: 1")),
        (b"AT+CGATT=?", ok("+CGATT: (0,1)")),
        (b"AT+CGPADDR", ok("+CGPADDR: 1")),
        (b"AT+CGPADDR=?", ok("+CGPADDR: (1)")),
        (b"AT+CPSMS?", ok('+CPSMS: 0,,,"00000000","00000000"')),
        (
            b"AT+CPSMS=?",
            ok(
                '+CPSMS: (0-2),("00000000"-"11111111"),("00000000"-"11111111"),'
                '("00000000"-"11111111"),("00000000"-"11111111")'
            ),
        ),
        (b"AT+CEDRXS?", ok('+CEDRXS: 4,"0000"')),
        (b"AT+CEDRXS=?", ok('+CEDRXS: (0-3),(4),("0000"-"1111")')),
    ],
)
def test_read_and_test_forms(m: FakeClockModule, command: bytes, answer: bytes) -> None:
    assert m.send(command + b"\r") == answer


def test_signal_and_coverage_show_in_every_view(m: FakeClockModule) -> None:
    m.module.set_signal(14, m.now)  # 20 dB weaker than the profile's 24
    assert m.send(b"AT+QCSQ\r") == ok('+QCSQ: "LTE",-85,-105,175,-9')
    assert m.send(b'AT+QENG="servingcell"\r') == ok(
        '+QENG: "servingcell","NOCONN","LTE","FDD",460,00,B2C3D41,366,1650,3,5,5,5A1F,'
        "-105,-9,-85,15,20"
    )
    m.module.set_coverage(False, m.now)
    m.run_timers()
    assert m.send(b"AT+QCSQ\r") == ok('+QCSQ: "NOSERVICE"')
    assert m.send(b"AT+QNWINFO\r") == ok("+QNWINFO: No Service")
    assert m.send(b'AT+QENG="servingcell"\r') == ok('+QENG: "servingcell","SEARCH"')
    assert m.send(b"AT+CGREG?\r") == ok("+CGREG: 0,2")
    m.module.set_registration_denied(True, m.now)
    m.module.set_coverage(True, m.now)
    m.run_timers()
    assert m.send(b'AT+QENG="servingcell"\r') == ok('+QENG: "servingcell","LIMSRV"')


def test_cgreg_urcs_follow_the_registration(m: FakeClockModule) -> None:
    assert m.send(b"AT+CGREG=2\r") == ok()
    assert m.send(b"AT+CGREG?\r") == ok('+CGREG: 2,1,"5A1F","0B2C3D41",7')
    m.module.set_coverage(False, m.now)
    m.run_timers()
    assert m.take() == b"\r\n+CGREG: 2\r\n"
    m.module.set_coverage(True, m.now)
    m.run_timers()
    assert m.take() == b'\r\n+CGREG: 1,"5A1F","0B2C3D41",7\r\n'
    assert m.send(b"AT+CGREG=1\r") == ok()
    m.module.set_coverage(False, m.now)
    m.run_timers()
    assert m.take() == b"\r\n+CGREG: 2\r\n"
    assert m.send(b"AT+CGREG\r") == ok()  # no <n>: back to 0
    m.module.set_coverage(True, m.now)
    m.run_timers()
    assert m.take() == b""


def test_cgatt_detaches_and_attaches(m: FakeClockModule) -> None:
    assert m.send(b"AT+CGREG=1;+CGACT=1,1\r") == ok()
    assert m.send(b"AT+CGPADDR=1\r") == ok('+CGPADDR: 1,"10.46.73.41"')
    assert m.send(b"AT+CGATT=0\r") == ok() + b"\r\n+CGREG: 0\r\n"
    assert m.send(b"AT+CGATT?;+CGACT?\r") == b"\r\n+CGATT: 0\r\n" + ok("+CGACT: 1,0")
    assert m.send(b"AT+CGPADDR=1\r") == ok("+CGPADDR: 1")
    assert m.send(b"AT+CGATT=1\r") == ok() + b"\r\n+CGREG: 1\r\n"
    assert m.send(b"AT+CGATT?\r") == ok("+CGATT: 1")
    assert m.send(b"AT+CGATT=1\r") == ok()  # already attached: nothing changes
    m.module.set_coverage(False, m.now)
    m.run_timers()
    assert m.take() == b"\r\n+CGREG: 2\r\n"
    cme(m, b"AT+CGATT=1", 30)
    m.module.set_coverage(True, m.now)
    m.module.set_sim(SimState.NOT_INSERTED, m.now)
    m.run_timers()
    assert m.take() == b"\r\n+CGREG: 1\r\n\r\n+CPIN: NOT READY\r\n\r\n+CGREG: 0\r\n"
    cme(m, b"AT+CGATT=1", 10)


def test_cgpaddr_lists_defined_contexts(m: FakeClockModule) -> None:
    assert m.send(b'AT+CGDCONT=3,"IP","iot"\r') == ok()
    assert m.send(b"AT+CGACT=1,3\r") == ok()
    assert m.send(b"AT+CGPADDR\r") == ok("+CGPADDR: 1", '+CGPADDR: 3,"10.46.73.43"')
    assert m.send(b"AT+CGPADDR=3,1,2\r") == ok('+CGPADDR: 3,"10.46.73.43"', "+CGPADDR: 1")
    assert m.send(b"AT+CGPADDR=?\r") == ok("+CGPADDR: (1,3)")


def test_psm_and_edrx_are_stored_and_kept_over_a_reset(m: FakeClockModule) -> None:
    assert m.send(b'AT+CPSMS=1,,,"00100100","00001010"\r') == ok()
    assert m.send(b'AT+CEDRXS=1,4,"0101"\r') == ok()
    assert m.send(b"AT+CFUN=1,1\r") == ok()
    m.advance(5)
    m.take()
    m.send(b"ATE0\r")
    assert m.send(b"AT+CPSMS?\r") == ok('+CPSMS: 1,,,"00100100","00001010"')
    assert m.send(b"AT+CEDRXS?\r") == ok('+CEDRXS: 4,"0101"')
    assert m.send(b"AT+CPSMS=0\r") == ok()  # off, the requested timers kept
    assert m.send(b"AT+CPSMS?\r") == ok('+CPSMS: 0,,,"00100100","00001010"')
    assert m.send(b"AT+CPSMS=2\r") == ok()  # off and back to the defaults
    assert m.send(b"AT+CPSMS?\r") == ok('+CPSMS: 0,,,"00000000","00000000"')
    assert m.send(b"AT+CEDRXS=3\r") == ok()
    assert m.send(b"AT+CEDRXS?\r") == ok('+CEDRXS: 4,"0000"')
    assert m.send(b'AT+CPSMS=1,"00000001","00000010"\r') == ok()
    assert m.send(b"AT+CPSMS?\r") == ok('+CPSMS: 1,"00000001","00000010","00000000","00000000"')


@pytest.mark.parametrize(
    "command",
    [
        b"AT+CGREG=3",
        b"AT+CGREG=1,1",
        b'AT+CGREG="1"',
        b"AT+CGATT=2",
        b"AT+CGATT=",
        b"AT+CGPADDR=0",
        b"AT+CGPADDR=16",
        b'AT+QENG="cell"',
        b"AT+QENG=1",
        b'AT+QENG="servingcell",1',
        b"AT+CPSMS=3",
        b'AT+CPSMS=1,,,"0010010","00001010"',
        b'AT+CPSMS=1,,,"00100102"',
        b"AT+CPSMS=1,,,00100100",
        b'AT+CPSMS=1,,,"00100100","00001010",1',
        b"AT+CEDRXS=4",
        b'AT+CEDRXS=1,5,"0101"',
        b'AT+CEDRXS=1,4,"01010"',
        b'AT+CEDRXS=1,4,"0121"',
    ],
)
def test_wrong_parameters_are_cme_50(m: FakeClockModule, command: bytes) -> None:
    cme(m, command, 50)


@pytest.mark.parametrize(
    "command", [b"AT+QCSQ?", b"AT+QNWINFO=1", b"AT+QENG", b"AT+CGATT", b"AT+CGPADDR?"]
)
def test_forms_a_command_lacks_are_error(m: FakeClockModule, command: bytes) -> None:
    assert m.send(command + b"\r") == b"\r\nERROR\r\n"
