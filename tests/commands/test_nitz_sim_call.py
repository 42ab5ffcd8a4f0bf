"""AT+CTZR/+CTZU/+QLTS with the network's time, AT+CCID/+QSIMDET/+QSIMSTAT with the card
pulled and put back, AT+CLIP/+CVHU/+CNUM/+VTS: byte-exact, with their errors."""

from __future__ import annotations

import dataclasses

import pytest

from emulator.at.errors import OperationNotAllowed
from emulator.module.state import SimState
from tests.commands.conftest import cme, common_profile, ok
from tests.support import FakeClockModule

# FakeClockModule's clock: Unix 1_700_000_000 at start (2023-11-14 22:13:20 UTC); the network
# sent its time (zone +32, China) when the module registered during the boot, and the
# fixture hands the module over 5 s later.


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        (b"AT+CTZR?", ok("+CTZR: 0")),
        (b"AT+CTZR=?", ok("+CTZR: (0-2)")),
        (b"AT+CTZU?", ok("+CTZU: 0")),
        (b"AT+CTZU=?", ok("+CTZU: (0,1,3)")),
        (b"AT+QLTS=?", ok("+QLTS: (0-2)")),
        (b"AT+CCID", ok("+CCID: 89860025191757605000")),
        (b"AT+CCID=?", ok()),
        (b"AT+QINISTAT", ok("+QINISTAT: 7")),
        (b"AT+QINISTAT=?", ok()),
        (b"AT+QSIMDET?", ok("+QSIMDET: 1,0")),
        (b"AT+QSIMDET=?", ok("+QSIMDET: (0,1),(0,1)")),
        (b"AT+QSIMSTAT?", ok("+QSIMSTAT: 0,1")),
        (b"AT+QSIMSTAT=?", ok("+QSIMSTAT: (0,1)")),
        (b"AT+CLIP?", ok("+CLIP: 0,1")),
        (b"AT+CLIP=?", ok("+CLIP: (0,1)")),
        (b"AT+CVHU?", ok("+CVHU: 0")),
        (b"AT+CVHU=?", ok("+CVHU: (0,1)")),
        (b"AT+CNUM", ok('+CNUM: "","+8613800138000",145')),
        (b"AT+CNUM=?", ok()),
        (b"AT+VTS=?", ok("+VTS: (0-9,*,#,A,B,C,D),(1-255)")),
    ],
)
def test_read_and_test_forms(m: FakeClockModule, command: bytes, answer: bytes) -> None:
    assert m.send(command + b"\r") == answer


def test_qlts_counts_on_from_the_network_time(m: FakeClockModule) -> None:
    assert m.send(b"AT+QLTS\r") == ok('+QLTS: "2023/11/14,22:13:20+32,0"')
    m.advance(60)
    assert m.send(b"AT+QLTS=0\r") == ok('+QLTS: "2023/11/14,22:13:20+32,0"')
    assert m.send(b"AT+QLTS=1\r") == ok('+QLTS: "2023/11/14,22:14:25+32,0"')
    assert m.send(b"AT+QLTS=2\r") == ok('+QLTS: "2023/11/15,06:14:25+32,0"')


def test_qlts_is_empty_before_any_network_time() -> None:
    profile = common_profile()
    quiet_network = dataclasses.replace(
        profile, sections={**profile.sections, "nitz": {"on_register": False}}
    )
    m = FakeClockModule(quiet_network)
    m.send(b"ATE0\r")
    assert m.send(b"AT+QLTS\r") == ok('+QLTS: ""')
    assert m.send(b"AT+QLTS=2\r") == ok('+QLTS: ""')


def test_network_time_change_reports_ctzv_and_ctze(m: FakeClockModule) -> None:
    assert m.send(b"AT+CTZR=1\r") == ok()
    m.module.network_time(m.now, unix_time=1_750_000_000, tz_quarters=-20, dst=1)
    m.run_timers()
    assert m.take() == b'\r\n+CTZV: "-20"\r\n'
    assert m.send(b"AT+CTZR=2\r") == ok()
    m.module.network_time(m.now, unix_time=1_750_000_000, tz_quarters=4, dst=0)
    m.run_timers()  # 2025-06-15 15:06:40 UTC is 16:06:40 at +04
    assert m.take() == b'\r\n+CTZE: "+04",0,"2025/06/15,16:06:40"\r\n'
    assert m.send(b"AT+QLTS\r") == ok('+QLTS: "2025/06/15,15:06:40+04,0"')
    assert m.send(b"AT+CTZR=0\r") == ok()
    m.module.network_time(m.now, tz_quarters=8)
    m.run_timers()
    assert m.take() == b""


def test_ctzu_decides_what_the_clock_takes(m: FakeClockModule) -> None:
    clock = b'\r\n+CCLK: "23/11/14,22:13:25+00"\r\n\r\nOK\r\n'
    m.module.network_time(m.now, unix_time=1_750_000_000, tz_quarters=8)
    assert m.send(b"AT+CCLK?\r") == clock  # CTZU 0: the clock is left alone
    assert m.send(b"AT+CTZU=1\r") == ok()
    m.module.network_time(m.now, unix_time=1_750_000_000, tz_quarters=8)
    assert m.send(b"AT+CCLK?\r") == ok('+CCLK: "23/11/15,00:13:25+08"')  # zone only
    assert m.send(b"AT+CTZU=3\r") == ok()
    m.module.network_time(m.now, unix_time=1_750_000_000, tz_quarters=8)
    assert m.send(b"AT+CCLK?\r") == ok('+CCLK: "25/06/15,17:06:40+08"')  # time and zone


