"""AT parameter text: rendering what we send and splitting what the module answers.

3GPP TS 27.007 §4.1 / V.250 §5.4.2: string constants go in double quotes, numbers bare,
parameters separated by commas. A string can hold neither a double quote nor a line
break, and V.250 §5.4.2.2 lets a module read ``\\`` as the start of a hex escape, so such
strings are refused here rather than sent half-understood.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_INTEGER = re.compile(r"^-?\d+$")


class BadArgument(ValueError):
    """A value that cannot be sent as an AT parameter."""


def check_string(value: str, what: str = "string") -> str:
    for char in value:
        if not " " <= char <= "~":
            raise BadArgument(f"{what} holds {char!r}: only printable ASCII can be sent")
        if char in '"\\':
            raise BadArgument(f"{what} holds {char!r}, which an AT string cannot carry")
    return value


def render(values: Sequence[int | str]) -> str:
    """``[1, "U"]`` -> ``1,"U"``; strings quoted, integers bare."""
    parts: list[str] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise BadArgument(f"{value!r} is neither an integer nor a string")
        parts.append(str(value) if isinstance(value, int) else f'"{check_string(value)}"')
    return ",".join(parts)


def parse_fields(text: str) -> list[int | str]:
    """``' "ready","successfully",1000'`` -> ``["ready", "successfully", 1000]``.

    Quoted fields become strings (quotes removed), bare integers become ints, anything
    else stays a string as written (an empty field is ``""``).
    """
    fields: list[int | str] = []
    current: list[str] = []
    quoted = False
    was_quoted = False
    for char in text:
        if char == '"':
            if not quoted and not was_quoted and not "".join(current).strip():
                current = []  # blanks before an opening quote are not part of the string
            quoted = not quoted
            was_quoted = True
            continue
        if was_quoted and not quoted and char != ",":
            continue  # blanks after a closing quote
        if char == "," and not quoted:
            fields.append(_field("".join(current), was_quoted))
            current, was_quoted = [], False
            continue
        current.append(char)
    fields.append(_field("".join(current), was_quoted))
    if len(fields) == 1 and fields[0] == "" and not text.strip():
        return []
    return fields


def _field(raw: str, was_quoted: bool) -> int | str:
    if was_quoted:
        return raw
    stripped = raw.strip()
    return int(stripped) if _INTEGER.match(stripped) else stripped
