"""The sans-I/O client on a fake clock: registration state machine, timers, failures, URCs.

The test plays the CoAP adapter and the server (see rig.py); what it checks is what a host
would see (AT answers, URCs in order) and what the client asks to send on the wire.
"""

from __future__ import annotations

from typing import Any

from emulator.lwm2m.client.messages import (
    CHANGED,
    CREATED,
    DELETE,
    DELETED,
    NOT_FOUND,
    POST,
    CloseSession,
    PrepareSession,
    SendRequest,
    SetReachable,
)
from emulator.module.nvstore import MemoryNvStore

from .harness import FAST
from .rig import Rig

EP = "urn:imei:869339060001965"


def test_register_request_on_the_wire() -> None:
    rig = Rig()
    rig.configure(lifetime=60)
    assert rig.at("AT+QLWREG") == ["OK"]
    assert rig.stat() == 1
    prepare = rig.prepared()
    assert (prepare.scheme, prepare.host, prepare.port) == ("coap", "192.0.2.1", 5683)
    register = rig.respond(CREATED, ("rd", "r1"))
    request = register.request
    assert request.method == POST and request.path == ("rd",)
    # Quectel's QuecOpen library order: lwm2m, ep, b, lt.
    assert request.query == ("lwm2m=1.0", f"ep={EP}", "b=U", "lt=60")
    assert request.content_format == 40
    assert request.payload == b'</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0>,</4/0>,</5/0>,</11/0>'
    assert rig.urcs() == [
        '+QLWURC: "pdp active","successfully","cmnet"',
        '+QLWURC: "initial","successfully",1000',
        '+QLWURC: "registering"',
        '+QLWURC: "ready","successfully",1000',
    ]
    assert rig.stat() == 2
    assert rig.at("AT+QLWSTAT?") == ["+QLWSTAT: 2", "OK"]
    # The PDP context the client activated is visible to the host.
    assert rig.at("AT+CGACT?")[0] == "+CGACT: 1,1"


def test_endpoint_name_modes() -> None:
    rig = Rig()
    for mode, name in [
        (7, "urn:imei-imsi:869339060001965-460025191757605"),
        (6, "urn:imei-msisdn:869339060001965-8613800138000"),
        (1, "869339060001965"),  # custom name not set: the IMEI
    ]:
        assert rig.at(f'AT+QLWCFG="epname/mode",{mode}') == ["OK"]
        assert rig.client.endpoint_name() == name
    assert rig.at('AT+QLWCFG="epname","meter-42"') == ["OK"]
    assert rig.client.endpoint_name() == "meter-42"
    rig.configure()
    rig.at("AT+QLWREG")
    rig.prepared()
    assert "ep=meter-42" in rig.request().request.query


#: The profile's timings without the fleet spread of Updates (tested on its own below).
NO_SPREAD: dict[str, Any] = {"timing_ms": {**FAST["timing_ms"], "update_spread": 0}}


def test_update_before_the_lifetime_runs_out() -> None:
    rig = Rig(**NO_SPREAD)
    rig.register(lifetime=60)
    rig.advance(49.0)
    assert not rig.has(SendRequest)
    rig.advance(1.5)  # update_margin is 10 s: the Update goes at 50 s
    update = rig.respond(CHANGED)
    assert update.request.path == ("rd", "r1")
    assert update.request.query == () and update.request.payload == b""
    assert rig.urcs()[-1] == '+QLWURC: "update","successfully",1000'
    rig.advance(49.0)
    assert not rig.has(SendRequest)
    rig.advance(1.5)
    assert rig.request().request.path == ("rd", "r1")


def test_short_lifetime_updates_at_half() -> None:
    rig = Rig(**NO_SPREAD)
    rig.register(lifetime=4)
    rig.advance(1.9)
    assert not rig.has(SendRequest)
    rig.advance(0.2)
    assert rig.request().request.path == ("rd", "r1")


