"""``AT+QLWCFG`` / ``QLWREG`` / ``QLWDEREG`` / ``QLWUPDATE`` / ``QLWSTAT``: forms, ranges, errors.

Byte-exact where the format is known (the EG25-G test form).
"""

from __future__ import annotations

import pytest

from .harness import lwm2m_profile
from .rig import Rig

# EG25-G firmware 01.002/01.003's AT+QLWCFG=?, plus "epname" and the custom mode 1 this
# profile adds.
TEST_FORM = """\
+QLWCFG: "security",(0-3),(1-65535),<server_addr>,(0,1),(0,3),<pskID>,<psk_key>
+QLWCFG: "server",(0-3),(1-86400),(1-86400),(1-86400),(1-86400),(0,1),("U","UQ","S","SQ","US","UQS")
+QLWCFG: "epname/mode",(1,3,6,7)
+QLWCFG: "epname",<epname>
+QLWCFG: "urc",(0,1)
+QLWCFG: "startup",(0,1)
+QLWCFG: "fota",(0,1),(0,1)
+QLWCFG: "hostdevice",HOST_PARAMS
+QLWCFG: "reset"
+QLWCFG: "nettype",(0-2)
+QLWCFG: "maxreconntime",(1-86400),(2-86400),(0-86400)
+QLWCFG: "apnretry",(0,1),(0-16),(0-86400)""".replace(
    "HOST_PARAMS",
    "(0,1),<deviceID>,<manufacturer>,<model>,<sw_version>,<fw_version>,<hw_version>,<upgrade_time>",
)


def test_test_form_bytes() -> None:
    rig = Rig()
    start = len(rig.text)
    rig.at("AT+QLWCFG=?")
    assert rig.text[start:] == "\r\n" + TEST_FORM.replace("\n", "\r\n") + "\r\n\r\nOK\r\n"


def test_test_form_follows_the_profile() -> None:
    profile = lwm2m_profile(subcommands=["security", "server", "epname/mode", "urc", "reset"])
    profile.sections["lwm2m"]["epname_modes"] = {
        "3": "urn:imei:{imei}",
        "7": "urn:imei-imsi:{imei}-{imsi}",
    }
    rig = Rig(profile)
    lines = rig.at("AT+QLWCFG=?")
    assert lines[2:] == [
        '+QLWCFG: "epname/mode",(3,7)',
        '+QLWCFG: "urc",(0,1)',
        '+QLWCFG: "reset"',
        "OK",
    ]
    # A sub-command this build lacks: CME 4 (QuecPython's config() reports -2).
    assert rig.at('AT+QLWCFG="fota",1,1') == ["+CME ERROR: 4"]
    assert rig.at('AT+QLWCFG="epname/mode",6') == ["+CME ERROR: 50"]


def test_read_forms_show_factory_values() -> None:
    rig = Rig()
    assert rig.at('AT+QLWCFG="epname/mode"') == ['+QLWCFG: "epname/mode",3', "OK"]
    assert rig.at('AT+QLWCFG="urc"') == ['+QLWCFG: "urc",1', "OK"]
    assert rig.at('AT+QLWCFG="startup"') == ['+QLWCFG: "startup",0', "OK"]
    assert rig.at('AT+QLWCFG="fota"') == ['+QLWCFG: "fota",1,1', "OK"]
    assert rig.at('AT+QLWCFG="nettype"') == ['+QLWCFG: "nettype",0', "OK"]
    assert rig.at('AT+QLWCFG="maxreconntime"') == ['+QLWCFG: "maxreconntime",30,3600,0', "OK"]
    assert rig.at('AT+QLWCFG="apnretry"') == ['+QLWCFG: "apnretry",0,0,0', "OK"]
    assert rig.at('AT+QLWCFG="hostdevice"') == [
        '+QLWCFG: "hostdevice",0,"HUID0","HMAN0","HMOD0","HSW0","HFW0","HHW0",1',
        "OK",
    ]
    assert rig.at('AT+QLWCFG="security"') == ["OK"]
    assert rig.at('AT+QLWCFG="server"') == ["OK"]


