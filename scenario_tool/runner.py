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
import re
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from emulator.lwm2m.linkformat import parse_links
from scenario_tool.atlink import AtLink, ExternalPort
from scenario_tool.driver import BootstrapConfig, ServerDriver, ServerEvent
from scenario_tool.errors import (
    DriverError,
    ScenarioError,
    StepTimeout,
    Unreachable,
    UnsupportedOperation,
)
from scenario_tool.format import Scenario, Step, substitute, substitute_text
from scenario_tool.relay import DOWNLINK, FaultPolicy, UdpRelay, summarise
from scenario_tool.transcript import Transcript, escape
from scenario_tool.values import describe_code, mismatch, render, text_form

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
    progress: Progress | None = None


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

    def __init__(self, profile_name: str, link: AtLink, transcript: _Recorder) -> None:
        from emulator.adapters.host import ModuleHost
        from emulator.module.events import BootCompleted, SmsSent
        from emulator.module.profile import load_profile
        from emulator.module.virtual import VirtualModule

        loop = asyncio.get_running_loop()
        now = time.monotonic()
        profile = load_profile(profile_name)
        self.module = VirtualModule(profile, now=now, wall_clock_offset=time.time() - now)
        self.host = ModuleHost(self.module)
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
        self.host.load_family_services()
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
        if event.kind == "log" and event.detail.startswith("coap "):
            self.transcript.write(event.at, "coap", event.detail[5:])
        else:
            self.transcript.write(event.at, "srv", event.summary())

    def module_event(self, event: Any) -> None:
        # The module's own world (radio, PDP, boot); families' internal events are noise here.
        if type(event).__module__ == "emulator.module.events":
            self.line("mod", repr(event))


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
            self.module = _InProcessModule(profile, self.link, self.rec)
            identity = self.module.identity
            imei, imsi, msisdn = identity.imei, identity.imsi, identity.msisdn
            await self.module.start()
        else:
            self.port = ExternalPort(self.options.port)
            self.port.on_data = self.link.on_data
            await self.port.open()
            await self._until_answering()
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
        while True:
            try:
                answer = await self.link.command("AT", 1.0)
                if answer.final == "OK":
                    return
                await asyncio.sleep(0.2)  # it answered, but not OK: ask again shortly
            except StepTimeout:
                pass
            if loop.time() >= deadline:
                raise Unreachable(
                    f"the module at {self.options.port} does not answer AT with OK "
                    f"(tried for {BOOT_TIMEOUT:g} s)"
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
            summary = await self._dispatch(step, started)
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

    def _p(self, step: Step, name: str) -> Any:
        return substitute(step.params.get(name), self.variables)

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

    async def _dispatch(self, step: Step, started: float) -> str:
        handler = getattr(self, f"_step_{step.action}")
        result: str = await handler(step, started)
        return result

    async def _step_send(self, step: Step, started: float) -> str:
        command = self._text(step.subject)
        payload = step.params.get("payload")
        answer = await self.link.command(
            command, step.params["within"], None if payload is None else self._text(payload)
        )
        lines = list(answer.lines)
        got = " | ".join(lines) or "nothing"
        expect = step.params.get("expect")
        pattern = step.params.get("match")
        if expect is not None:
            wanted = [self._text(x) for x in expect]
            if [x.strip() for x in lines] != [x.strip() for x in wanted]:
                raise StepFailed(" | ".join(wanted), got)
        elif pattern is not None:
            if re.search(self._regex(pattern), "\n".join(lines), re.MULTILINE) is None:
                raise StepFailed(f"a response matching /{self._text(pattern)}/", got)
        elif answer.final != "OK":
            raise StepFailed("OK", got)
        return got

    async def _take_urc(
        self, step: Step, started: float, matches: Callable[[str], bool], what: str
    ) -> str:
        within = step.params["within"]
        try:
            urc = await self.link.take_urc(matches, within)
        except StepTimeout:
            pending = [u.text for u in self.link.untaken_urcs()]
            got = "URCs " + " | ".join(pending[-6:]) if pending else "no URC"
            raise StepFailed(f"{what} within {within:g} s", got) from None
        after = step.params.get("after") or 0.0
        if after > 0 and urc.at - started < after:
            raise StepFailed(
                f"{what} not before {after:g} s",
                f"it came after {urc.at - started:.3f} s",
                urc.transcript_line,
            )
        return f"{urc.text}  ({_timing(urc.at - started)}line {urc.transcript_line})"

    async def _step_urc(self, step: Step, started: float) -> str:
        text = self._text(step.subject).strip()
        return await self._take_urc(step, started, lambda line: line.strip() == text, repr(text))

    async def _step_urc_match(self, step: Step, started: float) -> str:
        pattern = re.compile(self._regex(step.subject))
        return await self._take_urc(
            step,
            started,
            lambda line: pattern.fullmatch(line.strip()) is not None,
            f"a URC matching /{self._text(step.subject)}/",
        )

    async def _step_wait(self, step: Step, started: float) -> str:
        driver = self._need_driver()
        endpoint = self._text(step.params["endpoint"])
        within = step.params["within"]
        kind = step.subject
        event: ServerEvent
        if kind == "registration":
            event = await driver.wait_registration(endpoint, within)
        elif kind == "update":
            event = await driver.wait_update(endpoint, within)
        elif kind == "deregistration":
            event = await driver.wait_deregistration(endpoint, within)
        elif kind == "bootstrap":
            event = await driver.wait_bootstrap(endpoint, within)
            if not event.ok:
                raise StepFailed("the bootstrap to finish", f"it failed: {event.detail}")
        else:
            path = self._p(step, "path")
            event = await driver.next_notification(endpoint, path, within)
            self._check_value(step, event.value, f"notification of {event.path}")
        after = step.params.get("after") or 0.0
        if after > 0 and event.at - started < after:
            raise StepFailed(
                f"the {kind} not before {after:g} s", f"it came after {event.at - started:.3f} s"
            )
        registration = event.registration
        if registration is not None:
            for name, actual in (
                ("lifetime", registration.lifetime),
                ("binding", registration.binding),
                ("lwm2m_version", registration.lwm2m_version),
                ("secure", registration.secure),
            ):
                want = self._p(step, name) if name in step.params else None
                if want is not None and str(want).lower() != str(actual).lower():
                    raise StepFailed(
                        f"{name} {want}", f"{name} {actual} ({registration.summary()})"
                    )
            objects = self._p(step, "objects") if "objects" in step.params else None
            if objects:
                listed = {_link_target(link) for link in registration.object_links}
                missing = [o for o in objects if _link_target(o) not in listed]
                if missing:
                    raise StepFailed(
                        f"objects {', '.join(objects)}",
                        f"no {', '.join(missing)} in {','.join(registration.object_links)}",
                    )
        return f"{event.summary()}  ({_timing(event.at - started)}as seen by the server)"

    def _check_value(self, step: Step, value: Any, what: str) -> None:
        expect = self._p(step, "expect") if "expect" in step.params else None
        pattern = step.params.get("match")
        if expect is not None:
            problem = mismatch(expect, value)
            if problem is not None:
                raise StepFailed(f"{what} = {render(expect)}", f"{render(value)} ({problem})")
        if pattern is not None and re.search(self._regex(pattern), text_form(value)) is None:
            raise StepFailed(f"{what} matching /{self._text(pattern)}/", render(value))

    def _check_code(self, step: Step, code: str | None, error: str, what: str) -> None:
        wanted = step.params.get("code")
        if wanted is None or code is None:
            return
        if code != wanted:
            extra = f" ({error})" if error else ""
            raise StepFailed(
                f"{what} answered {describe_code(wanted)}", f"{describe_code(code)}{extra}"
            )

    async def _step_read(self, step: Step, started: float) -> str:
        path = self._text(step.subject)
        response = await self._need_driver().read(
            self._text(step.params["endpoint"]),
            path,
            content_format=step.params.get("format"),
            timeout=step.params["within"],
        )
        self.rec.line("op", f"read {path} -> {response.summary()}")
        self._check_code(step, response.code, response.error, f"read {path}")
        if response.code is None or response.code.startswith("2."):
            self._check_value(step, response.value, path)
        return response.summary()

    async def _step_write(self, step: Step, started: float) -> str:
        path = self._text(step.subject)
        value = self._p(step, "value")
        response = await self._need_driver().write(
            self._text(step.params["endpoint"]),
            path,
            value,
            step.params.get("type"),
            content_format=step.params.get("format"),
            timeout=step.params["within"],
        )
        self.rec.line("op", f"write {path} = {render(value)} -> {response.summary()}")
        self._check_code(step, response.code, response.error, f"write {path}")
        return response.summary()

    async def _step_execute(self, step: Step, started: float) -> str:
        path = self._text(step.subject)
        args = self._p(step, "args")
        response = await self._need_driver().execute(
            self._text(step.params["endpoint"]),
            path,
            None if args is None else str(args),
            timeout=step.params["within"],
        )
        self.rec.line("op", f"execute {path} {args or ''} -> {response.summary()}")
        self._check_code(step, response.code, response.error, f"execute {path}")
        return response.summary()

    async def _step_discover(self, step: Step, started: float) -> str:
        path = self._text(step.subject)
        response = await self._need_driver().discover(
            self._text(step.params["endpoint"]), path, timeout=step.params["within"]
        )
        self.rec.line("op", f"discover {path} -> {response.summary()}")
        self._check_code(step, response.code, response.error, f"discover {path}")
        for wanted in self._p(step, "contains") or ():
            if not _link_present(wanted, response.links):
                raise StepFailed(f"a link {wanted}", ",".join(response.links) or "no links")
        return response.summary()

    async def _step_observe(self, step: Step, started: float) -> str:
        path = self._text(step.subject)
        response = await self._need_driver().observe(
            self._text(step.params["endpoint"]),
            path,
            content_format=step.params.get("format"),
            timeout=step.params["within"],
        )
        self.rec.line("op", f"observe {path} -> {response.summary()}")
        self._check_code(step, response.code, response.error, f"observe {path}")
        if response.code is None or response.code.startswith("2."):
            self._check_value(step, response.value, path)
        return response.summary()

    async def _step_cancel_observe(self, step: Step, started: float) -> str:
        path = self._text(step.subject)
        response = await self._need_driver().cancel_observe(
            self._text(step.params["endpoint"]), path, timeout=step.params["within"]
        )
        self.rec.line("op", f"cancel observe {path} -> {response.summary()}")
        return response.summary()

    async def _step_write_attributes(self, step: Step, started: float) -> str:
        path = self._text(step.subject)
        attributes = {
            name: float(step.params[name])
            for name in ("pmin", "pmax", "gt", "lt", "st")
            if step.params.get(name) is not None
        }
        response = await self._need_driver().write_attributes(
            self._text(step.params["endpoint"]), path, attributes, timeout=step.params["within"]
        )
        query = "&".join(f"{k}={v:g}" for k, v in attributes.items())
        self.rec.line("op", f"write attributes {path}?{query} -> {response.summary()}")
        self._check_code(step, response.code, response.error, f"write attributes {path}")
        return response.summary()

    async def _step_set_psk(self, step: Step, started: float) -> str:
        endpoint = self._text(step.subject)
        identity = self._text(step.params["identity"])
        key = bytes.fromhex(self._text(step.params["key"]))
        await self._need_driver().set_psk(endpoint, identity, key)
        self.rec.line("op", f"PSK of {endpoint}: identity {identity!r}, {len(key)}-byte key")
        return f"{endpoint} identity {identity!r}"

    async def _step_configure_bootstrap(self, step: Step, started: float) -> str:
        endpoint = self._text(step.subject)
        key = step.params.get("key")
        config = BootstrapConfig(
            server_uri=self._text(step.params["server_uri"]),
            short_id=step.params["short_id"],
            lifetime=step.params["lifetime"],
            binding=self._text(step.params["binding"]),
            security=step.params["security"],
            identity=self._text(step.params["identity"]) if step.params.get("identity") else None,
            key=bytes.fromhex(self._text(key)) if key else None,
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

    async def _step_fault(self, step: Step, started: float) -> str:
        kind = step.subject
        params = step.params
        if kind == "drop":
            self.policy.set_drop(params["share"], params["direction"], params.get("seed"))
        elif kind == "delay":
            self.policy.set_delay(params["seconds"], params["direction"])
        elif kind == "clear":
            self.policy.clear()
        elif kind == "network_cut":
            self._module(kind).apply(lambda module, now: module.set_coverage(False, now))
        elif kind == "network_restore":
            self._module(kind).apply(lambda module, now: module.set_coverage(True, now))
        elif kind == "pdp_reject":
            reject = bool(params["reject"])
            self._module(kind).apply(lambda module, now: module.set_pdp_reject(reject))
        elif kind == "signal":
            rssi = int(params["rssi"])
            self._module(kind).apply(lambda module, now: module.set_signal(rssi, now))
        elif kind == "reboot":
            self._module(kind).apply(lambda module, now: module.reboot(now, "scenario fault"))
        elif kind in ("power_on", "network_time", "sim_remove", "sim_insert"):
            self._world_control(step)
        elif kind == "sms_reject":
            from emulator.sms.model import sms_state

            code = int(params["code"]) if params["reject"] else None

            def refuse(module: Any, now: float) -> None:
                sms_state(module).refuse_sends = code

            self._module(kind).apply(refuse)
        elif kind == "server_stop":
            await self._need_driver().stop()
        elif kind == "server_restart":
            driver = self._need_driver()
            await driver.restart()
            self._retarget(driver)
        self.rec.line("fault", step.describe())
        return "done"

    def _world_control(self, step: Step) -> None:
        """The module's power key, the network's time, the SIM holder (VirtualModule's
        world controls); one the module refuses fails the step with its reason."""
        from emulator.at.errors import CmeError
        from emulator.module.state import SimState

        kind = step.subject
        params = step.params

        def act(module: Any, now: float) -> None:
            if kind == "power_on":
                module.power_on(now)
            elif kind == "network_time":
                unix = params.get("time")
                module.network_time(
                    now,
                    unix_time=None if unix is None else float(unix),
                    tz_quarters=int(params["tz"]),
                    dst=int(params["dst"]),
                )
            else:
                state = SimState.NOT_INSERTED if kind == "sim_remove" else SimState.READY
                module.set_sim(state, now)

        try:
            self._module(kind).apply(act)
        except CmeError as exc:
            raise StepFailed(f"the module to accept {kind}", str(exc)) from None

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

    async def _step_quiet(self, step: Step, started: float) -> str:
        period = float(step.params["for"])
        if step.subject == "urc":
            pattern = step.params.get("match")
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
        endpoint = self._text(step.params["endpoint"])
        path = self._p(step, "path")
        try:
            event = await self._need_driver().events.take(
                "notification", endpoint, period, path=path, since=started
            )
        except StepTimeout:
            return f"no notification for {period:g} s"
        raise StepFailed(
            f"no notification{' of ' + path if path else ''} for {period:g} s",
            f"{event.summary()} after {event.at - started:.3f} s",
        )

    async def _step_deliver_sms(self, step: Step, started: float) -> str:
        from emulator.sms.model import NotDeliverable

        sender = self._text(step.params["from"])
        text = self._text(step.subject)
        results: list[Any] = []

        def deliver(module: Any, now: float) -> None:
            results.extend(module.deliver_sms(sender, text, now))

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

    async def _step_sms_sent(self, step: Step, started: float) -> str:
        text = self._text(step.subject)
        to = step.params.get("to")
        wanted_to = None if to is None else self._text(to)
        within = step.params["within"]

        def matches(event: Any) -> bool:
            return bool(
                event.text == text and (wanted_to is None or event.destination == wanted_to)
            )

        module = self._module("sms_sent")
        sms = await module.take_sms(matches, within)
        if sms is None:
            seen = [f"{e.destination}: {e.text!r}" for e in module.sms_sent[module._sms_taken :]]
            got = "sent " + " | ".join(seen[-4:]) if seen else "no SMS sent"
            what = f"an SMS {text!r}" + (f" to {wanted_to}" if wanted_to else "")
            raise StepFailed(f"{what} within {within:g} s", got)
        return f"{sms.destination}: {sms.text!r} (TP-MR {sms.reference})"

    async def _step_mqtt_publish(self, step: Step, started: float) -> str:
        """Another MQTT client publishes through the broker (aiomqtt, as the module's stack)."""
        import aiomqtt

        topic = self._text(step.subject)
        broker = self._text(step.params["broker"])
        host, _, port_text = broker.rpartition(":")
        payload = self._text(step.params["payload"]).encode()
        within = float(step.params["within"])
        try:
            async with asyncio.timeout(within):
                async with aiomqtt.Client(
                    host.strip("[]") or "127.0.0.1",
                    int(port_text),
                    identifier=f"quecemu-scenario-{step.index}",
                ) as client:
                    await client.publish(
                        topic, payload, qos=step.params["qos"], retain=step.params["retain"]
                    )
        except (aiomqtt.MqttError, OSError, TimeoutError, ValueError) as exc:
            raise StepFailed(
                f"a publish to {topic!r} through {broker}", str(exc) or "timeout"
            ) from None
        return f"{len(payload)} bytes to {topic} through {broker}"

    async def _step_pause(self, step: Step, started: float) -> str:
        await asyncio.sleep(float(step.subject))
        return f"{step.subject:g} s"


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
    if step.action == "wait":
        return f"a {step.subject} within {step.params['within']:g} s"
    if step.action in ("read", "write", "execute", "observe", "discover", "write_attributes"):
        code = step.params.get("code")
        return f"{step.action} {substitute_text(str(step.subject), variables)}" + (
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


SERVER_FAULTS: Final = ("server_stop", "server_restart")
SMS_STEPS: Final = ("deliver_sms", "sms_sent")
MODULE_FAULTS: Final = (
    "network_cut",
    "network_restore",
    "pdp_reject",
    "signal",
    "reboot",
    "power_on",
    "network_time",
    "sim_remove",
    "sim_insert",
    "sms_reject",
)


def unsupported_reason(scenario: Scenario, options: RunOptions) -> str | None:
    """Why this scenario cannot run in this set-up (it is then reported as skipped), or None.

    Stopping a server needs one the runner owns (the embedded one); changing the radio needs
    the module in this process; bootstrapping against Leshan needs its bootstrap server.
    """
    faults = {step.subject for step in scenario.steps if step.action == "fault"}
    if options.server == "leshan":
        if faults & set(SERVER_FAULTS):
            return "it stops and restarts the server, which only the embedded server allows"
        uses_bootstrap = any(
            step.action == "configure_bootstrap"
            or (step.action == "wait" and step.subject == "bootstrap")
            for step in scenario.steps
        )
        if uses_bootstrap and not options.leshan_bootstrap_url:
            return "it bootstraps, and no Leshan bootstrap server was given (--leshan-bs URL)"
    if not options.relay and faults & {"drop", "delay"}:
        return "it drops or delays datagrams, which needs the fault relay (no --no-relay)"
    if options.port is not None and faults & set(MODULE_FAULTS):
        return "it changes the module's radio, which needs the in-process module (no --port)"
    if options.port is not None and any(s.action in SMS_STEPS for s in scenario.steps):
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
