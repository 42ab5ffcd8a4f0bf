"""The scenario's side of the module's AT port: send command lines, collect answers and URCs.

Bytes from the module (an in-process ``ModuleHost`` sink, or an external emulator's TCP
socket or pty) go through :class:`LineSplitter` (sans-I/O) into lines. While a command is
outstanding, lines up to its final result code (V.250 §5.7.1, 27.007 §9.2) are its answer;
the echo of the command itself is set aside. Every other line is a URC. A line in the
middle of an answer that starts with a URC-only prefix (``+QLWURC:``, ``RDY`` ...) that the
command itself does not name is a URC too (pyserial's ``at_protocol`` example shows why this
ambiguity exists; our engine holds URCs during a command, so it only matters for external
emulators).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import termios
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from scenario_tool.errors import StepTimeout, Unreachable, os_reason

FINAL_RESULTS: Final = re.compile(
    r"(OK|ERROR|NO CARRIER|BUSY|NO ANSWER|NO DIALTONE|\+CME ERROR: ?.*|\+CMS ERROR: ?.*|[0-9]"
    r"|SEND OK|SEND FAIL)"  # AT+QISEND's final results (Quectel TCP/IP AT manual)
)
URC_PREFIXES: Final = (
    "+QLWURC:",
    "RDY",
    "+QIND:",
    "+QUSIM:",
    "+CPIN:",
    "+CFUN:",
    "+CREG:",
    "+CEREG:",
    "+CGREG:",
    "+QIURC:",
    "+QIOPEN:",
    "+QPING:",
    "+QMTSTAT:",
    "+QMTRECV:",
    "+QMTPING:",
    "+CMTI:",
    "+CTZV:",
    "+QNITZ:",
    "POWERED DOWN",
)
MAX_LINE: Final = 8192
REOPEN_INTERVAL: Final = 0.2  # seconds between tries to open a device path that went away


@dataclass
class LineSplitter:
    """Bytes in, complete lines out (CR, LF or CRLF end a line; empty lines are skipped)."""

    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        lines: list[str] = []
        while True:
            cut = min(
                (i for i in (self._buffer.find(b"\r"), self._buffer.find(b"\n")) if i >= 0),
                default=-1,
            )
            if cut < 0:
                if len(self._buffer) > MAX_LINE:  # a runaway line: hand it over as it is
                    lines.append(self._buffer.decode("latin-1"))
                    self._buffer.clear()
                return lines
            raw = bytes(self._buffer[:cut])
            del self._buffer[: cut + 1]
            if raw:
                lines.append(raw.decode("latin-1"))

    def pending(self) -> str:
        """An unterminated tail (e.g. a ``>`` prompt)."""
        return self._buffer.decode("latin-1")

    def discard_pending(self) -> None:
        """Forget the unterminated tail (a prompt that has been answered)."""
        self._buffer.clear()


@dataclass(frozen=True, kw_only=True)
class AtAnswer:
    command: str
    lines: tuple[str, ...]  # information lines and the final result code, echo excluded
    final: str
    echo: bool
    started: float
    finished: float


@dataclass(frozen=True, kw_only=True)
class Urc:
    text: str
    at: float
    transcript_line: int


@dataclass
class _Pending:
    command: str
    started: float
    future: asyncio.Future[AtAnswer]
    lines: list[str] = field(default_factory=list)
    echo: bool = False
    prompt: asyncio.Future[None] | None = None  # set when the command's "> " has come
    payload_echo: str | None = None  # the payload as the module echoes it (ATE1)


LineObserver = Callable[[str, str, float], int]  # direction ("out"/"in"), text, time → line


class AtLink:
    """Send commands and wait for answers and URCs over some byte transport.

    ``write`` sends bytes to the module; the transport calls ``on_data`` with what the
    module says; ``observe`` sees every line both ways (the transcript).
    """

    def __init__(self, write: Callable[[bytes], None], observe: LineObserver | None = None) -> None:
        self._write = write
        self._observe = observe
        self._splitter = LineSplitter()
        self._pending: _Pending | None = None
        self.urcs: list[Urc] = []
        self._taken = 0  # URCs before this index were consumed by urc steps
        self._urc_waiters: list[asyncio.Future[None]] = []
        self._lock = asyncio.Lock()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- input
    def on_data(self, data: bytes) -> None:
        for line in self._splitter.feed(data):
            self._on_line(line)
        pending = self._pending
        if (
            pending is not None
            and pending.prompt is not None
            and not pending.prompt.done()
            and self._splitter.pending().endswith("> ")
        ):
            # 27.005 §3.5.1: "<CR><LF>> " asks for the message; it is no line of the answer.
            self._splitter.discard_pending()
            pending.prompt.set_result(None)

    def _on_line(self, line: str) -> None:
        now = self._now()
        number = self._observe("in", line, now) if self._observe else 0
        pending = self._pending
        if pending is not None and not pending.future.done():
            if not pending.echo and not pending.lines and line.strip() == pending.command.strip():
                pending.echo = True
                return
            if pending.payload_echo is not None and line.strip() == pending.payload_echo:
                pending.payload_echo = None
                return
            if not self._is_urc(line, pending.command):
                pending.lines.append(line)
                if FINAL_RESULTS.fullmatch(line.strip()):
                    if pending.prompt is not None and not pending.prompt.done():
                        pending.prompt.set_result(None)
                    pending.future.set_result(
                        AtAnswer(
                            command=pending.command,
                            lines=tuple(pending.lines),
                            final=line.strip(),
                            echo=pending.echo,
                            started=pending.started,
                            finished=now,
                        )
                    )
                return
        self.urcs.append(Urc(text=line, at=now, transcript_line=number))
        for waiter in self._urc_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._urc_waiters.clear()

    @staticmethod
    def _is_urc(line: str, command: str) -> bool:
        upper = command.upper()
        for prefix in URC_PREFIXES:
            if line.startswith(prefix):
                name = prefix.rstrip(":")
                return name not in upper
        return False

    # -- commands
    async def command(self, line: str, timeout: float, payload: str | None = None) -> AtAnswer:
        """Send ``line`` + CR and return its answer; one command at a time. With
        ``payload``, the command must answer with the ``> `` prompt (AT+CMGS, AT+CMGW):
        the payload and Ctrl-Z follow it (27.005 §3.5.1)."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            pending = _Pending(line, loop.time(), loop.create_future())
            if payload is not None:
                pending.prompt = loop.create_future()
            self._pending = pending
            data = line.encode("latin-1") + b"\r"
            if self._observe:
                self._observe("out", line + "\r", loop.time())
            try:
                self._write(data)
                if pending.prompt is not None and payload is not None:
                    # Set by the prompt, or by a final result that refused the command.
                    await asyncio.wait_for(asyncio.shield(pending.prompt), timeout)
                    if pending.future.done():  # refused at once: no prompt
                        return pending.future.result()
                    pending.payload_echo = payload.strip()
                    if self._observe:
                        self._observe("out", payload + "\x1a", loop.time())
                    self._write(payload.encode("latin-1", "replace") + b"\x1a")
                return await asyncio.wait_for(asyncio.shield(pending.future), timeout)
            except TimeoutError:
                got = " | ".join(pending.lines) if pending.lines else "nothing"
                raise StepTimeout(
                    f"no final result code for {line!r} within {timeout:g} s (got: {got})"
                ) from None
            finally:
                self._pending = None

    def port_lost(self) -> None:
        """The transport went away: the command in flight will get no answer; it fails now
        rather than at its timeout."""
        pending = self._pending
        if pending is not None and not pending.future.done():
            pending.future.set_exception(
                StepTimeout(f"the AT port went away during {pending.command!r}")
            )

    # -- URCs
    def untaken_urcs(self) -> list[Urc]:
        return self.urcs[self._taken :]

    async def take_urc(self, matches: Callable[[str], bool], timeout: float) -> Urc:
        """The first URC from the untaken ones on that ``matches``; the ones before it and it
        are taken (URC steps are ordered: each expects something after the previous one)."""
        urc = await self._wait_urc(self._taken, matches, timeout)
        if urc is None:
            raise StepTimeout("no such URC")
        self._taken = self.urcs.index(urc) + 1
        return urc

    async def next_new_urc(
        self, matches: Callable[[str], bool], timeout: float, *, since: int | None = None
    ) -> Urc | None:
        """A URC ``matches`` accepts among those arriving from now on, or from the
        ``since``-th URC (None: none came); nothing is taken."""
        return await self._wait_urc(len(self.urcs) if since is None else since, matches, timeout)

    def take_all_urcs(self) -> None:
        """Every URC so far counts as taken (a scenario's URC steps look at later ones)."""
        self._taken = len(self.urcs)

    async def _wait_urc(
        self, start: int, matches: Callable[[str], bool], timeout: float
    ) -> Urc | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        index = start
        while True:
            while index < len(self.urcs):
                if matches(self.urcs[index].text):
                    return self.urcs[index]
                index += 1
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            waiter = loop.create_future()
            self._urc_waiters.append(waiter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, remaining)


