"""The TE character set of AT+CSCS (3GPP TS 27.007 §5.5) for SMS text mode (27.005 §3.1).

"GSM" is the GSM 7-bit default alphabet one character per byte (extension characters as ESC
and their code, 3GPP TS 23.038 §6.2.1), "IRA" is ITU-T T.50 (ASCII), "UCS2" is 16-bit
code units written as four hex digits each. Strings in the wrong set are refused with the
reason, which the command turns into ``+CMS ERROR: 305``.
"""

from __future__ import annotations

from smspdudecoder.codecs import GSM

CHARSETS = ("GSM", "IRA", "UCS2")
ESC = 0x1B


class CharsetError(ValueError):
    """A string the TE character set cannot carry."""


def from_te(raw: bytes, charset: str) -> str:
    """What the host typed (bytes on the port, or a quoted parameter) as text."""
    if charset == "UCS2":
        return from_hex_ucs2(raw.decode("latin-1"))
    if charset == "IRA":
        if any(b > 0x7F for b in raw):
            raise CharsetError("a byte over 0x7F is not IRA (T.50) text")
        return raw.decode("ascii")
    out: list[str] = []
    escape = False
    for byte in raw:
        if byte > 0x7F:
            raise CharsetError(f"byte 0x{byte:02X} is not in the GSM 7-bit alphabet")
        if escape:
            escape = False
            char = GSM.ALPHABET_EXT.get(byte)
            if char is None:
                raise CharsetError(f"ESC 0x{byte:02X} is not in the GSM extension table")
            out.append(char)
        elif byte == ESC:
            escape = True
        else:
            out.append(GSM.ALPHABET[byte])
    if escape:
        raise CharsetError("the text ends with a lone ESC")
    return "".join(out)


def to_te(text: str, charset: str) -> str:
    """Text as the host reads it (each character of the result is one byte on the port)."""
    if charset == "UCS2":
        return text.encode("utf-16-be").hex().upper()
    if charset == "IRA":
        return "".join(c if ord(c) < 0x80 else "?" for c in text)
    out: list[str] = []
    for char in text:
        if char in GSM.ALPHABET:
            out.append(chr(GSM.ALPHABET.index(char)))
        elif char in GSM.ALPHABET_EXT_INV:
            out.append(chr(ESC) + chr(GSM.ALPHABET_EXT_INV[char]))
        else:
            out.append("?")
    return "".join(out)


def from_hex_ucs2(text: str) -> str:
    if len(text) % 4 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise CharsetError("UCS2 text is four hex digits per character")
    try:
        return bytes.fromhex(text).decode("utf-16-be")
    except UnicodeDecodeError as exc:
        raise CharsetError(f"not UTF-16: {exc.reason}") from None


def from_hex(text: str) -> bytes:
    """Octets written as hex pairs (8-bit and UCS2 data in text mode, PDUs)."""
    if len(text) % 2 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise CharsetError("expected hex digits in pairs")
    return bytes.fromhex(text)


def address_from_te(value: str, charset: str) -> str:
    """An address parameter (<da>, <oa>, <sca>) in the TE character set."""
    if charset == "UCS2":
        return from_hex_ucs2(value)
    return from_te(value.encode("latin-1"), charset)


def address_to_te(number: str, charset: str) -> str:
    return to_te(number, charset)
