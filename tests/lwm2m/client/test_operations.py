"""Server requests against the client's objects (sans-I/O): the right CoAP code for every
request, malformed ones included, and the side effects a host sees (URCs, module state)."""

from __future__ import annotations

import pytest

from emulator.lwm2m import codec, default_registry
from emulator.lwm2m.client.firmware import DownloadError
from emulator.lwm2m.client.messages import (
    CHANGED,
    CONTENT,
    CREATED,
    DELETE,
    DELETED,
    GET,
    POST,
    PUT,
    CoapRequest,
    PrepareSession,
    SendNotification,
    SendRequest,
    StartDownload,
)
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.linkformat import parse_links
from emulator.lwm2m.model import LwM2MObject, ObjectInstance, SingleResource
from emulator.lwm2m.paths import LwM2MPath

from .rig import EPOCH, Rig

DEFS = default_registry()
TEXT, TLV, JSON, SENML, LINKS = 0, 11542, 11543, 110, 40


def get(path: str, **kw: object) -> CoapRequest:
    return CoapRequest(method=GET, path=tuple(path.strip("/").split("/")), **kw)  # type: ignore[arg-type]


def put_text(path: str, text: str) -> CoapRequest:
    return CoapRequest(
        method=PUT,
        path=tuple(path.strip("/").split("/")),
        payload=text.encode(),
        content_format=TEXT,
    )


def decode(rig_payload: bytes, fmt: int, path: str) -> object:
    return codec.decode(rig_payload, fmt, LwM2MPath.parse(path), DEFS)


@pytest.fixture
def rig() -> Rig:
    rig = Rig()
    rig.register(lifetime=600)
    return rig


def test_read_formats(rig: Rig) -> None:
    text = rig.server_request(get("/3/0/1"))
    assert (text.code, text.payload, text.content_format) == (CONTENT, b"EC200U", TEXT)
    tlv = rig.server_request(get("/3/0"))
    assert tlv.code == CONTENT and tlv.content_format == TLV
    device = decode(tlv.payload, TLV, "/3/0")
    assert isinstance(device, ObjectInstance)
    assert device.resources[0] == SingleResource(0, "Quectel")
    assert device.resources[13] == SingleResource(13, int(EPOCH + rig.now - 1000.0))
    as_json = rig.server_request(get("/4/0", accept=JSON))
    assert as_json.content_format == JSON
    connectivity = decode(as_json.payload, JSON, "/4/0")
    assert isinstance(connectivity, ObjectInstance)
    assert connectivity.resources[2] == SingleResource(2, -113 + 2 * 24)
    assert connectivity.resources[8] == SingleResource(8, 0x0B2C3D41)
    # SenML is LwM2M 1.1: a 1.0 build does not offer it (RFC 7252 §5.10.4: 4.06).
    assert rig.server_request(get("/3/0", accept=SENML)).code == 0x86
    assert rig.server_request(get("/3/0/1", accept=ContentFormat.OPAQUE)).code == 0x86


def test_senml_on_a_1_1_build() -> None:
    rig = Rig(lwm2m_version="1.1", preferred_format=110)
    rig.register()
    response = rig.server_request(get("/3/0"))
    assert response.content_format == SENML
    device = decode(response.payload, SENML, "/3/0")
    assert isinstance(device, ObjectInstance) and device.resources[1].value == "EC200U"  # type: ignore[union-attr]


def test_discover_and_write_attributes(rig: Rig) -> None:
    attrs = CoapRequest(method=PUT, path=("3", "0", "13"), query=("pmin=5", "pmax=50"))
    assert rig.server_request(attrs).code == CHANGED
    response = rig.server_request(get("/3/0", accept=LINKS))
    assert response.content_format == LINKS
    links = {link.target: dict(link.params) for link in parse_links(response.payload)}
    assert links["/3/0/13"] == {"pmin": "5", "pmax": "50"}
    assert "/3/0/4" in links and "/3/0/0" in links
    bad = CoapRequest(method=PUT, path=("3", "0", "1"), query=("gt=5",))
    assert rig.server_request(bad).code == 0x80  # gt on a string resource


