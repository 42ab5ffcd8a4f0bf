"""QuecPython's lwm2m API over the AT channel: bytes sent, return codes, callback lists."""

from __future__ import annotations

import logging
import queue

import pytest

import client_api
from client_api import lwm2m
from client_api.channel import AtChannel
from tests.client_api.capi_fake import FakeModule, cme, error, ok

WAIT = 3.0
URL = "coap://127.0.0.1:5683"


@pytest.fixture
def lw(channel: AtChannel) -> lwm2m.lwm2m:
    return lwm2m.lwm2m(channel)


def test_constants_match_quecpython() -> None:
    for holder in (lwm2m, lwm2m.lwm2m):
        assert (
            holder.Security,
            holder.Server,
            holder.Epnamemode,
            holder.Urc,
            holder.Fota,
            holder.Reset,
            holder.Epname,
        ) == (1, 2, 4, 5, 7, 9, 15)


def test_module_is_callable_like_on_the_device(fake: FakeModule) -> None:
    client_api.open(fake.url)
    lw = lwm2m()  # type: ignore[operator]  # callable at run time, as on the device
    assert isinstance(lw, lwm2m.lwm2m)
    assert lw.init() == 0
    assert fake.received == b"AT\r"


@pytest.mark.parametrize(
    ("config_type", "config_list", "line"),
    [
        (1, [1, 1000, URL, 0, 3], f'AT+QLWCFG="security",1,1000,"{URL}",0,3'),
        (
            1,
            [1, 1000, "coaps://127.0.0.1:5684", 0, 0, "urn:imei:869339060001965", "3031"],
            'AT+QLWCFG="security",1,1000,"coaps://127.0.0.1:5684",0,0,'
            '"urn:imei:869339060001965","3031"',
        ),
        (1, [0, 100, URL, 1, 3], f'AT+QLWCFG="security",0,100,"{URL}",1,3'),
        (1, [1], 'AT+QLWCFG="security",1'),
        (1, [0], 'AT+QLWCFG="security",0'),
        (2, [1, 60, 2, 60, 86400, 1, "U"], 'AT+QLWCFG="server",1,60,2,60,86400,1,"U"'),
        (2, [1, 86400, 1, 86400, 1, 0, "UQS"], 'AT+QLWCFG="server",1,86400,1,86400,1,0,"UQS"'),
        (4, [3], 'AT+QLWCFG="epname/mode",3'),
        (5, [1], 'AT+QLWCFG="urc",1'),
        (5, [0], 'AT+QLWCFG="urc",0'),
        (7, [0, 1], 'AT+QLWCFG="fota",0,1'),
        (9, [], 'AT+QLWCFG="reset"'),
        (15, ["testname"], 'AT+QLWCFG="epname","testname"'),
    ],
)
def test_config_sends_qlwcfg(
    fake: FakeModule, lw: lwm2m.lwm2m, config_type: int, config_list: list[object], line: str
) -> None:
    fake.answer(line, ok())
    assert lw.config(config_type, config_list) == 0
    assert fake.received == line.encode() + b"\r"


