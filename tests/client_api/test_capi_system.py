"""The system modules of the host runtime (osTimer, sys_bus, machine, misc, pm, ql_fs,
uos, ntptime, the u-modules, the net/dataCall getters) against the scripted fake module."""

from __future__ import annotations

import gzip
import io
import os
import queue
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import client_api
from client_api.quecpython import (
    _host,
    _sandbox,
    _timers,
    datacall,
    misc,
    net,
    ntptime,
    pm,
    ql_fs,
    sys_bus,
    ubinascii,
    uhashlib,
    ujson,
    uos,
    uzlib,
)
from client_api.quecpython import machine as qmachine
from client_api.quecpython.machine import gpio
from client_api.quecpython.ostimer import osTimer
from tests.client_api.capi_fake import FakeModule, cme, error, ok, urc_bytes

EVENT_WAIT = 10.0  # generous: the machine is shared


@pytest.fixture
def device(fake: FakeModule) -> Iterator[FakeModule]:
    client_api.open(fake.url, command_timeout=1.0)
    yield fake


@pytest.fixture(autouse=True)
def _clean_host_state() -> Iterator[None]:
    yield
    _timers.stop_all()
    sys_bus.clear()
    _host.set_end_handler(None)
    _host.settings.uarts = {}
    _host.settings.usr = None
    _sandbox.reset()
    gpio.clear()


@pytest.fixture
def usr(tmp_path: Path) -> Path:
    folder = tmp_path / "usr"
    _host.settings.usr = folder
    _sandbox.reset()
    return folder


def sent(fake: FakeModule) -> list[str]:
    return [line for line in fake.received.decode().split("\r") if line]


# ----------------------------------------------------------------------- osTimer
def test_ostimer_one_shot_and_cyclic() -> None:
    fired: queue.Queue[object] = queue.Queue()
    once = osTimer()
    assert once.start(20, 0, fired.put) == 0
    assert fired.get(timeout=EVENT_WAIT) is None  # the document: the argument is unused
    assert _wait_idle(once)

    ticks: queue.Queue[int] = queue.Queue()
    cyclic = osTimer()
    count = {"n": 0}

    def tick(_arg: object) -> None:
        count["n"] += 1
        ticks.put(count["n"])
        if count["n"] == 3:
            cyclic.stop()

    assert cyclic.start(10, 1, tick) == 0
    assert [ticks.get(timeout=EVENT_WAIT) for _ in range(3)] == [1, 2, 3]
    assert _wait_idle(cyclic)
    assert count["n"] == 3


def _wait_idle(timer: osTimer) -> bool:
    for _ in range(200):
        if not timer._timer.running and not _host.busy():
            return True
        threading.Event().wait(0.05)
    return False


def test_ostimer_bad_arguments_and_delete() -> None:
    timer = osTimer()
    assert timer.start(0, 0, print) == -1
    assert timer.start(10, 2, print) == -1
    assert timer.start(10, 0, "not callable") == -1  # type: ignore[arg-type]
    assert timer.delete_timer() == 0
    assert timer.start(10, 0, print) == -1
    assert timer.stop() == -1


def test_ostimer_module_is_callable() -> None:
    import client_api.quecpython.ostimer as module

    assert isinstance(module(), osTimer)  # type: ignore[operator]


def test_ostimer_callback_exception_is_printed_and_timer_keeps_going(
    capfd: pytest.CaptureFixture[str],
) -> None:
    calls: queue.Queue[int] = queue.Queue()
    timer = osTimer()

    def boom(_arg: object) -> None:
        calls.put(1)
        raise RuntimeError("boom in callback")

    timer.start(10, 1, boom)
    calls.get(timeout=EVENT_WAIT)
    calls.get(timeout=EVENT_WAIT)
    timer.stop()
    assert "boom in callback" in capfd.readouterr().err