def first_update_after(rig: Rig, step: float = 0.25) -> float:
    """Seconds from now until the client sends its next request (an Update), to ``step``."""
    waited = 0.0
    while not rig.has(SendRequest):
        assert waited < 3600, "no Update within an hour"
        rig.advance(step)
        waited += step
    return waited


def test_updates_of_a_fleet_are_spread_by_endpoint_name() -> None:
    # The profile spreads Updates over 30 s before the due time (lifetime 120 s - 10 s margin),
    # by a share of the endpoint name: the same name always updates at the same moment.
    times: dict[str, float] = {}
    for name in ("meter-1", "meter-2", "meter-3", "meter-1"):
        rig = Rig()
        assert rig.at('AT+QLWCFG="epname/mode",1') == ["OK"]
        assert rig.at(f'AT+QLWCFG="epname","{name}"') == ["OK"]
        assert f"ep={name}" in rig.register(lifetime=120).request.query
        waited = first_update_after(rig)
        assert 80.0 <= waited <= 110.25, (name, waited)
        assert times.setdefault(name, waited) == waited  # repeatable
    assert max(times.values()) - min(times.values()) > 10.0  # spread, not bunched


def test_at_update_and_lifetime_change_from_at() -> None:
    rig = Rig()
    rig.register(lifetime=60)
    assert rig.at("AT+QLWUPDATE=1000") == ["OK"]
    rig.respond(CHANGED)
    assert rig.at("AT+QLWUPDATE=77") == ["+CME ERROR: 3"]  # not a registered server
    assert rig.at("AT+QLWUPDATE=0") == ["+CME ERROR: 50"]
    # A new lifetime from the host is sent at once, with lt= (TS 1.0 §5.3.2).
    assert rig.at('AT+QLWCFG="server",1,300,1,60,30,1,"U"') == ["OK"]
    update = rig.respond(CHANGED)
    assert update.request.query == ("lt=300",)


def test_update_answered_404_registers_afresh() -> None:
    rig = Rig()
    rig.register()
    rig.at("AT+QLWUPDATE")
    rig.respond(NOT_FOUND)
    register = rig.respond(CREATED, ("rd", "r2"))
    assert register.request.path == ("rd",)
    assert rig.urc_names()[-3:] == ["update", "registering", "ready"]
    assert rig.urcs()[-3] == '+QLWURC: "update","failed",1000'
    rig.at("AT+QLWUPDATE")
    assert rig.request().request.path == ("rd", "r2")


def test_update_lost_reconnects_after_disable_timeout() -> None:
    rig = Rig()
    rig.register(disable_timeout=30)
    rig.at("AT+QLWUPDATE")
    rig.fail()
    assert rig.urcs()[-1] == '+QLWURC: "update","failed",1000'
    assert rig.has(CloseSession)
    rig.advance(29.0)
    assert not rig.has(PrepareSession)
    rig.advance(1.5)
    rig.prepared()
    register = rig.respond(CREATED, ("rd", "r9"))
    assert register.request.path == ("rd",)
    assert rig.stat() == 2


def test_register_failure_is_login_failed_then_retried() -> None:
    rig = Rig()
    rig.configure()  # disable timeout 30 s
    rig.at("AT+QLWREG")
    rig.prepared()
    rig.fail()  # RFC 7252 retransmissions exhausted
    assert rig.urcs()[-1] == '+QLWURC: "ready","failed",1000'
    assert rig.stat() == 4
    rig.advance(29.0)
    assert not rig.has(PrepareSession)
    rig.advance(1.5)  # factory maxreconntime 30,3600,0: a retry after 30 s, never giving up
    rig.prepared()
    assert rig.stat() == 1
    rig.respond(0x84)  # 4.04 from the server: rejected
    assert rig.urcs()[-1] == '+QLWURC: "ready","failed",1000'
    assert rig.stat() == 4
    assert rig.at("AT+QLWREG") == ["OK"]  # the host need not wait for the back-off
    rig.prepared()
    rig.respond(CREATED, ("rd", "r1"))
    assert rig.stat() == 2


