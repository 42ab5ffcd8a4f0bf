"""quecemu's pytest plugin: a virtual module, the embedded LwM2M server and the scenario runner
as fixtures, for a firmware team's own test suite (docs/pytest-plugin.md).

Installed with quecemu through the ``pytest11`` entry point ``quecemu``; ``-p no:quecemu``
turns it off. The fixtures are plain synchronous objects: the module, the server and the
runner live on one asyncio loop in a background thread (:class:`BackgroundLoop`), so a test
(or the firmware it drives through the module's pty) never needs an event loop of its own.

* ``quecemu_module``: a fresh module for each test, its AT port on a pty (``.port``), an AT
  helper (``.at("AT+CSQ")``) and the world's controls (signal, coverage, SIM, SMS, reboot).
  ``@pytest.mark.quecemu_module(profile="EG912N", imei=..., map=[...])`` chooses it; the
  ini option ``quecemu_profile`` sets the default model.
* ``quecemu_server``: the embedded LwM2M server (CoAP, CoAP over DTLS-PSK, bootstrap on free
  loopback ports): ``.uri``, ``.wait(Registered, endpoint)``, ``.read(endpoint, path)``...
* ``quecemu_scenarios``: ``.check("tests/registration.yaml")`` runs a scenario file (on a
  module of its own, or ``port=quecemu_module.port``) and fails the test with the step, what
  was expected, what came and the transcript around it.

Imports are deferred to the fixtures: a suite that loads the plugin and uses none of them
pays nothing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import pytest

if TYPE_CHECKING:
    from emulator.app.serve import Emulator, ServedModule
    from emulator.controlplane.controls import Control
    from scenario_tool.driver import BootstrapConfig, Response, ServerEvent
    from scenario_tool.embedded import EmbeddedDriver
    from scenario_tool.runner import ScenarioResult

T = TypeVar("T")
EventT = TypeVar("EventT", bound="ServerEvent")

MARKER: Final = "quecemu_module"
PROFILE_OPTION: Final = "quecemu_profile"
CALL_TIMEOUT: Final = 120.0  # seconds any one call into the loop may take (a hung test fails)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(PROFILE_OPTION, "module model (or profile file) of quecemu_module", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(profile=None, imei=None, map=(), allow_external=False): "
        "which virtual module the quecemu_module fixture serves",
    )


# --------------------------------------------------------------------------- the loop
class BackgroundLoop:
    """One asyncio loop on a daemon thread; ``run`` waits for a coroutine from any thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="quecemu-loop", daemon=True
        )
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        future = asyncio.run_coroutine_threadsafe(work, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"quecemu: no result within {timeout:g} s") from None

    def close(self) -> None:
        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_rest(), 10.0)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10.0)
        self.loop.close()


# --------------------------------------------------------------------------- the module
class VirtualModuleHandle:
    """A virtual module serving its AT port on a pty, and the world around it.

    Give ``port`` to the firmware (or its serial library) as it would get ``/dev/ttyUSB2``.
    ``at()`` is one more host program on that port: it opens it, sends, and closes it, so
    call it when the firmware does not hold the port (two readers of one pty steal each
    other's bytes, as on a real UART).
    """

    def __init__(self, loop: BackgroundLoop, emulator: Emulator, served: ServedModule) -> None:
        self._loop = loop
        self._emulator = emulator
        self._served = served
        self.imei = served.imei
        self.profile = served.profile.name
        link = emulator.options.link
        self.port = str(link) if link is not None else served.ports[0].describe().split()[-1]

    @property
    def endpoint(self) -> str:
        """The LwM2M endpoint name the module uses by default (``urn:imei:<IMEI>``)."""
        return f"urn:imei:{self.imei}"

    def at(self, command: str, timeout: float = 5.0) -> list[str]:
        """Send one command line; its answer lines and final result code, e.g.
        ``["+CSQ: 24,99", "OK"]`` (an ``ERROR`` is returned, not raised)."""
        from client_api.channel import AtChannel
        from client_api.errors import CommandError

        channel = AtChannel(self.port)
        try:
            if not channel.wait_connected(timeout):
                raise TimeoutError(f"quecemu: cannot open {self.port}")
            try:
                response = channel.command(command, timeout)
            except CommandError as exc:
                return [*exc.lines, exc.final]
            return [*response.lines, response.final]
        finally:
            channel.close()

    def control(self, control: Control) -> dict[str, Any]:
        """Apply one of the module's world controls (``emulator.controlplane.controls``, as
        ``serve --control`` does) on the module's own loop; what happened, or ControlError
        with the module's reason (``the module is already on``...)."""
        from emulator.controlplane.controls import apply_control

        host = self._served.host

        async def apply() -> dict[str, Any]:
            result: dict[str, Any] = {}

            def change(now: float) -> None:
                result.update(apply_control(host.module, control, now))

            host.apply(change)
            return result

        return self._loop.run(apply())

    def set_signal(self, rssi: int, ber: int = 99) -> None:
        """``+CSQ: <rssi>,<ber>`` from now on (27.007 §8.5: 0-31, 99 unknown)."""
        from emulator.controlplane.controls import SetSignal

        self.control(SetSignal(rssi=rssi, ber=ber))

    def set_coverage(self, present: bool) -> None:
        """Leave (False) or come back into (True) network coverage: the module deregisters
        from the network, its PDP contexts go down, and back."""
        from emulator.controlplane.controls import SetCoverage

        self.control(SetCoverage(present=present))

    def remove_sim(self) -> None:
        from emulator.controlplane.controls import SetSim

        self.control(SetSim(inserted=False))

    def insert_sim(self) -> None:
        from emulator.controlplane.controls import SetSim

        self.control(SetSim(inserted=True))

    def refuse_pdp(self, refuse: bool = True) -> None:
        """The network refuses (or accepts again) PDP context activation."""
        from emulator.controlplane.controls import SetPdpReject

        self.control(SetPdpReject(reject=refuse))

    def deliver_sms(self, text: str, sender: str = "+8613912345678") -> None:
        """The network delivers an SMS to the module (+CMTI / +CMT as configured)."""
        from emulator.controlplane.controls import DeliverSms

        self.control(DeliverSms(sender=sender, text=text))

    def reboot(self) -> None:
        """As AT+CFUN=1,1: the port goes quiet, then the boot URCs come again."""
        from emulator.controlplane.controls import Reboot

        self.control(Reboot())

    def set_power(self, on: bool) -> None:
        """The power key: off as AT+QPOWD (``POWERED DOWN``, the port dead), on boots it."""
        from emulator.controlplane.controls import SetPower

        self.control(SetPower(on=on))


