"""VirtualModule: one emulated module, sans-I/O.

It owns the AT engine, the radio state, the module's timers and the event queue. Adapters
call ``receive_data`` / ``handle_timer`` with the time, then drain ``data_to_send()`` and
``next_event()`` and re-arm a timer at ``get_timer()``. Tests and scenarios change the
world through the methods under "world controls" (signal, coverage, SIM, PDP faults),
and the module answers with the URCs and AT answers hardware gives.
"""

from __future__ import annotations

import heapq
import importlib
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from emulator.at.engine import AtEngine, EngineSettings
from emulator.at.errors import CmeError, OperationNotAllowed
from emulator.at.registry import CommandFamily, CommandRegistry
from emulator.module.events import (
    BootCompleted,
    ModuleEvent,
    NetworkTimeReceived,
    PowerDownCause,
    RebootCause,
    RebootStarted,
    SignalChanged,
)
from emulator.module.nvstore import MemoryNvStore, NvStore
from emulator.module.profile import Identity, ModuleProfile
from emulator.module.radio import (
    Emit,
    Output,
    PdpInput,
    RadioMachine,
    StartAttachTimer,
    SwitchOff,
    Urc,
)
from emulator.module.routing import EVERY_EVENT, EventRoutes, EventTypes
from emulator.module.state import Functionality, PdpContext, RadioState, SimState

T = TypeVar("T")

ENGINE_NV = "engine"  # namespace of the AT&W settings

# The command families the emulator ships; a profile may also name "package.module".
BUILTIN_FAMILIES = (
    "basic",
    "identity",
    "sim",
    "network",
    "pdp",
    "power",
    "clock",
    "lwm2m",
    # The common EC200U set (issue 11), one module per family:
    "serial",  # AT&C, AT&D, AT&V, AT+IFC, AT+IPR
    "device",  # AT+QGMR, AT+CLAC, AT+CPAS, AT+CEER, AT+QPOWD, AT+QSCLK, AT+QURCCFG, AT+QCFG
    "netinfo",  # AT+QCSQ, AT+QNWINFO, AT+QENG, AT+CGREG, AT+CGATT, AT+CGPADDR, AT+CPSMS ...
    "nitz",  # AT+CTZR, AT+CTZU, AT+QLTS and the +CTZV/+CTZE URCs
    "simdet",  # AT+CCID, AT+QSIMDET, AT+QSIMSTAT
    "call",  # AT+CLIP, AT+CVHU, AT+CNUM, AT+VTS
    "sms",  # 27.005: AT+CMGF, AT+CMGS, AT+CMGR, AT+CNMI ... (emulator/sms/)
    # The data stacks (issue 12):
    "files",  # AT+QFUPL, AT+QFLST, AT+QFDEL over the module's UFS folder
    "ssl",  # AT+QSSLCFG
    "mqtt",  # AT+QMT* on aiomqtt
    "http",  # AT+QHTTP* on aiohttp
    "tcpip",  # AT+QIOPEN, AT+QISEND, AT+QIRD... on real sockets (issue 12)
)

ModuleObserver = Callable[[ModuleEvent, float], None]


def load_family(name: str) -> CommandFamily:
    module_name = f"emulator.commands.{name}" if name in BUILTIN_FAMILIES else name
    try:
        family: CommandFamily = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"command family {name!r} cannot be loaded: {exc}") from exc
    if not hasattr(family, "register"):
        raise ValueError(f"command family {name!r} has no register(registry)")
    return family


def build_registry(profile: ModuleProfile) -> CommandRegistry:
    registry = CommandRegistry()
    for name in profile.command_families:
        load_family(name).register(registry)
    if profile.commands is not None:
        registry.restrict(profile.commands)
    return registry