def test_writes_change_the_module(rig: Rig) -> None:
    assert rig.server_request(put_text("/3/0/13", "1800000000")).code == CHANGED
    assert rig.urcs()[-1] == '+QLWURC: "current_time_changed",1800000000'
    assert rig.at("AT+CCLK?")[0] == '+CCLK: "27/01/15,08:00:00+00"'
    assert rig.server_request(put_text("/3/0/14", "+08:00")).code == CHANGED
    assert rig.at("AT+CCLK?")[0] == '+CCLK: "27/01/15,16:00:00+32"'
    assert rig.server_request(put_text("/3/0/14", "8 hours")).code == 0x80
    assert rig.server_request(put_text("/11/0/1", "iot.apn")).code == CHANGED
    assert rig.urcs()[-1] == '+QLWURC: "apn_changed","iot.apn"'
    assert rig.at("AT+CGDCONT?")[0].startswith('+CGDCONT: 1,"IP","iot.apn"')
    assert rig.server_request(put_text("/11/0/4", "7")).code == 0x80
    assert rig.server_request(put_text("/11/0/4", "3")).code == CHANGED
    assert rig.urcs()[-1] == '+QLWURC: "authentication_type_changed",3'


def test_lifetime_write_updates_with_lt(rig: Rig) -> None:
    rig.actions.clear()
    assert rig.server_request(put_text("/1/0/1", "120")).code == CHANGED
    assert rig.urcs()[-1] == '+QLWURC: "lifetime_changed",120'
    rig.advance(0.0)
    update = rig.respond(CHANGED)
    assert update.request.query == ("lt=120",)
    assert rig.at('AT+QLWCFG="server"')[0] == '+QLWCFG: "server",1,120,1,60,30,1,"U"'


def test_observe_pmin_pmax_and_cancel(rig: Rig) -> None:
    rig.server_request(CoapRequest(method=PUT, path=("4", "0", "2"), query=("pmin=2", "pmax=10")))
    first = rig.server_request(get("/4/0/2", observe=0, token=b"tk"))
    assert first.observe and first.payload == b"-65"
    rig.module.set_signal(10, rig.now)
    rig.pump()
    assert not rig.has(SendNotification)  # pmin 2 s not over yet
    rig.advance(2.1)
    note = rig.take(SendNotification)
    assert (note.token, note.response.payload, note.last) == (b"tk", b"-93", False)
    rig.advance(9.0)
    assert not rig.has(SendNotification)
    rig.advance(1.5)  # pmax 10 s: a notification even without a change
    assert rig.take(SendNotification).response.payload == b"-93"
    cancel = rig.server_request(get("/4/0/2", observe=1, token=b"tk"))
    assert cancel.code == CONTENT and not cancel.observe
    rig.advance(30)
    assert not rig.has(SendNotification)


