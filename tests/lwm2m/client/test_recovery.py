"""Recovery after a server outage and the ways an observation ends, on a fake clock.

The back-off (docs/lwm2m-flows.md, "Recovery"): after a failed Register or a lost Update the
module waits <first> of "maxreconntime" (30 s), doubling after each failure, never longer than
<max> (3600 s) nor than the server's Disable Timeout; <total> 0 (factory) never gives up.
"""

from __future__ import annotations

from emulator.lwm2m.client.messages import (
    CHANGED,
    CREATED,
    DELETE,
    GET,
    NOT_FOUND,
    CoapRequest,
    PrepareSession,
    SendNotification,
    SendRequest,
)
from emulator.module.events import RebootCause

from .rig import Rig

SERVICE_UNAVAILABLE = 0xA3
CONTENT = 0x45
FACTORY_DISABLE_TIMEOUT = 86400


class OutageServer:
    """The test's server, down from ``down_at`` to ``up_at``: while down every request fails
    at once (ICMP port unreachable) or after ``wait`` seconds (datagrams lost)."""

    def __init__(self, rig: Rig, down_at: float, up_at: float, wait: float = 0.0) -> None:
        self.rig, self.down_at, self.up_at, self.wait = rig, down_at, up_at, wait
        self.registered_at: float | None = None
        self.stats: list[tuple[float, int]] = []

    def up(self, when: float) -> bool:
        return not self.down_at <= when < self.up_at

    def run(self, until: float) -> None:
        rig = self.rig
        while rig.now < until:
            self.stats.append((rig.now, rig.stat()))
            if rig.has(PrepareSession):
                rig.prepared()
                continue
            if rig.has(SendRequest):
                sent_at = rig.now
                if self.up(sent_at):
                    request = rig.request()
                    rig.actions.insert(0, request)
                    if request.request.path == ("rd",):
                        rig.respond(CREATED, ("rd", "r2"))
                        self.registered_at = rig.now
                    else:
                        rig.respond(CHANGED)
                else:
                    rig.advance(self.wait)
                    rig.fail("retransmissions exceeded" if self.wait else "port unreachable")
                continue
            rig.advance(min(1.0, until - rig.now))


def outage_rig() -> Rig:
    rig = Rig()
    # Factory reconnection settings; a short lifetime so that the module notices the outage.
    rig.register(lifetime=60, disable_timeout=FACTORY_DISABLE_TIMEOUT)
    assert rig.at('AT+QLWCFG="maxreconntime"') == ['+QLWCFG: "maxreconntime",30,3600,0', "OK"]
    return rig


def test_a_60_s_outage_with_factory_settings_ends_registered() -> None:
    rig = outage_rig()
    start = rig.now
    # The server is down from the moment the Update falls due (at 50 s) for 60 s.
    server = OutageServer(rig, down_at=start + 50, up_at=start + 110)
    server.run(until=start + 400)
    assert server.registered_at is not None
    back_after = server.registered_at - server.up_at
    assert 0 <= back_after <= 60  # documented: at most one back-off step (<= 60 s) after
    assert rig.stat() == 2
    urcs = rig.urcs()
    lost = urcs.index('+QLWURC: "update","failed",1000')
    assert '+QLWURC: "ready","successfully",1000' in urcs[lost:]
    # AT+QLWSTAT? told the truth: 2 until the Update failed, 4 between attempts, 1 while trying.
    seen = [stat for _, stat in server.stats]
    assert seen[0] == 2 and 4 in seen and 1 in seen and rig.stat() == 2


def test_a_60_s_outage_without_icmp_ends_registered() -> None:
    rig = outage_rig()
    start = rig.now
    server = OutageServer(rig, down_at=start + 50, up_at=start + 110, wait=93.0)
    server.run(until=start + 600)
    assert server.registered_at is not None
    # The Update is given up at 143 s; the Register 30 s later finds the server back.
    assert server.registered_at - server.up_at <= 93 + 30


def test_back_off_doubles_up_to_max_and_the_disable_timeout() -> None:
    rig = Rig()
    rig.configure(disable_timeout=FACTORY_DISABLE_TIMEOUT)
    assert rig.at('AT+QLWCFG="maxreconntime",10,35,0') == ["OK"]
    rig.at("AT+QLWREG")
    waits = []
    for _ in range(5):
        rig.prepared()
        rig.fail()
        failed_at = rig.now
        while not rig.has(PrepareSession):
            rig.advance(0.5)
        waits.append(round(rig.now - failed_at))
    assert waits == [10, 20, 35, 35, 35]
    # A Disable Timeout shorter than the step bounds it; the module never gives up.
    rig2 = Rig()
    rig2.configure(disable_timeout=5)
    rig2.at("AT+QLWREG")
    for _ in range(10):
        rig2.prepared()
        rig2.fail()
        assert rig2.stat() == 4
        rig2.advance(5.5)
    rig2.prepared()
    rig2.respond(CREATED, ("rd", "r1"))
    assert rig2.stat() == 2