def test_maxreconntime_retries_with_backoff() -> None:
    rig = Rig()
    rig.configure()
    assert rig.at('AT+QLWCFG="maxreconntime",10,15,60') == ["OK"]
    rig.at("AT+QLWREG")
    rig.prepared()
    rig.fail()
    rig.advance(9.9)
    assert not rig.has(PrepareSession)
    rig.advance(0.2)
    rig.prepared()
    rig.fail()
    rig.advance(14.9)  # doubled, capped at 15
    assert not rig.has(PrepareSession)
    rig.advance(0.2)
    rig.prepared()
    rig.respond(CREATED, ("rd", "r1"))
    assert rig.stat() == 2


def test_pdp_rejected() -> None:
    rig = Rig()
    rig.configure()
    rig.module.set_pdp_reject(True)
    assert rig.at("AT+QLWREG") == ["OK"]
    assert rig.urcs() == ['+QLWURC: "pdp active","failed","cmnet"']
    assert rig.stat() == 4
    assert not rig.has(PrepareSession)


def test_no_network_then_apnretry() -> None:
    rig = Rig()
    rig.configure()
    rig.module.set_coverage(False, rig.now)
    rig.pump()
    assert rig.at("AT+QLWREG") == ["OK"]
    assert rig.urcs() == ['+QLWURC: "pdp active","failed","cmnet"']
    assert rig.at('AT+QLWCFG="apnretry",1,2,5') == ["OK"]
    rig.at("AT+QLWREG")
    assert rig.stat() == 1  # retrying the PDP activation
    rig.advance(5.5)
    rig.module.set_coverage(True, rig.now)
    rig.advance(5.0)
    assert rig.urcs()[-1] == '+QLWURC: "pdp active","successfully","cmnet"'
    rig.prepared()


def test_coverage_loss_and_recovery_updates() -> None:
    rig = Rig()
    rig.register(lifetime=600)
    rig.module.set_coverage(False, rig.now)
    rig.pump()
    assert rig.has(CloseSession)
    assert rig.stat() == 1
    rig.advance(100)
    assert not rig.has(PrepareSession)
    rig.module.set_coverage(True, rig.now)
    rig.advance(0.1)
    rig.prepared()
    update = rig.respond(CHANGED)
    assert update.request.path == ("rd", "r1")  # still registered at the server: an Update
    assert rig.urc_names()[-3:] == ["pdp active", "initial", "update"]
    assert rig.stat() == 2


def test_coverage_back_after_expiry_registers() -> None:
    rig = Rig()
    rig.register(lifetime=20)
    rig.module.set_coverage(False, rig.now)
    rig.advance(30)
    rig.module.set_coverage(True, rig.now)
    rig.advance(0.1)
    rig.prepared()
    register = rig.respond(CREATED, ("rd", "r5"))
    assert register.request.path == ("rd",)


def test_deregister() -> None:
    rig = Rig()
    rig.register()
    assert rig.at("AT+QLWDEREG") == ["OK"]
    assert rig.stat() == 3
    request = rig.respond(DELETED).request
    assert (request.method, request.path) == (DELETE, ("rd", "r1"))
    assert rig.urcs()[-1] == '+QLWURC: "deregister",1000,0'
    assert rig.stat() == 0
    assert rig.at("AT+QLWDEREG") == ["+CME ERROR: 3"]
    rig.register()
    rig.at("AT+QLWDEREG")
    rig.fail()
    assert rig.urcs()[-1] == '+QLWURC: "deregister",1000,1'


def test_queue_mode_sleeps_and_wakes() -> None:
    rig = Rig(timing_ms={"queue_awake": 5000})
    rig.register(binding="UQ")
    rig.advance(4.9)
    assert not rig.has(SetReachable)
    rig.advance(0.2)
    assert rig.take(SetReachable).reachable is False
    rig.at("AT+QLWUPDATE")
    assert rig.take(SetReachable).reachable is True
    rig.respond(CHANGED)
    rig.advance(5.1)
    assert rig.take(SetReachable).reachable is False