def test_write_then_read() -> None:
    rig = Rig()
    assert rig.at(
        'AT+QLWCFG="security",1,1000,"coaps://lwm2m.example:5684",0,0,'
        '"urn:imei:869339060001965","30313233343536373839"'
    ) == ["OK"]
    assert rig.at('AT+QLWCFG="security",0,100,"coap://bs.example:5683",1,3') == ["OK"]
    assert rig.at('AT+QLWCFG="server",1,60,2,60,86400,1,"U"') == ["OK"]
    assert rig.at('AT+QLWCFG="security"') == [
        '+QLWCFG: "security",0,100,"coap://bs.example:5683",1,3',
        '+QLWCFG: "security",1,1000,"coaps://lwm2m.example:5684",0,0,'
        '"urn:imei:869339060001965","30313233343536373839"',
        "OK",
    ]
    assert rig.at('AT+QLWCFG="server"') == ['+QLWCFG: "server",1,60,2,60,86400,1,"U"', "OK"]
    assert rig.at('AT+QLWCFG="hostdevice",1,"H1","ACME","M1","1.0","2.0","3.0",1700000000') == [
        "OK"
    ]
    assert rig.at('AT+QLWCFG="hostdevice"')[0] == (
        '+QLWCFG: "hostdevice",1,"H1","ACME","M1","1.0","2.0","3.0",1700000000'
    )
    assert rig.at('AT+QLWCFG="maxreconntime",5,600,3600') == ["OK"]
    assert rig.at('AT+QLWCFG="maxreconntime"')[0] == '+QLWCFG: "maxreconntime",5,600,3600'
    # "security",<serverID> alone clears that instance (QuecPython config(Security, [id])).
    assert rig.at('AT+QLWCFG="security",0') == ["OK"]
    assert rig.at('AT+QLWCFG="security"')[0].startswith('+QLWCFG: "security",1,1000')
    assert rig.at('AT+QLWCFG="reset"') == ["OK"]
    assert rig.at('AT+QLWCFG="security"') == ["OK"]
    assert rig.at('AT+QLWCFG="maxreconntime"')[0] == '+QLWCFG: "maxreconntime",30,3600,0'


@pytest.mark.parametrize(
    "command",
    [
        'AT+QLWCFG="security",4,1000,"coap://a",0,3',  # serverID 0-3
        'AT+QLWCFG="security",1,0,"coap://a",0,3',  # SSID 1-65535
        'AT+QLWCFG="security",1,65536,"coap://a",0,3',
        'AT+QLWCFG="security",1,1000,"coap://a",1,3',  # bootstrap only for serverID 0
        'AT+QLWCFG="security",0,100,"coap://a",0,3',
        'AT+QLWCFG="security",1,1000,"coap://a",0,2',  # modes (0,3) on this build
        'AT+QLWCFG="security",1,1000,"coaps://a",0,0',  # PSK without identity and key
        'AT+QLWCFG="security",1,1000,"coaps://a",0,0,"id","xyz"',  # key is hex text
        'AT+QLWCFG="security",1,1000,"coap://a",0,0,"id","00"',  # PSK needs coaps
        'AT+QLWCFG="security",1,1000,"coaps://a",0,3',  # coaps needs PSK
        'AT+QLWCFG="security",1,1000,"http://a",0,3',
        'AT+QLWCFG="security",1,1000,"coap://a/path",0,3',
        'AT+QLWCFG="security",1,1000,"",0,3',
        'AT+QLWCFG="security",1,1000,1,0,3',  # the address is a string
        'AT+QLWCFG="security",1,1000',
        'AT+QLWCFG="server",1,0,1,1,1,0,"U"',  # lifetime 1-86400
        'AT+QLWCFG="server",1,86401,1,1,1,0,"U"',
        'AT+QLWCFG="server",1,60,1,1,1,2,"U"',  # storing 0/1
        'AT+QLWCFG="server",1,60,1,1,1,0,"X"',  # binding
        'AT+QLWCFG="server",1,60,1,1,1,0',
        'AT+QLWCFG="epname/mode",5',
        'AT+QLWCFG="urc",2',
        'AT+QLWCFG="startup",-1',
        'AT+QLWCFG="fota",1',
        'AT+QLWCFG="fota",1,2',
        'AT+QLWCFG="nettype",3',
        'AT+QLWCFG="maxreconntime",0,2,0',
        'AT+QLWCFG="maxreconntime",1,1,0',
        'AT+QLWCFG="apnretry",1,17,0',
        'AT+QLWCFG="reset",1',
        'AT+QLWCFG="urc"," 1"',
        "AT+QLWCFG=1",
        "AT+QLWUPDATE=65536",
    ],
)
def test_bad_parameters_are_cme_50(command: str) -> None:
    rig = Rig()
    assert rig.at(command) == ["+CME ERROR: 50"]


def test_unknown_subcommand_is_cme_4() -> None:
    rig = Rig()
    assert rig.at('AT+QLWCFG="version",1') == ["+CME ERROR: 4"]
    assert rig.at('AT+QLWCFG="lwm2m_enable",1,1') == ["+CME ERROR: 4"]


