"""Execute argument lists (OMA LwM2M TS 1.0 §5.4.5).

The payload of an Execute is empty or a comma separated list of arguments, each a single digit
optionally followed by ``='value'``: ``0='http://example.com',1``. Values are quoted with single
quotes and may hold any printable ASCII except ``'`` and ``\\`` (TS 1.0 §5.4.5 grammar).
"""

from __future__ import annotations

from .errors import BadRequest

__all__ = ["format_execute_arguments", "parse_execute_arguments"]


def _allowed(char: str) -> bool:
    code = ord(char)
    return 0x20 <= code <= 0x7E and char not in ("'", "\\")


def parse_execute_arguments(payload: bytes | str) -> dict[int, str | None]:
    """Argument number → value (``None`` for an argument given without value).

    Raises ``BadRequest`` (4.00) with the reason on a malformed list or a repeated number.
    """
    if isinstance(payload, bytes | bytearray):
        try:
            text = bytes(payload).decode("ascii")
        except UnicodeDecodeError:
            raise BadRequest("execute arguments must be ASCII") from None
    else:
        text = payload
    arguments: dict[int, str | None] = {}
    if not text:
        return arguments
    position = 0
    while True:
        if position >= len(text) or not text[position].isdigit() or not text[position].isascii():
            raise BadRequest(f"execute argument {len(arguments) + 1}: expected a digit")
        number = int(text[position])
        position += 1
        value: str | None = None
        if text.startswith("='", position):
            end = text.find("'", position + 2)
            if end < 0:
                raise BadRequest(f"execute argument {number}: unterminated value")
            value = text[position + 2 : end]
            if not all(_allowed(char) for char in value):
                raise BadRequest(f"execute argument {number}: value has a forbidden character")
            position = end + 1
        if number in arguments:
            raise BadRequest(f"execute argument {number} is given twice")
        arguments[number] = value
        if position == len(text):
            return arguments
        if text[position] != ",":
            raise BadRequest(f"execute argument {number}: expected ',' after it")
        position += 1


def format_execute_arguments(arguments: dict[int, str | None]) -> bytes:
    """The payload for ``arguments`` (the inverse of :func:`parse_execute_arguments`)."""
    parts = []
    for number, value in sorted(arguments.items()):
        if not 0 <= number <= 9:
            raise ValueError(f"execute argument numbers are 0-9, not {number}")
        if value is None:
            parts.append(str(number))
        else:
            if not all(_allowed(char) for char in value):
                raise ValueError(f"execute argument {number}: value has a forbidden character")
            parts.append(f"{number}='{value}'")
    return ",".join(parts).encode("ascii")
