"""The scenario runner: a module, a server driver and a fault relay, and the steps between them.

For each scenario the runner builds a fresh world: the server (embedded, or a Leshan given by
URL), one UDP relay per server listener (the module's Security URI points at the relay, so
datagrams can be dropped or delayed), and the module: a :class:`VirtualModule` on a
:class:`ModuleHost` in this process, or an external emulator's AT port (``--port``). Then it
runs the steps in order, one progress line each, and stops at the first failing step. A
failure says what was expected, what came, and the transcript line where to look.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import re
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from emulator.controlplane.controls import (
    Control,
    ControlError,
    Reboot,
    RefuseSms,
    SetCoverage,
    SetPdpReject,
    SetPower,
    SetSignal,
    SetSim,
    apply_control,
)
from emulator.lwm2m.linkformat import parse_links
from scenario_tool.atlink import AtLink, ExternalPort
from scenario_tool.driver import (
    WAITABLE,
    BootstrapConfig,
    BootstrapEnded,
    Notified,
    Registered,
    Registration,
    Response,
    ServerDriver,
    ServerEvent,
    ServerNote,
    Updated,
)
from scenario_tool.errors import (
    DriverError,
    ScenarioError,
    StepTimeout,
    Unreachable,
    UnsupportedOperation,
)
from scenario_tool.format import (
    STEP_TYPES,
    CancelObserveStep,
    ChecksValue,
    ConfigureBootstrapStep,
    DeliverSmsStep,
    DiscoverStep,
    ExecuteStep,
    Fault,
    FaultStep,
    MqttPublishStep,
    MqttTakeoverStep,
    ObserveStep,
    OperationStep,
    PauseStep,
    PeerAction,
    Quiet,
    QuietStep,
    ReadStep,
    Scenario,
    SendStep,
    SetPskStep,
    SmsSentStep,
    Step,
    TcpPeerStep,
    UrcMatchStep,
    UrcStep,
    WaitFor,
    WaitStep,
    WriteAttributesStep,
    WriteStep,
    substitute,
    substitute_text,
)
from scenario_tool.relay import DOWNLINK, FaultPolicy, UdpRelay, summarise
from scenario_tool.tcppeer import TcpPeer, TcpPeerError
from scenario_tool.transcript import Transcript, escape
from scenario_tool.values import describe_code, mismatch, render, text_form

if TYPE_CHECKING:
    from emulator.at.registry import CommandRegistry
    from emulator.module.profile import ModuleProfile

BOOT_TIMEOUT: Final = 15.0  # seconds for an in-process module to finish its boot URCs
SETTLE_TIMEOUT: Final = 5.0  # teardown steps (deregistering, closing sockets)

Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How to run: which server, which module, where progress goes."""

    server: str = "embedded"  # or "leshan"
    leshan_url: str | None = None
    leshan_bootstrap_url: str | None = None
    leshan_coap_host: str | None = None
    leshan_api: str = "auto"
    port: str | None = None  # an external emulator's AT port (HOST:PORT or a device path)
    profile: str | None = None  # overrides every scenario's module.profile
    relay: bool = True  # False: the module talks to the server directly (no drop/delay faults)
    # With ``port``: reboot the module and restore factory settings before each scenario
    # (False: run on the module as it is, e.g. to look at what the last scenario left).
    reset_module: bool = True
    progress: Progress | None = None
    imei: str | None = None  # the in-process module's IMEI (None: the profile's); --modules


class StepFailed(ScenarioError):
    """A step's check did not hold."""

    def __init__(self, expected: str, got: str, line: int = 0) -> None:
        super().__init__(f"expected {expected}; got {got}")
        self.expected = expected
        self.got = got
        self.line = line


@dataclass(frozen=True, kw_only=True)
class StepResult:
    step: Step
    ok: bool
    seconds: float
    summary: str = ""  # what came, for the progress line
    expected: str = ""
    got: str = ""
    transcript_line: int = 0


@dataclass(frozen=True, kw_only=True)
class ScenarioResult:
    scenario: Scenario
    outcome: str  # "passed", "failed", "error"
    seconds: float
    steps: tuple[StepResult, ...] = ()
    message: str = ""
    detail: str = ""
    first_line: int = 0
    last_line: int = 0

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


# --------------------------------------------------------------------------- the module side
class _InProcessModule:
    """A VirtualModule hosted here; world controls are available."""

    def __init__(
        self, profile_name: str, link: AtLink, transcript: _Recorder, imei: str | None = None
    ) -> None:
        from emulator.adapters.factory import hosted_module
        from emulator.module.events import BootCompleted
        from emulator.module.profile import load_profile
        from emulator.sms.events import SmsSent

        loop = asyncio.get_running_loop()
        profile = load_profile(profile_name)
        # Family services load now, before the scenario's network map (if any) is attached:
        # the adapters read the map when they use it, not when they are made.
        self.host = hosted_module(profile, imei=imei, registry=shared_command_table(profile))
        self.module = self.host.module
        self.identity = self.module.identity
        self._booted = loop.create_future()
        self._transcript = transcript

        self.sms_sent: list[Any] = []  # SmsSent events, in order
        self._sms_taken = 0
        self._sms_changed = asyncio.Event()

        def on_event(event: Any) -> None:
            transcript.module_event(event)
            if isinstance(event, BootCompleted) and not self._booted.done():
                self._booted.set_result(None)
            if isinstance(event, SmsSent):
                self.sms_sent.append(event)
                self._sms_changed.set()

        self.host.add_sink(link.on_data)
        self.host.add_listener(on_event)
        self.write = self.host.feed

    async def start(self) -> None:
        await self.host.start()
        try:
            await asyncio.wait_for(asyncio.shield(self._booted), BOOT_TIMEOUT)
        except TimeoutError:
            raise ScenarioError(
                f"the module did not finish booting in {BOOT_TIMEOUT:g} s"
            ) from None

    def apply(self, fn: Callable[[Any, float], None]) -> None:
        self.host.apply(lambda now: fn(self.module, now))

    async def take_sms(self, matches: Callable[[Any], bool], timeout: float) -> Any | None:
        """The first SMS the module sent that no earlier step took and ``matches`` accepts
        (those before it are taken too); None when none comes in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for index in range(self._sms_taken, len(self.sms_sent)):
                if matches(self.sms_sent[index]):
                    self._sms_taken = index + 1
                    return self.sms_sent[index]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            self._sms_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sms_changed.wait(), remaining)

    async def close(self) -> None:
        await self.host.stop()


_COMMAND_TABLES: dict[tuple[tuple[str, ...], tuple[str, ...] | None], CommandRegistry] = {}


def shared_command_table(profile: ModuleProfile) -> CommandRegistry:
    """The AT command table of ``profile``'s command families, built once per process and
    shared by its modules (no one changes a table once built; ``quecemu serve`` shares one
    likewise): building one is a third of a module's set-up, and ``--modules N`` sets up N
    modules for every scenario."""
    from emulator.module.virtual import build_registry

    key = (tuple(profile.command_families), profile.commands)
    table = _COMMAND_TABLES.get(key)
    if table is None:
        table = _COMMAND_TABLES[key] = build_registry(profile)
    return table


class _Recorder:
    """Writes what happens to the transcript (and remembers line numbers for failures)."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def line(self, tag: str, text: str) -> int:
        return self.transcript.write(self.now(), tag, text)

    def at(self, direction: str, text: str, when: float) -> int:
        return self.transcript.write(when, "at>>" if direction == "out" else "at<<", escape(text))

    def datagram(self, relay: str, direction: str, data: bytes, fate: str) -> None:
        tag = "udp>" if direction != DOWNLINK else "udp<"
        self.line(tag, f"{relay} {summarise(data)} {fate}")

    def relay_observer(self, relay: str) -> Callable[[str, bytes, str], None]:
        def observe(direction: str, data: bytes, fate: str) -> None:
            self.datagram(relay, direction, data, fate)

        return observe

    def server_event(self, event: ServerEvent) -> None:
        if isinstance(event, ServerNote) and event.coap:
            self.transcript.write(event.at, "coap", event.text)
        else:
            self.transcript.write(event.at, "srv", event.summary())

    def module_event(self, event: Any) -> None:
        # The module's own world (radio, PDP, boot, SMS); families' internal events are noise.
        if type(event).__module__ in ("emulator.module.events", "emulator.sms.events"):
            self.line("mod", describe_event(event))


