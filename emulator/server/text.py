"""Text a client sent (endpoint names, query strings, diagnostics) in the server's output.

A peer controls these bytes. ``quecemu server`` prints one line per event and logs one line per
refused request: a CR or LF inside an endpoint name would forge lines there, and ANSI escape
sequences would drive the reader's terminal. Endpoint names holding control characters are
refused at Register and Bootstrap-Request (4.00); everything else a peer sent goes through
:func:`printable` before it is printed or logged.
"""

from __future__ import annotations

from emulator.lwm2m.errors import BadRequest

__all__ = ["check_endpoint_name", "printable"]

MAX_SHOWN = 300


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F


def printable(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` with control characters and backslashes escaped (``\\x0a``), cut to ``limit``."""
    if len(text) > limit:
        text = text[:limit] + "..."
    if not any(_is_control(c) or c == "\\" for c in text):
        return text
    return "".join(
        f"\\x{ord(c):02x}" if _is_control(c) else "\\\\" if c == "\\" else c for c in text
    )


def check_endpoint_name(name: str) -> str:
    """``name`` if it can be an endpoint name here; ``BadRequest`` if it holds a control
    character (it would forge lines in logs and in ``quecemu server`` output)."""
    for char in name:
        if _is_control(char):
            raise BadRequest(f"endpoint name {printable(name)!r} holds a control character")
    return name