class VirtualModule:
    def __init__(
        self,
        profile: ModuleProfile,
        *,
        now: float,
        wall_clock_offset: float = 0.0,
        identity: Identity | None = None,
        nv: NvStore | None = None,
        registry: CommandRegistry | None = None,
        boot: bool = True,
    ) -> None:
        """``wall_clock_offset`` turns the monotonic ``now`` into Unix time (for AT+CCLK)."""
        self.profile = profile
        self.identity = identity or profile.identity
        self.nv: NvStore = nv if nv is not None else MemoryNvStore()
        self.wall_clock_offset = wall_clock_offset
        self.utc_offset_quarters = 0  # time zone as AT+CCLK prints it (quarters of an hour)
        self.components: dict[str, Any] = {}  # per-family state, keyed by family name
        self._events: deque[ModuleEvent] = deque()
        #: (when, order, boot generation, callback): a plain tuple per timer, no closure, so
        #: that what a module keeps between its Updates is few objects for the collector.
        self._timers: list[tuple[float, int, int, Callable[[float], None]]] = []
        self._timer_seq = itertools.count()
        self._boot_generation = 0
        self._observers: EventRoutes[ModuleObserver] = EventRoutes()
        # SIM, functionality, attach, registration, PDP contexts and power (module/radio.py)
        self.machine = RadioMachine(profile.network)
        self.engine = AtEngine(
            module=self,
            registry=registry if registry is not None else build_registry(profile),
            max_line_length=profile.max_line_length,
            latency=dict(profile.latency),
        )
        self.engine.settings = self._saved_settings()
        self._power_on_state()
        for name in profile.command_families:
            # A family may follow the module's events (``attach(module)``), e.g. to raise
            # its URCs on a registration change; it must not keep I/O of its own.
            attach = getattr(load_family(name), "attach", None)
            if attach is not None:
                attach(self)
        if boot:
            self._boot(now)

    # ------------------------------------------------------------- the adapter API
    def receive_data(self, data: bytes, now: float) -> None:
        # What fell due by ``now`` happened before these bytes came: run it first. An adapter's
        # loop may hand over input before a due timer (asyncio runs I/O callbacks first), and
        # a command sent right after AT+CFUN=1,1's OK must meet the reboot, not the old module.
        due = self.get_timer()
        if due is not None and due <= now:
            self.handle_timer(now)
        self.engine.receive_data(data, now)

    def data_to_send(self) -> bytes:
        return self.engine.data_to_send()

    def next_event(self) -> ModuleEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        # Asked after every flush: plain comparisons, no list to build.
        engine = self.engine.get_timer()
        if not self._timers:
            return engine
        own = self._timers[0][0]
        return own if engine is None or own < engine else engine

    def handle_timer(self, now: float) -> None:
        self.engine.handle_timer(now)
        while self._timers and self._timers[0][0] <= now:
            _, _, generation, callback = heapq.heappop(self._timers)
            if generation == self._boot_generation:
                callback(now)

    # ------------------------------------------------- services for command families
    def call_at(self, when: float, callback: Callable[[float], None]) -> None:
        """Run ``callback(now)`` at ``when`` (module time); dropped by a reboot."""
        entry = (when, next(self._timer_seq), self._boot_generation, callback)
        heapq.heappush(self._timers, entry)

    def raise_urc(self, text: str, now: float) -> None:
        self.engine.queue_urc(text, now)

    def post_event(self, event: ModuleEvent) -> None:
        self._events.append(event)

    def observe(self, observer: ModuleObserver, events: EventTypes = EVERY_EVENT) -> None:
        """Call ``observer(event, now)`` for the events the module emits with ``emit``;
        ``events``: the classes of events it takes (all by default)."""
        self._observers.add(observer, events)

    def emit(self, event: ModuleEvent, now: float) -> None:
        """Post an event for the adapters and let attached command families react to it."""
        self._events.append(event)  # post_event's work, one call less per event
        for observer in self._observers.handlers(event):
            observer(event, now)

    @property
    def boot_generation(self) -> int:
        """Counts boots: state that a reboot forgets is kept per generation."""
        return self._boot_generation

    def component(self, key: str, factory: Callable[[], T]) -> T:
        """Per-module state of a command family, created on first use."""
        if key not in self.components:
            self.components[key] = factory()
        value: T = self.components[key]
        return value

    def unix_time(self, now: float) -> float:
        return now + self.wall_clock_offset

    def set_unix_time(
        self, unix_time: float, now: float, *, utc_offset_quarters: int | None = None
    ) -> None:
        """Set the RTC (AT+CCLK, or a server writing Device /3/0/13)."""
        self.wall_clock_offset = unix_time - now
        if utc_offset_quarters is not None:
            self.utc_offset_quarters = utc_offset_quarters

    # ---------------------------------------------------------------- AT settings
    def _saved_settings(self) -> EngineSettings:
        factory = EngineSettings.from_dict(self.profile.settings, EngineSettings())
        return EngineSettings.from_dict(self.nv.load(ENGINE_NV), factory)

    def save_settings(self) -> None:
        """AT&W: the current V.250 settings become the power-on ones."""
        self.nv.save(ENGINE_NV, self.engine.settings.as_dict())

    def restore_settings(self, factory: bool) -> None:
        """ATZ (saved profile) or AT&F (factory values; not saved until AT&W)."""
        defaults = EngineSettings.from_dict(self.profile.settings, EngineSettings())
        current = self.engine.settings
        self.engine.settings = replace(defaults) if factory else self._saved_settings()
        if factory and "ipr" in current.extra:
            # AT&F does not restore the baud rate (Quectel AT manuals, AT+IPR note).
            self.engine.settings.extra["ipr"] = current.extra["ipr"]

    # ------------------------------------------------------------- power and boot
    # ------------------------------------------------------------- radio state
    @property
    def radio(self) -> RadioState:
        """The radio state, for reading: changes go through ``machine`` (module/radio.py)."""
        return self.machine.state

    @property
    def last_failure(self) -> str | None:
        """AT+CEER: the last failed network operation."""
        return self.machine.last_failure

    @last_failure.setter
    def last_failure(self, text: str | None) -> None:
        self.machine.last_failure = text

    def _apply(self, outputs: list[Output], now: float) -> None:
        """Carry out what the radio machine decided, in its order."""
        for output in outputs:
            if isinstance(output, Urc):
                self.raise_urc(output.text, now)
            elif isinstance(output, Emit):
                if output.observed:
                    self.emit(output.event, now)
                else:
                    self.post_event(output.event)
            elif isinstance(output, StartAttachTimer):
                self.call_at(now + output.delay, self._attach_due)
            elif isinstance(output, SwitchOff):
                self._boot_generation += 1
                self._timers.clear()
                self.engine.power_off()

    def _attach_due(self, now: float) -> None:
        self._apply(self.machine.attach_due(), now)

    # ------------------------------------------------------------- power and boot
    def _power_on_state(self) -> None:
        net = self.profile.network
        self.machine.reset(
            RadioState(
                fun=Functionality.FULL,
                rssi=net.rssi,
                ber=net.ber,
                coverage=self.radio.coverage,
                roaming=self.radio.roaming,
                denied=self.radio.denied,
                sim=self.radio.sim,
                pdp_reject=self.radio.pdp_reject,
                contexts={1: PdpContext(cid=1, pdp_type=net.pdp_type, apn=net.apn)},
            )
        )

    def _boot(self, now: float) -> None:
        gap = self.profile.boot.urc_gap
        when = now
        for text in self._boot_urcs():
            self.call_at(when, self._urc_callback(text))
            when += gap
        self.call_at(when, lambda t: self.post_event(BootCompleted()))
        self._apply(self.machine.attach(), when)

    def _urc_callback(self, text: str) -> Callable[[float], None]:
        return lambda now: self.raise_urc(text, now)

    def _boot_urcs(self) -> list[str]:
        urcs = list(self.profile.boot.urcs)
        if self.radio.sim is not SimState.READY:
            # No usable SIM: the boot sequence reports it and stops short of SMS/PB init.
            urcs = [u for u in urcs if not u.startswith(("+CPIN:", "+QUSIM", "+QIND:"))]
            urcs.append(f"+CPIN: {self.radio.sim.value}")
        return urcs

    @property
    def powered_off(self) -> bool:
        return self.engine.powered_off

    def power_down(
        self,
        now: float,
        cause: PowerDownCause = PowerDownCause.AT_QPOWD_NORMAL,
        *,
        detail: str = "",
    ) -> None:
        """``POWERED DOWN``, then the port goes dead until :meth:`power_on` (Quectel AT
        manuals, AT+QPOWD): the module deregisters, timers stop, input is ignored.
        ``detail``: a caller's own wording for the event (see ``PoweredDown``)."""
        self._apply(self.machine.power_down(cause, detail), now)

    def power_on(self, now: float) -> None:
        """The power key again: a normal boot (quiet period, then the boot URCs)."""
        self.machine.power_on()
        self.reboot(now, RebootCause.POWER_ON)

    def reboot(
        self, now: float, cause: RebootCause, *, detail: str = "", factory_reset: bool = False
    ) -> None:
        """The port goes quiet, then the boot URCs come again (AT+CFUN=1,1, /3/0/4).
        ``detail``: a caller's own wording for the event (see ``RebootStarted``)."""
        self._boot_generation += 1
        self._timers.clear()
        if factory_reset:
            self.nv.erase()
        self.emit(RebootStarted(cause=cause, detail=detail, factory_reset=factory_reset), now)
        quiet_until = now + self.profile.boot.duration
        self.engine.go_quiet(quiet_until)
        self.engine.settings = self._saved_settings()
        self._power_on_state()
        for component in self.components.values():
            # Families' volatile settings go back to factory values; what they keep in NV stays.
            power_cycle = getattr(component, "power_cycle", None)
            if power_cycle is not None:
                power_cycle(now)
        self.call_at(quiet_until, self._boot)

    def set_functionality(self, fun: Functionality, now: float) -> None:
        """AT+CFUN=<fun> (27.007 §8.2)."""
        self._apply(self.machine.set_functionality(fun), now)

    def registration_fields(self, mode: int, with_location: bool) -> str:
        """``<stat>[,"<tac>","<ci>",<AcT>]`` as +CREG/+CEREG print it (27.007 §7.2, §10.1.22)."""
        return self.machine.registration_fields(mode, with_location)

    # ---------------------------------------------------------------- PDP contexts
    def define_context(self, context: PdpContext, now: float) -> None:
        """AT+CGDCONT / AT+QICSGP: (re)define a context; an active one is refused."""
        self._apply(self.machine.context(context.cid, PdpInput.DEFINE, context), now)

    def undefine_context(self, cid: int, now: float) -> None:
        """``AT+CGDCONT=<cid>``: forget the context; an active one is refused."""
        self._apply(self.machine.context(cid, PdpInput.UNDEFINE), now)

    def activate_pdp(self, cid: int, now: float, *, exclusive: bool = False) -> str:
        """Bring a context up and return its address; raise the CME error hardware gives.
        ``exclusive``: an already active context is an error (AT+QIACT), not a no-op."""
        event = PdpInput.ACTIVATE_INACTIVE if exclusive else PdpInput.ACTIVATE
        self._apply(self.machine.context(cid, event), now)
        address = self.radio.contexts[cid].address
        assert address is not None
        return address

    def bring_up_context(self, cid: int, now: float) -> bool:
        """A stack (MQTT, HTTP) needs ``cid`` up and brings it up itself, as the module does:
        an undefined context is defined with the profile's APN first. False when the
        activation is refused (not registered, the network rejects it)."""
        context = self.radio.contexts.get(cid)
        if context is None:
            net = self.profile.network
            self.define_context(PdpContext(cid=cid, pdp_type=net.pdp_type, apn=net.apn), now)
        elif context.active:
            return True
        try:
            self.activate_pdp(cid, now)
        except CmeError:
            return False
        return True

    def deactivate_pdp(self, cid: int, now: float, *, by_network: bool = False) -> None:
        """``by_network``: the network tore it down (families report it, e.g. Quectel's
        ``+QIURC: "pdpdeact",<cid>``); otherwise the host asked (AT+QIDEACT, AT+CGACT=0)."""
        event = PdpInput.NETWORK_DEACTIVATE if by_network else PdpInput.DEACTIVATE
        self._apply(self.machine.context(cid, event), now)

    def active_address(self) -> str | None:
        for ctx in self.radio.contexts.values():
            if ctx.active:
                return ctx.address
        return None

    # --------------------------------------------------------------- world controls
    def set_signal(self, rssi: int, now: float, *, ber: int = 99) -> None:
        """Signal changes (27.007 <rssi> 0-31 or 99); 99 also means coverage is lost."""
        if not (0 <= rssi <= 31 or rssi == 99):
            raise ValueError(f"rssi {rssi} is not 0-31 or 99")
        self.machine.state.rssi, self.machine.state.ber = rssi, ber
        self.post_event(SignalChanged(rssi=rssi, ber=ber))
        self.set_coverage(rssi != 99, now)

    def set_coverage(self, present: bool, now: float) -> None:
        """No cell (a tunnel, a basement) and back: registration and PDP follow."""
        self._apply(self.machine.set_coverage(present), now)

    def set_registration_denied(self, denied: bool, now: float) -> None:
        self._apply(self.machine.set_denied(denied), now)

    def set_pdp_reject(self, reject: bool) -> None:
        """Fault: the network refuses PDP activations until cleared."""
        self.machine.state.pdp_reject = reject

    def network_deactivate_pdp(self, now: float, cid: int | None = None) -> None:
        """Fault: the network tears a PDP context down (every active one when ``cid`` is
        None) while the module stays registered; the host may activate it again."""
        for number, ctx in list(self.radio.contexts.items()):
            if ctx.active and (cid is None or cid == number):
                self._apply(self.machine.context(number, PdpInput.NETWORK_DEACTIVATE), now)

    def detach(self, now: float) -> None:
        """The network detaches the module (it re-attaches when coverage comes back)."""
        self.set_coverage(False, now)

    def set_sim(self, state: SimState, now: float) -> None:
        """Insert or remove the SIM. Quectel reports a removal as ``+CPIN: NOT READY``."""
        self._apply(self.machine.set_sim(state), now)

    def set_ps_attach(self, attached: bool, now: float) -> None:
        """AT+CGATT: detach from / attach to the packet domain (27.007 §10.1.9); attaching
        without a SIM or a cell is refused (+CME ERROR: 10 / 30)."""
        self._apply(self.machine.set_ps_attach(attached), now)

    def network_time(
        self, now: float, *, unix_time: float | None = None, tz_quarters: int = 0, dst: int = 0
    ) -> None:
        """The network sends its time (NITZ): a world control for tests and scenarios.

        ``unix_time`` defaults to the module's own clock. The nitz family turns this into
        +CTZV/+CTZE and, with AT+CTZU on, sets the clock. Nothing arrives unregistered.
        """
        if not -48 <= tz_quarters <= 56:
            raise ValueError(f"time zone {tz_quarters} is not -48..56 quarters of an hour")
        if dst not in (0, 1, 2):
            raise ValueError(f"dst {dst} is not 0, 1 or 2")
        if not self.radio.registered or self.powered_off:
            raise OperationNotAllowed("no network to send the time: the module is not registered")
        when = self.unix_time(now) if unix_time is None else unix_time
        self.emit(NetworkTimeReceived(unix_time=when, tz_quarters=tz_quarters, dst=dst), now)
