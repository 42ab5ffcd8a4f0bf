"""The host side of an AT port as a sans-I/O state machine.

Inputs: :meth:`AtSession.send_command` (returns the bytes to write),
:meth:`AtSession.receive_data` (bytes read from the port) and
:meth:`AtSession.handle_timer`, each with ``now``. Outputs are pulled with
:meth:`AtSession.next_event`; :meth:`AtSession.get_timer` says when to call back. The
threaded adapter in :mod:`client_api.channel` does the I/O (house style: aioquic's
connection vs. its asyncio protocol).

Framing (V.250 §5.7): the module frames every line ``<CR><LF>text<CR><LF>``; the echo of a
command line ends with the ``<CR>`` the host sent. Lines are therefore split at any CR or
LF and empty lines are dropped. One command is in flight at a time (V.250 §5.2.1: the DCE
does not take a new line until the final result code of the previous one).

Sorting lines while a command is in flight:

* The echo is the exact command text. With echo on, every line that comes before the
  echo cannot belong to this command: URCs are delivered, anything else is left over
  from an earlier (timed-out) command and reported as a :class:`StrayLine`.
* A line from the URC table (:mod:`client_api.at_data`) is a URC, except when it starts
  with a response prefix of the command in flight (``AT+CEREG?`` answers ``+CEREG:``) and
  does not have the unsolicited shape for that prefix (``+CEREG: 0,1`` answers,
  ``+CEREG: 1`` is unsolicited) — the ambiguity pyserial's AT example points out.
* While the echo setting is not known yet (first command, after a reset), a line that
  could be the answer is held, with what follows it, until the echo (then it preceded the
  echo: not the answer) or the final result code (then the echo is off) decides.
* A final result code ends the command; other lines are its information text.

Numeric result codes (ATV0, V.250 §5.7.1): the module then ends a command with
``<code><CR>`` and no LF, information text with ``<CR><LF>``. A line of one result-code
digit ended by a bare CR is that code (``0`` is ``OK``, ``4`` ``ERROR``, ``2`` ``RING``...);
the same digit ended by CR LF is text. When a chunk of input ends right after such a CR,
the LF cannot be seen yet: the line is taken as the code unless the module is known to be
in verbose mode (then an LF must follow, and the line waits for it). Which mode the module
is in is learnt from the final result codes themselves.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from client_api.at_data import (
    DEFAULT_URCS,
    FINAL_RESULT_LINES,
    NUMERIC_RESULT_CODES,
    UrcTable,
    is_final_result,
)

CR = 0x0D
LF = 0x0A
DEFAULT_MAX_LINE = 4096  # longer lines are dropped (and reported), bounding the buffer


# ------------------------------------------------------------------------------- events
@dataclass(frozen=True, kw_only=True)
class UrcReceived:
    """An unsolicited result code, as the whole line without its framing."""

    line: str  # e.g. '+QLWURC: "ready","successfully",1000'
    prefix: str  # the URC-table entry it matched, e.g. '+QLWURC:'
    received_at: float  # ``now`` of the receive_data call that completed the line


@dataclass(frozen=True, kw_only=True)
class CommandCompleted:
    """The command in flight got its final result code (``OK`` or an error)."""

    command: str
    lines: tuple[str, ...]  # information text, without echo and URCs
    final: str  # 'OK', 'ERROR', '+CME ERROR: 4', ...
    completed_at: float
    data: bytes = b""  # raw data the module sent after CONNECT (AT+QHTTPREAD)


@dataclass(frozen=True, kw_only=True)
class CommandTimedOut:
    """The command in flight got no final result code before its deadline."""

    command: str
    lines: tuple[str, ...]
    timeout: float


@dataclass(frozen=True, kw_only=True)
class StrayLine:
    """A line that is neither a URC nor part of the command in flight."""

    line: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class LineOverflow:
    """A line longer than the limit was dropped."""

    dropped_bytes: int
    limit: int


SessionEvent = UrcReceived | CommandCompleted | CommandTimedOut | StrayLine | LineOverflow


# ------------------------------------------------------------------ command description
class _Unchanged:
    """Marker: the command line does not touch the echo setting."""


UNCHANGED = _Unchanged()
EchoEffect = bool | None | _Unchanged  # True/False: ATE1/ATE0; None: ATZ/AT&F (unknown)

_EXTENDED_NAME = re.compile(r"[+$^][A-Za-z0-9!%\-./:_&]*")


@dataclass(frozen=True, kw_only=True)
class CommandShape:
    """What a command line tells us about its answer."""

    response_prefixes: frozenset[str]  # '+CEREG:' for AT+CEREG?
    echo_effect: EchoEffect
    changes_verbose: bool = False  # ATV, ATZ or AT&F: result codes may change form


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _basic_echo_effect(basic: str) -> EchoEffect:
    """Scan V.250 basic commands (``E0``, ``V1``, ``&F``, ``S3=13``...) for echo changes."""
    return _basic_effects(basic)[0]


def _basic_effects(basic: str) -> tuple[EchoEffect, bool]:
    """The echo effect, and whether the result-code form may change (ATV, ATZ, AT&F)."""
    effect: EchoEffect = UNCHANGED
    verbose = False
    index = 0
    while index < len(basic):
        letter = basic[index].upper()
        index += 1
        if letter == "&":
            letter = "&" + basic[index : index + 1].upper()
            index += 1
        elif letter == "S":
            while index < len(basic) and (basic[index].isdigit() or basic[index] in "=?"):
                index += 1
            continue
        elif letter == "D":
            break  # a dial string runs to the end of the command
        digits_start = index
        while index < len(basic) and basic[index].isdigit():
            index += 1
        digits = basic[digits_start:index]
        if letter == "E":
            effect = digits == "1"
        elif letter in ("Z", "&F"):
            effect = None
            verbose = True
        elif letter == "V":
            verbose = True
    return effect, verbose


def describe_command(command: str) -> CommandShape:
    """Response prefixes and echo effect of an AT command line (V.250 §5.2, §5.4)."""
    body = command[2:]
    prefixes: set[str] = set()
    effect: EchoEffect = UNCHANGED
    changes_verbose = False
    for part in _split_outside_quotes(body, ";"):
        text = part.strip()
        cut = len(text)
        for marker in "+$^":
            position = text.find(marker)
            if position != -1:
                cut = min(cut, position)
        basic, extended = text[:cut], text[cut:]
        if basic:
            basic_effect, verbose = _basic_effects(basic)
            if not isinstance(basic_effect, _Unchanged):
                effect = basic_effect
            changes_verbose = changes_verbose or verbose
        match = _EXTENDED_NAME.match(extended)
        if match and len(match.group(0)) > 1:
            prefixes.add(match.group(0).upper() + ":")
    return CommandShape(
        response_prefixes=frozenset(prefixes),
        echo_effect=effect,
        changes_verbose=changes_verbose,
    )


def check_command_line(command: str) -> None:
    """Raise ValueError unless ``command`` is one printable-ASCII line starting with AT."""
    if not command[:2].upper() == "AT":
        raise ValueError(f"an AT command line starts with AT: {command!r}")
    for char in command:
        if not " " <= char <= "~":
            raise ValueError(f"command line holds {char!r}; only printable ASCII is sent")


# ------------------------------------------------------------------------------ session
@dataclass
class _InFlight:
    command: str
    shape: CommandShape
    timeout: float
    deadline: float
    lines: list[str] = field(default_factory=list)
    echo_seen: bool = False
    early: list[tuple[str, float]] = field(default_factory=list)  # held while echo unknown
    payload: bytes | None = None  # sent at the module's "> " or CONNECT prompt
    raw_end: RawEnd | None = None  # the module sends raw data after CONNECT
    raw_after: RawAfter | None = None  # ... or after an information line (AT+QIRD)
    reading_raw: bool = False
    skip_lf: bool = False
    raw: bytearray = field(default_factory=bytearray)


RawEnd = Callable[[bytes], int | None]
"""Given the raw bytes after ``CONNECT`` so far, their total length once it is known."""

RawAfter = Callable[[str], int | None]
"""Given an information line of the answer, how many raw bytes follow its CRLF (None or 0:
none). Quectel's AT+QIRD answers ``+QIRD: <n>`` CRLF, then ``<n>`` bytes of data."""


