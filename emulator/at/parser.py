"""Parsing of one AT command line into commands and strictly typed parameters.

ITU-T V.250 §5.2-5.4 gives the shape: after the ``AT`` prefix come basic commands (one
letter or ``&`` + letter, an optional number) and extended commands (``+NAME``) in four
forms: action (``+X``), test (``+X=?``), read (``+X?``) and set (``+X=<p>,<p>``); several
are joined with ``;``. Quectel's AT manuals say the same: spaces outside
quotes are ignored, strings are in double quotes with no escape mechanism.
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from emulator.at.errors import IncorrectParameters, SyntaxAtError


class Form(enum.Enum):
    """The four forms of a command (V.250 §5.4.1 / 27.007 §1.4)."""

    EXEC = "exec"  # AT+X   (also every basic command: ATE0, ATZ, AT&W)
    TEST = "test"  # AT+X=?
    READ = "read"  # AT+X?
    WRITE = "write"  # AT+X=<params>


Value = int | str | None
"""A parsed parameter: a decimal number, a quoted string, or None where it was left out."""


@dataclass(frozen=True, kw_only=True)
class ParsedCommand:
    """One command of a line, e.g. ``+CEREG`` in ``AT+CEREG=2``."""

    name: str  # canonical upper case: "E", "&W", "+CEREG", "I"
    form: Form
    args: tuple[Value, ...]
    text: str  # the command as written (for traces and errors)


_BASIC_LETTERS = frozenset("ABDEHILMNOPQSTVXZ")
_AMP_LETTERS = frozenset("CDFKSVWY")


def split_line(line: str) -> list[ParsedCommand]:
    """Parse a line *without* its ``AT`` prefix and CR into commands.

    Raises SyntaxAtError for anything V.250 does not allow; the whole line is then refused
    before any command of it runs, as on the hardware.
    """
    commands: list[ParsedCommand] = []
    pos = 0
    n = len(line)
    while pos < n:
        ch = line[pos]
        if ch == " ":
            pos += 1
            continue
        if ch == ";":
            pos += 1
            continue
        if ch in "+$^":
            end = _find_command_end(line, pos)
            commands.append(_parse_extended(line[pos:end]))
            pos = end
            continue
        up = ch.upper()
        if up == "&":
            if pos + 1 >= n or line[pos + 1].upper() not in _AMP_LETTERS:
                raise SyntaxAtError(f"unknown basic command at {line[pos : pos + 2]!r}")
            name = "&" + line[pos + 1].upper()
            pos += 2
        elif up in _BASIC_LETTERS:
            name = up
            pos += 1
        else:
            raise SyntaxAtError(f"unexpected character {ch!r}")
        start = pos
        while pos < n and line[pos].isdigit():
            pos += 1
        digits = line[start:pos]
        if pos < n and line[pos] == "?" and name in ("E", "V", "Q"):
            raise SyntaxAtError(f"{name}? is not a command")
        value: tuple[Value, ...] = (int(digits),) if digits else ()
        commands.append(ParsedCommand(name=name, form=Form.EXEC, args=value, text=name + digits))
    return commands


def _find_command_end(line: str, pos: int) -> int:
    """Index of the ``;`` ending the extended command at ``pos`` (or the line's end)."""
    in_quotes = False
    i = pos
    while i < len(line):
        c = line[i]
        if c == '"':
            in_quotes = not in_quotes
        elif c == ";" and not in_quotes:
            return i
        i += 1
    if in_quotes:
        raise SyntaxAtError("unbalanced quotes")
    return i


def _parse_extended(text: str) -> ParsedCommand:
    i = 1
    while i < len(text) and (text[i].isalnum() or text[i] in "_&"):
        i += 1
    name = text[:i].upper()
    if len(name) < 2:
        raise SyntaxAtError(f"empty command name in {text!r}")
    rest = text[i:].strip(" ")
    if rest == "":
        return ParsedCommand(name=name, form=Form.EXEC, args=(), text=text)
    if rest == "?":
        return ParsedCommand(name=name, form=Form.READ, args=(), text=text)
    if rest.startswith("="):
        params = rest[1:].strip(" ")
        if params == "?":
            return ParsedCommand(name=name, form=Form.TEST, args=(), text=text)
        return ParsedCommand(name=name, form=Form.WRITE, args=parse_params(params), text=text)
    raise SyntaxAtError(f"unexpected {rest!r} after {name}")


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)


