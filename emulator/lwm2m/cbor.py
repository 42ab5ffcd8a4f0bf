"""CBOR (RFC 8949) for a single resource value, as LwM2M 1.1 allows (TS 1.1 §7.4.6).

Only what one value needs: unsigned/negative integers, byte and text strings, booleans and
floats (half, single, double on input; we write single when exact, else double). Time values
may carry tag 1 (epoch time) on input. Object links travel as the text ``"oid:iid"``.
Indefinite lengths, arrays, maps and trailing bytes are refused.
"""

from __future__ import annotations

import math
import struct

from .definitions import ResourceType
from .errors import BadRequest, CodecError
from .model import ObjLink, Value
from .values import check_value

__all__ = ["decode_cbor_value", "encode_cbor_value"]


def _head(major: int, argument: int) -> bytes:
    if argument < 24:
        return bytes([(major << 5) | argument])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < (1 << (8 * size)):
            return bytes([(major << 5) | info]) + argument.to_bytes(size, "big")
    raise CodecError(f"CBOR argument {argument} does not fit 64 bits")


def encode_cbor_value(value: Value, rtype: ResourceType, where: str) -> bytes:
    """The CBOR encoding of one value of ``rtype``."""
    try:
        value = check_value(value, rtype, where)
    except BadRequest as exc:
        raise CodecError(str(exc)) from None
    if isinstance(value, bool):
        return b"\xf5" if value else b"\xf4"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, float):
        single = struct.pack(">f", value) if abs(value) <= 3.4e38 else None
        if single is not None and struct.unpack(">f", single)[0] == value:
            return b"\xfa" + single
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    text = str(value).encode("utf-8")  # str, or ObjLink as "oid:iid"
    return _head(3, len(text)) + text


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise CodecError("CBOR payload is truncated")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def head(self) -> tuple[int, int, int]:
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if info < 24:
            return major, info, info
        if info in (24, 25, 26, 27):
            size = 1 << (info - 24)
            return major, info, int.from_bytes(self.take(size), "big")
        raise CodecError(f"CBOR additional information {info} (indefinite/reserved) unsupported")


def _half_to_float(bits: int) -> float:
    return float(struct.unpack(">e", bits.to_bytes(2, "big"))[0])


def decode_cbor_value(data: bytes, rtype: ResourceType | None, where: str) -> Value:
    """Decode one CBOR data item as a value of ``rtype`` (``None``: from the CBOR type)."""
    reader = _Reader(data)
    major, info, argument = reader.head()
    if major == 6:  # tag: only 1 (epoch time) in front of a number is understood
        if argument != 1:
            raise CodecError(f"{where}: CBOR tag {argument} is not supported")
        major, info, argument = reader.head()
    raw: Value
    if major == 0:
        raw = argument
    elif major == 1:
        raw = -1 - argument
    elif major in (2, 3):
        chunk = reader.take(argument)
        if major == 2:
            raw = chunk
        else:
            try:
                raw = chunk.decode("utf-8")
            except UnicodeDecodeError:
                raise CodecError(f"{where}: CBOR text is not valid UTF-8") from None
    elif major == 7 and info in (20, 21):
        raw = info == 21
    elif major == 7 and info in (25, 26, 27):
        size = {25: 2, 26: 4, 27: 8}[info]
        bits = argument.to_bytes(size, "big")
        raw = (
            _half_to_float(argument)
            if size == 2
            else struct.unpack(">f" if size == 4 else ">d", bits)[0]
        )
        if not math.isfinite(float(raw)):
            raise CodecError(f"{where}: {raw} is not a finite number")
    else:
        raise CodecError(f"{where}: CBOR major type {major} is not a single LwM2M value")
    if reader.offset != len(data):
        raise CodecError(f"{where}: {len(data) - reader.offset} trailing bytes after the value")
    if rtype is ResourceType.OBJLNK and isinstance(raw, str):
        try:
            raw = ObjLink.parse(raw)
        except ValueError as exc:
            raise CodecError(f"{where}: {exc}") from None
    elif rtype is ResourceType.FLOAT and isinstance(raw, int) and not isinstance(raw, bool):
        raw = float(raw)
    elif (
        rtype in (ResourceType.INTEGER, ResourceType.TIME, ResourceType.UNSIGNED_INTEGER)
        and isinstance(raw, float)
        and raw.is_integer()
    ):
        raw = int(raw)
    if rtype is None:
        return raw
    try:
        return check_value(raw, rtype, where)
    except BadRequest as exc:
        raise CodecError(str(exc)) from None