def test_observed_instance_deleted_ends_with_404(rig: Rig) -> None:
    create = CoapRequest(
        method=POST,
        path=("11",),
        content_format=TLV,
        payload=codec.encode(
            ObjectInstance(1, {0: SingleResource(0, "second"), 4: SingleResource(4, 3)}),
            TLV,
            LwM2MPath(11),
            DEFS,
        ),
    )
    created = rig.server_request(create)
    assert (created.code, created.location_path) == (CREATED, ("11", "1"))
    rig.advance(0.0)
    update = rig.respond(CHANGED)  # objects changed: an Update with the new links
    assert b"</11/1>" in update.request.payload
    rig.server_request(get("/11/1/0", observe=0, token=b"ob"))
    assert rig.server_request(CoapRequest(method=DELETE, path=("11", "1"))).code == DELETED
    rig.advance(0.1)
    assert not rig.has(SendNotification)  # cancel_under: the observation went with it
    assert rig.server_request(CoapRequest(method=DELETE, path=("3", "0"))).code == 0x85


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (get("/3/0/abc"), 0x84),
        (get("/3/0/1/2/3"), 0x84),
        (get("/99"), 0x84),
        (get("/3/0/4"), 0x85),  # executable
        (get("/0/0"), 0x81),  # Security is for the bootstrap server only
        (CoapRequest(method=GET, path=()), 0x85),
        (
            CoapRequest(method=PUT, path=("3", "0", "13"), payload=b"\xff\x00", content_format=TLV),
            0x80,
        ),
        (
            CoapRequest(method=PUT, path=("3", "0", "13"), payload=b"soon", content_format=TEXT),
            0x80,
        ),
        (CoapRequest(method=PUT, path=("3", "0", "13"), payload=b"1"), 0x80),  # no format
        (CoapRequest(method=PUT, path=("3", "0", "13"), payload=b"1", content_format=60), 0x8F),
        (CoapRequest(method=PUT, path=("3", "0", "13"), payload=b"1", content_format=9999), 0x8F),
        (CoapRequest(method=PUT, path=("3", "0", "13")), 0x80),  # no payload, no attributes
        (CoapRequest(method=PUT, path=("3", "0", "13"), query=("pmin=x",)), 0x80),
        (CoapRequest(method=PUT, path=("3", "0", "13"), query=("bogus=1",)), 0x80),
        (CoapRequest(method=POST, path=("3", "0", "1")), 0x85),  # not executable
        (CoapRequest(method=POST, path=("3", "0", "4", "0")), 0x85),
        (CoapRequest(method=POST, path=("3",), payload=b"\x00", content_format=TLV), 0x80),
        (CoapRequest(method=DELETE, path=("3", "0", "1")), 0x85),
        (CoapRequest(method=5, path=("3", "0")), 0x85),  # FETCH is not LwM2M 1.0
        (CoapRequest(method=GET, path=("3", "0", "1"), accept=12345), 0x86),
    ],
)
def test_malformed_requests_get_the_right_code(rig: Rig, request_: CoapRequest, code: int) -> None:
    response = rig.server_request(request_)
    assert response.code == code, response
    # The module is unharmed: still registered, still answering.
    assert rig.stat() == 2
    assert rig.server_request(get("/3/0/0")).payload == b"Quectel"


def test_requests_from_strangers_are_refused(rig: Rig) -> None:
    assert rig.server_request(get("/3/0/0"), server_id=None).code == 0x81
    assert rig.server_request(get("/3/0/0"), server_id=3).code == 0x81


def test_reboot_and_factory_reset_execute(rig: Rig) -> None:
    assert rig.at('AT+QLWCFG="urc",1') == ["OK"]
    response = rig.server_request(CoapRequest(method=POST, path=("3", "0", "4")))
    assert response.code == CHANGED
    assert "RDY" not in rig.text.split("ATE0")[-1]
    rig.advance(1.0)
    assert rig.text.count("RDY") == 2
    assert rig.stat() == 0
    rig.at("ATE0")
    assert rig.at('AT+QLWCFG="security"')[0].startswith('+QLWCFG: "security",1')  # storing 1
    rig.register()
    rig.server_request(CoapRequest(method=POST, path=("3", "0", "5")))
    rig.advance(1.0)
    rig.at("ATE0")
    assert rig.at('AT+QLWCFG="security"') == ["OK"]  # factory reset: the NV store is wiped


def test_disable_deregisters_and_comes_back(rig: Rig) -> None:
    rig.actions.clear()
    assert rig.server_request(CoapRequest(method=POST, path=("1", "0", "4"))).code == CHANGED
    rig.advance(0.0)
    rig.respond(DELETED)
    assert rig.urcs()[-1] == '+QLWURC: "deregister",1000,0'
    rig.advance(29.0)  # disable_timeout 30 s (rig.configure)
    assert not rig.has(SendRequest)
    rig.advance(1.5)
    rig.prepared()
    assert rig.respond(CREATED, ("rd", "r2")).request.path == ("rd",)
    assert rig.stat() == 2


def test_registration_update_trigger(rig: Rig) -> None:
    rig.actions.clear()
    assert rig.server_request(CoapRequest(method=POST, path=("1", "0", "8"))).code == CHANGED
    rig.advance(0.0)
    assert rig.respond(CHANGED).request.path == ("rd", "r1")


# ------------------------------------------------------------------- firmware update
def fw_state(rig: Rig) -> tuple[int, int]:
    state = rig.server_request(get("/5/0/3")).payload
    result = rig.server_request(get("/5/0/5")).payload
    return int(state), int(result)


