"""Text a client sent (endpoint names, query strings, diagnostics) in the server's output.

A peer controls these bytes. ``quecemu server`` prints one line per event and logs one line per
refused request: a CR or LF inside an endpoint name would forge lines there, and ANSI escape
sequences would drive the reader's terminal. Endpoint names holding control characters are
refused at Register and Bootstrap-Request (4.00); everything else a peer sent goes through
:func:`printable` before it is printed or logged.
"""

from __future__ import annotations

import re

from emulator.lwm2m.errors import BadRequest

__all__ = ["check_endpoint_name", "printable"]

MAX_SHOWN = 300

# C0 and C1 control characters and DEL. A pattern, not a loop over characters: every event
# line of ``quecemu server`` goes through here, thousands per second in a registration storm.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return "\\\\" if char == "\\" else f"\\x{ord(char):02x}"


def printable(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` with control characters and backslashes escaped (``\\x0a``), cut to ``limit``."""
    if len(text) > limit:
        text = text[:limit] + "..."
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)


def check_endpoint_name(name: str) -> str:
    """``name`` if it can be an endpoint name here; ``BadRequest`` if it holds a control
    character (it would forge lines in logs and in ``quecemu server`` output)."""
    if _CONTROL.search(name) is not None:
        raise BadRequest(f"endpoint name {printable(name)!r} holds a control character")
    return name
