"""``quecemu serve`` as a library: N modules, each on its own pty and/or TCP port.

``Emulator(options)`` checks the options and builds the modules (``prepare``, no I/O but
the state files), ``start()`` opens the ports, starts each ``ModuleHost`` and waits until
every module has booted, ``stop()`` undoes it all. All modules share one event loop and
one inotify descriptor: no thread per module, nothing runs while nobody talks.

Wiring of one module::

    host program -> port (pty / tcp) -> [trace RX] -> ModuleHost.feed
    ModuleHost sink -> [baud pacer] -> every port of the module -> host program
                                     \\-> [trace TX]
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from emulator.adapters.factory import hosted_module
from emulator.adapters.host import ModuleHost
from emulator.adapters.netmap import NetworkMap, NetworkMapError
from emulator.adapters.nvfile import STATE_DIR_MODE, STATE_FILE_MODE, FileNvStore
from emulator.adapters.port.fdlimit import (
    AcceptFailureReporter,
    FdLimitError,
    budget,
    ensure_fd_limit,
)
from emulator.adapters.port.pacing import BaudPacer
from emulator.adapters.port.port import Port, PortEvent
from emulator.adapters.port.pty import PtyPort
from emulator.adapters.port.tcp import TcpPort, format_address
from emulator.adapters.port.trace import DEFAULT_MAX_BYTES, TraceWriter
from emulator.at.redact import SecretMask
from emulator.module.events import BootCompleted, ModuleEvent
from emulator.module.nvstore import MemoryNvStore, NvStore
from emulator.module.profile import ModuleProfile, ProfileError, load_profile
from emulator.module.state import derive_imei, is_valid_imei

log = logging.getLogger(__name__)

MAX_COUNT = 2000  # two fds per pty module; far beyond what one host program drives
BOOT_TIMEOUT = 30.0  # seconds; a profile's whole boot sequence is well under a second
STOP_TIMEOUT = 10.0  # seconds for every module's services to stop together


class ServeConfigError(ValueError):
    """The options cannot work (bad IMEI, unknown profile, port range past 65535...)."""


@dataclass(frozen=True, kw_only=True)
class ServeOptions:
    """What ``quecemu serve`` was asked for (see ``emulator.app.cli`` for the flags)."""

    profile: str = "EC200U"  # built-in model name or a profile file
    imei: str | None = None  # IMEI of module 0; the profile's when None
    imei_offset: int = 0  # --replica R: module i gets the IMEI of index R * count + i
    count: int = 1
    pty: bool = True
    link: Path | None = None  # with count > 1, module i gets PATH<i>
    tcp: tuple[str, int] | None = None  # module i listens on port+i (or port 0: any)
    state_dir: Path | None = None  # NV settings in <state_dir>/<imei>.json
    trace: Path | None = None
    trace_max_bytes: int = DEFAULT_MAX_BYTES
    trace_secrets: bool = False  # PSKs in the trace as typed (debugging only)
    baud: int | None = None
    urc_before_echo: bool = False
    network_map: tuple[str, ...] = ()  # --map entries (NAME=ADDR, HOST:PORT=ADDR:PORT)
    allow_external: bool = False  # --allow-external: traffic may leave loopback


def module_imeis(first: str, count: int) -> list[str]:
    """IMEIs of a ``--count`` run: the first as given, the others derived from it."""
    if not is_valid_imei(first):
        reason = (
            "it is not 15 digits"
            if not (len(first) == 15 and first.isdigit())
            else "its check digit is wrong (3GPP TS 23.003 Annex B)"
        )
        raise ServeConfigError(f"IMEI {first!r} is not valid: {reason}")
    try:
        return [first] + [derive_imei(first, index) for index in range(1, count)]
    except ValueError as exc:
        raise ServeConfigError(f"--count {count} from IMEI {first}: {exc}") from exc


def link_path(link: Path, index: int, count: int) -> Path:
    """``--link /tmp/ttyQ`` is the link itself for one module, ``/tmp/ttyQ0``... for more."""
    return link if count == 1 else link.with_name(f"{link.name}{index}")


@dataclass
class ServedModule:
    """One module of a run and what carries its AT port."""

    index: int
    imei: str
    profile: ModuleProfile
    host: ModuleHost
    ports: list[Port] = field(default_factory=list)
    pacer: BaudPacer | None = None
    booted: asyncio.Future[None] | None = None
    started: bool = False

    @property
    def label(self) -> str:
        return f"{self.index} {self.imei}"

    def ready_line(self) -> str:
        """``module 0 EC200U IMEI 869339060001965 pty /dev/pts/5 link /tmp/ttyQ0``."""
        where = " ".join(port.describe() for port in self.ports)
        return f"module {self.index} {self.profile.name} IMEI {self.imei} {where}"

    def port_of(self, kind: type[PtyPort] | type[TcpPort]) -> Port | None:
        return next((p for p in self.ports if isinstance(p, kind)), None)


class Emulator:
    """The modules of one ``serve`` run."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.modules: list[ServedModule] = []
        self.warnings: list[str] = []
        self.trace: TraceWriter | None = None
        self.network_map = NetworkMap()
        self._started = False
        self._accept_failures: AcceptFailureReporter | None = None

    # ---------------------------------------------------------------- prepare
    def prepare(self) -> None:
        """Check the options and build the modules; raises ServeConfigError."""
        opts = self.options
        if not 1 <= opts.count <= MAX_COUNT:
            raise ServeConfigError(f"--count {opts.count} is not 1-{MAX_COUNT}")
        if not opts.pty and opts.tcp is None:
            raise ServeConfigError("no transport: give --tcp, or keep the pty")
        try:  # the soft limit goes up to the hard one; a count that cannot fit is refused
            fd_warning = ensure_fd_limit(budget(opts.count, pty=opts.pty, tcp=opts.tcp is not None))
        except FdLimitError as exc:
            raise ServeConfigError(str(exc)) from None
        if fd_warning is not None:
            self.warnings.append(fd_warning)
        if opts.baud is not None and opts.baud <= 0:
            raise ServeConfigError(f"--baud {opts.baud} is not a positive number")
        if opts.tcp is not None and opts.tcp[1] != 0 and opts.tcp[1] + opts.count - 1 > 65535:
            raise ServeConfigError(
                f"--tcp port {opts.tcp[1]} + {opts.count - 1} modules goes past 65535"
            )
        try:
            profile = load_profile(opts.profile)
        except ProfileError as exc:
            raise ServeConfigError(str(exc)) from exc
        try:
            self.network_map = NetworkMap.from_profile(profile).merged(
                NetworkMap.from_entries(opts.network_map, allow_external=opts.allow_external)
            )
        except NetworkMapError as exc:
            raise ServeConfigError(f"--map: {exc}") from exc
        imeis = module_imeis(opts.imei or profile.identity.imei, opts.imei_offset + opts.count)
        imeis = imeis[opts.imei_offset :]
        if opts.state_dir is not None:
            try:
                opts.state_dir.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
                mode = opts.state_dir.stat().st_mode & 0o777
            except OSError as exc:
                raise ServeConfigError(
                    f"--state-dir {opts.state_dir}: {exc.strerror or exc}"
                ) from exc
            if mode & 0o077:  # the user's own directory: say so, do not change it
                self.warnings.append(
                    f"--state-dir {opts.state_dir} is open to other users ({mode:04o}); the "
                    f"state files in it are {STATE_FILE_MODE:04o}, but their names (IMEIs) "
                    f"show: chmod 700 {opts.state_dir}"
                )
        for index, imei in enumerate(imeis):
            self.modules.append(self._build(index, imei, profile))

    def _build(self, index: int, imei: str, profile: ModuleProfile) -> ServedModule:
        nv: NvStore
        if self.options.state_dir is not None:
            store = FileNvStore(self.options.state_dir / f"{imei}.json")
            self.warnings.extend(f"module {index}: {w}" for w in store.warnings)
            nv = store
        else:
            nv = MemoryNvStore()
        try:
            host = hosted_module(
                profile,
                imei=imei,
                nv=nv,
                network_map=self.network_map,
                urc_before_echo=self.options.urc_before_echo,
            )
        except ValueError as exc:  # a profile naming a command family that cannot load
            raise ServeConfigError(f"profile {profile.name}: {exc}") from exc
        return ServedModule(index=index, imei=imei, profile=profile, host=host)

    # ------------------------------------------------------------------ start
    async def start(self) -> None:
        """Open every port, start every module, and wait for their boot to complete."""
        if not self.modules:
            self.prepare()
        opts = self.options
        self._accept_failures = AcceptFailureReporter(asyncio.get_running_loop())
        self._accept_failures.install()
        self._started = True
        try:
            if opts.trace is not None:
                self.trace = TraceWriter(opts.trace, max_bytes=opts.trace_max_bytes)
            for served in self.modules:
                await self._open_ports(served)
            for served in self.modules:
                served.started = True
                await served.host.start()
            await self._wait_booted()
        except BaseException:
            await self.stop()
            raise

    async def _open_ports(self, served: ServedModule) -> None:
        opts = self.options
        host, trace, label = served.host, self.trace, served.label
        # PSKs typed or read back are masked in the trace unless asked for (--trace-secrets).
        rx_mask, tx_mask = SecretMask(), SecretMask()
        reveal = opts.trace_secrets

        def from_host(data: bytes) -> None:
            if trace is not None:
                trace.record(label, "RX", data if reveal else rx_mask.feed(data))
            host.feed(data)

        def on_port_event(event: PortEvent) -> None:
            if trace is not None:
                trace.note(label, event.kind.upper(), event.peer)
            if event.kind == "open":
                # A new host starts on a clean line, as after a UART reconnect: whatever
                # the previous host half-typed must not prefix its first command.
                host.apply(lambda now: host.module.engine.discard_partial_line())

        if opts.pty:
            link = None if opts.link is None else link_path(opts.link, served.index, opts.count)
            served.ports.append(PtyPort(from_host, link=link, on_event=on_port_event))
        if opts.tcp is not None:
            address, first_port = opts.tcp
            port = first_port + served.index if first_port else 0
            try:
                served.ports.append(
                    await TcpPort.listen(from_host, address, port, on_event=on_port_event)
                )
            except OSError as exc:
                where = format_address(address, port)
                raise OSError(exc.errno, f"cannot listen on {where}: {exc.strerror}") from exc

        ports = served.ports

        def to_host(data: bytes) -> None:
            # What reached no port at all is traced as DROP, not TX: a boot URC sent while
            # nobody had the port open is lost, as on a UART with nothing attached.
            lost = min((port_.write(data) for port_ in ports), default=len(data))
            if trace is not None:
                # masking keeps every length, so the split below stays exact
                shown = data if reveal else tx_mask.feed(data)
                trace.record(label, "TX", shown[: len(data) - lost])
                trace.record(label, "DROP", shown[len(data) - lost :])

        if opts.baud is not None:
            pacer = BaudPacer(opts.baud, to_host)
            served.pacer = pacer
            host.add_sink(pacer.write)
        else:
            pacer = None
            host.add_sink(to_host)

        def backlog() -> int:
            held = max((port_.backlog_size for port_ in ports), default=0)
            return held + (pacer.queued if pacer is not None else 0)

        host.add_output_backlog(backlog)

    async def _wait_booted(self) -> None:
        loop = asyncio.get_running_loop()
        waits = []
        for served in self.modules:
            booted: asyncio.Future[None] = loop.create_future()

            def listener(event: ModuleEvent, booted: asyncio.Future[None] = booted) -> None:
                if isinstance(event, BootCompleted) and not booted.done():
                    booted.set_result(None)

            served.host.add_listener(listener)
            served.booted = booted
            waits.append(self._boot_output_sent(served, booted))
        try:
            await asyncio.wait_for(asyncio.gather(*waits), BOOT_TIMEOUT)
        except TimeoutError:
            late = [m.index for m in self.modules if m.booted is not None and not m.booted.done()]
            self.warnings.append(f"modules {late} did not finish booting in {BOOT_TIMEOUT:.0f} s")

    @staticmethod
    async def _boot_output_sent(served: ServedModule, booted: asyncio.Future[None]) -> None:
        """Booted, and with --baud, the boot URCs have left the (slow) line too."""
        await booted
        if served.pacer is not None:
            await served.pacer.wait_idle()

    # ------------------------------------------------------------------- stop
    async def stop(self) -> None:
        """Stop services, close ports (removing links), close the trace. Idempotent."""
        if not self._started:
            return
        self._started = False
        started = [m for m in self.modules if m.started]
        stopping = asyncio.gather(*(m.host.stop() for m in started), return_exceptions=True)
        try:
            results = await asyncio.wait_for(stopping, STOP_TIMEOUT)
        except TimeoutError:
            # A service stuck saying goodbye (an unreachable LwM2M server) must not keep
            # the links and ports alive; what did not finish is abandoned.
            self.warnings.append(f"module services did not stop within {STOP_TIMEOUT:.0f} s")
            results = [None] * len(started)
        for served, result in zip(started, results, strict=True):
            served.started = False
            if isinstance(result, BaseException):
                log.error("module %d did not stop cleanly: %r", served.index, result)
        for served in self.modules:
            if served.pacer is not None:
                served.pacer.close()
            for port in served.ports:
                with contextlib.suppress(OSError):
                    port.close()
                log.info("module %d %s: %s", served.index, port.describe(), port.stats)
        if self.trace is not None:
            self.trace.close()
        if self._accept_failures is not None:
            self._accept_failures.uninstall()
            self._accept_failures = None
