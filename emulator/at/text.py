"""Text from elsewhere (a server, the network) inside AT result lines and URCs.

V.250 §5.4.2.2: a string constant may carry any character as a backslash and two hex digits.
Result lines are framed by CR LF and strings by double quotes, so a value holding a control
character or a quote is shown with those characters escaped (``\\0D``, ``\\0A``, ``\\22``):
the host always reads the line the module meant, never a forged ``OK``. Values a server writes
are refused earlier when they would need this (see docs/lwm2m-flows.md, "Text on the AT
port"); escaping is the last line of defence for text that came in some other way.
"""

from __future__ import annotations

import re

__all__ = ["at_string"]

# C0 controls, DEL and C1 controls break the line framing; a double quote ends the string.
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f\x7f-\x9f"]')


def _escape(match: re.Match[str]) -> str:
    return f"\\{ord(match.group()):02X}"


def at_string(value: object) -> str:
    """``value`` as text safe inside a quoted AT string (V.250 §5.4.2.2 escapes)."""
    text = str(value)
    # One scan in C for the usual text that needs nothing (every +QLWURC of a fleet).
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return _NEEDS_ESCAPE.sub(_escape, text)