@pytest.fixture(scope="session")
def quecemu_loop() -> Iterator[BackgroundLoop]:
    """The background loop every quecemu fixture runs on."""
    loop = BackgroundLoop()
    yield loop
    loop.close()


@pytest.fixture
def quecemu_module(
    request: pytest.FixtureRequest, quecemu_loop: BackgroundLoop, tmp_path: Path
) -> Iterator[VirtualModuleHandle]:
    """A fresh virtual module for this test, booted, its AT port on a pty."""
    from emulator.app.serve import Emulator, ServeConfigError, ServeOptions

    marker = request.node.get_closest_marker(MARKER)
    given: Mapping[str, Any] = marker.kwargs if marker is not None else {}
    unknown = set(given) - {"profile", "imei", "map", "allow_external"}
    if unknown:
        raise pytest.UsageError(f"@pytest.mark.{MARKER}: unknown {', '.join(sorted(unknown))}")
    profile = given.get("profile") or request.config.getini(PROFILE_OPTION) or "EC200U"
    options = ServeOptions(
        profile=str(profile),
        imei=given.get("imei"),
        link=tmp_path / "ttyQ",
        network_map=tuple(given.get("map", ())),
        allow_external=bool(given.get("allow_external", False)),
    )
    emulator = Emulator(options)
    try:
        emulator.prepare()
    except ServeConfigError as exc:
        raise pytest.UsageError(f"quecemu_module: {exc}") from None
    quecemu_loop.run(emulator.start())
    try:
        yield VirtualModuleHandle(quecemu_loop, emulator, emulator.modules[0])
    finally:
        quecemu_loop.run(emulator.stop())