# ----------------------------------------------------------------------- sys_bus
def test_sys_bus_publish_sync_async_and_table() -> None:
    seen: queue.Queue[tuple[object, object, str]] = queue.Queue()

    def first(topic: object, msg: object) -> None:
        seen.put((topic, msg, threading.current_thread().name))

    def second(topic: object, msg: object) -> None:
        seen.put((topic, msg, "second"))

    sys_bus.subscribe("temp", first)
    sys_bus.subscribe("temp", second)
    sys_bus.subscribe(7, first)
    assert sys_bus.sub_table("temp") == {first, second}
    assert set(sys_bus.sub_table()) == {"temp", 7}

    sys_bus.publish_sync("temp", 21)
    got = {seen.get(timeout=1)[2] for _ in range(2)}
    assert threading.current_thread().name in got and "second" in got

    sys_bus.publish(7, "async")
    topic, msg, thread = seen.get(timeout=EVENT_WAIT)
    assert (topic, msg) == (7, "async") and thread != threading.current_thread().name

    assert sys_bus.unsubscribe("temp", second) is True
    assert sys_bus.sub_table("temp") == {first}
    assert sys_bus.unsubscribe("temp", second) is False
    assert sys_bus.unsubscribe("temp") is True
    assert sys_bus.unsubscribe("nothing") is False
    with pytest.raises(TypeError):
        sys_bus.subscribe(1.5, first)  # type: ignore[arg-type]


# ----------------------------------------------------------------------- machine
def test_machine_timer_one_task_per_number() -> None:
    fired: queue.Queue[object] = queue.Queue()
    first = qmachine.Timer(qmachine.Timer.Timer1)
    other = qmachine.Timer(qmachine.Timer.Timer1)
    assert first.start(period=50, mode=qmachine.Timer.PERIODIC, callback=fired.put) == 0
    assert other.start(period=10, mode=qmachine.Timer.ONE_SHOT, callback=fired.put) == -1
    assert fired.get(timeout=EVENT_WAIT) is first  # the callback gets the timer
    assert first.stop() == 0
    assert other.start(period=10, mode=qmachine.Timer.ONE_SHOT, callback=fired.put) == 0
    while fired.get(timeout=EVENT_WAIT) is not other:
        pass
    assert first.start(period=0, mode=qmachine.Timer.ONE_SHOT, callback=print) == -1
    with pytest.raises(ValueError):
        qmachine.Timer(4)


def test_watchdog_ends_the_run_unless_fed() -> None:
    ended: queue.Queue[tuple[int, str]] = queue.Queue()
    _host.set_end_handler(lambda status, message: ended.put((status, message)))
    dog = qmachine.WDT(1)
    for _ in range(3):  # fed every 0.3 s for 0.9 s: never expires
        threading.Event().wait(0.3)
        assert dog.feed() == 0
    assert ended.empty()
    status, message = ended.get(timeout=EVENT_WAIT)
    assert status == _host.EXIT_WATCHDOG and "not fed for 1 s" in message
    stopped = qmachine.WDT(1)
    assert stopped.stop() == 0
    assert not _host.busy() or dog._timer.running is False


def test_extint_edges_counts_and_disable() -> None:
    events: queue.Queue[tuple[int, int]] = queue.Queue()
    both = qmachine.ExtInt(
        5, qmachine.ExtInt.IRQ_RISING_FALLING, qmachine.ExtInt.PULL_PD, events.put
    )
    assert both.read_level() == 0 and both.line() == 5
    assert both.enable() == 0
    gpio.drive(5, 1)
    gpio.drive(5, 1)  # no edge
    gpio.drive(5, 0)
    assert events.get(timeout=1) == (5, 0)
    assert events.get(timeout=1) == (5, 1)
    assert both.read_count(1) == [1, 1]
    assert both.read_count(0) == [0, 0]
    rising = qmachine.ExtInt(6, qmachine.ExtInt.IRQ_RISING, qmachine.ExtInt.PULL_PU, events.put)
    rising.enable()
    gpio.drive(6, 0)  # falling: not reported
    gpio.drive(6, 1)
    assert events.get(timeout=1) == (6, 0)
    assert both.disable() == 0
    gpio.drive(5, 1)
    assert events.empty()


def test_rtc_reads_and_writes_the_module_clock(device: FakeModule) -> None:
    clock = {"text": "26/11/27,18:41:25+32"}

    def read(_line: str) -> bytes:
        return ok(f'+CCLK: "{clock["text"]}"')

    def write(line: str) -> bytes:
        clock["text"] = line.split('"')[1]
        return ok()

    device.answer("AT+CCLK?", read)
    device.answer('AT+CCLK="27/01/03,04:05:06+32"', write)
    rtc = qmachine.RTC()
    assert rtc.datetime() == (2026, 11, 27, 5, 18, 41, 25, 0)  # a Friday; 0 is Sunday
    assert rtc.datetime((2027, 1, 3, 0, 4, 5, 6, 0)) == 0
    assert 'AT+CCLK="27/01/03,04:05:06+32"' in sent(device)  # the zone is kept
    assert rtc.datetime((2027, 2, 30, 0, 4, 5, 6, 0)) == -1  # no such date
    device.answer("AT+CCLK?", error())
    assert rtc.datetime() == -1