def test_fota_manual_download_tells_the_host() -> None:
    rig = Rig()
    rig.register()
    rig.at('AT+QLWCFG="fota",0,0')
    uri = "http://192.0.2.7/fw/EC200U_R04.bin"
    assert rig.server_request(put_text("/5/0/1", uri)).code == CHANGED
    assert rig.urcs()[-1] == f'+QLWURC: "fota/pkgurl","{uri}"'
    assert not rig.has(StartDownload)
    assert fw_state(rig) == (0, 0)


def test_fota_automatic_download_and_update() -> None:
    rig = Rig()
    rig.register()
    uri = "coap://192.0.2.7/fw.bin"
    rig.server_request(put_text("/5/0/1", uri))
    download = rig.take(StartDownload)
    assert download.uri == uri
    assert fw_state(rig) == (1, 0)
    rig.client.download_finished(rig.now, data=b"\x7fELF" * 100)
    rig.pump()
    assert fw_state(rig) == (3, 0)  # fota update 1: applied at once
    rig.advance(1.0)
    assert rig.text.count("RDY") == 2  # the module restarted on the new firmware
    rig.register()
    assert fw_state(rig) == (0, 1)  # result 1: success, kept over the restart


def test_fota_manual_update_waits_for_execute() -> None:
    rig = Rig()
    rig.register()
    rig.at('AT+QLWCFG="fota",1,0')
    rig.server_request(put_text("/5/0/1", "http://192.0.2.7/fw.bin"))
    rig.take(StartDownload)
    rig.client.download_finished(rig.now, data=b"x" * 1000)
    rig.pump()
    assert rig.urcs()[-1] == '+QLWURC: "fota/downloaded",1000'
    assert fw_state(rig) == (2, 0)
    assert rig.server_request(CoapRequest(method=POST, path=("5", "0", "2"))).code == CHANGED
    assert fw_state(rig) == (3, 0)


def test_fota_failures() -> None:
    rig = Rig()
    rig.register()
    rig.server_request(put_text("/5/0/1", "ftp://192.0.2.7/fw.bin"))
    assert fw_state(rig) == (0, 9)  # unsupported protocol
    rig.server_request(put_text("/5/0/1", "not a uri"))
    assert fw_state(rig) == (0, 7)
    rig.server_request(put_text("/5/0/1", "http://192.0.2.7/missing.bin"))
    rig.take(StartDownload)
    rig.client.download_finished(rig.now, error=DownloadError.NOT_FOUND)
    assert fw_state(rig) == (0, 7)
    rig.server_request(put_text("/5/0/1", "http://192.0.2.7/fw.bin"))
    rig.client.download_finished(rig.now, error=DownloadError.CONNECTION)
    assert fw_state(rig) == (0, 4)
    # Update without a package: not allowed in state Idle.
    assert rig.server_request(CoapRequest(method=POST, path=("5", "0", "2"))).code == 0x85
    # An empty URI resets the machine.
    rig.server_request(put_text("/5/0/1", ""))
    assert fw_state(rig) == (0, 0)


def test_fota_push_package() -> None:
    rig = Rig()
    rig.register()
    rig.at('AT+QLWCFG="fota",1,0')
    push = CoapRequest(
        method=PUT, path=("5", "0", "0"), payload=b"\x01" * 64, content_format=ContentFormat.OPAQUE
    )
    assert rig.server_request(push).code == CHANGED
    assert fw_state(rig) == (2, 0)
    assert rig.server_request(get("/5/0/0")).code == 0x85  # write-only


# ----------------------------------------------------------------------- bootstrap
def security(instance: int, uri: str, ssid: int, *, bootstrap: bool = False) -> ObjectInstance:
    return ObjectInstance(
        instance,
        {
            0: SingleResource(0, uri),
            1: SingleResource(1, bootstrap),
            2: SingleResource(2, 3),
            3: SingleResource(3, b""),
            4: SingleResource(4, b""),
            5: SingleResource(5, b""),
            10: SingleResource(10, ssid),
        },
    )


def server(instance: int, ssid: int, lifetime: int) -> ObjectInstance:
    return ObjectInstance(
        instance,
        {
            0: SingleResource(0, ssid),
            1: SingleResource(1, lifetime),
            6: SingleResource(6, True),
            7: SingleResource(7, "U"),
        },
    )