@pytest.mark.parametrize(
    ("config_type", "config_list"),
    [
        (1, []),
        (1, [1, 1000, URL]),  # wrong length
        (1, [1, 1000, URL, 0]),
        (1, [1, 1000, URL, 0, 3, "id"]),
        (1, [1, 1000, URL, 0, 0]),  # PSK mode without psk_id/psk_key
        (1, [4, 1000, URL, 0, 3]),  # serverID out of range
        (1, ["1", 1000, URL, 0, 3]),  # type
        (1, [1, 0, URL, 0, 3]),  # SSID 0
        (1, [1, 1000, 5683, 0, 3]),  # address not a string
        (1, [1, 1000, "", 0, 3]),
        (1, [1, 1000, "x" * 257, 0, 3]),
        (1, [1, 1000, 'coap://a"b', 0, 3]),  # a quote would end the AT string
        (1, [1, 1000, "coap://a\r\nAT+QLWREG", 0, 3]),  # control characters
        (1, [1, 1000, "coap://a\\22", 0, 3]),  # V.250 hex escape
        (1, [1, 1000, "coap://ä", 0, 3]),
        (1, [1, 1000, URL, 2, 3]),  # bootstrap flag
        (1, [1, 1000, URL, 0, 1]),  # security mode not 0/3
        (1, [1, 1000, URL, True, 3]),  # a bool is not the integer the table asks for
        (2, [1, 60, 2, 60, 86400, 1]),
        (2, [1, 0, 2, 60, 86400, 1, "U"]),  # lifetime 0
        (2, [1, 60, 2, 86401, 86400, 1, "U"]),
        (2, [1, 60, 2, 60, 86400, 2, "U"]),
        (2, [1, 60, 2, 60, 86400, 1, "T"]),  # binding
        (2, [1, 60, 2, 60, 86400, 1, 1]),
        (4, []),
        (4, ["3"]),
        (4, [-1]),
        (5, [2]),
        (5, [1, 1]),
        (7, [0]),
        (7, [0, 2]),
        (9, [0]),
        (15, [""]),
        (15, ["x" * 64]),
        (15, [3]),
        (1, "not a list"),
        (1, None),
        ("1", [1]),
        (1.0, [1]),
    ],
)
def test_bad_config_returns_minus_one_and_sends_nothing(
    fake: FakeModule, lw: lwm2m.lwm2m, config_type: object, config_list: object
) -> None:
    assert lw.config(config_type, config_list) == -1
    assert fake.received == b""


def test_config_list_may_be_a_tuple(fake: FakeModule, lw: lwm2m.lwm2m) -> None:
    fake.answer('AT+QLWCFG="fota",1,1', ok())
    assert lw.config(lw.Fota, (1, 1)) == 0


def test_unknown_config_type_is_unsupported(fake: FakeModule, lw: lwm2m.lwm2m) -> None:
    assert lw.config(6, [1]) == -2  # "startup": not in the document's table
    assert fake.received == b""


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (cme(4), -2),
        (cme("operation not supported"), -2),
        (cme(3), -1),
        (cme(50), -1),
        (error(), -1),
    ],
)
def test_module_errors_map_to_codes(
    fake: FakeModule, lw: lwm2m.lwm2m, reply: bytes, code: int
) -> None:
    fake.answer('AT+QLWCFG="epname","testname"', reply)
    assert lw.config(lw.Epname, ["testname"]) == code


def test_register_unregister_update_bytes(fake: FakeModule, lw: lwm2m.lwm2m) -> None:
    for line in ("AT+QLWREG", "AT+QLWDEREG", "AT+QLWUPDATE=1000"):
        fake.answer(line, ok())
    assert lw.register() == 0
    assert lw.unregister() == 0
    assert lw.update(1000) == 0
    assert fake.received == b"AT+QLWREG\rAT+QLWDEREG\rAT+QLWUPDATE=1000\r"


def test_register_refused(fake: FakeModule, lw: lwm2m.lwm2m) -> None:
    fake.answer("AT+QLWREG", cme(3))
    assert lw.register() == -1
    assert lw.unregister() == -1  # not answered by the fake: ERROR


@pytest.mark.parametrize("ssid", ["1000", -1, 65536, 1.5, None, True])
def test_update_checks_ssid(fake: FakeModule, lw: lwm2m.lwm2m, ssid: object) -> None:
    assert lw.update(ssid) == -1
    assert fake.received == b""


@pytest.mark.parametrize("value", [0, 1, 2, 3, 4])
def test_stat_values(fake: FakeModule, lw: lwm2m.lwm2m, value: int) -> None:
    fake.answer("AT+QLWSTAT?", ok(f"+QLWSTAT: {value}"))
    assert lw.stat() == value
    assert fake.received == b"AT+QLWSTAT?\r"


@pytest.mark.parametrize("reply", [ok("+QLWSTAT: 9"), ok("+QLWSTAT: x"), ok(), error()])
def test_stat_failure(fake: FakeModule, lw: lwm2m.lwm2m, reply: bytes) -> None:
    fake.answer("AT+QLWSTAT?", reply)
    assert lw.stat() == -1


def test_init_fails_when_the_module_is_gone(fake: FakeModule, lw: lwm2m.lwm2m) -> None:
    fake.vanish()
    assert lw.init() == -1
    assert lw.register() == -1
    assert lw.config(lw.Urc, [1]) == -1
    assert lw.stat() == -1


