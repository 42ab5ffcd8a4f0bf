"""The module's radio side as a sans-I/O state machine.

Six regions, each a transition table kept as data: power, functionality (27.007 §8.2), the
SIM (§8.3), packet-domain attach (AT+CGATT, §10.1.9), network registration (<stat> of
§10.1.22, shared by +CREG/+CGREG/+CEREG; two tables: how an attach proceeds, and what a new
<stat> does) and each PDP context (§10.1.1, §10.1.10).

A row reads ``(state, input, guard) -> outcome``: the first row whose state and input match
and whose guard holds decides. The outcome is :class:`Go` (the new state and the effects, in
the order the module reports them) or :class:`Refuse` (the +CME ERROR the command gets; the
state stays). Guards name conditions held by other regions (is the SIM ready, is there a
cell), so each table stays small and reads like the manual.

:class:`RadioMachine` runs the tables over :class:`~emulator.module.state.RadioState` and turns
effects into outputs: URC texts, module events, an attach timer, switching the port off.
It does no I/O and keeps no clock; ``VirtualModule`` carries the outputs out, with the time.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from emulator.at.errors import (
    CmeError,
    NoNetworkService,
    OperationNotAllowed,
    SimNotInserted,
    UnspecifiedGprsError,
)
from emulator.module.events import (
    FunctionalityChanged,
    ModuleEvent,
    PdpContextChanged,
    PowerDownCause,
    PoweredDown,
    RegistrationChanged,
    SimStateChanged,
)
from emulator.module.profile import NetworkDefaults
from emulator.module.state import Functionality, PdpContext, RadioState, RegStat, SimState

S = TypeVar("S", bound=Hashable)
I = TypeVar("I", bound=Hashable)  # noqa: E741  (the conventional name of a table's input type)


class Effect(enum.Enum):
    """What a transition makes the module do, expanded by :class:`RadioMachine`."""

    REPORT_FUNCTIONALITY = "FunctionalityChanged"
    REREAD_SIM = "+CPIN: READY, +QUSIM: 1, +QIND: SMS DONE, +QIND: PB DONE"
    REPORT_SIM = "SimStateChanged, then +CPIN"
    ATTACH = "registration: attach"  # toward service, after the profile's attach delay
    SETTLE = "registration: settle"  # to where the conditions point, at once
    SEARCH = "registration: searching"  # <stat> 2 while the attach delay runs
    START_ATTACH_TIMER = "attach timer"
    DEACTIVATE_CONTEXTS = "every active context goes down (by the network)"
    REPORT_REGISTRATION = "+CREG, +CEREG, then RegistrationChanged (+CGREG)"
    CONTEXT_UP = "PdpContextChanged(active)"
    CONTEXT_DOWN = "PdpContextChanged(inactive)"
    CONTEXT_DOWN_BY_NETWORK = "PdpContextChanged(inactive, by network)"
    POWERED_DOWN_URC = "POWERED DOWN"
    SWITCH_OFF = "port dead, timers dropped"
    MINIMUM_FUNCTIONALITY = "<fun> 0, silently"
    REPORT_POWERED_DOWN = "PoweredDown"


class Guard(enum.Enum):
    """Conditions a row may require; each is read from the radio state."""

    SIM_READY = "the SIM is ready"
    SIM_ABSENT = "no SIM is inserted"
    NO_CELL = "not at full functionality, or no cell in range"
    UNREGISTERED = "not registered"
    NETWORK_REJECTS = "the network refuses PDP activations (fault)"
    NO_ATTACH_DELAY = "the profile attaches at once"
    SERVICE_EXPECTED = "the conditions point to a registered <stat>"


class Power(enum.Enum):
    ON = "on"
    OFF = "off"  # AT+QPOWD: only a power-on brings it back


class PowerInput(enum.Enum):
    POWER_DOWN = "AT+QPOWD"
    POWER_ON = "power key"


class PsAttach(enum.Enum):
    ATTACHED = 1
    DETACHED = 0


class PdpPhase(enum.Enum):
    UNDEFINED = "undefined"
    INACTIVE = "inactive"
    ACTIVE = "active"


class PdpInput(enum.Enum):
    DEFINE = "AT+CGDCONT=<cid>,... / AT+QICSGP=<cid>,..."
    UNDEFINE = "AT+CGDCONT=<cid>"
    ACTIVATE = "AT+CGACT=1 (an active context is left as it is)"
    ACTIVATE_INACTIVE = "AT+QIACT (an active context is an error)"
    DEACTIVATE = "AT+CGACT=0, AT+QIDEACT"
    NETWORK_DEACTIVATE = "the network tears the context down"


class Service(enum.Enum):
    """Registration <stat> grouped by what it means for data: registered or not."""

    IN = "registered (home or roaming)"
    OUT = "not registered"


@dataclass(frozen=True)
class Go(Generic[S]):
    """The new state and the effects, in order."""

    state: S
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True)
class Refuse:
    """The command fails with ``error``; ``ceer`` is what AT+CEER reports afterwards."""

    error: type[CmeError]
    reason: str
    ceer: str | None = None


@dataclass(frozen=True)
class Row(Generic[S, I]):
    state: S | None  # None: any state
    input: I
    guard: Guard | None
    outcome: Go[S] | Refuse


Table = Sequence[Row[S, I]]

F = Functionality
_ANY = None

POWER: Table[Power, PowerInput] = (
    Row(
        Power.ON,
        PowerInput.POWER_DOWN,
        _ANY,
        Go(
            Power.OFF,
            (
                Effect.POWERED_DOWN_URC,
                Effect.SWITCH_OFF,
                Effect.MINIMUM_FUNCTIONALITY,
                Effect.SETTLE,
                Effect.REPORT_POWERED_DOWN,
            ),
        ),
    ),
    Row(Power.OFF, PowerInput.POWER_DOWN, _ANY, Go(Power.OFF)),
    Row(Power.OFF, PowerInput.POWER_ON, _ANY, Go(Power.ON)),  # the module then boots
    Row(
        Power.ON, PowerInput.POWER_ON, _ANY, Refuse(OperationNotAllowed, "the module is already on")
    ),
)

_DOWN = (Effect.REPORT_FUNCTIONALITY, Effect.SETTLE)  # deregisters, which drops PDP contexts
FUNCTIONALITY: Table[Functionality, Functionality] = (
    Row(_ANY, F.MINIMUM, _ANY, Go(F.MINIMUM, _DOWN)),
    Row(_ANY, F.FLIGHT, _ANY, Go(F.FLIGHT, _DOWN)),
    Row(F.FULL, F.FULL, _ANY, Go(F.FULL, (Effect.REPORT_FUNCTIONALITY, Effect.ATTACH))),
    # Radio back on: the SIM is read again and reports as at boot (Quectel, after AT+CFUN=1).
    Row(
        _ANY,
        F.FULL,
        Guard.SIM_READY,
        Go(F.FULL, (Effect.REPORT_FUNCTIONALITY, Effect.REREAD_SIM, Effect.ATTACH)),
    ),
    Row(_ANY, F.FULL, _ANY, Go(F.FULL, (Effect.REPORT_FUNCTIONALITY, Effect.ATTACH))),
)

SIM: Table[SimState, SimState] = tuple(
    Row(
        before,
        after,
        _ANY,
        Go(after, () if before is after else (Effect.REPORT_SIM, Effect.SETTLE)),
    )
    for before in SimState
    for after in SimState
)

PS_ATTACH: Table[PsAttach, PsAttach] = (
    Row(_ANY, PsAttach.DETACHED, _ANY, Go(PsAttach.DETACHED, (Effect.SETTLE,))),
    # Attaching needs a SIM and a cell: refused at once instead of the hardware's up to
    # 140 s of trying (27.007 §10.1.9 leaves the wait to the ME).
    Row(_ANY, PsAttach.ATTACHED, Guard.SIM_ABSENT, Refuse(SimNotInserted, "no SIM")),
    Row(
        _ANY,
        PsAttach.ATTACHED,
        Guard.NO_CELL,
        Refuse(NoNetworkService, "no cell to attach to", ceer="No network service"),
    ),
    Row(_ANY, PsAttach.ATTACHED, _ANY, Go(PsAttach.ATTACHED, (Effect.ATTACH,))),
)

# Registration: the input is the <stat> the network now gives; leaving service takes the
# PDP contexts down first (their URCs come before +CREG/+CEREG).
REGISTRATION: Table[Service, Service] = (
    Row(
        Service.IN,
        Service.OUT,
        _ANY,
        Go(Service.OUT, (Effect.DEACTIVATE_CONTEXTS, Effect.REPORT_REGISTRATION)),
    ),
    Row(Service.IN, Service.IN, _ANY, Go(Service.IN, (Effect.REPORT_REGISTRATION,))),
    Row(Service.OUT, Service.IN, _ANY, Go(Service.IN, (Effect.REPORT_REGISTRATION,))),
    Row(Service.OUT, Service.OUT, _ANY, Go(Service.OUT, (Effect.REPORT_REGISTRATION,))),
)


class AttachInput(enum.Enum):
    ATTACH = "toward service"


ATTACH: Table[None, AttachInput] = (
    Row(_ANY, AttachInput.ATTACH, Guard.NO_ATTACH_DELAY, Go(None, (Effect.SETTLE,))),
    Row(
        _ANY,
        AttachInput.ATTACH,
        Guard.SERVICE_EXPECTED,
        Go(None, (Effect.SEARCH, Effect.START_ATTACH_TIMER)),
    ),
    Row(_ANY, AttachInput.ATTACH, _ANY, Go(None, (Effect.START_ATTACH_TIMER,))),
)

_NOT_DEFINED = Refuse(OperationNotAllowed, "context {cid} is not defined")
_IS_ACTIVE = Refuse(OperationNotAllowed, "context {cid} is active")
P = PdpPhase
PDP: Table[PdpPhase, PdpInput] = (
    Row(P.ACTIVE, PdpInput.DEFINE, _ANY, _IS_ACTIVE),
    Row(_ANY, PdpInput.DEFINE, _ANY, Go(P.INACTIVE)),
    Row(P.ACTIVE, PdpInput.UNDEFINE, _ANY, _IS_ACTIVE),
    Row(_ANY, PdpInput.UNDEFINE, _ANY, Go(P.UNDEFINED)),
    Row(P.UNDEFINED, PdpInput.ACTIVATE, _ANY, _NOT_DEFINED),
    Row(P.UNDEFINED, PdpInput.ACTIVATE_INACTIVE, _ANY, _NOT_DEFINED),
    Row(
        P.ACTIVE,
        PdpInput.ACTIVATE_INACTIVE,
        _ANY,
        Refuse(OperationNotAllowed, "context {cid} already active"),
    ),
    *(
        row
        for activate in (PdpInput.ACTIVATE, PdpInput.ACTIVATE_INACTIVE)
        for row in (
            Row(
                _ANY,
                activate,
                Guard.UNREGISTERED,
                Refuse(UnspecifiedGprsError, "not attached", ceer="not attached"),
            ),
            Row(
                _ANY,
                activate,
                Guard.NETWORK_REJECTS,
                Refuse(
                    UnspecifiedGprsError,
                    "network rejected the activation",
                    ceer="network rejected the activation",
                ),
            ),
            Row(P.INACTIVE, activate, _ANY, Go(P.ACTIVE, (Effect.CONTEXT_UP,))),
        )
    ),
    Row(P.ACTIVE, PdpInput.ACTIVATE, _ANY, Go(P.ACTIVE)),
    Row(P.UNDEFINED, PdpInput.DEACTIVATE, _ANY, _NOT_DEFINED),
    Row(P.ACTIVE, PdpInput.DEACTIVATE, _ANY, Go(P.INACTIVE, (Effect.CONTEXT_DOWN,))),
    Row(P.INACTIVE, PdpInput.DEACTIVATE, _ANY, Go(P.INACTIVE)),
    Row(
        P.ACTIVE,
        PdpInput.NETWORK_DEACTIVATE,
        _ANY,
        Go(P.INACTIVE, (Effect.CONTEXT_DOWN_BY_NETWORK,)),
    ),
    Row(P.INACTIVE, PdpInput.NETWORK_DEACTIVATE, _ANY, Go(P.INACTIVE)),
    Row(P.UNDEFINED, PdpInput.NETWORK_DEACTIVATE, _ANY, _NOT_DEFINED),
)


def decide(table: Table[S, I], state: S, event: I, holds: set[Guard]) -> Row[S, I]:
    """The first row that matches; a missing row is a bug in the table."""
    for row in table:
        matches = row.input == event and row.state in (None, state)
        if matches and (row.guard is None or row.guard in holds):
            return row
    raise LookupError(f"no transition for {event!r} in {state!r}")


# ------------------------------------------------------------------------------ outputs
@dataclass(frozen=True)
class Urc:
    text: str


@dataclass(frozen=True)
class Emit:
    """A module event; ``observed``: attached command families see it too (``emit``), else
    it only goes to the adapters (``post_event``)."""

    event: ModuleEvent
    observed: bool = True


@dataclass(frozen=True)
class StartAttachTimer:
    """Call :meth:`RadioMachine.attach_due` after ``delay`` seconds (dropped by a reboot)."""

    delay: float


@dataclass(frozen=True)
class SwitchOff:
    """The port goes dead and the module's timers are dropped (AT+QPOWD)."""


