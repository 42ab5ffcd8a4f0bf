"""Baseline commands against the module model: what the host reads on the AT port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.adapters.nvfile import FileNvStore
from emulator.module.profile import ProfileError, builtin_names, load_profile
from emulator.module.state import SimState, derive_imei, is_valid_imei
from tests.support import FakeClockModule


@pytest.fixture
def m() -> FakeClockModule:
    mod = FakeClockModule()
    mod.send(b"ATE0\r")
    return mod


@pytest.mark.parametrize(
    ("cmd", "answer"),
    [
        (b"AT+GMI", b"Quectel"),
        (b"AT+CGMI", b"Quectel"),
        (b"AT+GMM", b"EC200U"),
        (b"AT+CGMM", b"EC200U"),
        (b"AT+GMR", b"EC200UCNAAR03A15M08"),
        (b"AT+CGMR", b"EC200UCNAAR03A15M08"),
        (b"AT+GSN", b"869339060001965"),
        (b"AT+CGSN", b"869339060001965"),
        (b"AT+CGSN=1", b"+CGSN: 869339060001965"),
        (b"AT+CGSN=0", b"+CGSN: MPY22K06Q0001965"),
        (b"AT+CIMI", b"460025191757605"),
        (b"AT+QCCID", b"+QCCID: 89860025191757605000"),
        (b"AT+CPIN?", b"+CPIN: READY"),
        (b"AT+CSQ", b"+CSQ: 24,99"),
        (b"AT+CSQ=?", b"+CSQ: (0-31,99),(0-7,99)"),
        (b"AT+CEREG?", b"+CEREG: 0,1"),
        (b"AT+COPS?", b'+COPS: 0,0,"CHINA MOBILE",7'),
        (b"AT+CFUN?", b"+CFUN: 1"),
        (b"AT+CGDCONT?", b'+CGDCONT: 1,"IP","cmnet","0.0.0.0",0,0,0,0'),
        (b"AT+QINISTAT", b"+QINISTAT: 7"),
    ],
)
def test_identity_and_status_formats(m: FakeClockModule, cmd: bytes, answer: bytes) -> None:
    assert m.send(cmd + b"\r") == b"\r\n" + answer + b"\r\n\r\nOK\r\n"


def test_every_builtin_profile_has_a_valid_imei() -> None:
    for name in builtin_names():
        assert is_valid_imei(load_profile(name).identity.imei), name


def test_derived_imeis_are_valid_and_distinct() -> None:
    imeis = {derive_imei("869339060001965", i) for i in range(200)}
    assert len(imeis) == 200 and all(is_valid_imei(i) for i in imeis)
    assert derive_imei("490154203237518", 0) == "490154203237518"


def test_profile_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"unknown profile 'XX1'.*EC200U"):
        load_profile("XX1")
    bad = tmp_path / "mine.json"
    bad.write_text('{"extends": "EC200U", "network": {"rssi": "strong"}}')
    with pytest.raises(ProfileError, match="'rssi' must be int"):
        load_profile(str(bad))
    bad.write_text("{nope")
    with pytest.raises(ProfileError, match="not valid JSON"):
        load_profile(str(bad))


def test_user_profile_overrides_only_what_differs(tmp_path: Path) -> None:
    mine = tmp_path / "mybuild.json"
    mine.write_text(
        json.dumps(
            {
                "extends": "EC200U",
                "name": "mine",
                "identity": {"revision": "EC200UEUAAR02A02M08_HJ"},
            }
        )
    )
    profile = load_profile(str(mine))
    assert profile.identity.revision == "EC200UEUAAR02A02M08_HJ"
    assert profile.identity.model == "EC200U"


def test_cereg_urc_modes_follow_coverage(m: FakeClockModule) -> None:
    m.send(b"AT+CEREG=2\r")
    assert m.send(b"AT+CEREG?\r") == b'\r\n+CEREG: 2,1,"5A1F","0B2C3D41",7\r\n\r\nOK\r\n'
    m.module.set_coverage(False, m.now)
    m.run_timers()
    assert m.take() == b"\r\n+CEREG: 2\r\n"
    assert m.send(b"AT+CSQ\r") == b"\r\n+CSQ: 99,99\r\n\r\nOK\r\n"
    assert m.send(b"AT+COPS?\r") == b"\r\n+COPS: 0\r\n\r\nOK\r\n"
    m.module.set_coverage(True, m.now)
    m.run_timers()
    assert m.take() == b'\r\n+CEREG: 1,"5A1F","0B2C3D41",7\r\n'
    m.send(b"AT+CEREG=0\r")
    m.module.set_coverage(False, m.now)
    m.run_timers()
    assert m.take() == b""  # mode 0: no URC


def test_creg_and_cereg_write_validate(m: FakeClockModule) -> None:
    assert m.send(b"AT+CEREG=3\r") == b"\r\n+CME ERROR: 50\r\n"
    assert m.send(b"AT+CREG=?\r") == b"\r\n+CREG: (0-2)\r\n\r\nOK\r\n"


def test_pdp_activation_and_its_failures(m: FakeClockModule) -> None:
    assert m.send(b"AT+QIACT?\r") == b"\r\nOK\r\n"  # nothing active: just OK
    assert m.send(b"AT+QIACT=1\r") == b"\r\nOK\r\n"
    assert m.send(b"AT+QIACT?\r") == b'\r\n+QIACT: 1,1,1,"10.46.73.41"\r\n\r\nOK\r\n'
    assert m.send(b"AT+QIACT=1\r") == b"\r\n+CME ERROR: 3\r\n"  # already active
    assert m.send(b"AT+QIDEACT=1\r") == b"\r\nOK\r\n"
    m.module.set_pdp_reject(True)
    assert m.send(b"AT+CGACT=1,1\r") == b"\r\n+CME ERROR: 148\r\n"
    m.module.set_pdp_reject(False)
    assert m.send(b"AT+CGACT=1,1\r") == b"\r\nOK\r\n"
    assert m.send(b"AT+CGACT?\r") == b"\r\n+CGACT: 1,1\r\n\r\nOK\r\n"
    assert m.send(b'AT+CGDCONT=1,"IP","other"\r') == b"\r\n+CME ERROR: 3\r\n"  # active
    m.module.detach(m.now)  # losing coverage tears the context down
    m.run_timers()
    assert m.send(b"AT+CGACT?\r") == b"\r\n+CGACT: 1,0\r\n\r\nOK\r\n"
    assert m.send(b"AT+QIACT=2\r") == b"\r\n+CME ERROR: 3\r\n"  # cid 2 not defined


def test_cgdcont_and_qicsgp_define_contexts(m: FakeClockModule) -> None:
    assert m.send(b'AT+CGDCONT=2,"IPV4V6","iot.example"\r') == b"\r\nOK\r\n"
    assert m.send(b'AT+QICSGP=3,1,"apn3","user","pw",1\r') == b"\r\nOK\r\n"
    assert m.send(b"AT+QICSGP=3\r") == b'\r\n+QICSGP: 1,"apn3","user","pw",1\r\n\r\nOK\r\n'
    assert m.send(b"AT+CGDCONT?\r") == (
        b'\r\n+CGDCONT: 1,"IP","cmnet","0.0.0.0",0,0,0,0\r\n'
        b'+CGDCONT: 2,"IPV4V6","iot.example","0.0.0.0",0,0,0,0\r\n'
        b'+CGDCONT: 3,"IP","apn3","0.0.0.0",0,0,0,0\r\n\r\nOK\r\n'
    )
    assert m.send(b'AT+CGDCONT=2,"X25"\r') == b"\r\n+CME ERROR: 50\r\n"
    assert m.send(b"AT+CGDCONT=2\r") == b"\r\nOK\r\n"


def test_sim_removal_is_reported_and_refused(m: FakeClockModule) -> None:
    m.send(b"AT+CEREG=1\r")
    m.module.set_sim(SimState.NOT_INSERTED, m.now)
    m.run_timers()
    assert m.take() == b"\r\n+CPIN: NOT READY\r\n\r\n+CEREG: 0\r\n"
    assert m.send(b"AT+CPIN?\r") == b"\r\n+CME ERROR: 10\r\n"
    assert m.send(b"AT+CIMI\r") == b"\r\n+CME ERROR: 10\r\n"
    m.send(b"AT+CMEE=2\r")
    assert m.send(b"AT+QCCID\r") == b"\r\n+CME ERROR: SIM not inserted\r\n"


def test_cfun_1_1_reboots_quietly_then_sends_boot_urcs(m: FakeClockModule) -> None:
    m.send(b"AT+CMEE=2\r")  # not saved: the reboot must forget it
    assert m.send(b"AT+CFUN=1,1\r") == b"\r\nOK\r\n"
    assert m.send(b"AT\r") == b""  # the port is quiet while the module boots
    m.advance(2.0)
    assert m.take() == (
        b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n"
        b"\r\n+QIND: SMS DONE\r\n\r\n+QIND: PB DONE\r\n"
    )
    assert m.send(b"AT+CMEE?\r") == b"AT+CMEE?\r\r\n+CMEE: 1\r\n\r\nOK\r\n"  # echo back on


def test_a_line_right_after_cfun_1_1_meets_the_reboot(m: FakeClockModule) -> None:
    # The next line may come before the adapter has run the reboot timer that fell due
    # with OK (asyncio hands over I/O first): it is still lost, as the module is booting.
    m.module.receive_data(b"AT+CFUN=1,1\r", m.now)
    m.module.receive_data(b"AT\r", m.now)
    assert m.module.data_to_send() == b"\r\nOK\r\n"


def test_cfun_4_and_back(m: FakeClockModule) -> None:
    assert m.send(b"AT+CFUN=4\r") == b"\r\nOK\r\n"
    assert m.send(b"AT+CEREG?\r") == b"\r\n+CEREG: 0,0\r\n\r\nOK\r\n"
    assert m.send(b"AT+QIACT=1\r") == b"\r\n+CME ERROR: 148\r\n"
    assert m.send(b"AT+CFUN=1\r") == (
        b"\r\nOK\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n\r\n+QIND: SMS DONE\r\n"
        b"\r\n+QIND: PB DONE\r\n"
    )
    assert m.send(b"AT+CFUN=2\r") == b"\r\n+CME ERROR: 50\r\n"
    assert m.send(b"AT+CFUN=?\r") == b"\r\n+CFUN: (0,1,4),(0-1)\r\n\r\nOK\r\n"


def test_cclk_set_and_read(m: FakeClockModule) -> None:
    assert m.send(b'AT+CCLK="26/11/23,18:30:00+04"\r') == b"\r\nOK\r\n"
    m.advance(61.0)
    assert m.send(b"AT+CCLK?\r") == b'\r\n+CCLK: "26/11/23,18:31:01+04"\r\n\r\nOK\r\n'
    assert m.send(b'AT+CCLK="26/13/01,00:00:00+00"\r') == b"\r\n+CME ERROR: 50\r\n"
    assert m.send(b'AT+CCLK="yesterday"\r') == b"\r\n+CME ERROR: 50\r\n"


def test_saved_settings_survive_a_reboot_with_a_file_store(tmp_path: Path) -> None:
    path = tmp_path / "state" / "869339060001965.json"
    m = FakeClockModule(nv=FileNvStore(path))
    m.send(b"ATE0;+CMEE=2;&W\r")
    assert json.loads(path.read_text())["engine"]["cmee"] == 2
    again = FakeClockModule(nv=FileNvStore(path))  # a new process on the same state dir
    assert again.send(b"AT+CMEE?\r") == b"\r\n+CMEE: 2\r\n\r\nOK\r\n"


def test_corrupt_state_file_is_kept_aside_and_defaults_used(tmp_path: Path) -> None:
    path = tmp_path / "869339060001965.json"
    path.write_text("{not json")
    store = FileNvStore(path)
    assert "corrupt" in store.warnings[0] and "factory defaults" in store.warnings[0]
    assert [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    m = FakeClockModule(nv=store)
    assert m.send(b"AT\r") == b"AT\r\r\nOK\r\n"


def test_cops_format_selects_long_short_or_numeric_names(m: FakeClockModule) -> None:
    assert m.send(b"AT+COPS=3,1\r") == b"\r\nOK\r\n"
    assert m.send(b"AT+COPS?\r") == b'\r\n+COPS: 0,1,"CMCC",7\r\n\r\nOK\r\n'
    assert m.send(b"AT+COPS=3,2\r") == b"\r\nOK\r\n"
    assert m.send(b"AT+COPS?\r") == b'\r\n+COPS: 0,2,"46000",7\r\n\r\nOK\r\n'
    assert m.send(b"AT+COPS=3,3\r") == b"\r\n+CME ERROR: 50\r\n"
    assert m.send(b"AT+COPS=3\r") == b"\r\n+CME ERROR: 50\r\n"
    assert m.send(b"AT+COPS=1,2,\"46001\"\r") == b"\r\n+CME ERROR: 3\r\n"
