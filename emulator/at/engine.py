"""The AT engine: framing, echo, dispatch, result codes and URC placement. No I/O.

Inputs: ``receive_data(bytes, now)``, ``queue_urc(text, now)``, ``handle_timer(now)``.
Outputs: ``data_to_send()`` and ``get_timer()``. The adapter feeds bytes, drains output and
re-arms one timer (the pattern of aioquic's sans-I/O QUIC core).

Framing follows ITU-T V.250 §5.2: a line ends with S3 (CR); LF (S4) after it is ignored;
S5 (backspace) edits; ``A/`` repeats the previous line. Responses and URCs are framed as
Quectel frames them: ``<CR><LF>text<CR><LF>`` with ATV1, ``text<CR><LF>`` / ``<code><CR>``
with ATV0 (Quectel's "LTE Standard" AT manuals).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.at.errors import AtError, CmeError, CmsError, SyntaxAtError
from emulator.at.parser import Args, Form, ParsedCommand, split_line
from emulator.at.registry import CommandRegistry, DataInput, OnlineData, Response

log = logging.getLogger(__name__)

CR = 0x0D
LF = 0x0A
BS = 0x08

# V.250 §5.7.1 numeric result codes (ATV0).
NUMERIC_RESULTS = {
    "OK": "0",
    "CONNECT": "1",
    "RING": "2",
    "NO CARRIER": "3",
    "ERROR": "4",
    "NO DIALTONE": "6",
    "BUSY": "7",
    "NO ANSWER": "8",
}

MAX_HELD_URCS = 256  # URCs held during a long command; beyond that the oldest are dropped
CTRL_Z = 0x1A  # ends a prompt's data (27.005 §3.5.1, Quectel's "> " inputs)
ESC = 0x1B  # cancels a Ctrl-Z-ended input
PLUS = 0x2B  # the escape character of online data mode (V.250 S2)
ESCAPE_LENGTH = 3  # "+++"


@dataclass
class _DataMode:
    """Raw input after a ``> `` or ``CONNECT`` prompt (see DataInput)."""

    request: DataInput
    deadline: float | None
    data: bytearray = field(default_factory=bytearray)


@dataclass
class _OnlineMode:
    """Transparent data mode (see OnlineData): where the ``+++`` escape stands."""

    request: OnlineData
    last_input: float  # when the host last typed (CONNECT counts as the start of silence)
    pluses: int = 0  # escape characters held back, not yet known to be data
    first_plus: float = 0.0
    decide_at: float | None = None  # held pluses become an escape, or data, at this time


@dataclass
class EngineSettings:
    """The V.250/27.007 settings the engine renders with (saved by AT&W, restored by ATZ)."""

    echo: bool = True  # ATE
    verbose: bool = True  # ATV
    quiet: bool = False  # ATQ
    cmee: int = 1  # AT+CMEE; Quectel's factory default is 1
    # Further AT&W-able settings owned by command families (AT+IPR, AT+IFC, AT&C, AT&D ...),
    # by name; their factory values come from the profile's "settings" like the four above.
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {
            **self.extra,
            "echo": int(self.echo),
            "verbose": int(self.verbose),
            "quiet": int(self.quiet),
            "cmee": self.cmee,
        }

    @classmethod
    def from_dict(cls, data: dict[str, int], defaults: EngineSettings) -> EngineSettings:
        known = ("echo", "verbose", "quiet", "cmee")
        extra = dict(defaults.extra)
        extra.update({k: int(v) for k, v in data.items() if k not in known})
        return cls(
            echo=bool(data.get("echo", defaults.echo)),
            verbose=bool(data.get("verbose", defaults.verbose)),
            quiet=bool(data.get("quiet", defaults.quiet)),
            cmee=int(data.get("cmee", defaults.cmee)),
            extra=extra,
        )


@dataclass(frozen=True)
class _Context:
    module: Any  # whatever the engine was given: the handlers know its type
    now: float


@dataclass
class EngineStats:
    lines: int = 0
    errors: int = 0
    urcs: int = 0
    urcs_dropped: int = 0


@dataclass
class AtEngine:
    """One AT port's command interpreter.

    ``module`` is handed to handlers; the engine itself only knows bytes and settings.
    """

    module: Any
    registry: CommandRegistry
    settings: EngineSettings = field(default_factory=EngineSettings)
    max_line_length: int = 1024
    latency: dict[str, float] = field(default_factory=dict)
    urc_before_echo: bool = False  # fault switch: hold URCs until the next command's echo
    urcs_here: bool = True  # AT+QURCCFG="urcport": False when URCs go to another port
    stats: EngineStats = field(default_factory=EngineStats)
    # Observers of what the port shows (the MQTT control plane): each URC's text as it is
    # written, and each command's response bytes (information lines, final result code,
    # a "> " prompt) as they go out, echo and URCs excluded. None costs nothing.
    urc_tap: Callable[[str], None] | None = None
    response_tap: Callable[[bytes], None] | None = None

    _line: bytearray = field(default_factory=bytearray)
    _line_bad: str | None = None
    _skip_lf: bool = False
    _last_line: str = ""
    _out: bytearray = field(default_factory=bytearray)
    _pending_input: bytearray = field(default_factory=bytearray)
    _busy_until: float | None = None
    _scheduled: bytes = b""
    _held_urcs: deque[str] = field(default_factory=deque)
    _quiet_until: float | None = None
    _executing: bool = False  # a line's handlers are running: URCs they raise wait
    _data_mode: _DataMode | None = None  # a prompt is taking raw data
    _online: _OnlineMode | None = None  # transparent access: the port carries a connection

    # ----------------------------------------------------------------- inputs
    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the host. Never raises: bad input becomes ERROR on the port."""
        if self._quiet_until is not None:
            return  # rebooting: the port is dead, input is lost as on hardware
        if self._busy_until is not None:
            self._pending_input += data
            if self._data_mode is None and len(self._pending_input) > 4 * self.max_line_length:
                del self._pending_input[: len(self._pending_input) - 4 * self.max_line_length]
            return
        self._consume(bytes(data), now)

    def queue_urc(self, text: str, now: float) -> None:
        """An unsolicited result code. Held while a command runs (27.007 §3: a URC is never
        placed inside a response) and delivered right after the final result code."""
        if self._quiet_until is not None or not self.urcs_here:
            return
        self.stats.urcs += 1
        if (
            self._executing
            or self._busy_until is not None
            or self._data_mode is not None
            or self._online is not None
            or self.urc_before_echo
        ):
            if len(self._held_urcs) >= MAX_HELD_URCS:
                self._held_urcs.popleft()
                self.stats.urcs_dropped += 1
            self._held_urcs.append(text)
            return
        self._write_urc(text)

    def handle_timer(self, now: float) -> None:
        if self._quiet_until is not None and now >= self._quiet_until:
            self._quiet_until = None
        online = self._online
        if online is not None and online.decide_at is not None and now >= online.decide_at:
            self._decide_escape(online, now)
        mode = self._data_mode
        if (
            mode is not None
            and self._busy_until is None
            and mode.deadline is not None
            and now >= mode.deadline
        ):
            self._data_mode = None
            request = mode.request
            if request.on_timeout is None:
                self._data_done(lambda: Response(final="ERROR"), now)
            else:
                on_timeout = request.on_timeout
                self._data_done(lambda: on_timeout(bytes(mode.data), now), now)
        if self._busy_until is not None and now >= self._busy_until:
            self._busy_until = None
            self._respond(self._scheduled)
            self._scheduled = b""
            self._release_held_urcs()
            if self._pending_input:
                pending = bytes(self._pending_input)
                self._pending_input.clear()
                self._consume(pending, now)

    def go_quiet(self, until: float) -> None:
        """Reboot: drop everything not yet sent after the current output, ignore input."""
        self._quiet_until = until
        self._busy_until = None
        self._scheduled = b""
        self._pending_input.clear()
        self._held_urcs.clear()
        self._line.clear()
        self._line_bad = None
        self._data_mode = None
        self._online = None

    def power_off(self) -> None:
        """AT+QPOWD: the port stays dead (input ignored, no URCs) until ``go_quiet`` is called
        again by a power-on. Output already rendered (``POWERED DOWN``) still goes out."""
        self.go_quiet(math.inf)

    @property
    def powered_off(self) -> bool:
        return self._quiet_until == math.inf

    def discard_partial_line(self) -> None:
        """Forget a command line not yet ended by CR (the host that typed it went away)."""
        self._line.clear()
        self._line_bad = None
        self._skip_lf = False

    # ---------------------------------------------------------------- outputs
    def data_to_send(self) -> bytes:
        if not self._out:  # the usual answer of a host draining after every event
            return b""
        data = bytes(self._out)
        self._out.clear()
        return data

    def get_timer(self) -> float | None:
        if (
            self._busy_until is None
            and self._quiet_until is None
            and self._data_mode is None
            and self._online is None
        ):
            return None  # idle (asked after every flush of every module of a fleet)
        deadline = self._data_mode.deadline if self._data_mode is not None else None
        escape = self._online.decide_at if self._online is not None else None
        times = [
            t
            for t in (self._busy_until, self._quiet_until, deadline, escape)
            if t is not None and t != math.inf
        ]
        return min(times) if times else None

    # ------------------------------------------------- results that come later
    @property
    def awaiting_result(self) -> bool:
        """A command answered ``deferred``: its final result code is still to come."""
        return self._busy_until == math.inf

    def complete(
        self,
        now: float,
        *,
        final: str | None = "OK",
        error: AtError | None = None,
        online: OnlineData | None = None,
    ) -> bool:
        """The final result of the command that answered ``deferred`` (e.g. ``CONNECT``
        with ``online``, or an error); False if none is awaited (a reboot came between)."""
        if not self.awaiting_result:
            return False
        self._busy_until = None
        if online is not None and error is None:
            self._start_online(online, now)  # first, so that URCs stay held after CONNECT
        self._finish([], error, now, 0.0, final=final)
        if self._pending_input:
            pending = bytes(self._pending_input)
            self._pending_input.clear()
            self._consume(pending, now)
        return True

    # ----------------------------------------------------- online data mode
    @property
    def in_online_mode(self) -> bool:
        """The port carries a connection's data (transparent access mode)."""
        return self._online is not None

    def write_online(self, data: bytes) -> None:
        """The connection's bytes, straight onto the port (online data mode only)."""
        if self._online is not None and self._quiet_until is None:
            self._out += data

    def end_online(self, now: float, result: str = "NO CARRIER") -> None:
        """The connection ended under the port (the peer closed, the PDP context went):
        back to command mode with ``result``; pluses held back are lost with the link."""
        if self._online is None:
            return
        self._online = None
        self._finish([], None, now, 0.0, final=result)

    def _start_online(self, request: OnlineData, now: float) -> None:
        self._online = _OnlineMode(request=request, last_input=now)
        self._line.clear()
        self._line_bad = None

    def _take_online(self, data: bytes, index: int, now: float) -> int:
        """Online data from ``data[index:]``: everything but a well-timed ``+++`` is the
        connection's. Bytes of one read share one ``now``, so once a byte of a read is data,
        no later plus of that read can start an escape (there was no silence before it):
        the rest goes as it is, in one piece."""
        mode = self._online
        assert mode is not None
        guard = mode.request.guard
        view = data[index:]
        out = bytearray()
        for at, byte in enumerate(view):
            if mode.pluses:
                if (
                    byte == PLUS
                    and mode.pluses < ESCAPE_LENGTH
                    and now - mode.first_plus <= guard
                ):
                    mode.pluses += 1
                    mode.decide_at = (
                        now + guard if mode.pluses == ESCAPE_LENGTH else mode.first_plus + guard
                    )
                    mode.last_input = now
                    continue
                out += bytes([PLUS]) * mode.pluses  # not an escape after all: data
                mode.pluses = 0
                mode.decide_at = None
            elif byte == PLUS and now - mode.last_input >= guard:
                mode.pluses = 1
                mode.first_plus = now
                mode.decide_at = now + guard
                mode.last_input = now
                continue
            out += view[at:]
            mode.last_input = now
            break
        if out:
            mode.request.on_data(bytes(out), now)
        return len(view)

    def _decide_escape(self, mode: _OnlineMode, now: float) -> None:
        """Guard time over with pluses held: three are the escape, fewer are data."""
        mode.decide_at = None
        if mode.pluses < ESCAPE_LENGTH:
            held = bytes([PLUS]) * mode.pluses
            mode.pluses = 0
            mode.request.on_data(held, now)
            return
        self._online = None
        self._executing = True
        try:
            mode.request.on_escape(now)
        except Exception:
            log.exception("online data escape handler failed")
        finally:
            self._executing = False
        self._finish([], None, now, 0.0, final="OK")

    @property
    def in_data_mode(self) -> bool:
        """A ``> `` or ``CONNECT`` prompt is taking raw data."""
        return self._data_mode is not None

    @property
    def busy(self) -> bool:
        return self._busy_until is not None

    @property
    def quiet(self) -> bool:
        return self._quiet_until is not None

    @property
    def idle(self) -> bool:
        """Between command lines: nothing half-typed, running, pending or prompting, so a
        line from elsewhere (the control plane) can be run without mixing into another's."""
        return (
            self._quiet_until is None
            and self._busy_until is None
            and self._data_mode is None
            and not self._executing
            and not self._line
            and not self._pending_input
        )

    # --------------------------------------------------------------- framing
    def _consume(self, data: bytes, now: float) -> None:
        index = 0
        while index < len(data):
            if self._data_mode is not None and self._busy_until is None:
                index += self._take_data(data, index, now)
                continue
            if self._online is not None and self._busy_until is None:
                index += self._take_online(data, index, now)
                continue
            byte = data[index]
            index += 1
            if self._busy_until is not None or self._quiet_until is not None:
                # The line just completed made us busy: the rest waits its turn.
                if self._busy_until is not None:
                    self._pending_input += data[index - 1 :]
                return
            if byte == LF and self._skip_lf:
                self._skip_lf = False
                continue
            self._skip_lf = False
            if byte == LF and not self._line:
                continue  # a stray LF between lines: S4 is ignored on input
            if not self._line and self._held_urcs and self.urc_before_echo:
                self._release_held_urcs(at_echo=True)
            if self.settings.echo:
                self._out.append(byte)
            if byte == CR:
                self._skip_lf = True
                self._end_of_line(now)
                continue
            if byte == BS:
                if self._line:
                    self._line.pop()
                continue
            if byte == 0 or byte > 0x7E or (byte < 0x20 and byte != 0x09):
                self._line_bad = self._line_bad or f"byte 0x{byte:02x} not allowed in a command"
                continue
            if len(self._line) >= self.max_line_length:
                self._line_bad = f"line longer than {self.max_line_length} characters"
                continue
            self._line.append(byte)
            if len(self._line) == 2 and self._line.upper() == b"A/":
                # V.250 §5.2.4: "A/" repeats the last command line at once, without CR.
                self._line.clear()
                self._execute_line(self._last_line, now)

    # ------------------------------------------------------------- data mode
    def _take_data(self, data: bytes, index: int, now: float) -> int:
        """Feed raw prompt input from ``data[index:]``; return how many bytes it took."""
        mode = self._data_mode
        assert mode is not None
        request = mode.request
        if request.length is not None:
            wanted = request.length - len(mode.data)
            chunk = data[index : index + wanted]
            mode.data += chunk
            if request.echo and self.settings.echo:
                self._out += chunk
            if len(mode.data) >= request.length:
                self._data_mode = None
                payload = bytes(mode.data)
                self._data_done(lambda: request.on_data(payload, now), now)
            return len(chunk)
        taken = 0
        end: int | None = None
        for byte in data[index:]:
            taken += 1
            if byte in (CTRL_Z, ESC):
                end = byte
                break
            if len(mode.data) < request.max_length + 1:
                mode.data.append(byte)  # one byte over the limit tells on_data it overflowed
                if request.line_prompts and byte == CR:
                    self._out += request.prompt
                elif request.echo and self.settings.echo:
                    self._out.append(byte)
        if end == CTRL_Z:
            self._data_mode = None
            payload = bytes(mode.data)
            self._data_done(lambda: request.on_data(payload, now), now)
        elif end == ESC:
            self._data_mode = None
            on_cancel = request.on_cancel
            self._data_done((lambda: on_cancel(now)) if on_cancel is not None else Response, now)
        return taken

    def _data_done(self, answer: Callable[[], Response], now: float) -> None:
        """The input is complete (or cancelled, or timed out): the command's final answer."""
        self._executing = True
        try:
            try:
                response = answer()
            except AtError as exc:
                self._finish([], exc, now, 0.0)
                return
            except Exception:
                log.exception("data input handler failed")
                self._finish([], SyntaxAtError("internal error in a data input"), now, 0.0)
                return
        finally:
            self._executing = False
        blocks = [(response.lines, response.data)] if response.lines or response.data else []
        self._finish(blocks, None, now, response.delay, final=response.final)
        if response.data_input is not None:
            self._start_data(response.data_input, now)

    def _start_data(self, request: DataInput, now: float) -> None:
        deadline = now + request.timeout if request.timeout is not None else None
        self._data_mode = _DataMode(request=request, deadline=deadline)
        if self._busy_until is not None:
            self._scheduled += request.prompt
        else:
            self._respond(request.prompt)

    def _end_of_line(self, now: float) -> None:
        text = self._line.decode("ascii")
        bad = self._line_bad
        self._line.clear()
        self._line_bad = None
        if bad is not None:
            self._finish([], SyntaxAtError(bad), now, 0.0)
            return
        stripped = text.strip(" \t")
        if not stripped:
            return  # an empty line gets no answer
        self._last_line = stripped
        self._execute_line(stripped, now)

    # -------------------------------------------------------------- dispatch
    def _execute_line(self, text: str, now: float) -> None:
        self.stats.lines += 1
        if text[:2] not in ("AT", "at"):
            self._finish([], SyntaxAtError("a command line starts with AT"), now, 0.0)
            return
        try:
            commands = split_line(text[2:])
        except SyntaxAtError as exc:
            self._finish([], exc, now, 0.0)
            return
        if not commands:
            self._finish([], None, now, self.latency.get("AT", 0.0))  # bare "AT"
            return
        blocks: list[tuple[list[str], bytes]] = []
        delay = 0.0
        final: str | None = "OK"
        ctx = _Context(module=self.module, now=now)
        error: AtError | None = None
        data_input: DataInput | None = None
        deferred = False
        online: OnlineData | None = None
        self._executing = True
        try:
            for command in commands:
                delay += self.latency.get(command.name, 0.0)
                try:
                    response = self._dispatch(command, ctx)
                except AtError as exc:
                    # 27.007 §9.2: an error ends the line; commands after it do not run.
                    error = exc
                    break
                except Exception:
                    # A handler bug must not take the port (or other modules) down: the
                    # host sees ERROR, the log has the stack.
                    log.exception("handler for %s failed", command.text)
                    error = SyntaxAtError(f"internal error in {command.name}")
                    break
                if response.lines or response.data:
                    blocks.append((response.lines, response.data))
                delay += response.delay
                final = response.final
                if response.data_input is not None:
                    # The prompt takes over the port: what follows on the line is not run.
                    data_input = response.data_input
                    final = None
                    break
                if response.deferred or response.online is not None:
                    # The port is the command's until its result (or the connection) ends.
                    deferred, online = response.deferred, response.online
                    final = None if deferred else final
                    break
        finally:
            self._executing = False
        if online is not None and error is None:
            self._start_online(online, now)  # first, so that URCs stay held after CONNECT
        self._finish(blocks, error, now, delay, final=final)
        if error is not None:
            return
        if data_input is not None:
            self._start_data(data_input, now)
        elif deferred:
            if self._busy_until is not None:  # the profile's latency: its lines go out now
                self._out += self._scheduled
                self._scheduled = b""
            self._busy_until = math.inf  # until complete(); input waits, URCs are held

    def _dispatch(self, command: ParsedCommand, ctx: _Context) -> Response:
        handler = self.registry.lookup(command.name, command.form)
        if handler is None:
            if self.registry.knows(command.name):
                raise SyntaxAtError(f"{command.name} has no {command.form.value} form")
            raise SyntaxAtError(f"unknown command {command.name}")
        if command.form is not Form.WRITE and command.args and command.name[0] in "+$^":
            raise SyntaxAtError("parameters given to a form that takes none")
        result = handler(ctx, Args(command.args))
        if result is None:
            return Response()
        if isinstance(result, list):
            return Response(lines=result)
        return result

    # ------------------------------------------------------------- rendering
    def _finish(
        self,
        blocks: list[tuple[list[str], bytes]],
        error: AtError | None,
        now: float,
        delay: float,
        *,
        final: str | None = "OK",
    ) -> None:
        out = bytearray()
        for lines, data in blocks:
            out += self._render_information(lines, data) if lines else data
        if error is not None:
            self.stats.errors += 1
            out += self._render_error(error)
        elif final is not None:
            out += self._render_final(final)
        if delay > 0:
            self._busy_until = now + delay
            self._scheduled = bytes(out)
        else:
            self._respond(bytes(out))
            self._release_held_urcs()

    def _render_information(self, lines: list[str], data: bytes = b"") -> bytes:
        """Lines are written as Latin-1 (one character per byte) so that a payload quoted in
        a line (+QMTRECV) keeps its bytes; ``data`` follows them unframed (AT+QHTTPREAD)."""
        if self.settings.verbose:
            text = "\r\n" + "\r\n".join(lines) + "\r\n"
        else:
            text = "".join(line + "\r\n" for line in lines)
        return text.encode("latin-1", "replace") + data

    def _render_final(self, code: str) -> bytes:
        if self.settings.quiet:
            return b""
        if self.settings.verbose:
            return f"\r\n{code}\r\n".encode("ascii")
        return f"{NUMERIC_RESULTS.get(code, code)}\r".encode("ascii")

    def _render_error(self, error: AtError) -> bytes:
        """The one place an error becomes bytes (V.250 ERROR, 27.007 §9.1 +CME ERROR)."""
        if isinstance(error, CmsError):
            # 27.005 §3.2.5: numeric, and not switched by AT+CMEE.
            if self.settings.quiet:
                return b""
            text = f"+CMS ERROR: {error.code}"
            return (f"\r\n{text}\r\n" if self.settings.verbose else f"{text}\r\n").encode()
        if isinstance(error, CmeError) and self.settings.cmee != 0:
            if self.settings.quiet:
                return b""
            detail = str(error.code) if self.settings.cmee == 1 else error.text
            text = f"+CME ERROR: {detail}"
            return (f"\r\n{text}\r\n" if self.settings.verbose else f"{text}\r\n").encode("ascii")
        return self._render_final("ERROR")

    def _respond(self, data: bytes) -> None:
        self._out += data
        if self.response_tap is not None:
            self.response_tap(data)

    def _write_urc(self, text: str) -> None:
        framed = f"\r\n{text}\r\n" if self.settings.verbose else f"{text}\r\n"
        self._out += framed.encode("latin-1", "replace")  # payload bytes as they came
        if self.urc_tap is not None:
            self.urc_tap(text)

    def _release_held_urcs(self, *, at_echo: bool = False) -> None:
        """Deliver held URCs: after a final result code normally, or, with the
        ``urc_before_echo`` fault switch, only when the next command line starts."""
        if (
            (self.urc_before_echo and not at_echo)
            or self._data_mode is not None
            or self._online is not None
        ):
            return
        while self._held_urcs:
            self._write_urc(self._held_urcs.popleft())