def bs_write(path: str, content: ObjectInstance | LwM2MObject) -> CoapRequest:
    target = LwM2MPath.parse(path)
    return CoapRequest(
        method=PUT,
        path=target.segments,
        content_format=TLV,
        payload=codec.encode(content, TLV, target, DEFS),
    )


def start_bootstrap(rig: Rig) -> None:
    assert rig.at('AT+QLWCFG="security",0,100,"coap://192.0.2.9:5783",1,3') == ["OK"]
    assert rig.at("AT+QLWREG") == ["OK"]
    rig.prepared()
    request = rig.respond(CHANGED).request
    assert (request.method, request.path) == (POST, ("bs",))
    assert request.query == ("ep=urn:imei:869339060001965",)


def test_bootstrap_provisions_and_registers() -> None:
    rig = Rig()
    start_bootstrap(rig)
    assert rig.urc_names() == ["pdp active", "initial", "bootstraping"]
    assert rig.stat() == 1
    bs = 0  # the bootstrap server's session is its serverID, 0
    assert rig.server_request(CoapRequest(method=DELETE, path=()), server_id=bs).code == DELETED
    discover = rig.server_request(get("/", accept=LINKS), server_id=bs)
    assert discover.payload.startswith(b"</>;lwm2mv=1.0,</0/0>;ssid=100")
    assert b"</1>" in discover.payload  # no server account left
    assert (
        rig.server_request(
            bs_write("/0/5", security(5, "coap://192.0.2.10:5683", 777)), server_id=bs
        ).code
        == CHANGED
    )
    assert rig.server_request(bs_write("/1/3", server(3, 777, 90)), server_id=bs).code == CHANGED
    finish = rig.server_request(CoapRequest(method=POST, path=("bs",)), server_id=bs)
    assert finish.code == CHANGED
    rig.advance(0.0)
    assert rig.urcs()[-1] == '+QLWURC: "bootstrap","successfully",100'
    prepare = rig.prepared()
    assert (prepare.host, prepare.port) == ("192.0.2.10", 5683)
    register = rig.respond(CREATED, ("rd", "dm"))
    assert "lt=90" in register.request.query
    assert rig.urc_names()[-3:] == ["initial", "registering", "ready"]
    assert rig.at('AT+QLWCFG="security"') == [
        '+QLWCFG: "security",0,100,"coap://192.0.2.9:5783",1,3',
        '+QLWCFG: "security",1,777,"coap://192.0.2.10:5683",0,3',
        "OK",
    ]
    # The DM server sees the canonical instances (/1/0 for serverID 1).
    assert rig.server_request(get("/1/0/1"), server_id=1).payload == b"90"


def test_bootstrap_finish_refused_without_a_server() -> None:
    rig = Rig()
    start_bootstrap(rig)
    finish = rig.server_request(CoapRequest(method=POST, path=("bs",)), server_id=0)
    assert finish.code == 0x86  # TS 1.1 §5.2.7.6: not acceptable
    rig.advance(0.0)
    assert "bootstrap" not in rig.urc_names()


def test_bootstrap_timeout_fails() -> None:
    rig = Rig(timing_ms={"bootstrap_timeout": 5000})
    start_bootstrap(rig)
    rig.advance(5.1)
    assert rig.urcs()[-1] == '+QLWURC: "bootstrap","failed",100'
    assert rig.stat() == 4


def test_bootstrap_request_refused() -> None:
    rig = Rig()
    rig.at('AT+QLWCFG="security",0,100,"coap://192.0.2.9:5783",1,3')
    rig.at("AT+QLWREG")
    rig.prepared()
    rig.respond(0x80)
    assert rig.urcs()[-1] == '+QLWURC: "bootstrap","failed",100'
    assert rig.stat() == 4


def test_power_down_stops_the_client_until_power_on(rig: Rig) -> None:
    """AT+QPOWD: no Deregister, no retries while the power is off; a fresh start after."""
    rig.actions.clear()
    rig.module.power_down(rig.now)
    rig.pump()
    assert rig.stat() == 0
    rig.advance(3600.0)  # an hour switched off: nothing is sent, nothing retried
    assert not rig.has(SendRequest) and not rig.has(PrepareSession)
    rig.module.power_on(rig.now)
    rig.advance(1.0)
    assert rig.text.count("RDY") == 2 and rig.stat() == 0