def parse_params(params: str) -> tuple[Value, ...]:
    """Split ``1,"two",,4`` into (1, "two", None, 4).

    Numbers are decimal (V.250 §5.4.2.1); a bare word that is not a number is refused, so
    a host that forgets quotes gets ERROR instead of a guess.
    """
    values: list[Value] = []
    i = 0
    n = len(params)
    while True:
        while i < n and params[i] == " ":
            i += 1
        if i < n and params[i] == '"':
            end = params.find('"', i + 1)
            if end < 0:
                raise SyntaxAtError("unbalanced quotes")
            values.append(params[i + 1 : end])
            i = end + 1
        else:
            start = i
            while i < n and params[i] != ",":
                i += 1
            token = params[start:i].strip(" ")
            if token == "":
                values.append(None)
            elif token.lstrip("-").isdigit() and token.count("-") <= 1:
                values.append(int(token))
            elif token[:2] in ("0x", "0X") and _is_hex(token[2:]):
                # Quectel writes some numbers in hex (AT+QSSLCFG="ciphersuite",0,0xFFFF).
                values.append(int(token[2:], 16))
            else:
                raise SyntaxAtError(f"parameter {token!r} is neither a number nor a string")
        while i < n and params[i] == " ":
            i += 1
        if i >= n:
            break
        if params[i] != ",":
            raise SyntaxAtError(f"expected ',' at {params[i:]!r}")
        i += 1
        if i >= n:  # trailing comma: an omitted last parameter
            values.append(None)
            break
    return tuple(values)


class Args:
    """Typed access to a WRITE command's parameters; every check raises CME 50.

    Handlers say what they accept; the error reaches the host as ``+CME ERROR: 50``.
    """

    def __init__(self, values: Sequence[Value]) -> None:
        self.values = tuple(values)

    def __len__(self) -> int:
        return len(self.values)

    def count(self, minimum: int, maximum: int | None = None) -> int:
        maximum = minimum if maximum is None else maximum
        if not minimum <= len(self.values) <= maximum:
            want = f"{minimum}" if minimum == maximum else f"{minimum}-{maximum}"
            raise IncorrectParameters(f"expected {want} parameters, got {len(self.values)}")
        return len(self.values)

    def present(self, index: int) -> bool:
        return index < len(self.values) and self.values[index] is not None

    def int(
        self,
        index: builtins.int,
        lo: builtins.int,
        hi: builtins.int,
        *,
        default: builtins.int | None = None,
        allowed: Sequence[builtins.int] | None = None,
    ) -> builtins.int:
        value = self.values[index] if index < len(self.values) else None
        if value is None:
            if default is None:
                raise IncorrectParameters(f"parameter {index + 1} is required")
            return default
        if not isinstance(value, builtins.int):
            raise IncorrectParameters(f"parameter {index + 1} must be a number")
        if not lo <= value <= hi or (allowed is not None and value not in allowed):
            raise IncorrectParameters(f"parameter {index + 1} out of range: {value}")
        return value

    def str(
        self,
        index: builtins.int,
        *,
        max_len: builtins.int,
        default: builtins.str | None = None,
        choices: Sequence[builtins.str] | None = None,
        case_insensitive: bool = False,
    ) -> builtins.str:
        value = self.values[index] if index < len(self.values) else None
        if value is None:
            if default is None:
                raise IncorrectParameters(f"parameter {index + 1} is required")
            return default
        if not isinstance(value, builtins.str):
            raise IncorrectParameters(f"parameter {index + 1} must be a quoted string")
        if len(value) > max_len:
            raise IncorrectParameters(f"parameter {index + 1} longer than {max_len}")
        if choices is not None:
            match = [
                c
                for c in choices
                if (c.lower() == value.lower() if case_insensitive else c == value)
            ]
            if not match:
                raise IncorrectParameters(f"parameter {index + 1} not one of {list(choices)}")
            return match[0]
        return value