def test_cmee_modes_render_the_same_errors() -> None:
    rig = Rig()
    rig.at("AT+CMEE=2")
    assert rig.at('AT+QLWCFG="urc",2') == ["+CME ERROR: Incorrect parameters"]
    assert rig.at('AT+QLWCFG="version"') == ["+CME ERROR: Operation not supported"]
    rig.at("AT+CMEE=0")
    assert rig.at('AT+QLWCFG="urc",2') == ["ERROR"]


def test_commands_refused_while_running() -> None:
    rig = Rig()
    assert rig.at("AT+QLWREG") == ["+CME ERROR: 3"]  # nothing configured
    assert rig.at("AT+QLWUPDATE") == ["+CME ERROR: 3"]
    rig.register()
    assert rig.at("AT+QLWREG") == ["+CME ERROR: 3"]  # already running
    assert rig.at('AT+QLWCFG="security",1') == ["+CME ERROR: 3"]
    assert rig.at('AT+QLWCFG="reset"') == ["+CME ERROR: 3"]
    assert rig.at('AT+QLWCFG="epname/mode",7') == ["+CME ERROR: 3"]
    assert rig.at('AT+QLWCFG="urc",0') == ["OK"]  # module-wide switches still change


def test_stat_and_simple_forms() -> None:
    rig = Rig()
    assert rig.at("AT+QLWSTAT?") == ["+QLWSTAT: 0", "OK"]
    assert rig.at("AT+QLWSTAT=?") == ["+QLWSTAT: (0-4)", "OK"]
    assert rig.at("AT+QLWUPDATE=?") == ["+QLWUPDATE: (1-65535)", "OK"]
    assert rig.at("AT+QLWREG=?") == ["OK"]
    assert rig.at("AT+QLWSTAT") == ["ERROR"]  # no execute form


def test_urcs_follow_the_profile_templates() -> None:
    profile = lwm2m_profile(urcs={"registering": None, "ready": '"ready",{ssid},"{result}"'})
    rig = Rig(profile)
    rig.register()
    assert rig.urcs()[-2:] == [
        '+QLWURC: "initial","successfully",1000',
        '+QLWURC: "ready",1000,"successfully"',
    ]


def test_flows_in_the_profile_match_what_the_client_does() -> None:
    """The profile's "flows" are the URC order this build reports; the client must keep it."""
    flows = Rig().client.settings.flows
    rig = Rig()
    rig.register()
    assert tuple(rig.urc_names()) == flows["register"]

    rig = Rig()
    rig.register()
    start = len(rig.urcs())
    rig.at("AT+QLWUPDATE")
    rig.respond(0x44)
    assert tuple(rig.urc_names()[start:]) == flows["update"]
    start = len(rig.urcs())
    rig.at("AT+QLWUPDATE")
    rig.respond(0x84)
    rig.respond(0x41, ("rd", "2"))
    assert tuple(rig.urc_names()[start:]) == flows["update_unknown"]
    start = len(rig.urcs())
    rig.at("AT+QLWDEREG")
    rig.respond(0x42)
    assert tuple(rig.urc_names()[start:]) == flows["deregister"]

    rig = Rig()
    rig.at('AT+QLWCFG="security",1,1000,"coaps://192.0.2.1",0,0,"id","00"')
    rig.at("AT+QLWREG")
    rig.prepared()
    rig.handshake()
    rig.respond(0x41, ("rd", "1"))
    assert tuple(rig.urc_names()) == flows["register_dtls"]

    rig = Rig()
    rig.at('AT+QLWCFG="security",1,1000,"coaps://192.0.2.1",0,0,"id","00"')
    rig.at("AT+QLWREG")
    rig.prepared()
    rig.handshake(error="timeout")
    assert tuple(rig.urc_names()) == flows["dtls_failed"]

    rig = Rig()
    rig.configure()
    rig.module.set_pdp_reject(True)
    rig.at("AT+QLWREG")
    assert tuple(rig.urc_names()) == flows["pdp_failed"]

    rig = Rig()
    rig.configure()
    rig.at("AT+QLWREG")
    rig.prepared()
    rig.fail()
    assert tuple(rig.urc_names()) == flows["unreachable"]

    rig = Rig()
    rig.register(lifetime=600)
    start = len(rig.urcs())
    rig.module.set_coverage(False, rig.now)
    rig.module.set_coverage(True, rig.now)
    rig.advance(0.1)
    rig.prepared()
    rig.respond(0x44)
    assert tuple(rig.urc_names()[start:]) == flows["coverage_back"]
