"""``quecemu serve`` as a library: N modules, each on its own pty and/or TCP port, or headless.

``Emulator(options)`` checks the options and builds the modules (``prepare``, no I/O but
the state files), ``start()`` opens the ports, starts each ``ModuleHost`` and waits until
every module has booted, ``stop()`` undoes it all. All modules share one event loop and
one inotify descriptor: no thread per module, nothing runs while nobody talks.

A headless module (``--headless``) has no AT port until one is asked for
(:meth:`Emulator.open_port`, the ``port`` control line): it is driven through the control
plane, scenarios or this API, and costs no descriptor but its network sockets. That is what
lets one process hold 10,000 registered modules within an ordinary descriptor limit (a pty
costs two descriptors, and ``kernel.pty.max`` is often 4,096).

Wiring of one module::

    host program -> port (pty / tcp) -> [trace RX] -> ModuleHost.feed
    ModuleHost sink -> [baud pacer] -> every port of the module -> host program
                                     \\-> [trace TX]
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable
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
from emulator.app.fleet import FleetWatch, FullCollectionHold, GcPauses, LoopLag, stats_line
from emulator.at.redact import SecretMask
from emulator.at.registry import CommandRegistry
from emulator.module.events import BootCompleted, ModuleEvent
from emulator.module.nvstore import MemoryNvStore, NvStore
from emulator.module.profile import ModuleProfile, ProfileError, load_profile
from emulator.module.state import derive_imei, is_valid_imei
from emulator.module.virtual import build_registry

log = logging.getLogger(__name__)

MIN_FREEZE_INTERVAL = 30.0  # seconds between two collect-and-freeze passes (Emulator._settled)
MAX_COUNT = 100_000  # a sanity bound; the descriptor limit usually binds first (fd_budget)
#: Descriptors a module's network side may hold besides its AT port: the LwM2M client's one
#: socket (plain CoAP, or a DTLS session's). A second server or a TCP/MQTT connection from an
#: AT command takes more; those are the exception in a fleet and are left to the reserve.
NETWORK_FDS_PER_MODULE = 1
RESERVED_FDS = 64  # stdio, epoll, inotify, the trace, the control channel, a few spares
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
    headless: bool = False  # no AT port at start (one may be opened on demand)
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
        """``module 0 EC200U IMEI 869339060001965 pty /dev/pts/5 link /tmp/ttyQ0`` (or
        ``... headless`` for a module without an AT port)."""
        where = " ".join(port.describe() for port in self.ports) or "headless"
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
        self.watch: FleetWatch | None = None  # LwM2M status counts, failures reported
        self.lag = LoopLag()  # started by whoever wants readings (the control channel)
        self.gc_pauses = GcPauses()  # installed with the lag readings
        self.full_collections = FullCollectionHold()  # held while modules register
        self._started = False
        self._frozen_at = -MIN_FREEZE_INTERVAL
        self._accept_failures: AcceptFailureReporter | None = None

    # ---------------------------------------------------------------- prepare
    def prepare(self) -> None:
        """Check the options and build the modules; raises ServeConfigError."""
        opts = self.options
        if not 1 <= opts.count <= MAX_COUNT:
            raise ServeConfigError(f"--count {opts.count} is not 1-{MAX_COUNT}")
        if opts.headless and (opts.pty or opts.tcp is not None or opts.link is not None):
            raise ServeConfigError("--headless modules have no AT port: drop --tcp/--link/--pty")
        if not opts.headless and not opts.pty and opts.tcp is None:
            raise ServeConfigError("no transport: give --tcp, keep the pty, or --headless")
        try:  # the soft limit goes up to the hard one; a count that cannot fit is refused
            fd_warning = ensure_fd_limit(budget(opts.count, pty=opts.pty, tcp=opts.tcp is not None))
        except FdLimitError as exc:
            hint = "" if opts.headless else "; or --headless: no AT port until one is asked for"
            raise ServeConfigError(f"{exc}{hint}") from None
        if fd_warning is not None:
            self.warnings.append(fd_warning)
        check_pty_budget(opts)
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
        # The command table is data: one for all modules of the run (built per module, it was
        # the biggest part of a module's memory and of its construction time).
        try:
            registry = build_registry(profile)
        except ValueError as exc:  # a profile naming a command family that cannot load
            raise ServeConfigError(f"profile {profile.name}: {exc}") from exc
        for index, imei in enumerate(imeis):
            self.modules.append(self._build(index, imei, profile, registry))

    def _build(
        self, index: int, imei: str, profile: ModuleProfile, registry: CommandRegistry
    ) -> ServedModule:
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
                registry=registry,
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
                self._wire_output(served)
                if not opts.headless:
                    await self._open_ports(served)
            self.watch = FleetWatch(
                self.modules,
                log.warning,
                on_settled=self._settled,
                on_registering=self.full_collections.hold,
            )
            # The modules live as long as the run: once built, keep the collector from walking
            # them again on every full collection (10,000 of them take seconds each time),
            # before they start and a registration storm allocates at full speed.
            gc.collect()
            gc.freeze()
            for served in self.modules:
                served.started = True
                await served.host.start()
            await self._wait_booted()
        except BaseException:
            await self.stop()
            raise

    def _settled(self) -> None:
        """No module is registering any more: what the registrations built (each module's
        CoAP context, its exchanges' state) lives as long as they do. Collect once and freeze
        it, as at start, or every later full collection walks it again: after a storm of
        3,000 registrations that stalled the loop for 1.5-4 s during the next Updates (with
        this, the longest stall measured was 0.26 s)."""
        now = time.monotonic()
        if now - self._frozen_at >= MIN_FREEZE_INTERVAL:
            self._frozen_at = now
            # Only the young generations are collected first: a full collection over a
            # storm's worth of objects is the very stall this avoids (7 s at 10,000 modules on
            # a busy machine); what cyclic garbage is older stays frozen, a bounded one-time
            # cost.
            gc.collect(1)
            gc.freeze()
        # Full collections were held while the modules registered; with what they built
        # frozen, the next one walks only what came since.
        self.full_collections.release()

    # ------------------------------------------------------------------ ports
    async def open_port(
        self, index: int, kind: str = "pty", address: tuple[str, int] = ("127.0.0.1", 0)
    ) -> Port:
        """Give module ``index`` an AT port now: a pty, or a TCP listener on ``address``
        (port 0: any). Its output goes there from then on; a headless module starts to have
        an AT port this way. Raises ``ValueError`` (no such module, unknown kind) or
        ``OSError`` (no pty left, address in use)."""
        served = self.module(index)
        host, trace, label = served.host, self.trace, served.label
        from_host, on_port_event = self._port_callbacks(served)
        port: Port
        if kind == "pty":
            port = PtyPort(from_host, on_event=on_port_event)
        elif kind == "tcp":
            port = await TcpPort.listen(from_host, *address, on_event=on_port_event)
        else:
            raise ValueError(f"port kind {kind!r} is not pty or tcp")
        served.ports.append(port)
        if trace is not None:
            trace.note(label, "PORT", port.describe())
        host.apply(lambda now: host.module.engine.discard_partial_line())
        return port

    def close_port(self, index: int) -> int:
        """Close every AT port of module ``index`` (it runs on, headless); how many."""
        served = self.module(index)
        ports, served.ports[:] = list(served.ports), []
        for port in ports:
            with contextlib.suppress(OSError):
                port.close()
        return len(ports)

    def stats_line(self) -> str:
        """Counts, descriptors and the loop's lag since the last call (``stats`` control)."""
        watch = self.watch or FleetWatch([], log.warning)
        lag = self.lag.reading() if self.lag.running else None
        pauses = self.gc_pauses.reading() if self.lag.running else None
        return stats_line(watch, lag, sum(len(m.ports) for m in self.modules), pauses)

    def module(self, index: int) -> ServedModule:
        if not 0 <= index < len(self.modules):
            raise ValueError(f"no module {index} (there are {len(self.modules)})")
        return self.modules[index]

    def _port_callbacks(
        self, served: ServedModule
    ) -> tuple[Callable[[bytes], None], Callable[[PortEvent], None]]:
        host, trace, label = served.host, self.trace, served.label
        # PSKs typed are masked in the trace unless asked for (--trace-secrets).
        rx_mask, reveal = SecretMask(), self.options.trace_secrets

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

        return from_host, on_port_event

    def _wire_output(self, served: ServedModule) -> None:
        """Module output goes to whatever ports the module has (none while headless)."""
        trace, label, ports = self.trace, served.label, served.ports
        # PSKs read back are masked in the trace unless asked for (--trace-secrets).
        tx_mask, reveal = SecretMask(), self.options.trace_secrets

        def to_host(data: bytes) -> None:
            # What reached no port at all is traced as DROP, not TX: a boot URC sent while
            # nobody had the port open is lost, as on a UART with nothing attached (and all
            # of a headless module's output is).
            lost = min(port_.write(data) for port_ in ports) if ports else len(data)
            if trace is not None:
                # masking keeps every length, so the split below stays exact
                shown = data if reveal else tx_mask.feed(data)
                trace.record(label, "TX", shown[: len(data) - lost])
                trace.record(label, "DROP", shown[len(data) - lost :])

        pacer: BaudPacer | None = None
        if self.options.baud is not None:
            pacer = BaudPacer(self.options.baud, to_host)
            served.pacer = pacer
            served.host.add_sink(pacer.write)
        else:
            served.host.add_sink(to_host)

        def backlog() -> int:
            held = max((port_.backlog_size for port_ in ports), default=0)
            return held + (pacer.queued if pacer is not None else 0)

        served.host.add_output_backlog(backlog)

    async def _open_ports(self, served: ServedModule) -> None:
        opts = self.options
        from_host, on_port_event = self._port_callbacks(served)

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

    async def _wait_booted(self) -> None:
        loop = asyncio.get_running_loop()
        waits = []
        for served in self.modules:
            booted: asyncio.Future[None] = loop.create_future()

            def listener(event: ModuleEvent, booted: asyncio.Future[None] = booted) -> None:
                if isinstance(event, BootCompleted) and not booted.done():
                    booted.set_result(None)

            served.host.add_listener(listener, (BootCompleted,))
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
        self.lag.stop()
        self.gc_pauses.uninstall()
        self.full_collections.release()
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
        if self.watch is not None:
            self.watch.close()


def check_pty_budget(options: ServeOptions) -> None:
    """Refuse more ptys than the kernel has left (kernel.pty.max minus those in use)."""
    if options.headless or not options.pty:
        return
    try:
        most = int(Path("/proc/sys/kernel/pty/max").read_text())
        used = int(Path("/proc/sys/kernel/pty/nr").read_text())
    except (OSError, ValueError):
        return  # not Linux: openpty() says so itself
    if options.count > most - used:
        raise ServeConfigError(
            f"--count {options.count} needs {options.count} ptys; the kernel has "
            f"{most - used} left (kernel.pty.max {most}, {used} in use): use --headless or "
            "--tcp, or raise kernel.pty.max"
        )
