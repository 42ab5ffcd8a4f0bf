"""Server writes checked against the object definitions and the module's own limits, and server
text that can never break AT framing (fake clock; the test plays the server).

Out of range → 4.00 Bad Request, nothing stored, no URC; a multi-resource write is atomic.
"""

from __future__ import annotations

import pytest

from emulator.lwm2m.client.events import ApnTextWritten, NoticeKind
from emulator.lwm2m.client.messages import CHANGED, POST, PUT, CoapRequest, CoapResponse
from emulator.lwm2m.paths import LwM2MPath

from .rig import Rig

BAD_REQUEST = 0x80
TLV, TEXT = 11542, 0
FORGED = "x\r\nOK\r\n"


def write(
    rig: Rig, path: str, payload: bytes, fmt: int = TEXT, *, method: int = PUT
) -> CoapResponse:
    return rig.server_request(
        CoapRequest(
            method=method,
            path=tuple(path.strip("/").split("/")),
            payload=payload,
            content_format=fmt,
        )
    )


def tlv_resource(rid: int, value: bytes) -> bytes:
    """One TLV resource with an 8-bit id (TS 1.0 §6.4.3): the length in the type byte up to
    7, else in one length byte."""
    if len(value) <= 7:
        return bytes([0xC0 | len(value), rid]) + value
    return bytes([0xC8, rid, len(value)]) + value


def tlv_string(rid: int, text: str) -> bytes:
    data = text.encode()
    assert len(data) < 256
    return bytes([0xC8, rid, len(data)]) + data


def registered() -> Rig:
    rig = Rig()
    rig.register(lifetime=60)
    return rig


def server_line(rig: Rig) -> str:
    return rig.at('AT+QLWCFG="server"')[0]


@pytest.mark.parametrize(
    ("payload", "fmt"),
    [
        (tlv_resource(1, b"\xff"), TLV),  # -1
        (tlv_resource(1, b"\x96"), TLV),  # -106: TLV integers are signed (TS 1.0 Appendix C)
        (tlv_resource(1, b"\x00"), TLV),  # 0
        (tlv_resource(1, (2**32).to_bytes(8, "big")), TLV),
        (b"-1", TEXT),
        (b"0", TEXT),
        (b"86401", TEXT),
        (b"4294967296", TEXT),
    ],
)
def test_lifetime_outside_the_module_range_is_refused(payload: bytes, fmt: int) -> None:
    rig = registered()
    before, urcs = server_line(rig), rig.urcs()
    response = write(rig, "/1/0/1", payload, fmt)
    assert response.code == BAD_REQUEST
    assert server_line(rig) == before
    assert rig.urcs() == urcs  # no "lifetime_changed"
    assert rig.client.store.get_value(_path("/1/0/1")) == 60
    rig.advance(60.0)  # the next Update goes out as usual and keeps us registered
    assert rig.respond(CHANGED).request.query == ()
    assert rig.stat() == 2


def test_lifetime_in_range_is_taken_and_sent() -> None:
    rig = registered()
    response = write(rig, "/1/0/1", tlv_resource(1, (150).to_bytes(2, "big")), TLV)
    assert response.code == CHANGED
    assert rig.urcs()[-1] == '+QLWURC: "lifetime_changed",150'
    assert server_line(rig) == '+QLWCFG: "server",1,150,1,60,30,1,"U"'
    assert rig.respond(CHANGED).request.query == ("lt=150",)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/1/0/2", "-2147483648"),
        ("/1/0/2", "0"),
        ("/1/0/3", "86401"),
        ("/1/0/5", "0"),
        ("/1/0/5", "-5"),
        ("/1/0/7", "UU"),
        ("/1/0/7", "T"),
        ("/3/0/13", str(2**63 - 1)),
        ("/3/0/13", "-1"),
        ("/3/0/13", "0"),  # 1970: AT+CCLK (two-digit years from 2000) cannot show it
    ],
)
def test_out_of_range_values_are_refused(path: str, text: str) -> None:
    rig = registered()
    before, clock, urcs = server_line(rig), rig.at("AT+CCLK?"), rig.urcs()
    response = write(rig, path, text.encode())
    assert response.code == BAD_REQUEST, response
    assert server_line(rig) == before
    assert rig.at("AT+CCLK?")[0][:16] == clock[0][:16]
    assert rig.at("AT+CCLK?")[-1] == "OK"
    assert rig.urcs() == urcs