def test_rtc_alarm_fires_at_the_module_time(device: FakeModule) -> None:
    device.answer("AT+CCLK?", ok('+CCLK: "26/11/27,18:41:25+00"'))
    rtc = qmachine.RTC()
    rang: queue.Queue[object] = queue.Queue()
    assert rtc.register_callback(rang.put) == 0
    assert rtc.set_alarm((2026, 11, 27, 5, 18, 41, 20, 0)) == -1  # in the past
    assert rtc.set_alarm((2026, 11, 27, 5, 18, 41, 26, 0)) == 0
    assert rtc.enable_alarm(1) == 0
    assert rang.get(timeout=EVENT_WAIT) == (2026, 11, 27, 5, 18, 41, 26, 0)


def test_uart_over_a_pc_port_and_without_one() -> None:
    with pytest.raises(_host.UnsupportedCall, match=r"machine.UART\(2\).*--uart 2=PORT"):
        qmachine.UART(qmachine.UART.UART2, 115200, 8, 0, 1, 0)
    _host.settings.uarts = {2: "loop://"}
    uart = qmachine.UART(qmachine.UART.UART2, 115200, 8, 0, 1, 0)
    arrived: queue.Queue[list[int]] = queue.Queue()
    assert uart.set_callback(arrived.put) == 0
    assert uart.write(b"hello") == 5
    report = arrived.get(timeout=EVENT_WAIT)
    assert report[:2] == [0, 2]
    data = b""
    while len(data) < 5:
        data += uart.read(5)
    assert data == b"hello" and uart.any() == 0
    assert uart.close() == 0


# -------------------------------------------------------------------- u-modules
def test_u_modules_keep_micropython_shapes() -> None:
    stream = io.StringIO()
    ujson.dump({"a": [1, 2]}, stream)
    assert stream.getvalue() == '{"a": [1, 2]}' and ujson.loads(b'{"x": 1}') == {"x": 1}
    with pytest.raises(ValueError):
        ujson.loads("{bad")
    assert ubinascii.hexlify(b"\x01\xab") == b"01ab"
    assert ubinascii.hexlify(b"\x01\xab", ":") == b"01:ab"
    assert ubinascii.a2b_base64(ubinascii.b2a_base64(b"hi")) == b"hi"
    assert ubinascii.b2a_base64(b"hi").endswith(b"\n")
    digest = uhashlib.sha256(b"ab")
    digest.update(b"c")
    assert ubinascii.hexlify(digest.digest()).startswith(b"ba7816bf")
    assert len(uhashlib.md5(b"x").digest()) == 16 and len(uhashlib.sha1().digest()) == 20
    with pytest.raises(AttributeError, match=r"hexdigest.*ubinascii\.hexlify"):
        _ = digest.hexdigest
    with pytest.raises(TypeError):
        digest.update("text")  # type: ignore[arg-type]


def test_uzlib_forms_and_decompio() -> None:
    data = b"QuecPython " * 50
    assert uzlib.decompress(zlib.compress(data)) == data
    raw = zlib.compressobj(wbits=-15)
    assert uzlib.decompress(raw.compress(data) + raw.flush(), -15) == data
    assert uzlib.decompress(gzip.compress(data), 31) == data
    with pytest.raises(ValueError):
        uzlib.decompress(b"not deflate")
    with pytest.raises(ValueError):
        uzlib.decompress(zlib.compress(data), 40)
    reader = uzlib.DecompIO(io.BytesIO(zlib.compress(b"line one\nline two\n" + data)))
    assert reader.readline() == b"line one\n"
    assert reader.read(4) == b"line"
    buffer = bytearray(5)
    assert reader.readinto(buffer) == 5 and bytes(buffer) == b" two\n"
    assert reader.read() == data