def test_queue_mode_binding_in_register_query_1_1() -> None:
    rig = Rig(lwm2m_version="1.1", preferred_format=110)
    rig.configure(binding="UQ")
    rig.at("AT+QLWREG")
    rig.prepared()
    query = rig.request().request.query
    assert query == ("lwm2m=1.1", f"ep={EP}", "b=U", "Q", "lt=60")


def test_storing_keeps_configuration_over_restart() -> None:
    nv = MemoryNvStore()
    rig = Rig(nv=nv)
    rig.configure(storing=1)
    assert rig.at("AT+CFUN=1,1") == ["OK"]
    rig.advance(2.0)
    rig.at("ATE0")
    assert rig.at('AT+QLWCFG="security"') == [
        '+QLWCFG: "security",1,1000,"coap://192.0.2.1:5683",0,3',
        "OK",
    ]
    rig.configure(storing=0)
    rig.at("AT+CFUN=1,1")
    rig.advance(2.0)
    rig.at("ATE0")
    assert rig.at('AT+QLWCFG="security"') == ["OK"]
    assert rig.at('AT+QLWCFG="server"') == ["OK"]


def test_startup_registers_after_boot() -> None:
    rig = Rig()
    rig.configure(storing=1)
    assert rig.at('AT+QLWCFG="startup",1') == ["OK"]
    rig.at("AT+CFUN=1,1")
    rig.advance(2.0)
    rig.prepared()
    rig.respond(CREATED, ("rd", "r1"))
    assert rig.urcs()[-1] == '+QLWURC: "ready","successfully",1000'


def test_startup_set_while_the_boot_urcs_come_is_for_the_next_boot() -> None:
    # The port answers from RDY on, before the boot is complete; "startup" is read at
    # power-on, so the host's AT+QLWREG in this boot is not refused as already running.
    rig = Rig()
    rig.configure(storing=1)
    mark = len(rig.text)
    rig.at("AT+CFUN=1,1")
    rig.advance(0.0505)  # RDY is out (boot: 50 ms quiet, URCs 1 ms apart), the rest to come
    assert "RDY" in rig.text[mark:] and "PB DONE" not in rig.text[mark:]
    assert rig.at('AT+QLWCFG="startup",1') == ["OK"]
    rig.advance(2.0)
    assert "PB DONE" in rig.text[mark:] and not rig.has(PrepareSession)
    assert rig.at("AT+QLWREG") == ["OK"]
    rig.prepared()


def test_restart_while_registered_drops_everything() -> None:
    rig = Rig()
    rig.register()
    rig.actions.clear()
    rig.at("AT+CFUN=1,1")
    rig.advance(2.0)
    assert rig.stat() == 0
    assert not rig.has(SendRequest)  # no Deregister: the power is gone


def test_dtls_flow_and_failure() -> None:
    rig = Rig()
    security = 'AT+QLWCFG="security",1,1000,"coaps://192.0.2.1",0,0,"id-1","a1B2"'
    assert rig.at(security) == ["OK"]
    rig.at("AT+QLWREG")
    prepare = rig.prepared()
    assert prepare.port == 5684
    handshake = rig.handshake(error="no DTLS handshake within 1.5 s")
    assert (handshake.identity, handshake.key) == (b"id-1", bytes.fromhex("a1b2"))
    assert handshake.timeout == 1.5
    assert rig.urcs()[-2:] == [
        '+QLWURC: "initial","successfully",1000',
        '+QLWURC: "dtls","failed",1000',
    ]
    assert rig.stat() == 4
    rig.at("AT+QLWREG")
    rig.prepared()
    rig.handshake()
    rig.respond(CREATED, ("rd", "x"))
    assert rig.urc_names()[-4:] == ["initial", "dtls", "registering", "ready"]


def test_initial_failure() -> None:
    rig = Rig()
    rig.configure()
    rig.at("AT+QLWREG")
    rig.prepared(error="name resolution failed")
    assert rig.urcs()[-1] == '+QLWURC: "initial","failed",1000'
    assert rig.stat() == 4