def test_init_fails_on_timeout(fake: FakeModule, lw: lwm2m.lwm2m) -> None:
    fake.answer("AT", None)
    assert lw.init() == -1


URCS = [
    ('+QLWURC: "pdp active","successfully","cmnet"', [1, 0]),
    ('+QLWURC: "initial","successfully",0', [1, 0]),
    ('+QLWURC: "dtls","failed",1000', [1, -1]),
    ('+QLWURC: "bootstraping"', [1, 0]),
    ('+QLWURC: "bootstrap","successfully",100', [1, 0]),
    ('+QLWURC: "registering"', [1, 0]),
    ('+QLWURC: "ready","successfully",1000', [1, 0]),
    ('+QLWURC: "ready","failed",1000', [1, -1]),
    ('+QLWURC: "update","successfully",1000', [6, 0]),
    ('+QLWURC: "update","failed",1000', [6, -1]),
    ('+QLWURC: "deregister",1000,0', [1, 0]),
    ('+QLWURC: "deregister",1', [1, -1]),
    ('+QLWURC: "fota/pkgurl","coap://127.0.0.1/fw.bin"', [3, 0]),
    ('+QLWURC: "fota/downloaded",4096', [3, 0]),
    ('+QLWURC: "apn_changed","cmiot"', [2, 0]),
    ('+QLWURC: "lifetime_changed",300', [15, 0]),
    ('+QLWURC: "current_time_changed",1700000000', [2, 0]),
    ('+QLWURC: "something new",1', [-1, 0]),
]


def test_callback_gets_every_urc_as_a_list(fake: FakeModule, lw: lwm2m.lwm2m) -> None:
    got: queue.Queue[list[object]] = queue.Queue()
    assert lw.register_call(got.put) == 0
    fake.urc("+CEREG: 1")  # not an LwM2M URC: not for this callback
    for text, _ in URCS:
        fake.urc(text)
    for text, head in URCS:
        assert got.get(timeout=WAIT) == [*head, text]
    assert got.empty()


def test_callback_sees_ready_as_quecpython_examples_test_it(
    fake: FakeModule, lw: lwm2m.lwm2m
) -> None:
    got: queue.Queue[list[object]] = queue.Queue()
    lw.register_call(got.put)
    fake.urc('+QLWURC: "ready","successfully",1000')
    args = got.get(timeout=WAIT)
    assert '"ready","successfully"' in str(args[2])


def test_callback_none_removes_it(fake: FakeModule, channel: AtChannel, lw: lwm2m.lwm2m) -> None:
    got: list[list[object]] = []
    lw.register_call(got.append)
    assert lw.register_call(None) == 0
    fake.urc('+QLWURC: "registering"')
    assert channel.drain_urcs(WAIT)
    assert got == []


def test_register_call_refuses_non_callables(lw: lwm2m.lwm2m) -> None:
    assert lw.register_call(42) == -1


def test_callback_exception_is_logged_and_later_urcs_still_arrive(
    fake: FakeModule, lw: lwm2m.lwm2m, caplog: pytest.LogCaptureFixture
) -> None:
    got: queue.Queue[list[object]] = queue.Queue()

    def callback(args: list[object]) -> None:
        got.put(args)
        if "registering" in str(args[2]):
            raise ValueError("bug in the application")

    lw.register_call(callback)
    with caplog.at_level(logging.ERROR):
        fake.urc('+QLWURC: "registering"')
        fake.urc('+QLWURC: "ready","successfully",1000')
        assert got.get(timeout=WAIT)[2] == '+QLWURC: "registering"'
        assert got.get(timeout=WAIT)[2] == '+QLWURC: "ready","successfully",1000'
    assert any("bug in the application" in (r.exc_text or "") for r in caplog.records)


def test_one_callback_per_channel_as_on_the_device(fake: FakeModule, channel: AtChannel) -> None:
    first, second = lwm2m.lwm2m(channel), lwm2m.lwm2m(channel)
    got: queue.Queue[str] = queue.Queue()
    first.register_call(lambda args: got.put("first"))
    second.register_call(lambda args: got.put("second"))
    fake.urc('+QLWURC: "registering"')
    assert got.get(timeout=WAIT) == "second"
    assert channel.drain_urcs(WAIT) and got.empty()
