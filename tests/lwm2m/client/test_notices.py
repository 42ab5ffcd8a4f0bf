"""The client core's notices, typed, before any AT text (fake clock; the test plays the adapter
and the server).

The module here has no AT LwM2M family: the core is configured and started through its own
API, reports what happens as :class:`LwM2MNotice` events on the module's event path, and
nothing turns them into ``+QLWURC`` lines. The rendering is tested in test_urc_rendering.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from emulator.lwm2m.client.config import MODE_NOSEC, MODE_PSK, SecurityEntry, ServerEntry
from emulator.lwm2m.client.events import (
    ApnAuthentication,
    ApnAuthenticationWritten,
    ApnTextWritten,
    CurrentTimeWritten,
    FirmwareDownloaded,
    FirmwarePackageOffered,
    LifetimeWritten,
    NoticeKind,
    Outcome,
    PdpResult,
    ServerResult,
    StepStarted,
)
from emulator.lwm2m.client.messages import (
    CHANGED,
    CREATED,
    DELETED,
    NOT_FOUND,
    POST,
    PUT,
    CoapRequest,
    StartDownload,
)

from .harness import FAST, lwm2m_profile
from .rig import Rig

SUCCESS, FAILURE = Outcome.SUCCESS, Outcome.FAILURE
SSID = 1000
TEXT = 0


def core_rig(**lwm2m: object) -> Rig:
    """A module whose profile lacks the AT LwM2M family: the client core alone."""
    base = lwm2m_profile(**{**FAST, **lwm2m})
    families = tuple(f for f in base.command_families if f != "lwm2m")
    return Rig(dataclasses.replace(base, command_families=families))


def result(kind: NoticeKind, outcome: Outcome, ssid: int = SSID) -> ServerResult:
    return ServerResult(kind=kind, outcome=outcome, ssid=ssid)


def start(rig: Rig, *, secure: bool = False) -> None:
    """The host configures one server (serverID 1, SSID 1000) and starts the client."""
    client = rig.client
    if secure:
        security = SecurityEntry(
            server_id=1,
            ssid=SSID,
            address="coaps://192.0.2.1",
            bootstrap=False,
            mode=MODE_PSK,
            psk_identity="id-1",
            psk_key="a1b2",
        )
    else:
        security = SecurityEntry(
            server_id=1, ssid=SSID, address="coap://192.0.2.1", bootstrap=False, mode=MODE_NOSEC
        )
    client.set_security(security)
    server = ServerEntry(
        server_id=1, lifetime=60, pmin=1, pmax=60, disable_timeout=30, storing=1, binding="U"
    )
    client.set_server(server, rig.now)
    client.start(rig.now)
    rig.pump()


def registered() -> Rig:
    rig = core_rig()
    start(rig)
    rig.prepared()
    rig.respond(CREATED, ("rd", "r1"))
    rig.notices.clear()
    return rig


def put_text(path: str, text: str) -> CoapRequest:
    segments = tuple(path.strip("/").split("/"))
    return CoapRequest(method=PUT, path=segments, payload=text.encode(), content_format=TEXT)


def test_register_update_deregister_are_reported_typed_and_nothing_is_rendered() -> None:
    rig = core_rig()
    start(rig)
    rig.prepared()
    rig.respond(CREATED, ("rd", "r1"))
    assert rig.notices == [
        PdpResult(outcome=SUCCESS, apn="cmnet"),
        result(NoticeKind.INITIAL, SUCCESS),
        StepStarted(kind=NoticeKind.REGISTERING),
        result(NoticeKind.READY, SUCCESS),
    ]
    rig.notices.clear()
    rig.client.update(None, rig.now)
    rig.pump()
    rig.respond(NOT_FOUND)  # the server forgot us (TS 1.0 §5.3.2): register afresh
    rig.respond(CREATED, ("rd", "r2"))
    rig.client.stop(rig.now)
    rig.pump()
    rig.respond(DELETED)
    assert rig.notices == [
        result(NoticeKind.UPDATE, FAILURE),
        StepStarted(kind=NoticeKind.REGISTERING),
        result(NoticeKind.READY, SUCCESS),
        result(NoticeKind.DEREGISTER, SUCCESS),
    ]
    assert "+QLWURC" not in rig.text  # no AT family, no rendering


def test_failures_are_reported_with_their_step() -> None:
    rig = core_rig()
    start(rig)
    rig.prepared(error="name resolution failed")
    assert rig.notices[-1] == result(NoticeKind.INITIAL, FAILURE)
    rig.client.start(rig.now)
    rig.pump()
    rig.prepared()
    rig.fail()
    assert rig.notices[-2:] == [
        StepStarted(kind=NoticeKind.REGISTERING),
        result(NoticeKind.READY, FAILURE),
    ]


def test_dtls_handshake_outcome() -> None:
    rig = core_rig()
    start(rig, secure=True)
    rig.prepared()
    rig.handshake(error="no DTLS handshake within 1.5 s")
    assert rig.notices[-2:] == [
        result(NoticeKind.INITIAL, SUCCESS),
        result(NoticeKind.DTLS, FAILURE),
    ]


def test_a_deregistration_stranded_by_the_network_is_a_failure() -> None:
    """The registration outlived the cell: nothing can delete it, the host hears a failure."""
    rig = registered()
    rig.module.set_coverage(False, rig.now)
    rig.pump()
    rig.client.stop(rig.now)
    rig.pump()
    assert rig.notices == [result(NoticeKind.DEREGISTER, FAILURE)]


def test_pdp_refused() -> None:
    rig = core_rig()
    rig.module.set_pdp_reject(True)
    start(rig)
    assert rig.notices == [PdpResult(outcome=FAILURE, apn="cmnet")]


def test_server_writes_carry_their_values() -> None:
    rig = registered()
    for path, text in [
        ("/11/0/1", "iot.apn"),
        ("/11/0/5", "user-1"),
        ("/11/0/6", "s3cret"),
        ("/11/0/4", "1"),
        ("/3/0/13", "1800000000"),
        ("/1/0/1", "120"),
    ]:
        assert rig.server_request(put_text(path, text)).code == CHANGED
    assert rig.notices == [
        ApnTextWritten(kind=NoticeKind.APN_CHANGED, text="iot.apn"),
        ApnTextWritten(kind=NoticeKind.USER_NAME_CHANGED, text="user-1"),
        ApnTextWritten(kind=NoticeKind.SECRET_CHANGED, text="s3cret"),
        ApnAuthenticationWritten(authentication=ApnAuthentication.CHAP),
        CurrentTimeWritten(unix_time=1_800_000_000),
        LifetimeWritten(ssid=SSID, lifetime=120),
    ]


def test_manual_firmware_download_and_update_are_offered_to_the_host() -> None:
    rig = registered()
    rig.client.set_options(fota_download=0, fota_update=0)
    uri = "http://192.0.2.7/fw.bin"
    rig.server_request(put_text("/5/0/1", uri))
    assert rig.notices == [FirmwarePackageOffered(uri=uri)]
    rig.client.set_options(fota_download=1)
    rig.server_request(put_text("/5/0/1", uri))
    rig.take(StartDownload)
    rig.client.download_finished(rig.now, data=b"x" * 1000)
    rig.pump()
    assert rig.notices[-1] == FirmwareDownloaded(size=1000)


def test_bootstrap_start_and_outcome() -> None:
    rig = core_rig(timing_ms={"bootstrap_timeout": 5000})
    entry = SecurityEntry(
        server_id=0, ssid=100, address="coap://192.0.2.9:5783", bootstrap=True, mode=MODE_NOSEC
    )
    rig.client.set_security(entry)
    rig.client.start(rig.now)
    rig.pump()
    rig.prepared()
    request = rig.respond(CHANGED).request
    assert (request.method, request.path) == (POST, ("bs",))
    rig.advance(5.1)  # no Bootstrap-Finish in time
    assert rig.notices == [
        PdpResult(outcome=SUCCESS, apn="cmnet"),
        result(NoticeKind.INITIAL, SUCCESS, 100),
        StepStarted(kind=NoticeKind.BOOTSTRAPPING),
        result(NoticeKind.BOOTSTRAP, FAILURE, 100),
    ]


def test_the_urc_switch_silences_the_port_not_the_core() -> None:
    """``AT+QLWCFG="urc",0`` is the AT port's business: the core reports all the same."""
    rig = Rig()
    assert rig.at('AT+QLWCFG="urc",0') == ["OK"]
    rig.register()
    assert rig.urcs() == []
    assert [n.kind for n in rig.notices] == [
        NoticeKind.PDP_ACTIVE,
        NoticeKind.INITIAL,
        NoticeKind.REGISTERING,
        NoticeKind.READY,
    ]
    assert rig.at('AT+QLWCFG="urc",1') == ["OK"]
    assert rig.at("AT+QLWUPDATE") == ["OK"]
    rig.respond(CHANGED)
    assert rig.urcs() == [f'+QLWURC: "update","successfully",{SSID}']


@pytest.mark.parametrize(
    "make",
    [
        lambda: ServerResult(kind=NoticeKind.APN_CHANGED, outcome=SUCCESS, ssid=1),
        lambda: StepStarted(kind=NoticeKind.READY),
        lambda: ApnTextWritten(kind=NoticeKind.LIFETIME_CHANGED, text="x"),
    ],
)
def test_a_notice_carries_only_the_kinds_of_its_family(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="does not report"):
        make()
