"""Checking Python values against LwM2M data types, and their plain-text form.

Used by the store (to refuse a wrong value with 4.00) and by every codec. The text forms follow
OMA LwM2M TS 1.0 §6.4.1 and Appendix C: integers and time as decimal, floats as decimal,
booleans as ``0``/``1``, object links as ``oid:iid``, strings as UTF-8 and opaque values as
base64 (TS 1.0 Appendix C, text column).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Final

from .definitions import ResourceType
from .errors import BadRequest, CodecError
from .model import ObjLink, Value

__all__ = ["check_value", "parse_text_value", "text_value"]

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
_INTEGER_TEXT: Final = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT: Final = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def check_value(value: object, rtype: ResourceType, where: str = "value") -> Value:
    """``value`` normalised for ``rtype`` (an int becomes a float for FLOAT, bytearray becomes
    bytes); raises ``BadRequest`` saying what was expected otherwise."""
    if rtype in (ResourceType.INTEGER, ResourceType.TIME, ResourceType.UNSIGNED_INTEGER):
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadRequest(f"{where}: expected an integer, got {value!r}")
        low = 0 if rtype is ResourceType.UNSIGNED_INTEGER else INT64_MIN
        high = 2**64 - 1 if rtype is ResourceType.UNSIGNED_INTEGER else INT64_MAX
        if not low <= value <= high:
            raise BadRequest(f"{where}: {value} is outside the 64-bit range")
        return value
    if rtype is ResourceType.FLOAT:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadRequest(f"{where}: expected a number, got {value!r}")
        result = float(value)
        if not math.isfinite(result):
            raise BadRequest(f"{where}: {value!r} is not a finite number")
        return result
    if rtype is ResourceType.BOOLEAN:
        if not isinstance(value, bool):
            raise BadRequest(f"{where}: expected a boolean, got {value!r}")
        return value
    if rtype in (ResourceType.STRING, ResourceType.CORELNK):
        if not isinstance(value, str):
            raise BadRequest(f"{where}: expected a string, got {value!r}")
        return value
    if rtype is ResourceType.OPAQUE:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise BadRequest(f"{where}: expected bytes, got {value!r}")
        return bytes(value)
    if rtype is ResourceType.OBJLNK:
        if not isinstance(value, ObjLink):
            raise BadRequest(f"{where}: expected an object link, got {value!r}")
        return value
    raise BadRequest(f"{where}: an executable resource has no value")


def text_value(value: Value, rtype: ResourceType) -> str:
    """The plain-text form of ``value`` (assumed checked against ``rtype``)."""
    if rtype is ResourceType.BOOLEAN:
        return "1" if value else "0"
    if rtype is ResourceType.OPAQUE:
        assert isinstance(value, bytes)
        return base64.b64encode(value).decode("ascii")
    if rtype is ResourceType.FLOAT:
        assert isinstance(value, int | float)
        return repr(float(value))
    return str(value)


def parse_text_value(text: str, rtype: ResourceType, where: str = "value") -> Value:
    """Parse the plain-text form of a value of ``rtype``; raises ``CodecError`` with a reason."""
    if rtype in (ResourceType.INTEGER, ResourceType.TIME, ResourceType.UNSIGNED_INTEGER):
        if not _INTEGER_TEXT.fullmatch(text):
            raise CodecError(f"{where}: {text!r} is not an integer")
        return _checked(int(text), rtype, where)
    if rtype is ResourceType.FLOAT:
        if not _FLOAT_TEXT.fullmatch(text):
            raise CodecError(f"{where}: {text!r} is not a decimal number")
        return _checked(float(text), rtype, where)
    if rtype is ResourceType.BOOLEAN:
        if text not in ("0", "1"):
            raise CodecError(f"{where}: a boolean is '0' or '1', not {text!r}")
        return text == "1"
    if rtype is ResourceType.OBJLNK:
        try:
            return ObjLink.parse(text)
        except ValueError as exc:
            raise CodecError(f"{where}: {exc}") from None
    if rtype is ResourceType.OPAQUE:
        return decode_base64(text, where)
    if rtype is ResourceType.NONE:
        raise CodecError(f"{where}: an executable resource has no value")
    return text


def decode_base64(text: str, where: str, *, urlsafe: bool = False) -> bytes:
    """Strict base64 (or base64url, padding optional) decoding; ``CodecError`` on bad input."""
    cleaned = text.strip()
    if urlsafe:
        cleaned = cleaned.replace("-", "+").replace("_", "/")
        cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise CodecError(f"{where}: {text!r} is not valid base64") from None


def encode_base64url(data: bytes) -> str:
    """base64url without padding (RFC 8428 §4.3 for SenML ``vd``)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _checked(value: Value, rtype: ResourceType, where: str) -> Value:
    try:
        return check_value(value, rtype, where)
    except BadRequest as exc:
        raise CodecError(str(exc)) from None
