"""The QuecPython modules of the host runtime against the scripted fake module."""

from __future__ import annotations

import builtins
import importlib
import sys
import threading
from collections.abc import Iterator

import pytest

import client_api
from client_api.quecpython import checknet, datacall, install, modem, net, qthread, sim, utime
from client_api.quecpython import log as qlog
from client_api.quecpython.machine import Pin, gpio
from tests.client_api.capi_fake import FakeModule, cme, error, ok


@pytest.fixture
def device(fake: FakeModule) -> Iterator[FakeModule]:
    client_api.open(fake.url, command_timeout=1.0)
    yield fake


def sent(fake: FakeModule) -> list[str]:
    return [line for line in fake.received.decode().split("\r") if line]


# ------------------------------------------------------------------------- modem
def test_modem_identity(device: FakeModule) -> None:
    device.answer("AT+CGSN", ok("869339060001965"))
    device.answer("AT+CGMM", ok("EC200U"))
    device.answer("AT+CGMR", ok("EC200UCNAAR03A15M08"))
    device.answer("AT+CGSN=0", ok("+CGSN: MPY22K06Q0001965"))
    device.answer("AT+CGMI", ok("Quectel"))
    assert modem.getDevImei() == "869339060001965"
    assert modem.getDevModel() == "EC200U"
    assert modem.getDevFwVersion() == "EC200UCNAAR03A15M08"
    assert modem.getDevSN() == "MPY22K06Q0001965"
    assert modem.getDevProductId() == "Quectel"
    assert sent(device) == ["AT+CGSN", "AT+CGMM", "AT+CGMR", "AT+CGSN=0", "AT+CGMI"]


def test_modem_failure_is_minus_one(device: FakeModule) -> None:
    device.answer("AT+CGSN", error())
    assert modem.getDevImei() == -1


def test_missing_function_says_so() -> None:
    with pytest.raises(AttributeError, match=r"modem\.getDevMAC is not provided"):
        _ = modem.getDevMAC


# --------------------------------------------------------------------------- net
def test_csq(device: FakeModule) -> None:
    device.answer("AT+CSQ", ok("+CSQ: 24,99"))
    assert net.csqQueryPoll() == 24
    device.answer("AT+CSQ", error())
    assert net.csqQueryPoll() == -1


def test_get_state_with_location(device: FakeModule) -> None:
    device.answer("AT+CREG?", ok('+CREG: 2,1,"5A1F","0B2C3D41",7'))
    device.answer("AT+CEREG?", ok('+CEREG: 2,5,"5A1F","0B2C3D41",7'))
    assert net.getState() == ([1, 0x5A1F, 0x0B2C3D41, 7, 0, 0], [5, 0x5A1F, 0x0B2C3D41, 7, 0, 0])


def test_get_state_takes_the_act_from_cops(device: FakeModule) -> None:
    device.answer("AT+CREG?", ok("+CREG: 0,1"))
    device.answer("AT+CEREG?", ok("+CEREG: 0,1"))
    device.answer("AT+COPS?", ok('+COPS: 0,0,"CHINA MOBILE",7'))
    assert net.getState() == ([1, 0, 0, 7, 0, 0], [1, 0, 0, 7, 0, 0])


def test_get_state_failure(device: FakeModule) -> None:
    assert net.getState() == -1


def test_operator_name_reads_every_format_and_restores_it(device: FakeModule) -> None:
    answers = {0: '"CHINA MOBILE"', 1: '"CMCC"', 2: '"46000"'}
    current = {"format": 0}

    def cops_read(line: str) -> bytes:
        fmt = current["format"]
        return ok(f"+COPS: 0,{fmt},{answers[fmt]},7")

    def cops_format(line: str) -> bytes:
        current["format"] = int(line.rsplit(",", 1)[1])
        return ok()

    device.answer("AT+COPS?", cops_read)
    for fmt in (0, 1, 2):
        device.answer(f"AT+COPS=3,{fmt}", cops_format)
    assert net.operatorName() == ("CHINA MOBILE", "CMCC", "460", "00")
    assert sent(device)[-1] == "AT+COPS=3,0"
    assert current["format"] == 0