# --------------------------------------------------------------------------- the server
class ServerHandle:
    """The embedded LwM2M server, synchronously. ``driver`` is the scenario runner's
    :class:`~scenario_tool.embedded.EmbeddedDriver` (async, on the background loop):
    ``run(server.driver.discover(ep, "/3", timeout=5))`` reaches what is not wrapped here."""

    def __init__(self, loop: BackgroundLoop, driver: EmbeddedDriver) -> None:
        self._loop = loop
        self.driver = driver

    def run(self, work: Awaitable[T], timeout: float = CALL_TIMEOUT) -> T:
        async def wrapped() -> T:
            return await work

        return self._loop.run(wrapped(), timeout)

    @staticmethod
    def _uri(scheme: str, address: tuple[str, int] | None) -> str:
        assert address is not None
        return f"{scheme}://{address[0]}:{address[1]}"

    @property
    def uri(self) -> str:
        """``coap://127.0.0.1:<port>``: give it to the module as its LwM2M server."""
        return self._uri("coap", self.driver.coap_address())

    @property
    def secure_uri(self) -> str:
        return self._uri("coaps", self.driver.coaps_address())

    @property
    def bootstrap_uri(self) -> str:
        return self._uri("coap", self.driver.bootstrap_address(False))

    @property
    def events(self) -> list[ServerEvent]:
        """Everything the server reported so far, in order."""
        return list(self.driver.events.events)

    def wait(
        self, kind: type[EventT], endpoint: str, timeout: float = 10.0, *, path: str | None = None
    ) -> EventT:
        """The next ``kind`` event (``Registered``, ``Updated``, ``Deregistered``,
        ``BootstrapEnded``, ``Notified``) of ``endpoint`` that no wait took yet."""
        return self._loop.run(self.driver.events.take(kind, endpoint, timeout, path=path))

    def read(
        self, endpoint: str, path: str, *, content_format: str | None = None, timeout: float = 10
    ) -> Response:
        return self.run(
            self.driver.read(endpoint, path, content_format=content_format, timeout=timeout)
        )

    def write(
        self,
        endpoint: str,
        path: str,
        value: Any,
        *,
        value_type: str | None = None,
        content_format: str | None = None,
        timeout: float = 10,
    ) -> Response:
        return self.run(
            self.driver.write(
                endpoint, path, value, value_type, content_format=content_format, timeout=timeout
            )
        )

    def execute(
        self, endpoint: str, path: str, args: str | None = None, *, timeout: float = 10
    ) -> Response:
        return self.run(self.driver.execute(endpoint, path, args, timeout=timeout))

    def observe(
        self, endpoint: str, path: str, *, content_format: str | None = None, timeout: float = 10
    ) -> Response:
        return self.run(
            self.driver.observe(endpoint, path, content_format=content_format, timeout=timeout)
        )

    def set_psk(self, endpoint: str, identity: str, key: bytes) -> None:
        self.run(self.driver.set_psk(endpoint, identity, key))

    def configure_bootstrap(self, endpoint: str, config: BootstrapConfig) -> None:
        self.run(self.driver.configure_bootstrap(endpoint, config))


@pytest.fixture
def quecemu_server(quecemu_loop: BackgroundLoop) -> Iterator[ServerHandle]:
    """The embedded LwM2M server on free loopback ports, for this test."""
    from scenario_tool.embedded import EmbeddedDriver

    driver = EmbeddedDriver()
    quecemu_loop.run(driver.start())
    try:
        yield ServerHandle(quecemu_loop, driver)
    finally:
        quecemu_loop.run(driver.close())


# --------------------------------------------------------------------------- scenarios
class ScenarioRunner:
    """Runs scenario files (or text) as ``quecemu scenario run`` does, one transcript per
    test (``transcript``)."""

    def __init__(self, loop: BackgroundLoop, transcript: Path) -> None:
        from scenario_tool.transcript import Transcript

        self._loop = loop
        self.transcript_path = transcript
        self.transcript = Transcript(transcript)

    def run(
        self,
        source: str | Path,
        *,
        port: str | None = None,
        profile: str | None = None,
        reset_module: bool = True,
        server: str = "embedded",
        leshan_url: str | None = None,
    ) -> ScenarioResult:
        """One scenario: a file path, or YAML text (a string with a newline). A file that
        is refused raises :class:`~scenario_tool.errors.ScenarioFormatError` (file, line,
        reason); ``port``: run on that module (e.g. ``quecemu_module.port``), rebooted and
        reset first unless ``reset_module=False``."""
        from scenario_tool.format import load_scenario, parse_scenario
        from scenario_tool.runner import Runner, RunOptions

        if isinstance(source, str) and "\n" in source:
            scenario = parse_scenario(source, "<test>")
        else:
            scenario = load_scenario(source)
        options = RunOptions(
            server=server,
            leshan_url=leshan_url,
            port=port,
            profile=profile,
            reset_module=reset_module,
        )
        runner = Runner(options, self.transcript)
        return self._loop.run(runner.run(scenario), scenario.timeout + 30)

    def check(self, source: str | Path, **options: Any) -> ScenarioResult:
        """:meth:`run`, failing the test unless the scenario passed (or was skipped)."""
        result = self.run(source, **options)
        if result.outcome not in ("passed", "skipped"):
            pytest.fail(self.explain(result), pytrace=False)
        return result

    def explain(self, result: ScenarioResult) -> str:
        """The failure, and the transcript lines around it."""
        line = result.steps[-1].transcript_line if result.steps else result.last_line
        excerpt = self.transcript.excerpt(max(result.first_line, line - 30), line + 5)
        return (
            f"{result.scenario.display_name}: {result.outcome}: {result.message}\n"
            f"{excerpt}\n(whole transcript: {self.transcript_path})"
        )


@pytest.fixture
def quecemu_scenarios(quecemu_loop: BackgroundLoop, tmp_path: Path) -> Iterator[ScenarioRunner]:
    """Run scenario files from a test; the transcript is ``tmp_path/"transcript.txt"``."""
    runner = ScenarioRunner(quecemu_loop, tmp_path / "transcript.txt")
    try:
        yield runner
    finally:
        runner.transcript.close()


__all__: Sequence[str] = (
    "BackgroundLoop",
    "ScenarioRunner",
    "ServerHandle",
    "VirtualModuleHandle",
    "quecemu_loop",
    "quecemu_module",
    "quecemu_scenarios",
    "quecemu_server",
)