def test_ctzr_and_ctzu_are_saved(m: FakeClockModule) -> None:
    assert m.send(b"AT+CTZR=2;+CTZU=3\r") == ok()
    assert m.send(b"AT+CFUN=1,1\r") == ok()
    m.advance(5)
    boot = m.take()
    assert b'\r\n+CTZE: "+32",0,"' in boot  # the registration after the reboot brings NITZ
    m.send(b"ATE0\r")
    assert m.send(b"AT+CTZR?\r") == ok("+CTZR: 2")
    assert m.send(b"AT+CTZU?\r") == ok("+CTZU: 3")


def test_network_time_needs_a_network(m: FakeClockModule) -> None:
    m.module.set_coverage(False, m.now)
    with pytest.raises(OperationNotAllowed):
        m.module.network_time(m.now, tz_quarters=8)
    with pytest.raises(ValueError, match="time zone"):
        m.module.network_time(m.now, tz_quarters=60)


def test_sim_removed_and_inserted_report_qsimstat_then_cpin(m: FakeClockModule) -> None:
    assert m.send(b"AT+QSIMSTAT=1\r") == ok()
    assert m.send(b"AT+QSIMSTAT?\r") == ok("+QSIMSTAT: 1,1")
    m.module.set_sim(SimState.NOT_INSERTED, m.now)
    m.run_timers()
    assert m.take() == b"\r\n+QSIMSTAT: 1,0\r\n\r\n+CPIN: NOT READY\r\n"
    assert m.send(b"AT+QSIMSTAT?\r") == ok("+QSIMSTAT: 1,0")
    cme(m, b"AT+CCID", 10)
    assert m.send(b"AT+QINISTAT\r") == ok("+QINISTAT: 0")  # nothing initialised
    cme(m, b"AT+CNUM", 10)
    m.module.set_sim(SimState.READY, m.now)
    m.run_timers()
    assert m.take() == b"\r\n+QSIMSTAT: 1,1\r\n\r\n+CPIN: READY\r\n"
    assert m.send(b"AT+QSIMSTAT=0\r") == ok()
    m.module.set_sim(SimState.NOT_INSERTED, m.now)
    m.run_timers()
    assert m.take() == b"\r\n+CPIN: NOT READY\r\n"


def test_qsimdet_and_qsimstat_are_saved(m: FakeClockModule) -> None:
    assert m.send(b"AT+QSIMDET=0,1;+QSIMSTAT=1\r") == ok()
    assert m.send(b"AT+CFUN=1,1\r") == ok()
    m.advance(5)
    m.take()
    m.send(b"ATE0\r")
    assert m.send(b"AT+QSIMDET?\r") == ok("+QSIMDET: 0,1")
    assert m.send(b"AT+QSIMSTAT?\r") == ok("+QSIMSTAT: 1,1")


def test_clip_and_cvhu_are_kept_until_a_reset(m: FakeClockModule) -> None:
    assert m.send(b"AT+CLIP=1;+CVHU=1\r") == ok()
    assert m.send(b"AT+CLIP?;+CVHU?\r") == b"\r\n+CLIP: 1,1\r\n" + ok("+CVHU: 1")
    assert m.send(b"AT+CFUN=1,1\r") == ok()
    m.advance(5)
    m.take()
    m.send(b"ATE0\r")
    assert m.send(b"AT+CLIP?;+CVHU?\r") == b"\r\n+CLIP: 0,1\r\n" + ok("+CVHU: 0")


def test_vts_outside_a_call_is_not_allowed(m: FakeClockModule) -> None:
    cme(m, b"AT+VTS=1", 3)
    cme(m, b'AT+VTS="#"', 3)
    cme(m, b'AT+VTS="A",10', 3)


@pytest.mark.parametrize(
    "command",
    [
        b"AT+CTZR=3",
        b"AT+CTZR=1,1",
        b"AT+CTZU=2",
        b"AT+CTZU=",
        b"AT+QLTS=3",
        b"AT+QLTS=1,1",
        b"AT+QSIMDET=1",
        b"AT+QSIMDET=2,0",
        b"AT+QSIMDET=1,0,0",
        b"AT+QSIMSTAT=2",
        b"AT+CLIP=2",
        b"AT+CVHU=2",
        b"AT+CVHU=0,0",
        b'AT+VTS="X"',
        b'AT+VTS=""',
        b'AT+VTS="1",256',
    ],
)
def test_wrong_parameters_are_cme_50(m: FakeClockModule, command: bytes) -> None:
    cme(m, command, 50)


@pytest.mark.parametrize(
    "command", [b"AT+CTZR", b"AT+QLTS?", b"AT+CCID?", b"AT+QSIMSTAT", b"AT+CNUM?", b"AT+VTS"]
)
def test_forms_a_command_lacks_are_error(m: FakeClockModule, command: bytes) -> None:
    assert m.send(command + b"\r") == b"\r\nERROR\r\n"