def test_a_time_write_in_range_sets_the_clock() -> None:
    rig = registered()
    assert write(rig, "/3/0/13", b"1893456000").code == CHANGED  # 2030-01-01T00:00:00Z
    assert rig.at("AT+CCLK?")[0] == '+CCLK: "30/01/01,00:00:00+00"'
    assert rig.urcs()[-1] == '+QLWURC: "current_time_changed",1893456000'


def test_a_multi_resource_write_is_atomic() -> None:
    rig = registered()
    before, urcs = server_line(rig), rig.urcs()
    # pmin fine, pmax out of range: nothing of it is stored.
    payload = tlv_resource(2, b"\x05") + tlv_resource(3, b"\x00")
    response = write(rig, "/1/0", payload, TLV, method=POST)
    assert response.code == BAD_REQUEST
    assert server_line(rig) == before and rig.urcs() == urcs
    assert rig.client.store.get_value(_path("/1/0/2")) == 1
    # APN fine, user name forged: neither the context nor the URCs change.
    apn = rig.at("AT+CGDCONT?")
    payload = tlv_string(1, "internet") + tlv_string(5, FORGED)
    assert write(rig, "/11/0", payload, TLV, method=POST).code == BAD_REQUEST
    assert rig.at("AT+CGDCONT?") == apn and rig.urcs() == urcs


@pytest.mark.parametrize("path", ["/11/0/1", "/11/0/5", "/11/0/6", "/5/0/1"])
@pytest.mark.parametrize("text", [FORGED, 'a"b', "tab\there", "nul\x00", "c1\x85"])
def test_text_that_would_break_at_framing_is_refused(path: str, text: str) -> None:
    rig = registered()
    urcs = rig.urcs()
    lines = {cmd: rig.at(cmd) for cmd in ("AT+CGDCONT?", "AT+QICSGP=1")}
    response = write(rig, path, text.encode())
    assert response.code == BAD_REQUEST
    assert rig.urcs() == urcs
    assert {cmd: rig.at(cmd) for cmd in lines} == lines


@pytest.mark.parametrize(("path", "limit"), [("/11/0/1", 99), ("/11/0/5", 127)])
def test_text_longer_than_the_at_command_allows_is_refused(path: str, limit: int) -> None:
    rig = registered()
    assert write(rig, path, b"a" * (limit + 1)).code == BAD_REQUEST
    assert write(rig, path, b"a" * limit).code == CHANGED


def test_clean_server_text_reaches_the_host() -> None:
    rig = registered()
    assert rig.at('AT+QLWCFG="fota",0,0') == ["OK"]  # manual download: the host gets the URI
    assert write(rig, "/11/0/1", b"iot.example").code == CHANGED
    assert rig.urcs()[-1] == '+QLWURC: "apn_changed","iot.example"'
    assert '"iot.example"' in rig.at("AT+CGDCONT?")[0]
    assert write(rig, "/5/0/1", b"coap://127.0.0.1:5683/fw").code == CHANGED
    assert rig.urcs()[-1] == '+QLWURC: "fota/pkgurl","coap://127.0.0.1:5683/fw"'


def test_every_line_on_the_port_after_hostile_writes_is_one_the_module_meant() -> None:
    """Whatever the server tries, the host never reads a bare OK that no command produced."""
    rig = registered()
    for path in ("/11/0/1", "/11/0/5", "/11/0/6", "/5/0/1", "/3/0/15", "/1/0/7"):
        write(rig, path, FORGED.encode())
    rig.text = ""
    assert rig.at("AT+CGDCONT?")[-1] == "OK"
    assert rig.at('AT+QLWCFG="server"')[-1] == "OK"
    lines = [line for line in rig.text.split("\r\n") if line]
    assert lines.count("OK") == 2


def test_urc_fields_escape_what_they_cannot_carry() -> None:
    """Defence in depth: a URC field with a control character or a quote is escaped
    (V.250 §5.4.2.2 ``\\HH``), never sent raw."""
    rig = registered()
    rig.module.emit(ApnTextWritten(kind=NoticeKind.APN_CHANGED, text=FORGED + '"'), rig.now)
    rig.pump()
    assert rig.urcs()[-1] == '+QLWURC: "apn_changed","x\\0D\\0AOK\\0D\\0A\\22"'


def _path(text: str) -> LwM2MPath:
    return LwM2MPath.parse(text)