def test_operator_name_not_registered(device: FakeModule) -> None:
    device.answer("AT+COPS?", ok("+COPS: 0"))
    assert net.operatorName() == -1


def test_modem_fun(device: FakeModule) -> None:
    device.answer("AT+CFUN?", ok("+CFUN: 1"))
    device.answer("AT+CFUN=4", ok())
    assert net.getModemFun() == 1
    assert net.setModemFun(4) == 0
    assert net.setModemFun(7) == -1


# --------------------------------------------------------------------------- sim
@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (ok("+CPIN: READY"), 1),
        (ok("+CPIN: SIM PIN"), 2),
        (ok("+CPIN: SIM PUK"), 3),
        (ok("+CPIN: PH-NET PIN"), 10),
        (cme(10), 0),
        (cme(14), 18),
        (cme(13), 20),
        (error(), 21),
    ],
)
def test_sim_status(device: FakeModule, reply: bytes, status: int) -> None:
    device.answer("AT+CPIN?", reply)
    assert sim.getStatus() == status


def test_sim_identity(device: FakeModule) -> None:
    device.answer("AT+CIMI", ok("460025191757605"))
    device.answer("AT+QCCID", ok("+QCCID: 89860025191757605000"))
    device.answer("AT+CNUM", ok('+CNUM: "","+8613800138000",145'))
    assert sim.getImsi() == "460025191757605"
    assert sim.getIccid() == "89860025191757605000"
    assert sim.getPhoneNumber() == "+8613800138000"


def test_sim_status_when_module_gone(device: FakeModule) -> None:
    device.vanish()
    assert sim.getStatus() == -1


# ---------------------------------------------------------------------- dataCall
def test_get_info_active(device: FakeModule) -> None:
    device.answer("AT+QIACT?", ok('+QIACT: 1,1,1,"10.46.73.41"'))
    device.answer("AT+QIDNSCFG=1", ok('+QIDNSCFG: 1,"8.8.8.8","114.114.114.114"'))
    assert datacall.getInfo(1, 0) == (1, 0, [1, 0, "10.46.73.41", "8.8.8.8", "114.114.114.114"])


def test_get_info_dual_stack(device: FakeModule) -> None:
    device.answer("AT+QIACT?", ok('+QIACT: 1,1,3,"10.46.73.41","2409:8900::1"'))
    info = datacall.getInfo(1, 2)
    assert info == (
        1,
        2,
        [1, 0, "10.46.73.41", "0.0.0.0", "0.0.0.0"],
        [1, 0, "2409:8900::1", "0.0.0.0", "0.0.0.0"],
    )


def test_get_info_not_active(device: FakeModule) -> None:
    device.answer("AT+QIACT?", ok())
    assert datacall.getInfo(1, 0) == (1, 0, [0, 0, "0.0.0.0", "0.0.0.0", "0.0.0.0"])


def test_get_info_falls_back_to_cgact(device: FakeModule) -> None:
    device.answer("AT+CGACT?", ok("+CGACT: 1,1"))
    device.answer("AT+CGPADDR=1", ok('+CGPADDR: 1,"10.0.0.7"'))
    assert datacall.getInfo(1, 0) == (1, 0, [1, 0, "10.0.0.7", "0.0.0.0", "0.0.0.0"])


def test_get_info_bad_arguments(device: FakeModule) -> None:
    assert datacall.getInfo(0, 0) == -1
    assert datacall.getInfo(1, 3) == -1
    assert device.received == b""


def test_activate_and_its_fallback(device: FakeModule) -> None:
    device.answer("AT+QIACT=1", ok())
    assert datacall.activate(1) == 0
    device.answer("AT+QIACT=2", error())
    device.answer("AT+CGACT=1,2", ok())
    assert datacall.activate(2) == 0
    assert sent(device) == ["AT+QIACT=1", "AT+QIACT=2", "AT+CGACT=1,2"]
    assert datacall.activate(3) == -1


