"""Value constraints beyond the data type: definition ranges and a device's own limits.

The object definitions carry a ``range`` column (OMA LwM2M TS 1.0 Appendix D, the OMA object
registry): ``"1-65534"`` bounds an integer, ``"0-255 bytes"`` bounds a string's or opaque
value's length. :func:`definition_check` turns the forms we understand into a check; a form we
do not understand (``"16-bit"``) checks nothing, since the data type is checked anyway.

A device adds its own limits per resource (``ObjectStore.constrain``): the ranges of its AT
configuration, the characters a string may carry when the device shows it on its AT port.
Every check raises :class:`~.errors.BadRequest` (4.00) with the reason, before anything is
stored (the store checks a whole write first, so a multi-resource write is atomic).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from .definitions import ResourceDefinition, ResourceType
from .errors import BadRequest
from .model import Value

__all__ = [
    "Check",
    "at_text_problem",
    "definition_check",
    "int_range",
    "text_for_at_port",
]

#: A check of one value; raises ``BadRequest`` (``where`` names the resource in the reason).
Check = Callable[[Value, str], None]

_INT_RANGE = re.compile(r"^\s*(-?\d+)\s*-\s*(-?\d+)\s*$")
_LENGTH_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*bytes\s*$")
_INTEGER_TYPES = (ResourceType.INTEGER, ResourceType.UNSIGNED_INTEGER, ResourceType.TIME)


def int_range(low: int, high: int) -> Check:
    """An integer within ``low..high`` (inclusive)."""

    def check(value: Value, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BadRequest(f"{where}: {value!r} is outside {low}..{high}")

    return check


def _length_range(low: int, high: int) -> Check:
    def check(value: Value, where: str) -> None:
        if isinstance(value, str):
            size = len(value.encode("utf-8"))
        elif isinstance(value, bytes):
            size = len(value)
        else:
            return
        if not low <= size <= high:
            raise BadRequest(f"{where}: {size} bytes is outside {low}..{high} bytes")

    return check


@cache
def definition_check(definition: ResourceDefinition) -> Check | None:
    """The check the definition's range column asks for, or None."""
    text = definition.range_enumeration
    if not text:
        return None
    if definition.type in _INTEGER_TYPES:
        match = _INT_RANGE.match(text)
        if match is not None:
            return int_range(int(match.group(1)), int(match.group(2)))
    if definition.type in (ResourceType.STRING, ResourceType.OPAQUE, ResourceType.CORELNK):
        match = _LENGTH_RANGE.match(text)
        if match is not None:
            return _length_range(int(match.group(1)), int(match.group(2)))
    return None


def at_text_problem(text: str) -> str | None:
    """Why ``text`` cannot be shown inside a quoted AT string, or None.

    V.250 §5.4.2.2 strings are framed by double quotes and the result lines by CR LF: a value
    carrying a control character (C0, DEL or C1) could end the line and forge the next one
    (a bare ``OK``); a double quote would end the string early.
    """
    for char in text:
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0x9F:
            return f"control character U+{code:04X}"
        if char == '"':
            return "a double quote"
    return None


def text_for_at_port(max_length: int) -> Check:
    """A string the device shows on its AT port: at most ``max_length`` characters, no
    control characters and no double quote (see :func:`at_text_problem`)."""

    def check(value: Value, where: str) -> None:
        if not isinstance(value, str):
            return
        if len(value) > max_length:
            raise BadRequest(f"{where}: {len(value)} characters, at most {max_length} allowed")
        problem = at_text_problem(value)
        if problem is not None:
            raise BadRequest(f"{where}: the value holds {problem}")

    return check