def test_total_gives_up_and_says_so() -> None:
    rig = Rig()
    rig.configure(disable_timeout=FACTORY_DISABLE_TIMEOUT)
    assert rig.at('AT+QLWCFG="maxreconntime",10,20,25') == ["OK"]
    rig.at("AT+QLWREG")
    rig.prepared()
    rig.fail()
    rig.advance(10.5)
    rig.prepared()
    rig.fail()  # 10 s in; the next wait (20 s) would end past 25 s: no more attempts
    rig.advance(3600)
    assert not rig.has(PrepareSession)
    assert rig.stat() == 4
    assert rig.at("AT+QLWREG") == ["OK"]  # the host may start again
    rig.prepared()
    rig.respond(CREATED, ("rd", "r1"))
    assert rig.stat() == 2


def test_register_answered_5_03_is_retried() -> None:
    rig = Rig()
    rig.configure()
    rig.at("AT+QLWREG")
    rig.prepared()
    rig.respond(SERVICE_UNAVAILABLE)
    assert rig.urcs()[-1] == '+QLWURC: "ready","failed",1000'
    rig.advance(30.5)
    rig.prepared()
    rig.respond(CREATED, ("rd", "r1"))
    assert rig.stat() == 2


def test_host_register_during_the_back_off_tries_at_once() -> None:
    rig = Rig()
    rig.configure(disable_timeout=FACTORY_DISABLE_TIMEOUT)
    rig.at("AT+QLWREG")
    rig.prepared()
    rig.fail()
    assert rig.stat() == 4
    assert rig.at("AT+QLWREG") == ["OK"]
    assert rig.stat() == 1
    rig.prepared()
    rig.respond(CREATED, ("rd", "r1"))
    assert rig.stat() == 2
    rig.advance(3600)  # the retry that was scheduled does not fire any more
    assert not rig.has(PrepareSession)


# ------------------------------------------------------------- observations (RFC 7641)
def observe(rig: Rig, token: bytes, path: str = "/3/0/13") -> None:
    response = rig.server_request(
        CoapRequest(method=GET, path=tuple(path.strip("/").split("/")), observe=0, token=token)
    )
    assert response.code == CONTENT and response.observe


def observed(rig: Rig) -> set[bytes]:
    return {o.token for o in rig.client.observations.observations()}


def test_a_get_without_observe_on_the_token_ends_the_observation() -> None:
    rig = Rig()
    rig.register(lifetime=600)
    observe(rig, b"t1")
    observe(rig, b"t2")
    plain = rig.server_request(CoapRequest(method=GET, path=("3", "0", "13"), token=b"t1"))
    assert plain.code == CONTENT and not plain.observe
    assert observed(rig) == {b"t2"}


def test_rst_cancel_deregistration_reboot_end_observations() -> None:
    rig = Rig()
    rig.register(lifetime=600)
    observe(rig, b"rst")
    observe(rig, b"cancel")
    observe(rig, b"stay")
    rig.client.observation_ended(b"rst", rig.now)  # the adapter saw an RST (§3.6)
    rig.server_request(CoapRequest(method=GET, path=("3", "0", "13"), observe=1, token=b"cancel"))
    assert observed(rig) == {b"stay"}
    rig.advance(90.0)
    notes = [a for a in rig.actions if isinstance(a, SendNotification)]
    assert notes and {n.token for n in notes} == {b"stay"}
    rig.at("AT+QLWDEREG")
    assert rig.take(SendRequest).request.method == DELETE
    assert observed(rig) == set()
    # Reboot: observations are gone with the power.
    rig2 = Rig()
    rig2.register(lifetime=600)
    observe(rig2, b"r")
    rig2.module.reboot(rig2.now, RebootCause.CONTROL, detail="test")
    rig2.advance(5.0)
    assert observed(rig2) == set()


def test_a_lost_update_or_a_new_registration_voids_observations() -> None:
    rig = Rig()
    rig.register(lifetime=600)
    observe(rig, b"a")
    rig.at("AT+QLWUPDATE")
    rig.respond(NOT_FOUND)  # the server forgot us: a new Register goes out
    assert observed(rig) == set()
    rig.respond(CREATED, ("rd", "r2"))
    observe(rig, b"b")
    rig.at("AT+QLWUPDATE")
    rig.fail()
    assert observed(rig) == set()


def test_server_reboot_execute_restarts_without_deregister_and_registers_again() -> None:
    """/3/0/4: 2.04 first, then the module restarts like a power cycle (no De-register); with
    "startup",1 the client registers again after boot, replacing the old registration."""
    rig = Rig()
    assert rig.at('AT+QLWCFG="startup",1') == ["OK"]
    rig.register(lifetime=600)
    observe(rig, b"o")
    answer = rig.server_request(CoapRequest(method=0x02, path=("3", "0", "4")))
    assert answer.code == CHANGED
    rig.advance(5.0)
    assert not any(isinstance(a, SendRequest) and a.request.method == DELETE for a in rig.actions)
    assert observed(rig) == set()
    rig.prepared()
    register = rig.respond(CREATED, ("rd", "r3"))
    assert register.request.path == ("rd",)
    assert rig.stat() == 2