# --------------------------------------------------------------------- /usr fs
def test_uos_in_the_sandbox(usr: Path) -> None:
    assert uos.getcwd() == "/usr"
    assert uos.listdir("/") == ["usr"]
    uos.mkdir("/usr/data")
    with open(usr / "data" / "a.txt", "w") as f:
        f.write("abc")
    assert uos.listdir("/usr/data") == ["a.txt"]
    uos.chdir("data")
    assert uos.getcwd() == "/usr/data"
    assert uos.listdir() == ["a.txt"]
    assert uos.stat("a.txt")[0] == 0x8000 and uos.stat("a.txt")[6] == 3
    assert uos.stat("/usr/data")[0] == 0x4000
    assert list(uos.ilistdir()) == [("a.txt", 0x8000, 0, 3)]
    uos.rename("a.txt", "/usr/b.txt")
    assert uos.listdir("..") == ["b.txt", "data"]
    uos.remove("../b.txt")
    uos.chdir("/usr")
    uos.rmdir("data")
    assert uos.listdir() == []
    with pytest.raises(OSError) as missing:
        uos.remove("/usr/nothing")
    assert missing.value.errno == 2 and "/usr/nothing" in str(missing.value)
    assert str(usr) not in str(missing.value)  # the device path, not the PC's
    assert len(uos.statvfs("/usr")) == 10


@pytest.mark.parametrize(
    ("call", "path"),
    [
        (uos.listdir, "/etc"),
        (uos.listdir, "/usr/../etc"),
        (uos.stat, "/usrx/file"),
        (uos.remove, "../etc/passwd"),
        (ql_fs.read_json, "/tmp/x.json"),
        (ql_fs.path_exists, "/usr/a/../../b"),
    ],
)
def test_paths_outside_usr_are_refused(usr: Path, call: object, path: str) -> None:
    with pytest.raises(PermissionError, match=r"outside /usr") as refused:
        call(path)  # type: ignore[operator]
    assert isinstance(refused.value, _sandbox.SandboxError)


def test_a_link_out_of_the_sandbox_is_refused(usr: Path, tmp_path: Path) -> None:
    usr.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "secret.json"
    outside.write_text('{"secret": 1}')
    os.symlink(outside, usr / "link.json")
    with pytest.raises(PermissionError, match="leads out of /usr"):
        ql_fs.read_json("/usr/link.json")


def test_ql_fs_helpers(usr: Path) -> None:
    assert ql_fs.path_exists("/usr/cfg") is False
    assert ql_fs.touch("/usr/cfg/app.json", {"boot": 1, "name": "x"}) == 0
    assert (usr / "cfg" / "app.json").read_text() == '{"boot": 1, "name": "x"}'
    assert ql_fs.read_json("/usr/cfg/app.json") == {"boot": 1, "name": "x"}
    assert ql_fs.path_exists("/usr/cfg/app.json") is True
    assert ql_fs.path_getsize("/usr/cfg/app.json") == 24
    assert ql_fs.path_dirname("/usr/cfg/app.json") == "/usr/cfg"
    assert ql_fs.file_copy("/usr/backup/app.json", "/usr/cfg/app.json") is True
    assert ql_fs.read_json("/usr/backup/app.json") == {"boot": 1, "name": "x"}
    assert ql_fs.path_getsize("/usr") == 48
    (usr / "notes.txt").write_text("plain text")
    assert ql_fs.read_json("/usr/notes.txt") == "plain text"
    assert ql_fs.read_json("/usr/missing.json") is None
    assert ql_fs.touch("/usr/bad.json", {"x": object()}) == -1
    ql_fs.mkdirs("/usr/a/b/c")
    ql_fs.mkdirs("/usr/a/b/c")
    ql_fs.rmdirs("/usr/a")
    assert not (usr / "a").exists()
    with pytest.raises(PermissionError):
        ql_fs.rmdirs("/usr")


# ------------------------------------------------------------------------ misc
def test_power_getvbatt_adc_and_what_cannot_work(device: FakeModule) -> None:
    device.answer("AT+CBC", ok("+CBC: 0,85,3912"))
    assert misc.Power.getVbatt() == 3912
    device.answer("AT+CBC", error())
    with pytest.raises(_host.UnsupportedCall, match=r"misc.Power.getVbatt.*AT\+CBC"):
        misc.Power.getVbatt()
    adc = misc.ADC()
    assert adc.open() == 0
    device.answer("AT+QADC=1", ok("+QADC: 1,1210"))
    device.answer("AT+QADC=0", ok("+QADC: 0,0"))
    assert adc.read(misc.ADC.ADC1) == 1210
    assert adc.read(misc.ADC.ADC0) == -1
    with pytest.raises(_host.UnsupportedCall, match=r"misc\.PowerKey\.powerKeyEventRegister"):
        misc.PowerKey().powerKeyEventRegister(print)
    with pytest.raises(_host.UnsupportedCall, match=r"misc\.PWM"):
        misc.PWM(misc.PWM.PWM0, misc.PWM.ABOVE_MS, 1, 2)
    assert misc.Power.powerOnReason() == 0