Output = Urc | Emit | StartAttachTimer | SwitchOff

SIM_REREAD_URCS = ("+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE")


class RadioMachine:
    """Runs the tables over one module's :class:`RadioState`.

    Every method returns the outputs in order, or raises the :class:`CmeError` of a refused
    transition (after recording its AT+CEER text in ``last_failure``).
    """

    def __init__(self, network: NetworkDefaults, state: RadioState | None = None) -> None:
        self.network = network
        self.state = state if state is not None else RadioState()
        self.power = Power.ON
        self.last_failure: str | None = None  # AT+CEER: the last failed network operation

    # -------------------------------------------------------------------- guards
    def holds(self) -> set[Guard]:
        s = self.state
        checks = {
            Guard.SIM_READY: s.sim is SimState.READY,
            Guard.SIM_ABSENT: s.sim is SimState.NOT_INSERTED,
            Guard.NO_CELL: s.fun is not Functionality.FULL or not s.coverage,
            Guard.UNREGISTERED: not s.registered,
            Guard.NETWORK_REJECTS: s.pdp_reject,
            Guard.NO_ATTACH_DELAY: self.network.attach_delay <= 0,
            Guard.SERVICE_EXPECTED: _service(s.wanted_stat()) is Service.IN,
        }
        return {guard for guard, holds in checks.items() if holds}

    def _go(self, table: Table[S, I], state: S, event: I, cid: int = 0) -> Go[S]:
        outcome = decide(table, state, event, self.holds()).outcome
        if isinstance(outcome, Refuse):
            if outcome.ceer is not None:
                self.last_failure = outcome.ceer
            raise outcome.error(outcome.reason.format(cid=cid))
        return outcome

    # ------------------------------------------------------------------- inputs
    def power_down(self, cause: PowerDownCause, detail: str = "") -> list[Output]:
        go = self._go(POWER, self.power, PowerInput.POWER_DOWN)
        self.power = go.state
        return self._effects(go.effects, down=PoweredDown(cause=cause, detail=detail))

    def power_on(self) -> None:
        """Allowed only when off; the module then reboots (``reset``, then its boot)."""
        self.power = self._go(POWER, self.power, PowerInput.POWER_ON).state

    def reset(self, state: RadioState) -> None:
        """A reboot: the radio comes back as ``state`` (no URCs: the port is quiet)."""
        self.state = state
        self.power = Power.ON

    def set_functionality(self, fun: Functionality) -> list[Output]:
        go = self._go(FUNCTIONALITY, self.state.fun, fun)
        self.state.fun = go.state
        return self._effects(go.effects)

    def set_sim(self, sim: SimState) -> list[Output]:
        go = self._go(SIM, self.state.sim, sim)
        self.state.sim = go.state
        return self._effects(go.effects)

    def set_ps_attach(self, attached: bool) -> list[Output]:
        current = PsAttach.ATTACHED if self.state.ps_attach else PsAttach.DETACHED
        wanted = PsAttach.ATTACHED if attached else PsAttach.DETACHED
        go = self._go(PS_ATTACH, current, wanted)
        self.state.ps_attach = go.state is PsAttach.ATTACHED
        return self._effects(go.effects)

    def set_coverage(self, present: bool) -> list[Output]:
        """A cell comes into range (registration attaches) or goes (it settles at once)."""
        if present == self.state.coverage:
            return []
        self.state.coverage = present
        if not present:
            self.state.rssi, self.state.ber = 99, 99
        elif self.state.rssi == 99:
            self.state.rssi, self.state.ber = self.network.rssi, self.network.ber
        return self._effects((Effect.ATTACH,) if present else (Effect.SETTLE,))

    def set_denied(self, denied: bool) -> list[Output]:
        self.state.denied = denied
        return self._effects((Effect.SETTLE,))

    def attach(self) -> list[Output]:
        """Boot (or a family) starts attaching: <stat> heads for service."""
        return self._effects((Effect.ATTACH,))

    def attach_due(self) -> list[Output]:
        """The attach delay ran out: registration settles where the conditions point."""
        return self._effects((Effect.SETTLE,))

    def context(
        self, cid: int, event: PdpInput, definition: PdpContext | None = None
    ) -> list[Output]:
        """A PDP context's input; DEFINE takes the ``definition`` to store."""
        contexts = self.state.contexts
        go = self._go(PDP, _phase(contexts.get(cid)), event, cid)
        if go.state is PdpPhase.UNDEFINED:
            contexts.pop(cid, None)
        elif event is PdpInput.DEFINE:
            assert definition is not None and definition.cid == cid
            contexts[cid] = definition
        return self._effects(go.effects, cid=cid)

    def check_context(self, cid: int, event: PdpInput) -> None:
        """Raise what ``context(cid, event)`` would refuse, changing nothing (a command
        that checks the context's state before its other parameters)."""
        self._go(PDP, _phase(self.state.contexts.get(cid)), event, cid)

    # ------------------------------------------------------------------ effects
    def _effects(
        self, effects: Sequence[Effect], cid: int = 0, down: PoweredDown | None = None
    ) -> list[Output]:
        """``cid``: the context a PDP effect is about; ``down``: the power-down to report."""
        out: list[Output] = []
        for effect in effects:
            out += self._effect(effect, cid, down)
        return out

    def _effect(self, effect: Effect, cid: int, down: PoweredDown | None) -> list[Output]:
        s = self.state
        if effect is Effect.REPORT_FUNCTIONALITY:
            return [Emit(FunctionalityChanged(fun=s.fun), observed=False)]
        if effect is Effect.REREAD_SIM:
            return [Urc(text) for text in SIM_REREAD_URCS]
        if effect is Effect.REPORT_SIM:
            # Families report the card detection first (+QSIMSTAT), then the SIM state;
            # Quectel reports a removal as "+CPIN: NOT READY".
            cpin = "NOT READY" if s.sim is SimState.NOT_INSERTED else s.sim.value
            return [Emit(SimStateChanged(state=s.sim)), Urc(f"+CPIN: {cpin}")]
        if effect is Effect.ATTACH:
            return self._go_effects(ATTACH, None, AttachInput.ATTACH)
        if effect is Effect.SETTLE:
            return self._new_stat(s.wanted_stat())
        if effect is Effect.SEARCH:
            return self._new_stat(RegStat.SEARCHING)
        if effect is Effect.START_ATTACH_TIMER:
            return [StartAttachTimer(self.network.attach_delay)]
        if effect is Effect.DEACTIVATE_CONTEXTS:
            out: list[Output] = []
            for number, context in list(s.contexts.items()):
                if context.active:
                    out += self.context(number, PdpInput.NETWORK_DEACTIVATE)
            return out
        if effect is Effect.REPORT_REGISTRATION:
            return self._report_registration()
        if effect is Effect.CONTEXT_UP:
            context = s.contexts[cid]
            context.active, context.address = True, self.address_for(cid)
            return [Emit(PdpContextChanged(cid=cid, active=True, address=context.address))]
        if effect in (Effect.CONTEXT_DOWN, Effect.CONTEXT_DOWN_BY_NETWORK):
            context = s.contexts[cid]
            context.active, context.address = False, None
            by_network = effect is Effect.CONTEXT_DOWN_BY_NETWORK
            event = PdpContextChanged(cid=cid, active=False, address=None, by_network=by_network)
            return [Emit(event)]
        if effect is Effect.POWERED_DOWN_URC:
            return [Urc("POWERED DOWN")]
        if effect is Effect.SWITCH_OFF:
            return [SwitchOff()]
        if effect is Effect.MINIMUM_FUNCTIONALITY:
            s.fun = Functionality.MINIMUM
            return []
        if effect is Effect.REPORT_POWERED_DOWN:
            assert down is not None, "only power_down() reports a power-down"
            return [Emit(down)]
        raise AssertionError(effect)

    def _go_effects(self, table: Table[S, I], state: S, event: I) -> list[Output]:
        return self._effects(self._go(table, state, event).effects)

    def _new_stat(self, stat: RegStat) -> list[Output]:
        if stat == self.state.stat:
            return []
        before = _service(self.state.stat)
        self.state.stat = stat
        return self._go_effects(REGISTRATION, before, _service(stat))

    def _report_registration(self) -> list[Output]:
        out: list[Output] = []
        for command, mode in (("+CREG", self.state.creg_mode), ("+CEREG", self.state.cereg_mode)):
            if mode >= 1:
                out.append(Urc(f"{command}: {self.registration_fields(mode, True)}"))
        out.append(Emit(RegistrationChanged(stat=self.state.stat)))
        return out

    def registration_fields(self, mode: int, with_location: bool) -> str:
        """``<stat>[,"<tac>","<ci>",<AcT>]`` as +CREG/+CEREG print it (27.007 §7.2, §10.1.22)."""
        text = str(int(self.state.stat))
        if mode == 2 and with_location and self.state.registered:
            net = self.network
            text += f',"{net.tac}","{net.cell_id}",{net.act}'
        return text

    def address_for(self, cid: int) -> str:
        base = self.network.ip_address.split(".")
        base[-1] = str((int(base[-1]) - 1 + cid - 1) % 254 + 1)  # cid 1 gets the profile's address
        return ".".join(base)


def _service(stat: RegStat) -> Service:
    return Service.IN if stat in (RegStat.HOME, RegStat.ROAMING) else Service.OUT


def _phase(context: PdpContext | None) -> PdpPhase:
    if context is None:
        return PdpPhase.UNDEFINED
    return PdpPhase.ACTIVE if context.active else PdpPhase.INACTIVE