@dataclass
class AtSession:
    """Command/response matching and URC separation for one AT port."""

    urcs: UrcTable = DEFAULT_URCS
    max_line: int = DEFAULT_MAX_LINE
    # Whether the module echoes: None until observed (or after ATZ / a timeout).
    echo_expected: bool | None = None
    # Whether result codes are verbose (ATV1, the factory setting) or numeric (ATV0):
    # learnt from each final result code; None when unknown.
    verbose_expected: bool | None = None

    _buffer: bytearray = field(default_factory=bytearray)
    _overflowing: int = 0  # bytes dropped from the current overlong line
    _after_cr: str | None = None  # a result-code digit line ended by CR: is an LF next?
    _in_flight: _InFlight | None = None
    _events: deque[SessionEvent] = field(default_factory=deque)
    _outgoing: bytearray = field(default_factory=bytearray)

    # ---------------------------------------------------------------------- inputs
    def send_command(
        self,
        command: str,
        now: float,
        timeout: float,
        *,
        payload: bytes | None = None,
        raw_end: RawEnd | None = None,
        raw_after: RawAfter | None = None,
    ) -> bytes:
        """Start ``command``; returns the bytes to write. One command at a time.

        ``payload`` is written when the module prompts for it (``> `` or ``CONNECT``):
        take it from :meth:`data_to_send`. ``raw_end`` says the module answers with raw
        data after ``CONNECT`` (then in ``CommandCompleted.data``) and how long it is.
        """
        check_command_line(command)
        if self._in_flight is not None:
            raise RuntimeError(f"{self._in_flight.command!r} is still in flight")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._in_flight = _InFlight(
            command=command,
            shape=describe_command(command),
            timeout=timeout,
            deadline=now + timeout,
            payload=payload,
            raw_end=raw_end,
            raw_after=raw_after,
        )
        if self._in_flight.shape.changes_verbose:
            self.verbose_expected = None  # its own final result code tells the new form
        return command.encode("ascii") + b"\r"

    def data_to_send(self) -> bytes:
        """Bytes to write now (a payload whose prompt has come)."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def receive_data(self, data: bytes, now: float) -> None:
        for byte in data:
            command = self._in_flight
            if command is not None and command.reading_raw:
                self._raw_byte(command, byte)
                continue
            if self._after_cr is not None:
                line, self._after_cr = self._after_cr, None
                if byte == LF:
                    self._text_line(line, now)  # <CR><LF>: text, e.g. an answer "0"
                    continue
                self._numeric_line(line, now)  # a bare <CR>: a numeric result code
            if byte in (CR, LF):
                if self._overflowing:
                    self._events.append(
                        LineOverflow(dropped_bytes=self._overflowing, limit=self.max_line)
                    )
                    self._overflowing = 0
                    self._buffer.clear()
                    continue
                if self._buffer:
                    line = self._buffer.decode("utf-8", "replace")
                    self._buffer.clear()
                    if byte == CR and line in NUMERIC_RESULT_CODES:
                        self._after_cr = line
                    else:
                        self._text_line(line, now)
                continue
            if self._overflowing or len(self._buffer) >= self.max_line:
                self._overflowing += 1 + len(self._buffer)
                self._buffer.clear()
                continue
            self._buffer.append(byte)
            if command is not None and command.payload is not None and self._buffer == b"> ":
                self._buffer.clear()  # the "> " prompt has no line end
                self._outgoing += command.payload
                command.payload = None
        if self._after_cr is not None and self.verbose_expected is not True:
            line, self._after_cr = self._after_cr, None
            self._numeric_line(line, now)

    def _raw_byte(self, command: _InFlight, byte: int) -> None:
        if command.skip_lf:
            command.skip_lf = False
            if byte == LF:
                return
        command.raw.append(byte)
        assert command.raw_end is not None
        total = command.raw_end(bytes(command.raw))
        if total is not None and len(command.raw) >= total:
            command.reading_raw = False

    def handle_timer(self, now: float) -> None:
        in_flight = self._in_flight
        if self._after_cr is not None and in_flight is not None and now >= in_flight.deadline:
            # No LF came after all: it was a numeric result code.
            line, self._after_cr = self._after_cr, None
            self._numeric_line(line, now)
        command = self._in_flight
        if command is not None and now >= command.deadline:
            self._in_flight = None
            if not command.echo_seen:
                # Echo was awaited in vain (a reset may have turned it off) or never
                # known: forget it, so the next command is not held up waiting for it.
                self.echo_expected = None
            self._events.append(
                CommandTimedOut(
                    command=command.command, lines=tuple(command.lines), timeout=command.timeout
                )
            )

    def reset(self) -> str | None:
        """The port was lost: drop the partial line and the command in flight.

        Returns the abandoned command, if any. The echo setting is forgotten, since a
        module that comes back may have rebooted.
        """
        self._buffer.clear()
        self._overflowing = 0
        self._after_cr = None
        self.echo_expected = None
        command = self._in_flight
        self._in_flight = None
        return command.command if command is not None else None

    # --------------------------------------------------------------------- outputs
    def next_event(self) -> SessionEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        return self._in_flight.deadline if self._in_flight is not None else None

    @property
    def command_in_flight(self) -> str | None:
        return self._in_flight.command if self._in_flight is not None else None

    # ---------------------------------------------------------------------- lines
    def _numeric_line(self, code: str, now: float) -> None:
        """``<code><CR>``: the module is in ATV0; the code stands for its verbose text."""
        self.verbose_expected = False
        self._handle_line(NUMERIC_RESULT_CODES[code], now)

    def _text_line(self, line: str, now: float) -> None:
        if line in FINAL_RESULT_LINES and self._in_flight is not None:
            self.verbose_expected = True  # "OK" in words: ATV1
        self._handle_line(line, now)

    def _handle_line(self, line: str, now: float) -> None:
        command = self._in_flight
        if command is not None and line == "CONNECT":
            if command.payload is not None:
                self._outgoing += command.payload
                command.payload = None
                return
            if command.raw_end is not None and not command.raw:
                command.reading_raw = True
                command.skip_lf = True
                command.echo_seen = command.echo_seen or self.echo_expected is not False
                return
        if command is None:
            prefix = self.urcs.prefix_of(line)
            if prefix is not None:
                self._urc(line, prefix, now)
            else:
                self._events.append(StrayLine(line=line, reason="no command in flight"))
            return
        # The echo comes before any answer line: after one, a line equal to the command is
        # part of the answer (AT+CLAC lists "AT+CLAC").
        if not command.echo_seen and not command.lines and line == command.command:
            command.echo_seen = True
            self.echo_expected = True
            # Nothing before the echo is the answer (the module answers after echoing).
            for early, at in command.early:
                self._sort(command, early, at, before_echo=True)
            command.early.clear()
            return
        if self.echo_expected is None and not command.echo_seen:
            # Echo not known yet: a line that would be taken for the answer may still turn
            # out to precede the echo. Hold it (and what follows, to keep the order) until
            # the echo or the final result code decides.
            if not is_final_result(line) and (command.early or self._would_answer(command, line)):
                command.early.append((line, now))
                return
            # A final result code with no echo before it: the echo is off. (Or a plain URC
            # with nothing held, which goes out as a URC either way.)
            for early, at in command.early:
                self._sort(command, early, at, before_echo=False)
            command.early.clear()
            self._sort(command, line, now, before_echo=False)
            return
        awaiting_echo = self.echo_expected is True and not command.echo_seen
        answered = len(command.lines)
        self._sort(command, line, now, before_echo=awaiting_echo)
        if len(command.lines) > answered:
            self._maybe_raw_after(command, line)

    def _maybe_raw_after(self, command: _InFlight, line: str) -> None:
        """An answer line announcing raw data (``+QIRD: <n>``): read ``<n>`` bytes raw."""
        if command.raw_after is None or command.raw:
            return
        length = command.raw_after(line)
        if length:
            command.raw_end = lambda raw, total=length: total
            command.reading_raw = True
            command.skip_lf = True

    def _would_answer(self, command: _InFlight, line: str) -> bool:
        prefix = self.urcs.prefix_of(line)
        return prefix is None or self._answers(command, line, prefix)

    def _sort(self, command: _InFlight, line: str, now: float, *, before_echo: bool) -> None:
        """Deliver ``line`` as a URC, a stray line (before the echo nothing is the answer),
        part of the answer, or its end."""
        urc_prefix = self.urcs.prefix_of(line)
        if urc_prefix is not None and (before_echo or not self._answers(command, line, urc_prefix)):
            self._urc(line, urc_prefix, now)
            return
        if before_echo:
            self._events.append(
                StrayLine(line=line, reason=f"before the echo of {command.command!r}")
            )
            return
        if is_final_result(line):
            self._complete(command, line, now)
            return
        command.lines.append(line)

    def _answers(self, command: _InFlight, line: str, prefix: str) -> bool:
        if prefix not in command.shape.response_prefixes:
            return False
        unsolicited = self.urcs.unsolicited_forms.get(prefix)
        return unsolicited is None or not unsolicited.match(line)

    def _urc(self, line: str, prefix: str, now: float) -> None:
        self._events.append(UrcReceived(line=line, prefix=prefix, received_at=now))

    def _complete(self, command: _InFlight, final: str, now: float) -> None:
        self._in_flight = None
        if not command.echo_seen:
            self.echo_expected = False
        effect = command.shape.echo_effect
        if final == "OK" and not isinstance(effect, _Unchanged):
            self.echo_expected = effect
        self._events.append(
            CommandCompleted(
                command=command.command,
                lines=tuple(command.lines),
                final=final,
                completed_at=now,
                data=bytes(command.raw),
            )
        )