def test_power_down_and_restart_end_the_run(device: FakeModule) -> None:
    ended: queue.Queue[tuple[int, str]] = queue.Queue()
    _host.set_end_handler(lambda status, message: ended.put((status, message)))
    device.answer("AT+QPOWD=1", ok() + urc_bytes("POWERED DOWN"))
    with pytest.raises(SystemExit):
        misc.Power.powerDown()
    assert "powered the module down" in ended.get(timeout=1)[1]
    device.answer("AT+CFUN=1,1", ok())
    with pytest.raises(SystemExit):
        misc.Power.powerRestart()
    assert "AT+CFUN=1,1" in ended.get(timeout=1)[1]
    device.answer("AT+QPOWD=1", cme(4))
    with pytest.raises(_host.UnsupportedCall, match=r"misc\.Power\.powerDown"):
        misc.Power.powerDown()


# -------------------------------------------------------------------------- pm
def test_psm_time_over_cpsms(device: FakeModule) -> None:
    state = {"line": '+CPSMS: 0,,,"00000000","00000000"'}

    def write(line: str) -> bytes:
        _, _, rest = line.partition("=")
        parts = rest.split(",")
        tau, act = (parts[3], parts[4]) if len(parts) > 4 else ('"00000000"', '"00000000"')
        state["line"] = f"+CPSMS: {parts[0]},,,{tau},{act}"
        return ok()

    device.answer('AT+CPSMS=1,,,"00100010","00000101"', write)
    device.answer("AT+CPSMS=0", write)
    device.answer("AT+CPSMS?", lambda _line: ok(state["line"]))
    assert pm.set_psm_time(1, 2, 0, 5) is True  # TAU 2 x 1 h, active 5 x 2 s
    assert pm.get_psm_time() == [1, 1, 2, 0, 5]
    assert pm.set_psm_time(0) is True
    assert pm.get_psm_time()[0] == 0  # type: ignore[index]
    assert pm.set_psm_time(1, 2, 3, 5) is False  # 3 is not an active-time unit
    assert pm.set_psm_time(1, 40, 0, 5) is False  # five value bits
    device.answer("AT+QSCLK=1", ok())
    assert pm.autosleep(1) == 0
    assert pm.autosleep(1) == 0 and pm.autosleep(3) == -1


def test_wakelocks() -> None:
    before = pm.get_wakelock_num()
    fd = pm.create_wakelock("gnss", 4)
    assert fd > 0 and pm.get_wakelock_num() == before + 1
    assert pm.wakelock_lock(fd) == 0 and "gnss" in pm.locked_wakelocks()
    assert pm.wakelock_unlock(fd) == 0 and "gnss" not in pm.locked_wakelocks()
    assert pm.delete_wakelock(fd) == 0 and pm.delete_wakelock(fd) == -1
    assert pm.wakelock_lock(fd) == -1


# --------------------------------------------------------------------- ntptime
def test_ntp_settime_writes_the_zone_time(device: FakeModule) -> None:
    device.answer(
        'AT+QNTP=1,"ntp.example.org",123',
        ok() + urc_bytes('+QNTP: 0,"2026/11/27,12:00:00+08"'),  # 10:00 UTC at +2 h
    )
    device.answer('AT+CCLK="26/11/27,18:00:00+32"', ok())
    assert ntptime.sethost("ntp.example.org") == 0
    assert ntptime.settime(8) == 0
    assert sent(device)[-1] == 'AT+CCLK="26/11/27,18:00:00+32"'
    device.answer(
        'AT+QNTP=1,"ntp.example.org",123', ok() + urc_bytes('+QNTP: 0,"26/11/27,10:00:00+00"')
    )
    device.answer('AT+CCLK="26/11/27,09:00:00-04"', ok())
    assert ntptime.settime(-1) == 0
    assert sent(device)[-1] == 'AT+CCLK="26/11/27,09:00:00-04"'
    assert ntptime.settime(13) == -1
    device.answer('AT+QNTP=1,"ntp.example.org",123', ok() + urc_bytes("+QNTP: 565"))
    assert ntptime.settime() == -1
    device.answer('AT+QNTP=1,"ntp.example.org",123', error())
    with pytest.raises(_host.UnsupportedCall, match=r"ntptime.settime.*AT\+QNTP"):
        ntptime.settime()
    ntptime.sethost("ntp.aliyun.com")


