"""The one place the client's notices become AT text: ``+QLWURC`` lines from the profile's URC
templates (QuecPython's lwm2m document, "Event-Description"), byte for byte on the port."""

from __future__ import annotations

import pytest

from emulator.commands.lwm2m import render_urc, urc_fields
from emulator.lwm2m.client.events import (
    ApnAuthentication,
    ApnAuthenticationWritten,
    ApnTextWritten,
    CurrentTimeWritten,
    FirmwareDownloaded,
    FirmwarePackageOffered,
    LifetimeWritten,
    LwM2MNotice,
    NoticeKind,
    Outcome,
    PdpResult,
    ServerResult,
    StepStarted,
)
from emulator.lwm2m.client.settings import URC_FIELDS, ClientSettings
from emulator.module.profile import ProfileError, load_profile

from .rig import Rig

OK, FAILED = Outcome.SUCCESS, Outcome.FAILURE

# One notice of every kind, and the line the EC200U profile gives it.
EVERY_KIND: list[tuple[LwM2MNotice, str]] = [
    (PdpResult(outcome=OK, apn="cmnet"), '"pdp active","successfully","cmnet"'),
    (PdpResult(outcome=FAILED, apn=""), '"pdp active","failed",""'),
    (ServerResult(kind=NoticeKind.INITIAL, outcome=OK, ssid=1000), '"initial","successfully",1000'),
    (ServerResult(kind=NoticeKind.DTLS, outcome=FAILED, ssid=1000), '"dtls","failed",1000'),
    (StepStarted(kind=NoticeKind.BOOTSTRAPPING), '"bootstraping"'),
    (
        ServerResult(kind=NoticeKind.BOOTSTRAP, outcome=OK, ssid=100),
        '"bootstrap","successfully",100',
    ),
    (StepStarted(kind=NoticeKind.REGISTERING), '"registering"'),
    (ServerResult(kind=NoticeKind.READY, outcome=FAILED, ssid=7), '"ready","failed",7'),
    (ServerResult(kind=NoticeKind.UPDATE, outcome=OK, ssid=7), '"update","successfully",7'),
    (ServerResult(kind=NoticeKind.DEREGISTER, outcome=OK, ssid=1000), '"deregister",1000,0'),
    (ServerResult(kind=NoticeKind.DEREGISTER, outcome=FAILED, ssid=1000), '"deregister",1000,1'),
    (
        FirmwarePackageOffered(uri="coap://127.0.0.1/fw.bin"),
        '"fota/pkgurl","coap://127.0.0.1/fw.bin"',
    ),
    (FirmwareDownloaded(size=4096), '"fota/downloaded",4096'),
    (ApnTextWritten(kind=NoticeKind.APN_CHANGED, text="iot.apn"), '"apn_changed","iot.apn"'),
    (ApnTextWritten(kind=NoticeKind.USER_NAME_CHANGED, text="u"), '"user_name_changed","u"'),
    (ApnTextWritten(kind=NoticeKind.SECRET_CHANGED, text="pw"), '"secret_changed","pw"'),
    (
        ApnAuthenticationWritten(authentication=ApnAuthentication.NONE),
        '"authentication_type_changed",3',
    ),
    (LifetimeWritten(ssid=1000, lifetime=300), '"lifetime_changed",300'),
    (CurrentTimeWritten(unix_time=1_700_000_000), '"current_time_changed",1700000000'),
]


def ec200u() -> ClientSettings:
    return ClientSettings.from_profile(load_profile("EC200U"))


@pytest.mark.parametrize(("notice", "line"), EVERY_KIND)
def test_every_kind_renders_as_the_document_shows_it(notice: LwM2MNotice, line: str) -> None:
    assert render_urc(notice, ec200u()) == "+QLWURC: " + line
    assert set(urc_fields(notice)) <= set(URC_FIELDS)  # what a profile template may use


def test_every_kind_is_covered_here() -> None:
    assert {notice.kind for notice, _ in EVERY_KIND} == set(NoticeKind)


def test_a_notice_reaches_the_port_byte_for_byte() -> None:
    rig = Rig()
    rig.text = ""
    rig.module.emit(ServerResult(kind=NoticeKind.READY, outcome=OK, ssid=1000), rig.now)
    rig.pump()
    assert rig.text == '\r\n+QLWURC: "ready","successfully",1000\r\n'


def test_server_text_is_escaped_and_cannot_break_the_framing() -> None:
    """V.250 §5.4.2.2 ``\\HH``: a quote or a line break in server text stays inside the field."""
    notice = ApnTextWritten(kind=NoticeKind.USER_NAME_CHANGED, text='a"b\r\nOK\r\n')
    assert render_urc(notice, ec200u()) == '+QLWURC: "user_name_changed","a\\22b\\0D\\0AOK\\0D\\0A"'
    offered = FirmwarePackageOffered(uri="http://h/\x07.bin")
    assert render_urc(offered, ec200u()) == '+QLWURC: "fota/pkgurl","http://h/\\07.bin"'


def test_the_texts_are_the_profiles() -> None:
    """A firmware build's own wording, or none at all (a null template), comes from data."""
    settings = ClientSettings.from_dict(
        {
            "urcs": {
                "ready": '"reg",{ssid},"{result}"',
                "deregister": '"dereg",{code},"{result}"',
                "registering": None,
            }
        }
    )
    ready = ServerResult(kind=NoticeKind.READY, outcome=OK, ssid=5)
    assert render_urc(ready, settings) == '+QLWURC: "reg",5,"successfully"'
    dereg = ServerResult(kind=NoticeKind.DEREGISTER, outcome=FAILED, ssid=5)
    assert render_urc(dereg, settings) == '+QLWURC: "dereg",1,"failed"'
    assert render_urc(StepStarted(kind=NoticeKind.REGISTERING), settings) is None
    # Not overridden: the document's text.
    assert render_urc(StepStarted(kind=NoticeKind.BOOTSTRAPPING), settings) == (
        '+QLWURC: "bootstraping"'
    )


def test_a_template_with_an_unknown_field_is_refused_when_the_profile_loads() -> None:
    with pytest.raises(ProfileError, match="unknown field"):
        ClientSettings.from_dict({"urcs": {"ready": '"ready",{server}'}})