def test_pdp_context(device: FakeModule) -> None:
    device.answer('AT+CGDCONT=1,"IP","cmiot"', ok())
    device.answer('AT+CGDCONT=2,"IPV4V6","internet"', ok())
    device.answer('AT+QICSGP=2,3,"internet","user","secret",2', ok())
    device.answer("AT+QICSGP=1", ok('+QICSGP: 1,"cmiot","","",0'))
    assert datacall.setPDPContext(1, 0, "cmiot", "", "", 0) == 0
    assert datacall.setPDPContext(2, 2, "internet", "user", "secret", 2) == 0
    assert datacall.setPDPContext(1, 0, 'bad"apn', "", "", 0) == -1
    assert datacall.getPDPContext(1) == (0, "cmiot", "", "", 0)


def test_datacall_callback_on_pdp_urcs(device: FakeModule) -> None:
    got: list[tuple[int, int]] = []
    done = threading.Event()

    def callback(args: tuple[int, int]) -> None:
        got.append(args)
        if len(got) == 2:
            done.set()

    assert datacall.setCallback(callback) == 0
    device.urc('+QIURC: "pdpdeact",1')
    device.urc("+CGEV: ME PDN ACT 1")
    assert done.wait(3.0)
    assert got == [(1, 0), (1, 1)]
    datacall.setCallback(None)


# ---------------------------------------------------------------------- checkNet
def test_wait_network_ready_activates_the_context(device: FakeModule) -> None:
    state = {"active": False}
    device.answer("AT+CPIN?", ok("+CPIN: READY"))
    device.answer("AT+CEREG?", ok("+CEREG: 0,1"))
    device.answer(
        "AT+QIACT?",
        lambda line: ok('+QIACT: 1,1,1,"10.46.73.41"') if state["active"] else ok(),
    )
    device.answer("AT+QIDNSCFG=1", error())

    def activate(line: str) -> bytes:
        state["active"] = True
        return ok()

    device.answer("AT+QIACT=1", activate)
    assert checknet.waitNetworkReady(5) == (3, 1)
    assert "AT+QIACT=1" in sent(device)


def test_wait_network_ready_no_sim(device: FakeModule) -> None:
    device.answer("AT+CPIN?", cme(10))
    assert checknet.waitNetworkReady(1) == (1, 0)


def test_wait_network_ready_not_registered(device: FakeModule) -> None:
    device.answer("AT+CPIN?", ok("+CPIN: READY"))
    device.answer("AT+CEREG?", ok("+CEREG: 0,2"))
    assert checknet.waitNetworkReady(1) == (2, 2)


def test_wait_network_ready_checks_timeout() -> None:
    with pytest.raises(ValueError, match="1-3600"):
        checknet.waitNetworkReady(0)


# ------------------------------------------------------------------------- utime
def test_ticks_wrap_like_the_device() -> None:
    assert utime.ticks_diff(5, utime.TICKS_MAX - 4) == 10
    assert utime.ticks_diff(utime.TICKS_MAX - 4, 5) == -10
    assert utime.ticks_add(utime.TICKS_MAX, 1) == 0
    start = utime.ticks_ms()
    utime.sleep_ms(20)
    # Milliseconds: not seconds (0), not microseconds (20,000); above that only load.
    assert 15 <= utime.ticks_diff(utime.ticks_ms(), start) < 10_000


def test_localtime_mktime_and_time_zone() -> None:
    saved = utime.getTimeZone()
    try:
        utime.setTimeZone(8)
        assert utime.localtime(0) == (1970, 1, 1, 8, 0, 0, 3, 1)
        assert utime.mktime((1970, 1, 1, 8, 0, 0, 3, 1)) == 0
        date = utime.localtime()
        assert abs(utime.mktime(date) - utime.time()) <= 1
        with pytest.raises(ValueError):
            utime.setTimeZone(13)
    finally:
        utime.setTimeZone(saved)


# ----------------------------------------------------------------------- _thread
def test_thread_start_ident_lock_and_running() -> None:
    lock = qthread.allocate_lock()
    lock.acquire()
    seen: list[int] = []
    finished = threading.Event()

    def body(tag: str) -> None:
        seen.append(qthread.get_ident())
        with lock:
            finished.set()

    ident = qthread.start_new_thread(body, ("x",))
    assert qthread.threadIsRunning(ident)
    lock.release()
    assert finished.wait(3.0)
    assert seen == [ident]