# --------------------------------------------------------------- net getters
SERVING_LTE = (
    '+QENG: "servingcell","NOCONN","LTE","FDD",460,00,1A2B3C4,366,1650,3,5,5,5A1F,-85,-9,-63,15,40'
)


def test_signal_and_cells(device: FakeModule) -> None:
    device.answer("AT+QCSQ", ok('+QCSQ: "LTE",-63,-85,175,-9'))
    device.answer('AT+QENG="servingcell"', ok(SERVING_LTE))
    device.answer(
        'AT+QENG="neighbourcell"',
        ok('+QENG: "neighbourcell intra","LTE",1650,101,-12,-95,-70,5,30,7,30,8,20'),
    )
    assert net.getSignal() == ([99, 99, 255, 255], [-63, -85, -9, 255])
    assert net.getSignal(1) == ([99, 99, 255, 255], [-63, -85, -9, 255, 15])
    serving = (0, 0x1A2B3C4, 460, 0, 366, 0x5A1F, 1650, -85, -9, 15)
    neighbour = (2, 0, 0, 0, 101, 0, 1650, -95, -12, 5)
    assert net.getCellInfo() == ([], [], [serving, neighbour])
    assert net.getServingCi() == 0x1A2B3C4
    assert net.getServingMcc() == 460
    assert net.getServingMnc() == 0
    assert net.getServingLac() == 0x5A1F
    assert net.getCi() == [0x1A2B3C4, 0]
    assert net.getLac() == [0x5A1F, 0]


def test_signal_and_cells_without_service(device: FakeModule) -> None:
    device.answer("AT+QCSQ", ok('+QCSQ: "NOSERVICE"'))
    device.answer('AT+QENG="servingcell"', ok('+QENG: "servingcell","SEARCH"'))
    assert net.getSignal() == ([99, 99, 255, 255], [99, 99, 255, 255])
    assert net.getCellInfo() == ([], [], [])
    assert net.getServingCi() == -1
    device.answer("AT+QCSQ", error())
    device.answer('AT+QENG="servingcell"', error())
    assert net.getSignal() == -1 and net.getCellInfo() == -1 and net.getMcc() == -1


def test_config_and_net_mode(device: FakeModule) -> None:
    device.answer('AT+QCFG="nwscanmode"', ok('+QCFG: "nwscanmode",3'))
    device.answer('AT+QCFG="roamservice"', ok('+QCFG: "roamservice",1'))
    assert net.getConfig() == (5, False)
    device.answer('AT+QCFG="nwscanmode"', ok('+QCFG: "nwscanmode",0'))
    device.answer('AT+QCFG="roamservice"', ok('+QCFG: "roamservice",255'))
    device.answer("AT+QCFG=?", ok('+QCFG: "nwscanmode",(0,1,3),(0,1)'))
    assert net.getConfig() == (6, True)
    fmt = {"f": 0}
    names = {0: '"CHINA MOBILE"', 2: '"46000"'}
    device.answer("AT+COPS?", lambda _l: ok(f"+COPS: 0,{fmt['f']},{names[fmt['f']]},7"))

    def set_format(line: str) -> bytes:
        fmt["f"] = int(line[-1])
        return ok()

    device.answer("AT+COPS=3,2", set_format)
    device.answer("AT+COPS=3,0", set_format)
    assert net.getNetMode() == (0, "460", "00", 7)
    assert fmt["f"] == 0  # restored
    device.answer("AT+COPS?", ok("+COPS: 0"))
    assert net.getNetMode() == -1


def test_datacall_range_and_apn(device: FakeModule) -> None:
    device.answer("AT+CGDCONT=?", ok('+CGDCONT: (1-15),"IP",,,(0-2),(0-4),(0,1),(0,1)'))
    device.answer(
        "AT+CGDCONT?",
        ok('+CGDCONT: 1,"IP","cmnet","0.0.0.0",0,0', '+CGDCONT: 2,"IPV6","ims","::",0,0'),
    )
    assert datacall.getPdpRange() == (1, 15)
    assert datacall.getApn(0) == "cmnet"
    assert datacall.getApn(0, 2) == "ims"
    assert datacall.getApn(0, 3) == -1
    assert datacall.getApn(1) == -1


def test_nitz_time(device: FakeModule) -> None:
    device.answer("AT+QLTS", ok('+QLTS: "2020/11/26,02:13:25+32,0"'))
    assert net.nitzTime() == ("20/11/26 02:13:25+32", 1606356805, 0)
    device.answer("AT+QLTS", ok('+QLTS: ""'))
    assert net.nitzTime() == -1