def describe_event(event: object) -> str:
    """``RegistrationChanged(stat=HOME(1), ...)``: a dataclass event as a reader wants it in a
    transcript, an enum field by its name and value rather than Python's ``<RegStat.HOME: 1>``."""
    if not dataclasses.is_dataclass(event) or isinstance(event, type):
        return repr(event)
    parts = []
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        enumerated = isinstance(value, enum.Enum)
        shown = f"{value.name}({value.value!r})" if enumerated else repr(value)
        parts.append(f"{item.name}={shown}")
    return f"{type(event).__name__}({', '.join(parts)})"


# --------------------------------------------------------------------------- one scenario
class _Session:
    def __init__(self, scenario: Scenario, options: RunOptions, transcript: Transcript) -> None:
        self.scenario = scenario
        self.options = options
        self.rec = _Recorder(transcript)
        self.transcript = transcript
        self.link = AtLink(self._write, self.rec.at)
        self.policy = FaultPolicy()
        self.relays: dict[str, UdpRelay] = {}
        self.targets: dict[str, tuple[str, int]] = {}
        self.driver: ServerDriver | None = None
        self.module: _InProcessModule | None = None
        self.port: ExternalPort | None = None
        self.variables: dict[str, Any] = {}
        self.endpoint = ""
        self.tcp_peer: TcpPeer | None = None

    def _write(self, data: bytes) -> None:
        if self.module is not None:
            self.module.write(data)
        elif self.port is not None:
            self.port.write(data)

    # -- setting up
    def _make_driver(self) -> ServerDriver:
        if self.options.server == "embedded":
            from scenario_tool.embedded import EmbeddedDriver

            return EmbeddedDriver()
        if self.options.server == "leshan":
            from scenario_tool.leshan import LeshanDriver

            if not self.options.leshan_url:
                raise ScenarioError("--server leshan needs the Leshan URL")
            return LeshanDriver(
                self.options.leshan_url,
                bootstrap_url=self.options.leshan_bootstrap_url,
                coap_host=self.options.leshan_coap_host,
                api=self.options.leshan_api,
            )
        raise ScenarioError(f"unknown server kind {self.options.server!r}")

    async def setup(self) -> None:
        driver = self._make_driver()
        self.driver = driver
        driver.events.add_listener(self.rec.server_event)
        await driver.start()
        targets: dict[str, tuple[str, int] | None] = {
            "coap": driver.coap_address(),
            "coaps": driver.coaps_address(),
            "bootstrap": driver.bootstrap_address(False),
            "bootstrap_coaps": driver.bootstrap_address(True),
        }
        self.targets = {name: target for name, target in targets.items() if target is not None}
        if self.options.relay:
            for name, target in self.targets.items():
                relay = UdpRelay(target, policy=self.policy, name=name)
                relay.observers.append(self.rec.relay_observer(name))
                await relay.start()
                self.relays[name] = relay

        if self.options.port is None:
            profile = self.options.profile or self.scenario.profile
            self.module = _InProcessModule(profile, self.link, self.rec, self.options.imei)
            identity = self.module.identity
            imei, imsi, msisdn = identity.imei, identity.imsi, identity.msisdn
            await self.module.start()
        else:
            self.port = ExternalPort(self.options.port)
            self.port.on_data = self.link.on_data
            self.port.on_gone = self.link.port_lost
            await self.port.open()
            await self._until_answering()
            if self.options.reset_module:
                await self._reset_external()
            imei = await self._ask("AT+GSN", r"\d{15}")
            imsi = await self._ask("AT+CIMI", r"\d{6,15}")
            msisdn = ""

        self.endpoint = f"urn:imei:{imei}"

        def uri(scheme: str, name: str) -> str:
            relay = self.relays.get(name)
            address = relay.address if relay is not None else self.targets.get(name)
            if address is None:
                return ""
            host, port = address
            host = f"[{host}]" if ":" in host else host
            return f"{scheme}://{host}:{port}"

        builtins: dict[str, Any] = {
            "endpoint": self.endpoint,
            "imei": imei,
            "imsi": imsi,
            "msisdn": msisdn,
            "server_host": "127.0.0.1" if self.options.relay else self.targets["coap"][0],
            "server_uri": uri("coap", "coap"),
            "server_uri_secure": uri("coaps", "coaps"),
            "bootstrap_uri": uri("coap", "bootstrap"),
            "bootstrap_uri_secure": uri("coaps", "bootstrap_coaps"),
            "server_kind": driver.kind,
            "tcp_peer_port": "",
        }
        self.variables = dict(builtins)
        for name, value in self.scenario.variables.items():
            self.variables[name] = substitute(value, builtins)
        self._attach_network_map()
        await driver.watch(self.endpoint)
        where = (
            f"in-process {self.module.module.profile.name}"
            if self.module
            else f"external {self.options.port}"
        )
        routes = []
        for name, target in self.targets.items():
            through = self.relays.get(name)
            via = f" via {through.address[0]}:{through.address[1]}" if through else ""
            routes.append(f"{name}={target[0]}:{target[1]}{via}")
        self.rec.line(
            "setup",
            f"module {where} endpoint {self.endpoint}; server {driver.kind} " + " ".join(routes),
        )

    def _attach_network_map(self) -> None:
        """``module.map`` / ``module.allow_external`` on top of the profile's network map."""
        from emulator.adapters.netmap import NetworkMap, NetworkMapError, attach_network_map

        scenario = self.scenario
        if not scenario.network_map and not scenario.allow_external:
            return
        if self.module is None:
            raise ScenarioError(
                "module.map / module.allow_external need the in-process module; "
                "give the external emulator its own --map / --allow-external"
            )
        entries = [substitute_text(entry, self.variables) for entry in scenario.network_map]
        try:
            extra = NetworkMap.from_entries(entries, allow_external=scenario.allow_external)
            network_map = NetworkMap.from_profile(self.module.module.profile).merged(extra)
        except NetworkMapError as exc:
            raise ScenarioError(f"module.map: {exc}") from None
        attach_network_map(self.module.module, network_map)
        self.rec.line("setup", "network map: " + "; ".join(network_map.describe()))

    async def _until_answering(self) -> None:
        """An external module may still be booting (its port is deaf then, as on hardware):
        ``AT`` until it answers OK, within the boot time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BOOT_TIMEOUT
        port = self.port
        assert port is not None
        while True:
            if port.gone:
                # A TCP emulator closed the connection (its port held by another client, or
                # the emulator restarting): connect again, the holder may be on its way out.
                await asyncio.sleep(0.2)
                with contextlib.suppress(Unreachable):
                    await port.reconnect()
            try:
                answer = await self.link.command("AT", 1.0)
                if answer.final == "OK":
                    return
                await asyncio.sleep(0.2)  # it answered, but not OK: ask again shortly
            except StepTimeout:
                pass
            if loop.time() >= deadline:
                said = port.farewell and f"; it closed the connection saying: {port.farewell}"
                raise Unreachable(
                    f"the module at {self.options.port} does not answer AT with OK "
                    f"(tried for {BOOT_TIMEOUT:g} s){said}"
                )

    async def _reset_external(self) -> None:
        """Put an external module into a known state, as a fresh one: no LwM2M start-up
        registration, a reboot (registrations, sessions, sockets, PDP contexts and volatile
        settings gone; AT+CFUN=1,1, 27.007 §8.2), then the factory settings of the AT port
        (AT&F, V.250 §6.1.2) and of the LwM2M client (AT+QLWCFG="reset"). What the module
        keeps in NV beyond that (SMS storage, files) stays. docs/scenarios.md says why."""
        self.rec.line("setup", f"resetting the module at {self.options.port} (reboot, factory)")
        # Off first: with "startup",1 kept in NV the reboot would register to a server of an
        # earlier scenario, and the client's configuration cannot be reset while it runs.
        await self._reset_command('AT+QLWCFG="startup",0', optional=True)
        port = self.port
        assert port is not None
        mark, opens = len(self.link.urcs), port.opens
        try:
            await self._reset_command("AT+CFUN=1,1")
        except StepTimeout:
            if port.opens == opens and not port.gone:
                raise  # no answer, and the port is still there: not a reset
            # A USB port went away with the reset, its OK with it.
        ready = asyncio.ensure_future(
            self.link.next_new_urc(lambda line: line.strip() == "RDY", BOOT_TIMEOUT, since=mark)
        )
        back = asyncio.ensure_future(port.wait_opened(after=opens))
        try:
            done, _ = await asyncio.wait(
                (ready, back), timeout=BOOT_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ready.cancel()
            back.cancel()
        if not done or (ready in done and ready.result() is None):
            raise Unreachable(
                f"the module at {self.options.port} did not boot again (no RDY, and its port "
                f"did not come back) within {BOOT_TIMEOUT:g} s of AT+CFUN=1,1"
            )
        await self._until_answering()
        await self._reset_command("AT&F")
        await self._reset_command('AT+QLWCFG="reset"', optional=True)
        self.link.take_all_urcs()

    async def _reset_command(self, command: str, *, optional: bool = False) -> None:
        """One command of the reset; ``optional``: a firmware without it answers ERROR."""
        answer = await self.link.command(command, SETTLE_TIMEOUT)
        if answer.final == "OK" or (optional and answer.final == "ERROR"):
            return
        raise ScenarioError(
            f"the module at {self.options.port} could not be reset: {command} answered "
            f"{' | '.join(answer.lines)} (--keep-state runs on the module as it is)"
        )

    async def _ask(self, command: str, pattern: str) -> str:
        answer = await self.link.command(command, 5.0)
        for line in answer.lines:
            if re.fullmatch(pattern, line.strip()):
                return line.strip()
        raise Unreachable(
            f"the module at {self.options.port} did not answer {command} as a module does "
            f"(got: {' | '.join(answer.lines) or 'nothing'})"
        )

    async def teardown(self) -> None:
        if self.tcp_peer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.tcp_peer.close(), SETTLE_TIMEOUT)
        if self.module is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.module.close(), SETTLE_TIMEOUT)
        if self.port is not None:
            await self.port.close()
        for relay in self.relays.values():
            await relay.close()
        if self.driver is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.driver.close(), SETTLE_TIMEOUT)

    # -- steps
    async def run_step(self, step: Step) -> StepResult:
        started = self.rec.now()
        line = self.rec.line("step", f"{step.index} {step.describe()}  ({step.where})")
        try:
            summary = await _HANDLERS[type(step)](self, step, started)
        except StepFailed as exc:
            failed_at = exc.line or self.rec.line(
                "FAIL", f"step {step.index}: expected {exc.expected}; got {exc.got}"
            )
            return StepResult(
                step=step,
                ok=False,
                seconds=self.rec.now() - started,
                expected=exc.expected,
                got=exc.got,
                transcript_line=failed_at,
            )
        except (StepTimeout, DriverError) as exc:
            failed_at = self.rec.line("FAIL", f"step {step.index}: {exc}")
            return StepResult(
                step=step,
                ok=False,
                seconds=self.rec.now() - started,
                expected=_expectation(step, self.variables),
                got=str(exc),
                transcript_line=failed_at,
            )
        self.rec.line("pass", f"step {step.index}: {summary}")
        return StepResult(
            step=step,
            ok=True,
            seconds=self.rec.now() - started,
            summary=summary,
            transcript_line=line,
        )

    def _value(self, value: Any) -> Any:
        return substitute(value, self.variables)

    def _text(self, value: Any) -> str:
        return substitute_text(str(value), self.variables)

    def _regex(self, value: str) -> str:
        return re.sub(
            r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
            lambda m: re.escape(str(self.variables[m.group(1)])),
            value,
        )

    def _need_driver(self) -> ServerDriver:
        assert self.driver is not None
        return self.driver

    async def _send(self, step: SendStep, started: float) -> str:
        command = self._text(step.command)
        payload = None if step.payload is None else self._text(step.payload)
        answer = await self.link.command(command, step.within, payload)
        lines = list(answer.lines)
        got = " | ".join(lines) or "nothing"
        if step.expect is not None:
            wanted = [self._text(x) for x in step.expect]
            if [x.strip() for x in lines] != [x.strip() for x in wanted]:
                raise StepFailed(" | ".join(wanted), got)
        elif step.match is not None:
            if re.search(self._regex(step.match), "\n".join(lines), re.MULTILINE) is None:
                raise StepFailed(f"a response matching /{self._text(step.match)}/", got)
        elif answer.final != "OK":
            raise StepFailed("OK", got)
        return got

    async def _take_urc(
        self,
        step: UrcStep | UrcMatchStep,
        started: float,
        matches: Callable[[str], bool],
        what: str,
    ) -> str:
        try:
            urc = await self.link.take_urc(matches, step.within)
        except StepTimeout:
            pending = [u.text for u in self.link.untaken_urcs()]
            got = "URCs " + " | ".join(pending[-6:]) if pending else "no URC"
            raise StepFailed(f"{what} within {step.within:g} s", got) from None
        if step.after > 0 and urc.at - started < step.after:
            raise StepFailed(
                f"{what} not before {step.after:g} s",
                f"it came after {urc.at - started:.3f} s",
                urc.transcript_line,
            )
        return f"{urc.text}  ({_timing(urc.at - started)}line {urc.transcript_line})"

    async def _urc(self, step: UrcStep, started: float) -> str:
        text = self._text(step.text).strip()
        return await self._take_urc(step, started, lambda line: line.strip() == text, repr(text))

    async def _urc_match(self, step: UrcMatchStep, started: float) -> str:
        pattern = re.compile(self._regex(step.pattern))
        return await self._take_urc(
            step,
            started,
            lambda line: pattern.fullmatch(line.strip()) is not None,
            f"a URC matching /{self._text(step.pattern)}/",
        )

    async def _wait(self, step: WaitStep, started: float) -> str:
        driver = self._need_driver()
        endpoint = self._text(step.endpoint)
        if step.event is WaitFor.BOOTSTRAP and driver.bootstrap_address() is None:
            raise UnsupportedOperation(f"the {driver.kind} server was given no bootstrap server")
        path = None if step.path is None else self._text(step.path)
        event = await driver.events.take(WAITABLE[step.event], endpoint, step.within, path=path)
        if isinstance(event, BootstrapEnded) and not event.ok:
            raise StepFailed("the bootstrap to finish", f"it failed: {event.detail}")
        if isinstance(event, Notified):
            self._check_value(step, event.value, f"notification of {event.path}")
            if step.apart > 0:
                self._check_apart(step, event, driver.events.previous(event))
        if step.after > 0 and event.at - started < step.after:
            raise StepFailed(
                f"the {step.event} not before {step.after:g} s",
                f"it came after {event.at - started:.3f} s",
            )
        if isinstance(event, Registered | Updated):
            self._check_registration(step, event.registration)
        return f"{event.summary()}  ({_timing(event.at - started)}as seen by the server)"

    @staticmethod
    def _check_apart(step: WaitStep, event: Notified, previous: ServerEvent | None) -> None:
        """Not sooner than ``apart`` after the previous notification of the path (pmin, TS
        1.0 §5.1.2): measured between the two as the server saw them, so the time the
        steps in between took (a busy event loop, many modules) does not count."""
        wanted = f"the notification at least {step.apart:g} s after the previous one"
        if previous is None:
            raise StepFailed(wanted, f"it is the first notification of {event.path}")
        if event.at - previous.at < step.apart:
            raise StepFailed(wanted, f"it came {event.at - previous.at:.3f} s after it")

    def _check_registration(self, step: WaitStep, registration: Registration) -> None:
        for name, want, actual in (
            ("lifetime", step.lifetime, registration.lifetime),
            ("binding", step.binding, registration.binding),
            ("lwm2m_version", step.lwm2m_version, registration.lwm2m_version),
            ("secure", step.secure, registration.secure),
        ):
            want = self._value(want)
            if want is not None and str(want).lower() != str(actual).lower():
                raise StepFailed(f"{name} {want}", f"{name} {actual} ({registration.summary()})")
        objects = self._value(step.objects)
        if objects:
            listed = {_link_target(link) for link in registration.object_links}
            missing = [o for o in objects if _link_target(o) not in listed]
            if missing:
                raise StepFailed(
                    f"objects {', '.join(objects)}",
                    f"no {', '.join(missing)} in {','.join(registration.object_links)}",
                )

    def _check_value(self, step: ChecksValue, value: Any, what: str) -> None:
        expect = self._value(step.expect)
        if expect is not None:
            problem = mismatch(expect, value)
            if problem is not None:
                raise StepFailed(f"{what} = {render(expect)}", f"{render(value)} ({problem})")
        pattern = step.match
        if pattern is not None and re.search(self._regex(pattern), text_form(value)) is None:
            raise StepFailed(f"{what} matching /{self._text(pattern)}/", render(value))

    async def _operate(self, step: OperationStep, started: float) -> str:
        """Every server operation in the same stages: the request (the one part that
        differs, ``_OPERATIONS``), its transcript line, the CoAP code, then the content."""
        operation = _OPERATIONS[type(step)]
        path = self._text(step.path)
        endpoint = self._text(step.endpoint)
        what = f"{operation.verb} {path}"
        response, note = await operation.request(self, self._need_driver(), step, endpoint, path)
        self.rec.line("op", f"{what}{note} -> {response.summary()}")
        if step.code is not None and response.code is not None and response.code != step.code:
            extra = f" ({response.error})" if response.error else ""
            raise StepFailed(
                f"{what} answered {describe_code(step.code)}",
                f"{describe_code(response.code)}{extra}",
            )
        if response.code is not None and not response.code.startswith("2."):
            return response.summary()
        if isinstance(step, ChecksValue):
            self._check_value(step, response.value, path)
        if isinstance(step, DiscoverStep):
            for wanted in self._value(step.contains) or ():
                if not _link_present(wanted, response.links):
                    raise StepFailed(f"a link {wanted}", ",".join(response.links) or "no links")
        return response.summary()

    async def _set_psk(self, step: SetPskStep, started: float) -> str:
        endpoint = self._text(step.endpoint)
        identity = self._text(step.identity)
        key = bytes.fromhex(self._text(step.key))
        await self._need_driver().set_psk(endpoint, identity, key)
        self.rec.line("op", f"PSK of {endpoint}: identity {identity!r}, {len(key)}-byte key")
        return f"{endpoint} identity {identity!r}"

    async def _configure_bootstrap(self, step: ConfigureBootstrapStep, started: float) -> str:
        endpoint = self._text(step.endpoint)
        config = BootstrapConfig(
            server_uri=self._text(step.server_uri),
            short_id=step.short_id,
            lifetime=step.lifetime,
            binding=self._text(step.binding),
            security=step.security,
            identity=self._text(step.identity) if step.identity else None,
            key=bytes.fromhex(self._text(step.key)) if step.key else None,
        )
        await self._need_driver().configure_bootstrap(endpoint, config)
        self.rec.line(
            "op", f"bootstrap config of {endpoint}: {config.server_uri} ({config.security})"
        )
        return f"{endpoint} -> {config.server_uri}"

    def _module(self, what: str) -> _InProcessModule:
        if self.module is None:
            raise UnsupportedOperation(
                f"fault {what} changes the module's world: it needs the in-process module "
                "(run without --port)"
            )
        return self.module

    async def _fault(self, step: FaultStep, started: float) -> str:
        await _FAULTS[step.fault](self, step)
        self.rec.line("fault", step.describe())
        return "done"

    def _on_module(self, step: FaultStep, change: Callable[[Any, float], None]) -> None:
        """A change of the module's world; one the module refuses fails the step with its
        reason."""
        from emulator.at.errors import CmeError

        try:
            self._module(step.fault).apply(change)
        except (CmeError, ControlError) as exc:
            raise StepFailed(f"the module to accept {step.fault}", str(exc)) from None

    def _retarget(self, driver: ServerDriver) -> None:
        """A restarted server that could not get its old ports back is followed by the relays."""
        targets = {
            "coap": driver.coap_address(),
            "coaps": driver.coaps_address(),
            "bootstrap": driver.bootstrap_address(False),
            "bootstrap_coaps": driver.bootstrap_address(True),
        }
        for name, relay in self.relays.items():
            target = targets.get(name)
            if target is not None and target != relay.target:
                relay.retarget(target)

    async def _quiet(self, step: QuietStep, started: float) -> str:
        period = step.period
        if step.what is Quiet.URC:
            pattern = step.match
            regex = re.compile(self._regex(pattern)) if pattern else None
            urc = await self.link.next_new_urc(
                lambda line: regex is None or regex.fullmatch(line.strip()) is not None, period
            )
            if urc is not None:
                what = f"URCs matching /{self._text(pattern)}/" if pattern else "URCs"
                raise StepFailed(
                    f"no {what} for {period:g} s",
                    f"{urc.text!r} after {urc.at - started:.3f} s",
                    urc.transcript_line,
                )
            return f"no URC for {period:g} s"
        endpoint = self._text(step.endpoint)
        path = None if step.path is None else self._text(step.path)
        try:
            event = await self._need_driver().events.take(
                Notified, endpoint, period, path=path, since=started
            )
        except StepTimeout:
            return f"no notification for {period:g} s"
        raise StepFailed(
            f"no notification{' of ' + path if path else ''} for {period:g} s",
            f"{event.summary()} after {event.at - started:.3f} s",
        )

    async def _deliver_sms(self, step: DeliverSmsStep, started: float) -> str:
        from emulator.sms.model import NotDeliverable, sms_state

        sender = self._text(step.sender)
        text = self._text(step.text)
        results: list[Any] = []

        def deliver(module: Any, now: float) -> None:
            results.extend(sms_state(module).deliver_text(sender, text, now))

        try:
            self._module("deliver_sms").apply(deliver)
        except NotDeliverable as exc:
            raise StepFailed("the module to take the SMS", str(exc)) from None
        where = ", ".join(
            f"{r.stored} {r.index}" if r.stored else ("+CMT" if r.direct else f"{r.rejected}")
            for r in results
        )
        self.rec.line("sms>", f"{sender}: {text!r} ({where})")
        return f"delivered ({where})"

    async def _sms_sent(self, step: SmsSentStep, started: float) -> str:
        text = self._text(step.text)
        wanted_to = None if step.to is None else self._text(step.to)

        def matches(event: Any) -> bool:
            return bool(
                event.text == text and (wanted_to is None or event.destination == wanted_to)
            )

        module = self._module("sms_sent")
        sms = await module.take_sms(matches, step.within)
        if sms is None:
            seen = [f"{e.destination}: {e.text!r}" for e in module.sms_sent[module._sms_taken :]]
            got = "sent " + " | ".join(seen[-4:]) if seen else "no SMS sent"
            what = f"an SMS {text!r}" + (f" to {wanted_to}" if wanted_to else "")
            raise StepFailed(f"{what} within {step.within:g} s", got)
        return f"{sms.destination}: {sms.text!r} (TP-MR {sms.reference})"

    async def _mqtt_publish(self, step: MqttPublishStep, started: float) -> str:
        """Another MQTT client publishes through the broker (aiomqtt, as the module's stack)."""
        import aiomqtt

        topic = self._text(step.topic)
        broker = self._text(step.broker)
        host, _, port_text = broker.rpartition(":")
        payload = self._text(step.payload).encode()
        try:
            async with asyncio.timeout(step.within):
                async with aiomqtt.Client(
                    host.strip("[]") or "127.0.0.1",
                    int(port_text),
                    identifier=f"quecemu-scenario-{step.index}",
                ) as client:
                    await client.publish(topic, payload, qos=step.qos, retain=step.retain)
        except (aiomqtt.MqttError, OSError, TimeoutError, ValueError) as exc:
            raise StepFailed(
                f"a publish to {topic!r} through {broker}", str(exc) or "timeout"
            ) from None
        return f"{len(payload)} bytes to {topic} through {broker}"

    async def _mqtt_takeover(self, step: MqttTakeoverStep, started: float) -> str:
        """A second client connects with the module's client identifier: the broker must
        close the module's connection (MQTT 3.1.1 §3.1.4, MQTT 3.1 likewise)."""
        import aiomqtt

        identifier = self._text(step.identifier)
        broker = self._text(step.broker)
        host, _, port_text = broker.rpartition(":")
        try:
            async with asyncio.timeout(step.within):
                async with aiomqtt.Client(
                    host.strip("[]") or "127.0.0.1", int(port_text), identifier=identifier
                ):
                    pass
        except (aiomqtt.MqttError, OSError, TimeoutError, ValueError) as exc:
            raise StepFailed(
                f"a connection as {identifier!r} to {broker}", str(exc) or "timeout"
            ) from None
        return f"connected as {identifier} to {broker}"

    def _peer_bytes(self, step: TcpPeerStep) -> bytes:
        if step.hex is not None:
            return bytes.fromhex(self._text(step.hex))
        return self._text(step.data or "").encode("latin-1", "replace")

    async def _tcp_peer(self, step: TcpPeerStep, started: float) -> str:
        """The scenario's TCP peer on loopback (the module connects to it with AT+QIOPEN)."""
        try:
            if step.does is PeerAction.LISTEN:
                return await self._peer_listen(step)
            peer = self.tcp_peer
            if peer is None:
                raise TcpPeerError("the TCP peer is not listening (a tcp_peer: listen first)")
            if step.does is PeerAction.SEND:
                data = self._peer_bytes(step)
                count = await peer.send(data, step.within)
                return f"{len(data)} bytes to {count} connection(s)"
            if step.does is PeerAction.EXPECT:
                data = self._peer_bytes(step)
                try:
                    await peer.until(lambda: peer.take(data), step.within)
                except TimeoutError:
                    got = bytes(peer.received[-64:])
                    raise StepFailed(
                        f"the TCP peer to receive {data!r} within {step.within:g} s",
                        f"{got!r}" if got else "nothing (more)",
                    ) from None
                return f"the peer received {len(data)} bytes"
            count = await peer.close_connections()
            return f"closed {count} connection(s)"
        except TcpPeerError as exc:
            raise StepFailed(f"tcp_peer {step.does}", str(exc)) from None

    async def _peer_listen(self, step: TcpPeerStep) -> str:
        from emulator.adapters.netmap import (
            NetworkMap,
            NetworkMapError,
            attach_network_map,
            network_map_of,
        )

        host, _, port_text = self._text(step.at).rpartition(":")
        peer = self.tcp_peer or TcpPeer(echo=step.echo)
        try:
            await peer.listen(host.strip("[]") or "127.0.0.1", int(port_text))
        except (OSError, ValueError) as exc:
            raise StepFailed(f"a TCP peer listening on {step.at}", str(exc)) from None
        self.tcp_peer = peer
        bound_host, bound_port = peer.address
        self.variables["tcp_peer_port"] = bound_port
        said = f"listening on {bound_host}:{bound_port}"
        if step.destination is not None:
            name = self._text(step.destination)
            if self.module is None:
                raise UnsupportedOperation(
                    "tcp_peer listen with a destination changes the in-process module's "
                    "network map (run without --port, or give the emulator --map)"
                )
            try:
                extra = NetworkMap.from_entries([f"{name}={bound_host}:{bound_port}"])
            except NetworkMapError as exc:
                raise StepFailed(f"a map entry for {name}", str(exc)) from None
            module = self.module.module
            attach_network_map(module, network_map_of(module).merged(extra))
            said += f"; the network map sends {name} here"
        return said

    async def _pause(self, step: PauseStep, started: float) -> str:
        await asyncio.sleep(step.seconds)
        return f"{step.seconds:g} s"


# --------------------------------------------------------------------------- the tables
# Each step type to its handler; a step type without one fails the import-time check below.
_Handler = Callable[[_Session, Any, float], Awaitable[str]]
_HANDLERS: Final[Mapping[type[Step], _Handler]] = {
    SendStep: _Session._send,
    UrcStep: _Session._urc,
    UrcMatchStep: _Session._urc_match,
    WaitStep: _Session._wait,
    ReadStep: _Session._operate,
    WriteStep: _Session._operate,
    ExecuteStep: _Session._operate,
    ObserveStep: _Session._operate,
    CancelObserveStep: _Session._operate,
    WriteAttributesStep: _Session._operate,
    DiscoverStep: _Session._operate,
    SetPskStep: _Session._set_psk,
    ConfigureBootstrapStep: _Session._configure_bootstrap,
    FaultStep: _Session._fault,
    QuietStep: _Session._quiet,
    DeliverSmsStep: _Session._deliver_sms,
    SmsSentStep: _Session._sms_sent,
    MqttPublishStep: _Session._mqtt_publish,
    MqttTakeoverStep: _Session._mqtt_takeover,
    TcpPeerStep: _Session._tcp_peer,
    PauseStep: _Session._pause,
}
assert set(_HANDLERS) == set(STEP_TYPES.values()), "a step type without a handler"


@dataclass(frozen=True)
class _Operation:
    """The one stage of a server operation that differs: the driver call (and what the
    transcript adds after the path)."""

    verb: str
    request: Callable[[_Session, ServerDriver, Any, str, str], Awaitable[tuple[Response, str]]]


async def _read(
    session: _Session, driver: ServerDriver, step: ReadStep, endpoint: str, path: str
) -> tuple[Response, str]:
    response = await driver.read(
        endpoint, path, content_format=step.content_format, timeout=step.within
    )
    return response, ""


async def _write(
    session: _Session, driver: ServerDriver, step: WriteStep, endpoint: str, path: str
) -> tuple[Response, str]:
    value = session._value(step.value)
    response = await driver.write(
        endpoint,
        path,
        value,
        step.value_type,
        content_format=step.content_format,
        timeout=step.within,
    )
    return response, f" = {render(value)}"


async def _execute(
    session: _Session, driver: ServerDriver, step: ExecuteStep, endpoint: str, path: str
) -> tuple[Response, str]:
    args = session._value(step.args)
    text = None if args is None else str(args)
    response = await driver.execute(endpoint, path, text, timeout=step.within)
    return response, f" {text}" if text else ""


async def _observe(
    session: _Session, driver: ServerDriver, step: ObserveStep, endpoint: str, path: str
) -> tuple[Response, str]:
    response = await driver.observe(
        endpoint, path, content_format=step.content_format, timeout=step.within
    )
    return response, ""


async def _cancel_observe(
    session: _Session, driver: ServerDriver, step: CancelObserveStep, endpoint: str, path: str
) -> tuple[Response, str]:
    return await driver.cancel_observe(endpoint, path, timeout=step.within), ""


async def _write_attributes(
    session: _Session, driver: ServerDriver, step: WriteAttributesStep, endpoint: str, path: str
) -> tuple[Response, str]:
    attributes = step.attributes()
    response = await driver.write_attributes(endpoint, path, attributes, timeout=step.within)
    return response, "?" + "&".join(f"{k}={v:g}" for k, v in attributes.items())


async def _discover(
    session: _Session, driver: ServerDriver, step: DiscoverStep, endpoint: str, path: str
) -> tuple[Response, str]:
    return await driver.discover(endpoint, path, timeout=step.within), ""


_OPERATIONS: Final[Mapping[type[OperationStep], _Operation]] = {
    ReadStep: _Operation("read", _read),
    WriteStep: _Operation("write", _write),
    ExecuteStep: _Operation("execute", _execute),
    ObserveStep: _Operation("observe", _observe),
    CancelObserveStep: _Operation("cancel observe", _cancel_observe),
    WriteAttributesStep: _Operation("write attributes", _write_attributes),
    DiscoverStep: _Operation("discover", _discover),
}


# The faults: the relay's policy, the server, the module's world.
async def _drop(session: _Session, step: FaultStep) -> None:
    assert step.share is not None  # required by the grammar
    session.policy.set_drop(step.share, step.direction, step.seed)


async def _delay(session: _Session, step: FaultStep) -> None:
    assert step.seconds is not None  # required by the grammar
    session.policy.set_delay(step.seconds, step.direction)


async def _clear(session: _Session, step: FaultStep) -> None:
    session.policy.clear()


async def _server_stop(session: _Session, step: FaultStep) -> None:
    await session._need_driver().stop()


async def _server_restart(session: _Session, step: FaultStep) -> None:
    driver = session._need_driver()
    await driver.restart()
    session._retarget(driver)


def _module_fault(change: Callable[[FaultStep, Any, float], None]) -> _FaultHandler:
    async def fault(session: _Session, step: FaultStep) -> None:
        session._on_module(step, lambda module, now: change(step, module, now))

    return fault


def _world(control: Callable[[FaultStep], Control]) -> _FaultHandler:
    """A fault that is one of the module's world controls (emulator.controlplane.controls,
    as serve --control and the MQTT control plane apply them)."""

    def change(step: FaultStep, module: Any, now: float) -> None:
        apply_control(module, control(step), now)

    return _module_fault(change)


def _signal(step: FaultStep) -> Control:
    assert step.rssi is not None  # required by the grammar
    return SetSignal(rssi=step.rssi)


def _network_time(step: FaultStep, module: Any, now: float) -> None:
    module.network_time(now, unix_time=step.time, tz_quarters=step.tz, dst=step.dst)


def _pdp_deactivate(step: FaultStep, module: Any, now: float) -> None:
    module.network_deactivate_pdp(now, step.cid)


_FaultHandler = Callable[[_Session, FaultStep], Awaitable[None]]
_FAULTS: Final[Mapping[Fault, _FaultHandler]] = {
    Fault.DROP: _drop,
    Fault.DELAY: _delay,
    Fault.CLEAR: _clear,
    Fault.SERVER_STOP: _server_stop,
    Fault.SERVER_RESTART: _server_restart,
    Fault.NETWORK_CUT: _world(lambda s: SetCoverage(present=False)),
    Fault.NETWORK_RESTORE: _world(lambda s: SetCoverage(present=True)),
    Fault.PDP_REJECT: _world(lambda s: SetPdpReject(reject=s.reject)),
    Fault.SIGNAL: _world(_signal),
    Fault.REBOOT: _world(lambda s: Reboot()),
    Fault.POWER_ON: _world(lambda s: SetPower(on=True)),
    Fault.SIM_REMOVE: _world(lambda s: SetSim(inserted=False)),
    Fault.SIM_INSERT: _world(lambda s: SetSim(inserted=True)),
    Fault.SMS_REJECT: _world(lambda s: RefuseSms(code=s.code if s.reject else None)),
    Fault.NETWORK_TIME: _module_fault(_network_time),
    Fault.PDP_DEACTIVATE: _module_fault(_pdp_deactivate),
}
assert set(_FAULTS) == set(Fault), "a fault without a handler"


def _timing(delta: float) -> str:
    """``+1.503 s, `` for something that came during the step; nothing if it came before."""
    return f"+{delta:.3f} s, " if delta >= 0.0005 else ""


def _link_target(text: str) -> str:
    text = text.strip()
    if text.startswith("<"):
        return text[1 : text.index(">")] if ">" in text else text
    return text.split(";", 1)[0]


def _link_present(wanted: str, links: Sequence[str]) -> bool:
    """``wanted`` (``</3/0>``, ``</3/0/9>;pmin=1`` or ``/3/0``) is among ``links`` with at least
    the parameters it names."""
    try:
        want = parse_links(wanted if wanted.startswith("<") else f"<{wanted}>")[0]
    except Exception:
        return False
    for link in links:
        try:
            have = parse_links(link)[0]
        except Exception:
            continue
        if have.target == want.target and all(
            have.params.get(name) == value for name, value in want.params.items()
        ):
            return True
    return False


def _expectation(step: Step, variables: dict[str, Any]) -> str:
    """What a step waited for, for timeouts and driver errors."""
    if isinstance(step, WaitStep):
        return f"a {step.event} within {step.within:g} s"
    if isinstance(step, OperationStep) and not isinstance(step, CancelObserveStep):
        code = step.code
        return f"{step.action} {substitute_text(step.path, variables)}" + (
            f" answered {describe_code(code)}" if code else ""
        )
    return step.describe()


# --------------------------------------------------------------------------- many scenarios
@dataclass
class Runner:
    """Runs scenarios one after the other into one transcript."""

    options: RunOptions
    transcript: Transcript = field(default_factory=Transcript)

    def _say(self, text: str) -> None:
        if self.options.progress is not None:
            self.options.progress(text)

    async def run(self, scenario: Scenario) -> ScenarioResult:
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.transcript.set_origin(started)
        first = self.transcript.heading(
            f"=== {scenario.display_name} ({scenario.source}) against {self.options.server} ==="
        )
        self._say(f"▶ {scenario.display_name}  ({scenario.source})")
        reason = unsupported_reason(scenario, self.options)
        if reason is not None:
            last = self.transcript.heading(f"=== skipped: {reason} ===")
            self._say(f"  - skipped: {reason}")
            return ScenarioResult(
                scenario=scenario,
                outcome="skipped",
                seconds=0.0,
                message=reason,
                detail=reason,
                first_line=first,
                last_line=last,
            )
        session = _Session(scenario, self.options, self.transcript)
        results: list[StepResult] = []
        outcome, message, detail = "passed", "", ""
        try:
            async with asyncio.timeout(scenario.timeout):
                await session.setup()
                for step in scenario.steps:
                    result = await session.run_step(step)
                    results.append(result)
                    self._say(_progress_line(result))
                    if not result.ok:
                        outcome = "failed"
                        message = (
                            f"step {step.index} ({step.describe()}) at {step.where}: "
                            f"expected {result.expected}; got {result.got}"
                        )
                        detail = (
                            f"step {step.index}: {step.describe()}\n"
                            f"  in {step.where}\n"
                            f"  expected: {result.expected}\n"
                            f"  got:      {result.got}\n"
                            f"  transcript line {result.transcript_line}"
                        )
                        break
        except TimeoutError:
            outcome = "failed"
            done = len(results)
            message = f"the scenario ran out of its {scenario.timeout:g} s (after step {done})"
            detail = message
            self.transcript.write(loop.time(), "FAIL", message)
        except (Unreachable, UnsupportedOperation, ScenarioError) as exc:
            outcome = "error"
            message = str(exc)
            detail = message
            self.transcript.write(loop.time(), "ERROR", message)
        except Exception as exc:  # a bug: reported as an error, with the trace in the transcript
            outcome = "error"
            message = f"{type(exc).__name__}: {exc}"
            detail = traceback.format_exc()
            for text in detail.rstrip().splitlines():
                self.transcript.write(loop.time(), "ERROR", text)
        finally:
            await session.teardown()
        seconds = loop.time() - started
        last = self.transcript.heading(f"=== {outcome} in {seconds:.3f} s ===")
        if outcome == "passed":
            self._say(f"  ✓ passed in {seconds:.2f} s")
        elif outcome == "failed":
            self._say(f"  ✗ FAILED: {message}")
        else:
            self._say(f"  ✗ ERROR: {message}")
        return ScenarioResult(
            scenario=scenario,
            outcome=outcome,
            seconds=seconds,
            steps=tuple(results),
            message=message,
            detail=detail,
            first_line=first,
            last_line=last,
        )

    async def run_all(self, scenarios: Sequence[Scenario]) -> list[ScenarioResult]:
        return [await self.run(scenario) for scenario in scenarios]


SERVER_FAULTS: Final = frozenset({Fault.SERVER_STOP, Fault.SERVER_RESTART})
RELAY_FAULTS: Final = frozenset({Fault.DROP, Fault.DELAY})
SMS_STEPS: Final = (DeliverSmsStep, SmsSentStep)
MODULE_FAULTS: Final = frozenset(Fault) - SERVER_FAULTS - RELAY_FAULTS - {Fault.CLEAR}


def unsupported_reason(scenario: Scenario, options: RunOptions) -> str | None:
    """Why this scenario cannot run in this set-up (it is then reported as skipped), or None.

    Stopping a server needs one the runner owns (the embedded one); changing the radio needs
    the module in this process; bootstrapping against Leshan needs its bootstrap server.
    """
    faults = {step.fault for step in scenario.steps if isinstance(step, FaultStep)}
    if options.server == "leshan":
        if faults & SERVER_FAULTS:
            return "it stops and restarts the server, which only the embedded server allows"
        uses_bootstrap = any(
            isinstance(step, ConfigureBootstrapStep)
            or (isinstance(step, WaitStep) and step.event is WaitFor.BOOTSTRAP)
            for step in scenario.steps
        )
        if uses_bootstrap and not options.leshan_bootstrap_url:
            return "it bootstraps, and no Leshan bootstrap server was given (--leshan-bs URL)"
    if not options.relay and faults & RELAY_FAULTS:
        return "it drops or delays datagrams, which needs the fault relay (no --no-relay)"
    if options.port is not None and faults & MODULE_FAULTS:
        return "it changes the module's radio, which needs the in-process module (no --port)"
    if options.port is not None and any(isinstance(s, SMS_STEPS) for s in scenario.steps):
        return "it plays the SMS network, which needs the in-process module (no --port)"
    return None


def _progress_line(result: StepResult) -> str:
    step = result.step
    millis = f"{result.seconds * 1000:.0f} ms"
    if result.ok:
        summary = result.summary if len(result.summary) <= 90 else result.summary[:87] + "..."
        return f"  ✓ {step.index:2d} {step.describe()}  → {summary}  ({millis})"
    return (
        f"  ✗ {step.index:2d} {step.describe()}  ({step.where})\n"
        f"       expected: {result.expected}\n"
        f"       got:      {result.got}\n"
        f"       see transcript line {result.transcript_line}"
    )


def transcript_default_path() -> Path:
    """Where the transcript goes when no ``--transcript`` is given."""
    import tempfile

    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.gettempdir()) / f"quecemu-scenarios-{stamp}.log"