def test_thread_exception_is_printed_and_stays_in_its_thread(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken() -> None:
        raise RuntimeError("thread failure")

    ident = qthread.start_new_thread(broken, ())
    for _ in range(100):
        if not qthread.threadIsRunning(ident):
            break
        qthread.wait_changed(0.05)
    assert "RuntimeError: thread failure" in capsys.readouterr().err


def test_stop_thread() -> None:
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            stop.wait(0.01)

    ident = qthread.start_new_thread(spin, [])
    qthread.stop_thread(ident)
    for _ in range(100):
        if not qthread.threadIsRunning(ident):
            break
        qthread.wait_changed(0.05)
    stopped = not qthread.threadIsRunning(ident)
    stop.set()
    assert stopped


def test_semaphore_and_stack_size() -> None:
    sem = qthread.allocate_semphore(2)
    assert sem.getCnt() == (2, 2)
    sem.acquire()
    assert sem.getCnt() == (2, 1)
    sem.release()
    sem.release()  # never above the initial count
    assert sem.getCnt() == (2, 2)
    assert qthread.stack_size() == qthread.DEFAULT_STACK_SIZE
    with pytest.raises(ValueError):
        qthread.stack_size(100)
    assert qthread.get_heap_size() > 0


# ----------------------------------------------------------------------- machine
def test_pins_are_visible_to_tests() -> None:
    gpio.clear()
    led = Pin(Pin.GPIO10, Pin.OUT, Pin.PULL_DISABLE, 0)
    button = Pin(Pin.GPIO11, Pin.IN, Pin.PULL_PU)
    assert gpio.level(10) == 0 and button.read() == 1
    assert led.write(1) == 0
    assert gpio.level(10) == 1 and led.read() == 1
    gpio.drive(11, 0)
    assert button.read() == 0
    assert button.write(1) == -1  # an input cannot be driven
    assert led.get_dir() == Pin.OUT and button.set_dir(Pin.OUT) == 0
    with pytest.raises(ValueError):
        Pin(0, Pin.OUT)


# --------------------------------------------------------------------------- log
def test_log_format_and_levels(capsys: pytest.CaptureFixture[str]) -> None:
    logger = qlog.getLogger("app")
    assert qlog.getLogger("app") is logger
    logger.info("hello %d", 1)
    logger.debug("hidden")
    qlog.basicConfig(level=qlog.DEBUG)
    try:
        logger.debug("shown")
        logger.critical("bad")
    finally:
        qlog.basicConfig(level=qlog.INFO)
    assert capsys.readouterr().err == "INFO:app:hello 1\nDEBUG:app:shown\nCRIT:app:bad\n"
    qlog.set_output(sys.stdout)
    try:
        logger.warning("to stdout")
    finally:
        qlog.set_output(sys.stderr)
    assert capsys.readouterr().out == "WARN:app:to stdout\n"


# --------------------------------------------------------------------- importing
def test_install_provides_device_modules_and_explains_missing_ones(fake: FakeModule) -> None:
    client_api.open(fake.url)
    real_thread = sys.modules["_thread"]
    uninstall = install()
    try:
        lwm2m = importlib.import_module("lwm2m")
        assert callable(lwm2m) and lwm2m.Security == 1
        thread_module = importlib.import_module("_thread")
        assert thread_module.get_heap_size() > 0
        assert thread_module.RLock is real_thread.RLock  # the stdlib's needs still met
        assert importlib.import_module("ujson").dumps([1]) == "[1]"
        with pytest.raises(ModuleNotFoundError) as missing:
            builtins.__import__("audio")
        text = str(missing.value)
        assert "'audio'" in text and "does not provide" in text
        assert "checkNet" in text and "dataCall" in text and "lwm2m" in text
        assert missing.value.name == "audio"
    finally:
        uninstall()
    assert sys.modules["_thread"] is real_thread
    assert "checkNet" not in sys.modules
