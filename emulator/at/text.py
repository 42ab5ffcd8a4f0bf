"""Text from elsewhere (a server, the network) inside AT result lines and URCs.

V.250 §5.4.2.2: a string constant may carry any character as a backslash and two hex digits.
Result lines are framed by CR LF and strings by double quotes, so a value holding a control
character or a quote is shown with those characters escaped (``\\0D``, ``\\0A``, ``\\22``):
the host always reads the line the module meant, never a forged ``OK``. Values a server writes
are refused earlier when they would need this (see docs/lwm2m-flows.md, "Text on the AT
port"); escaping is the last line of defence for text that came in some other way.
"""

from __future__ import annotations

__all__ = ["at_string"]


def _needs_escape(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or char == '"'


def at_string(value: object) -> str:
    """``value`` as text safe inside a quoted AT string (V.250 §5.4.2.2 escapes)."""
    text = str(value)
    if not any(_needs_escape(c) for c in text):
        return text
    return "".join(f"\\{ord(c):02X}" if _needs_escape(c) else c for c in text)
