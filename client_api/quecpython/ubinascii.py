"""MicroPython's ``ubinascii`` on CPython's ``binascii``.

``hexlify(data[, sep])`` / ``unhexlify(text)``, ``a2b_base64(text)`` (skips characters
outside the base64 alphabet, as the document says), ``b2a_base64(data)`` (ends in a
newline) and ``crc32(data[, value])``, each returning ``bytes`` as on the device.
"""

from __future__ import annotations

import binascii

Data = bytes | bytearray | memoryview


def hexlify(data: Data, sep: str | bytes | None = None) -> bytes:
    if sep is None or sep in ("", b""):
        return binascii.hexlify(data)
    return binascii.hexlify(data, sep)


def unhexlify(data: str | Data) -> bytes:
    return binascii.unhexlify(data)


def a2b_base64(data: str | Data) -> bytes:
    return binascii.a2b_base64(data)


def b2a_base64(data: Data) -> bytes:
    return binascii.b2a_base64(data)


def crc32(data: Data, value: int = 0) -> int:
    return binascii.crc32(data, value)