# --------------------------------------------------------------------------- external ports
class ExternalPort:
    """The AT port of an emulator (or module) outside this process: ``host:port`` (TCP) or a
    device path (a pty or serial device, put in raw mode). A device that goes away (a USB
    module re-enumerating after a reset) is opened again when its path is back; ``opens``
    counts the opens (:meth:`wait_opened` waits for the next)."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.on_data: Callable[[bytes], None] = lambda data: None
        self.on_gone: Callable[[], None] = lambda: None  # a device went away
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._reopen_task: asyncio.Task[None] | None = None
        self._fd: int | None = None
        self._closed = False
        self.opens = 0
        self.farewell = ""  # a TCP emulator's last line before it closed the connection
        self._tcp = False
        self._open_waiters: list[asyncio.Future[None]] = []

    def describe(self) -> str:
        return self.spec

    async def open(self, timeout: float = 5.0) -> None:
        target = self.spec.removeprefix("tcp://")
        if target.startswith("/") or target.startswith("."):
            self._open_device(target)
            return
        host, sep, port = target.rpartition(":")
        if not sep or not port.isdigit():
            raise Unreachable(
                f"--port {self.spec!r}: give HOST:PORT (TCP, as quecemu serve --tcp prints) "
                "or a device path such as /dev/pts/5"
            )
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host.strip("[]") or "127.0.0.1", int(port)), timeout
            )
        except TimeoutError:
            raise Unreachable(
                f"the emulator's AT port {self.spec} did not accept a connection in {timeout:g} s"
            ) from None
        except OSError as exc:
            reason = os_reason(exc)
            raise Unreachable(
                f"the emulator's AT port {self.spec} is not reachable: {reason}"
            ) from None
        self._writer = writer
        self._tcp = True
        self.farewell = ""

        async def pump() -> None:
            said = b""
            while True:
                try:
                    data = await reader.read(4096)
                except OSError:  # reset: we wrote after it had closed
                    break
                if not data:
                    break
                said = (said + data)[-512:]
                self.on_data(data)
            # The emulator closed the connection: its last line says why when it refused us
            # (quecemu serve: "AT port ... is in use by ..."); the command in flight fails now.
            if self._writer is writer and not self._closed:
                self._writer = None
                lines = said.decode("ascii", "replace").strip().splitlines()
                self.farewell = lines[-1].strip() if lines else ""
                writer.close()
                self.on_gone()

        self._reader_task = asyncio.create_task(pump(), name=f"at-port {self.spec}")

    def _open_device(self, path: str) -> None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            raise Unreachable(f"cannot open the AT port {path}: {exc.strerror}") from None
        with contextlib.suppress(termios.error):
            tty.setraw(fd)  # no echo, no CR/LF translation
            # What the module said before we opened is not an answer to us (pyserial flushes
            # the same way on open).
            termios.tcflush(fd, termios.TCIFLUSH)
        self._fd = fd
        self.opens += 1
        for waiter in self._open_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._open_waiters.clear()
        loop = asyncio.get_running_loop()

        def readable() -> None:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                return
            except OSError:
                self._device_gone(fd, path)  # EIO: the other side went away; no busy loop
                return
            if data:
                self.on_data(data)
            else:
                self._device_gone(fd, path)

        loop.add_reader(fd, readable)

    def _device_gone(self, fd: int, path: str) -> None:
        asyncio.get_running_loop().remove_reader(fd)
        with contextlib.suppress(OSError):
            os.close(fd)
        self._fd = None
        self.on_gone()
        if not self._closed:
            self._reopen_task = asyncio.create_task(self._reopen(path), name=f"reopen {path}")

    async def _reopen(self, path: str) -> None:
        """Open ``path`` again as soon as it is there (what the module said meanwhile is
        lost, as it is for any program on a port that went away)."""
        while not self._closed and self._fd is None:
            try:
                self._open_device(path)
            except Unreachable:
                await asyncio.sleep(REOPEN_INTERVAL)

    async def reconnect(self) -> None:
        """A TCP connection the emulator closed: connect again (a device comes back by
        itself, see :meth:`_reopen`). Raises :class:`Unreachable` if it cannot."""
        if self._tcp and self._writer is None and not self._closed:
            await self.open()

    @property
    def gone(self) -> bool:
        """A device that went away and is not open again (yet)."""
        return self._fd is None and self._writer is None

    async def wait_opened(self, after: int) -> None:
        """Return once the port has been opened more than ``after`` times."""
        while self.opens <= after:
            waiter = asyncio.get_running_loop().create_future()
            self._open_waiters.append(waiter)
            await waiter

    def write(self, data: bytes) -> None:
        if self._writer is not None:
            self._writer.write(data)
        elif self._fd is not None:
            # A full port buffer loses the bytes; the command then times out and says so.
            with contextlib.suppress(BlockingIOError):
                os.write(self._fd, data)

    async def close(self) -> None:
        self._closed = True
        if self._reopen_task is not None:
            self._reopen_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reopen_task
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
