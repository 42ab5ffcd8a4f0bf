"""The radio state machine (emulator/module/radio.py), table by table.

Each legal transition with the outputs it gives, in order; each refusal with the +CME ERROR
it gives, on the machine alone and on the AT port. A last test checks that these cases
reach every row of every table, so a row added without a test fails here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from emulator.at.errors import CmeError
from emulator.module import radio
from emulator.module.events import (
    FunctionalityChanged,
    PdpContextChanged,
    PowerDownCause,
    PoweredDown,
    RegistrationChanged,
    SimStateChanged,
)
from emulator.module.profile import NetworkDefaults, load_profile
from emulator.module.radio import (
    Emit,
    Output,
    PdpInput,
    RadioMachine,
    Row,
    StartAttachTimer,
    SwitchOff,
    Urc,
)
from emulator.module.state import Functionality, PdpContext, RadioState, RegStat, SimState
from tests.commands.conftest import common_profile
from tests.support import FakeClockModule

NETWORK = load_profile("EC200U").network  # attach_delay 0: registers at once
DELAYED = dataclasses.replace(NETWORK, attach_delay=2.0)
REREAD = [Urc("+CPIN: READY"), Urc("+QUSIM: 1"), Urc("+QIND: SMS DONE"), Urc("+QIND: PB DONE")]


def reg(stat: RegStat) -> Emit:
    return Emit(RegistrationChanged(stat=stat))


def up(cid: int = 1) -> Emit:
    return Emit(PdpContextChanged(cid=cid, active=True, address=NETWORK.ip_address))


def down(cid: int = 1, *, by_network: bool = False) -> Emit:
    event = PdpContextChanged(cid=cid, active=False, address=None, by_network=by_network)
    return Emit(event)


def fun(value: Functionality) -> Emit:
    return Emit(FunctionalityChanged(fun=value), observed=False)


def unregistered(network: NetworkDefaults = NETWORK, **state: object) -> RadioMachine:
    """Powered on, context 1 defined, not yet attached (as right after a reboot)."""
    contexts = {1: PdpContext(cid=1, pdp_type="IP", apn="cmnet")}
    state.setdefault("rssi", 24)
    return RadioMachine(network, RadioState(contexts=contexts, **state))  # type: ignore[arg-type]


def registered(**state: object) -> RadioMachine:
    machine = unregistered(NETWORK, **state)
    assert machine.attach() == [reg(RegStat.HOME)]
    return machine


def online(**state: object) -> RadioMachine:
    """Registered with context 1 active."""
    machine = registered(**state)
    assert machine.context(1, PdpInput.ACTIVATE) == [up()]
    return machine


@dataclass(frozen=True)
class Case:
    name: str
    given: Callable[[], RadioMachine]
    when: Callable[[RadioMachine], list[Output] | None]
    outputs: list[Output] = field(default_factory=list)
    then: Callable[[RadioMachine], bool] = lambda m: True
    refused: int | None = None  # the +CME ERROR code
    ceer: str | None = None  # AT+CEER's text after a refusal


F = Functionality
CASES = [
    # ---------------------------------------------------------------------- power
    Case(
        "power down deregisters, drops contexts, reports last",
        online,
        lambda m: m.power_down(PowerDownCause.AT_QPOWD_NORMAL),
        [
            Urc("POWERED DOWN"),
            SwitchOff(),
            down(by_network=True),
            reg(RegStat.NOT_REGISTERED),
            Emit(PoweredDown(cause=PowerDownCause.AT_QPOWD_NORMAL)),
        ],
        lambda m: m.power is radio.Power.OFF and m.state.fun is F.MINIMUM,
    ),
    Case(
        "power down when off is nothing",
        lambda: _off(),
        lambda m: m.power_down(PowerDownCause.CONTROL, "again"),
        [],
        lambda m: m.power is radio.Power.OFF,
    ),
    Case(
        "power on when off",
        lambda: _off(),
        lambda m: m.power_on(),
        [],
        lambda m: m.power is radio.Power.ON,
    ),
    Case("power on when on", registered, lambda m: m.power_on(), refused=3),
    # -------------------------------------------------------------- functionality
    Case(
        "CFUN=0 deregisters",
        online,
        lambda m: m.set_functionality(F.MINIMUM),
        [fun(F.MINIMUM), down(by_network=True), reg(RegStat.NOT_REGISTERED)],
        lambda m: m.state.fun is F.MINIMUM,
    ),
    Case(
        "CFUN=4 deregisters",
        registered,
        lambda m: m.set_functionality(F.FLIGHT),
        [fun(F.FLIGHT), reg(RegStat.NOT_REGISTERED)],
    ),
    Case(
        "CFUN=1 from 4 rereads the SIM and registers",
        lambda: unregistered(fun=F.FLIGHT),
        lambda m: m.set_functionality(F.FULL),
        [fun(F.FULL), *REREAD, reg(RegStat.HOME)],
    ),
    Case(
        "CFUN=1 from 0 without a SIM reads nothing and stays unregistered",
        lambda: unregistered(fun=F.MINIMUM, sim=SimState.NOT_INSERTED),
        lambda m: m.set_functionality(F.FULL),
        [fun(F.FULL)],
        lambda m: m.state.stat is RegStat.NOT_REGISTERED,
    ),
    Case(
        "CFUN=1 at full functionality",
        registered,
        lambda m: m.set_functionality(F.FULL),
        [fun(F.FULL)],
        lambda m: m.state.stat is RegStat.HOME,
    ),
    # ----------------------------------------------------------------------- SIM
    Case(
        "SIM removed: reported, then deregistered",
        online,
        lambda m: m.set_sim(SimState.NOT_INSERTED),
        [
            Emit(SimStateChanged(state=SimState.NOT_INSERTED)),
            Urc("+CPIN: NOT READY"),
            down(by_network=True),
            reg(RegStat.NOT_REGISTERED),
        ],
    ),
    Case(
        "SIM inserted: reported, then registered",
        lambda: unregistered(sim=SimState.NOT_INSERTED),
        lambda m: m.set_sim(SimState.READY),
        [Emit(SimStateChanged(state=SimState.READY)), Urc("+CPIN: READY"), reg(RegStat.HOME)],
    ),
    Case(
        "SIM asks for its PIN: deregistered",
        registered,
        lambda m: m.set_sim(SimState.PIN),
        [
            Emit(SimStateChanged(state=SimState.PIN)),
            Urc("+CPIN: SIM PIN"),
            reg(RegStat.NOT_REGISTERED),
        ],
    ),
    Case(
        "SIM unlocked: registered",
        lambda: unregistered(sim=SimState.PIN),
        lambda m: m.set_sim(SimState.READY),
        [Emit(SimStateChanged(state=SimState.READY)), Urc("+CPIN: READY"), reg(RegStat.HOME)],
    ),
    Case(
        "locked SIM removed",
        lambda: unregistered(sim=SimState.PIN),
        lambda m: m.set_sim(SimState.NOT_INSERTED),
        [Emit(SimStateChanged(state=SimState.NOT_INSERTED)), Urc("+CPIN: NOT READY")],
    ),
    Case(
        "locked SIM inserted",
        lambda: unregistered(sim=SimState.NOT_INSERTED),
        lambda m: m.set_sim(SimState.PIN),
        [Emit(SimStateChanged(state=SimState.PIN)), Urc("+CPIN: SIM PIN")],
    ),
    *(
        Case(
            f"SIM unchanged ({sim.name})",
            functools.partial(unregistered, sim=sim),
            lambda m, sim=sim: m.set_sim(sim),  # type: ignore[misc]
            [],
        )
        for sim in SimState
    ),
    # ------------------------------------------------------------------ PS attach
    Case(
        "CGATT=0 detaches",
        online,
        lambda m: m.set_ps_attach(False),
        [down(by_network=True), reg(RegStat.NOT_REGISTERED)],
        lambda m: not m.state.ps_attach,
    ),
    Case(
        "CGATT=1 attaches",
        lambda: unregistered(ps_attach=False),
        lambda m: m.set_ps_attach(True),
        [reg(RegStat.HOME)],
        lambda m: m.state.ps_attach,
    ),
    Case(
        "CGATT=1 without a SIM",
        lambda: unregistered(sim=SimState.NOT_INSERTED, ps_attach=False),
        lambda m: m.set_ps_attach(True),
        refused=10,
    ),
    Case(
        "CGATT=1 without a cell",
        lambda: unregistered(coverage=False, ps_attach=False),
        lambda m: m.set_ps_attach(True),
        refused=30,
        ceer="No network service",
    ),
    # --------------------------------------------------------------- registration
    Case(
        "coverage lost: searching, contexts down",
        online,
        lambda m: m.set_coverage(False),
        [down(by_network=True), reg(RegStat.SEARCHING)],
        lambda m: (m.state.rssi, m.state.ber) == (99, 99),
    ),
    Case(
        "coverage back: registered, signal from the profile",
        lambda: unregistered(coverage=False, rssi=99),
        lambda m: m.set_coverage(True),
        [reg(RegStat.HOME)],
        lambda m: m.state.rssi == NETWORK.rssi,
    ),
    Case(
        "registration denied",
        registered,
        lambda m: m.set_denied(True),
        [reg(RegStat.DENIED)],
    ),
    Case(
        "home to roaming keeps the contexts",
        lambda: _roaming_next(),
        lambda m: m.attach_due(),
        [reg(RegStat.ROAMING)],
        lambda m: m.state.contexts[1].active,
    ),
    Case(
        "attach with a delay: searching, then a timer",
        lambda: unregistered(DELAYED),
        lambda m: m.attach(),
        [reg(RegStat.SEARCHING), StartAttachTimer(2.0)],
    ),
    Case(
        "attach with a delay and nothing to attach to: only the timer",
        lambda: unregistered(DELAYED, sim=SimState.NOT_INSERTED),
        lambda m: m.attach(),
        [StartAttachTimer(2.0)],
    ),
    Case(
        "the attach delay runs out",
        lambda: _searching(),
        lambda m: m.attach_due(),
        [reg(RegStat.HOME)],
    ),
    # ----------------------------------------------------------------- PDP contexts
    Case(
        "define a context",
        registered,
        lambda m: m.context(2, PdpInput.DEFINE, PdpContext(cid=2, pdp_type="IP", apn="b")),
        [],
        lambda m: m.state.contexts[2].apn == "b",
    ),
    Case(
        "redefine an active context",
        online,
        lambda m: m.context(1, PdpInput.DEFINE, PdpContext(cid=1, pdp_type="IP", apn="b")),
        refused=3,
    ),
    Case(
        "undefine a context",
        registered,
        lambda m: m.context(1, PdpInput.UNDEFINE),
        [],
        lambda m: 1 not in m.state.contexts,
    ),
    Case(
        "undefine an active context", online, lambda m: m.context(1, PdpInput.UNDEFINE), refused=3
    ),
    Case("activate (CGACT)", registered, lambda m: m.context(1, PdpInput.ACTIVATE), [up()]),
    Case(
        "activate (QIACT)", registered, lambda m: m.context(1, PdpInput.ACTIVATE_INACTIVE), [up()]
    ),
    Case(
        "activate an active context (CGACT)", online, lambda m: m.context(1, PdpInput.ACTIVATE), []
    ),
    Case(
        "activate an active context (QIACT)",
        online,
        lambda m: m.context(1, PdpInput.ACTIVATE_INACTIVE),
        refused=3,
    ),
    Case(
        "activate undefined (CGACT)",
        registered,
        lambda m: m.context(5, PdpInput.ACTIVATE),
        refused=3,
    ),
    Case(
        "activate undefined (QIACT)",
        registered,
        lambda m: m.context(5, PdpInput.ACTIVATE_INACTIVE),
        refused=3,
    ),
    *(
        Case(
            f"activate unregistered ({event.name})",
            unregistered,
            lambda m, event=event: m.context(1, event),  # type: ignore[misc]
            refused=148,
            ceer="not attached",
        )
        for event in (PdpInput.ACTIVATE, PdpInput.ACTIVATE_INACTIVE)
    ),
    *(
        Case(
            f"activate refused by the network ({event.name})",
            lambda: registered(pdp_reject=True),
            lambda m, event=event: m.context(1, event),  # type: ignore[misc]
            refused=148,
            ceer="network rejected the activation",
        )
        for event in (PdpInput.ACTIVATE, PdpInput.ACTIVATE_INACTIVE)
    ),
    Case("deactivate", online, lambda m: m.context(1, PdpInput.DEACTIVATE), [down()]),
    Case(
        "deactivate an inactive context",
        registered,
        lambda m: m.context(1, PdpInput.DEACTIVATE),
        [],
    ),
    Case(
        "deactivate undefined", registered, lambda m: m.context(5, PdpInput.DEACTIVATE), refused=3
    ),
    Case(
        "the network deactivates",
        online,
        lambda m: m.context(1, PdpInput.NETWORK_DEACTIVATE),
        [down(by_network=True)],
        lambda m: m.state.stat is RegStat.HOME,
    ),
    Case(
        "the network deactivates an inactive context",
        registered,
        lambda m: m.context(1, PdpInput.NETWORK_DEACTIVATE),
        [],
    ),
    Case(
        "the network deactivates an undefined context",
        registered,
        lambda m: m.context(5, PdpInput.NETWORK_DEACTIVATE),
        refused=3,
    ),
]


def _off() -> RadioMachine:
    machine = registered()
    machine.power_down(PowerDownCause.CONTROL, "test")
    return machine


def _roaming_next() -> RadioMachine:
    machine = online()
    machine.state.roaming = True
    return machine


def _searching() -> RadioMachine:
    machine = unregistered(DELAYED)
    machine.attach()
    return machine


def run(case: Case) -> RadioMachine:
    machine = case.given()
    if case.refused is None:
        assert (case.when(machine) or []) == case.outputs
        assert case.then(machine), case.name
        return machine
    before = dataclasses.replace(machine.state, contexts=dict(machine.state.contexts))
    with pytest.raises(CmeError) as refusal:
        case.when(machine)
    assert refusal.value.code == case.refused
    assert machine.state == before, "a refusal leaves the state as it was"
    assert machine.last_failure == case.ceer
    return machine


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_transition(case: Case) -> None:
    run(case)


def test_the_cases_reach_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    reached: set[int] = set()
    decide = radio.decide

    def recording(*args: object) -> Row[object, object]:
        row = decide(*args)  # type: ignore[arg-type]
        reached.add(id(row))
        return row

    monkeypatch.setattr(radio, "decide", recording)
    for case in CASES:
        with contextlib.suppress(AssertionError):  # test_transition reports it
            run(case)
    tables = {
        "POWER": radio.POWER,
        "FUNCTIONALITY": radio.FUNCTIONALITY,
        "SIM": radio.SIM,
        "PS_ATTACH": radio.PS_ATTACH,
        "REGISTRATION": radio.REGISTRATION,
        "ATTACH": radio.ATTACH,
        "PDP": radio.PDP,
    }
    missed = [
        f"{name}: {row.state} {row.input} {row.guard}"
        for name, table in tables.items()
        for row in _rows(table)
        if id(row) not in reached
    ]
    assert not missed


def _rows(table: object) -> Iterator[Row[object, object]]:
    yield from table  # type: ignore[misc]


# ------------------------------------------------------------------- on the AT port
@pytest.fixture
def m() -> FakeClockModule:
    mod = FakeClockModule(common_profile())
    mod.send(b"ATE0\r")
    mod.send(b"AT+CMEE=1\r")
    return mod


def cme(code: int) -> bytes:
    return f"\r\n+CME ERROR: {code}\r\n".encode()


@pytest.mark.parametrize(
    ("setup", "command", "code", "ceer"),
    [
        ([b"AT+QIACT=1"], b"AT+QIACT=1", 3, None),
        ([b"AT+QIACT=1"], b'AT+CGDCONT=1,"IP","other"', 3, None),
        ([b"AT+QIACT=1"], b'AT+CGDCONT=1,"BAD"', 3, None),  # the state is checked first
        ([b"AT+QIACT=1"], b"AT+CGDCONT=1", 3, None),
        ([b"AT+QIACT=1"], b'AT+QICSGP=1,1,"other","","",0', 3, None),
        ([], b"AT+CGACT=1,5", 3, None),
        ([], b"AT+QIDEACT=5", 3, None),
        ([b"AT+CFUN=4"], b"AT+CGACT=1,1", 148, "not attached"),
        ([b"AT+CFUN=4"], b"AT+QIACT=1", 148, "not attached"),
        ([b"AT+CFUN=4"], b"AT+CGATT=1", 30, "No network service"),
    ],
)
def test_refusals_on_the_at_port(
    m: FakeClockModule, setup: list[bytes], command: bytes, code: int, ceer: str | None
) -> None:
    for line in setup:
        assert m.send(line + b"\r").endswith(b"OK\r\n"), line
    assert m.send(command + b"\r") == cme(code)
    if ceer is not None:
        assert m.send(b"AT+CEER\r") == f'\r\n+CEER: "{ceer}"\r\n\r\nOK\r\n'.encode()


def test_attach_without_a_sim_on_the_at_port(m: FakeClockModule) -> None:
    m.module.set_sim(SimState.NOT_INSERTED, m.now)
    m.run_timers()
    m.take()
    assert m.send(b"AT+CGATT=1\r") == cme(10)


def test_pdp_refused_by_the_network_on_the_at_port(m: FakeClockModule) -> None:
    m.module.set_pdp_reject(True)
    assert m.send(b"AT+CGACT=1,1\r") == cme(148)
    assert m.send(b"AT+CEER\r") == b'\r\n+CEER: "network rejected the activation"\r\n\r\nOK\r\n'


def test_leaving_service_reports_in_order_on_the_at_port(m: FakeClockModule) -> None:
    """CFUN=0 with an active context: OK, then +CREG, +CGREG... in the table's order."""
    for line in (b"AT+CREG=1", b"AT+CEREG=1", b"AT+CGREG=1", b"AT+QIACT=1"):
        assert m.send(line + b"\r") == b"\r\nOK\r\n"
    assert m.send(b"AT+CFUN=0\r") == (
        b"\r\nOK\r\n\r\n+CREG: 0\r\n\r\n+CEREG: 0\r\n\r\n+CGREG: 0\r\n"
    )
    assert m.send(b"AT+QIACT?\r") == b"\r\nOK\r\n"
    assert m.send(b"AT+CFUN=1\r") == (
        b"\r\nOK\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n\r\n+QIND: SMS DONE\r\n"
        b"\r\n+QIND: PB DONE\r\n\r\n+CREG: 1\r\n\r\n+CEREG: 1\r\n\r\n+CGREG: 1\r\n"
    )
