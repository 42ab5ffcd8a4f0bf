"""SMS transfer-layer PDUs (3GPP TS 23.040 §9.2) as the AT port carries them (27.005 §3.1).

The field layout of SMS-DELIVER and SMS-SUBMIT is framed here; the hard parts come from the
``smspdudecoder`` library (PyPI, maintained): the GSM 7-bit default alphabet with its
extension table and septet packing (3GPP TS 23.038 §6.2.1), UCS2, and semi-octet numbers.
Our code adds what that library leaves out: encoding whole TPDUs, the user data header with
its septet fill bits (23.040 §9.2.3.24), concatenation (IEI 0x00/0x08) and splitting a long
text into parts, and strict checks that turn malformed input into :class:`PduError`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from smspdudecoder.codecs import GSM, UCS2
from smspdudecoder.elements import Number

MAX_USER_DATA = 140  # octets of TP-UD (23.040 §9.2.3.16)
MAX_SEPTETS = 160
TOA_INTERNATIONAL = 145  # 0x91: international number, ISDN plan (24.008 §10.5.4.7)
TOA_UNKNOWN = 129  # 0x81
TOA_ALPHANUMERIC = 0xD0


class PduError(ValueError):
    """The bytes are not a well-formed TPDU (or a text cannot be put into one)."""


class Alphabet(enum.StrEnum):
    """The character set a TP-DCS selects (23.038 §4); renders as its short name."""

    GSM7 = "gsm7"
    DATA8 = "8bit"
    UCS2 = "ucs2"


def alphabet_of(dcs: int) -> Alphabet:
    """Alphabet of a TP-DCS value (23.038 §4: general data coding, message waiting, 1111)."""
    group = dcs >> 4
    if group <= 0b0011:  # general data coding, uncompressed
        if dcs & 0x20:
            raise PduError(f"TP-DCS 0x{dcs:02X} asks for compression, which is not supported")
        bits = (dcs >> 2) & 0b11
        if bits == 0b11:
            raise PduError(f"TP-DCS 0x{dcs:02X} names a reserved alphabet")
        return (Alphabet.GSM7, Alphabet.DATA8, Alphabet.UCS2)[bits]
    if group in (0b0100, 0b0101, 0b0110, 0b0111):  # automatic deletion group
        if dcs & 0x20:
            raise PduError(f"TP-DCS 0x{dcs:02X} asks for compression, which is not supported")
        bits = (dcs >> 2) & 0b11
        if bits == 0b11:
            raise PduError(f"TP-DCS 0x{dcs:02X} names a reserved alphabet")
        return (Alphabet.GSM7, Alphabet.DATA8, Alphabet.UCS2)[bits]
    if group in (0b1100, 0b1101):
        return Alphabet.GSM7
    if group == 0b1110:
        return Alphabet.UCS2
    if group == 0b1111:
        return Alphabet.DATA8 if dcs & 0x04 else Alphabet.GSM7
    raise PduError(f"TP-DCS 0x{dcs:02X} is in a reserved coding group")


def dcs_for(alphabet: Alphabet) -> int:
    return {Alphabet.GSM7: 0x00, Alphabet.DATA8: 0x04, Alphabet.UCS2: 0x08}[alphabet]


# ------------------------------------------------------------------------ GSM 7-bit text
def gsm7_septets(text: str) -> int:
    """Septets ``text`` takes in the default alphabet (extension characters take two)."""
    count = 0
    for char in text:
        if char in GSM.ALPHABET:
            count += 1
        elif char in GSM.ALPHABET_EXT_INV:
            count += 2
        else:
            raise PduError(f"{char!r} is not in the GSM 7-bit default alphabet")
    return count


def fits_gsm7(text: str) -> bool:
    try:
        gsm7_septets(text)
    except PduError:
        return False
    return True


def _pack_gsm7(text: str, header: bytes) -> tuple[int, bytes]:
    """(TP-UDL in septets, TP-UD octets): the header, fill bits to a septet boundary, text.

    The library packs septets; the header is laid over leading zero septets ('@'), whose
    bits beyond the header are exactly the fill bits 23.040 §9.2.3.24 asks for.
    """
    header_septets = math.ceil(len(header) * 8 / 7) if header else 0
    septets = header_septets + gsm7_septets(text)
    packed = bytearray(bytes.fromhex(GSM.encode("@" * header_septets + text)) if septets else b"")
    packed[: len(header)] = header
    return septets, bytes(packed)


def _unpack_gsm7(data: bytes, septets: int, header_length: int) -> str:
    """Text of ``septets`` septets of packed user data whose first ``header_length`` octets
    are a user data header (zeroed, so that they read as '@' and are cut off)."""
    needed = math.ceil(septets * 7 / 8)
    if len(data) < needed:
        raise PduError(f"user data holds {len(data)} octets, TP-UDL {septets} needs {needed}")
    body = bytearray(data[:needed])
    body[:header_length] = bytes(header_length)
    header_septets = math.ceil(header_length * 8 / 7) if header_length else 0
    if septets == 0:
        return ""
    text: str = GSM.decode(bytes(body).hex().upper())
    # The library reads every septet the octets hold; 7 spare bits read as one more '@'.
    if (needed * 8) // 7 > septets and text.endswith("@"):
        text = text[:-1]
    return text[header_septets:]


# ------------------------------------------------------------------------ addresses
@dataclass(frozen=True)
class Address:
    """A TP-OA/TP-DA or RP address: digits (with a leading '+' when international)."""

    number: str
    toa: int = TOA_UNKNOWN

    @classmethod
    def parse(cls, text: str, toa: int | None = None) -> Address:
        """An address as a host writes it: ``+8613800138000``, ``10086``, ``*100#``."""
        digits = text[1:] if text.startswith("+") else text
        if toa is None:
            toa = TOA_INTERNATIONAL if text.startswith("+") else TOA_UNKNOWN
        if not digits or len(digits) > 20 or any(c not in "0123456789*#abcABC" for c in digits):
            raise PduError(f"{text!r} is not a phone number (1-20 digits, * # a b c)")
        international = (toa & 0x70) == 0x10
        return cls(("+" if international else "") + digits, toa)

    @property
    def digits(self) -> str:
        return self.number.lstrip("+")

    def encode(self) -> bytes:
        """TP-DA/TP-OA: length in digits, type of address, semi-octets (23.040 §9.1.2.5)."""
        digits = self.digits.replace("*", "A").replace("#", "B")
        return bytes([len(digits), self.toa]) + bytes.fromhex(Number.encode(digits))

    def encode_sca(self) -> bytes:
        """RP-SC address in front of an AT PDU: its length counts octets (27.005 §3.1)."""
        digits = self.digits.replace("*", "A").replace("#", "B")
        body = bytes([self.toa]) + bytes.fromhex(Number.encode(digits))
        return bytes([len(body)]) + body


def _decode_digits(raw: bytes) -> str:
    text: str = Number.decode(raw.hex().upper())
    return text.upper().replace("A", "*").replace("B", "#").rstrip("F")


def _read_address(data: bytes, pos: int) -> tuple[Address, int]:
    if pos + 2 > len(data):
        raise PduError("the PDU ends inside an address")
    length, toa = data[pos], data[pos + 1]
    if length > 20:
        raise PduError(f"address length {length} is over 20 digits")
    octets = (length + 1) // 2
    end = pos + 2 + octets
    if end > len(data):
        raise PduError("the PDU ends inside an address")
    raw = data[pos + 2 : end]
    if (toa & 0x70) == 0x50:  # alphanumeric (23.038 default alphabet, packed)
        septets = length * 4 // 7
        number = _unpack_gsm7(raw, septets, 0)
        return Address(number, toa), end
    digits = _decode_digits(raw)[:length]
    international = (toa & 0x70) == 0x10
    return Address(("+" if international else "") + digits, toa), end


def read_sca(data: bytes) -> tuple[Address | None, int]:
    """The SMSC address in front of an AT PDU (27.005 §3.1): (address or None, its size)."""
    if not data:
        raise PduError("empty PDU")
    length = data[0]
    if length == 0:
        return None, 1
    if length > 11 or 1 + length > len(data):
        raise PduError(f"SMSC address length {length} is not possible")
    toa = data[1]
    digits = _decode_digits(data[2 : 1 + length])
    international = (toa & 0x70) == 0x10
    return Address(("+" if international else "") + digits, toa), 1 + length


# ------------------------------------------------------------------------ time stamps
@dataclass(frozen=True)
class Timestamp:
    """TP-SCTS (23.040 §9.2.3.11): local time and its offset from UTC in quarter hours."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    quarters: int  # -79..79

    def encode(self) -> bytes:
        fields = [self.year % 100, self.month, self.day, self.hour, self.minute, self.second]
        out = bytearray(((v % 10) << 4) | (v // 10) for v in fields)
        q = abs(self.quarters)
        out.append(((q % 10) << 4) | (q // 10) | (0x08 if self.quarters < 0 else 0))
        return bytes(out)

    @classmethod
    def decode(cls, raw: bytes) -> Timestamp:
        if len(raw) != 7:
            raise PduError("a time stamp is 7 octets")

        def semi(octet: int) -> int:
            low, high = octet & 0x0F, octet >> 4
            if low > 9 or high > 9:
                raise PduError(f"time stamp octet 0x{octet:02X} is not two decimal digits")
            return low * 10 + high

        values = [semi(o) for o in raw[:6]]
        tz = raw[6]
        quarters = (tz & 0x07) * 10 + (tz >> 4)
        if tz & 0x08:
            quarters = -quarters
        year, month, day, hour, minute, second = values
        return cls(2000 + year, month, day, hour, minute, second, quarters)

    def text(self) -> str:
        """27.005 <scts> text form: ``yy/MM/dd,hh:mm:ss±zz``."""
        sign = "-" if self.quarters < 0 else "+"
        return (
            f"{self.year % 100:02d}/{self.month:02d}/{self.day:02d},"
            f"{self.hour:02d}:{self.minute:02d}:{self.second:02d}{sign}{abs(self.quarters):02d}"
        )


# ------------------------------------------------------------------------ user data
@dataclass(frozen=True)
class Concatenation:
    """Concatenated short message IE (23.040 §9.2.3.24.1 / .8)."""

    reference: int
    total: int
    sequence: int

    def element(self) -> bytes:
        if self.reference > 0xFF:
            return bytes(
                [0x08, 4, self.reference >> 8, self.reference & 0xFF, self.total, self.sequence]
            )
        return bytes([0x00, 3, self.reference, self.total, self.sequence])


def concatenation_in(header: bytes) -> Concatenation | None:
    """The concatenation element of a user data header (without its UDHL octet), if any."""
    pos = 0
    while pos + 2 <= len(header):
        iei, length = header[pos], header[pos + 1]
        value = header[pos + 2 : pos + 2 + length]
        if len(value) != length:
            raise PduError("a user data header element runs past the header")
        if iei == 0x00 and length == 3:
            return Concatenation(value[0], value[1], value[2])
        if iei == 0x08 and length == 4:
            return Concatenation((value[0] << 8) | value[1], value[2], value[3])
        pos += 2 + length
    return None


@dataclass(frozen=True)
class UserData:
    """TP-UD: an optional header (its elements, without UDHL) and the body.

    ``text`` for the GSM 7-bit and UCS2 alphabets, ``data`` for 8-bit.
    """

    alphabet: Alphabet
    header: bytes = b""
    text: str = ""
    data: bytes = b""

    def encode(self) -> tuple[int, bytes]:
        """(TP-UDL, TP-UD)."""
        udh = bytes([len(self.header)]) + self.header if self.header else b""
        if self.alphabet is Alphabet.GSM7:
            septets, packed = _pack_gsm7(self.text, udh)
            if septets > MAX_SEPTETS:
                raise PduError(f"{septets} septets is over the {MAX_SEPTETS} one message holds")
            return septets, packed
        if self.alphabet is Alphabet.UCS2:
            body = bytes.fromhex(UCS2.encode(self.text))
        else:
            body = self.data
        octets = udh + body
        if len(octets) > MAX_USER_DATA:
            raise PduError(f"{len(octets)} octets is over the {MAX_USER_DATA} one message holds")
        return len(octets), octets

    @classmethod
    def decode(cls, alphabet: Alphabet, udhi: bool, udl: int, raw: bytes) -> UserData:
        header = b""
        header_size = 0
        if udhi:
            if not raw:
                raise PduError("TP-UDHI is set but there is no user data")
            header_size = 1 + raw[0]
            if header_size > len(raw):
                raise PduError("the user data header runs past the user data")
            header = raw[1:header_size]
            concatenation_in(header)  # checks the elements' lengths
        if alphabet is Alphabet.GSM7:
            if udl > MAX_SEPTETS:
                raise PduError(f"TP-UDL {udl} is over {MAX_SEPTETS} septets")
            if math.ceil(udl * 7 / 8) != len(raw):
                raise PduError(f"TP-UDL {udl} septets does not match {len(raw)} octets of data")
            return cls(alphabet, header, _unpack_gsm7(raw, udl, header_size))
        if udl > MAX_USER_DATA or udl != len(raw):
            raise PduError(f"TP-UDL {udl} does not match {len(raw)} octets of data")
        body = raw[header_size:]
        if alphabet is Alphabet.UCS2:
            if len(body) % 2:
                raise PduError("UCS2 user data has an odd number of octets")
            return cls(alphabet, header, UCS2.decode(body.hex().upper()))
        return cls(alphabet, header, data=body)

    @property
    def concatenation(self) -> Concatenation | None:
        return concatenation_in(self.header) if self.header else None

    def body_octets(self) -> bytes:
        """The body as 27.005 text mode shows non-default-alphabet data: its octets."""
        if self.alphabet is Alphabet.UCS2:
            return bytes.fromhex(UCS2.encode(self.text))
        return self.data


# ------------------------------------------------------------------------ TPDUs
@dataclass(frozen=True, kw_only=True)
class SmsDeliver:
    """SMS-DELIVER (23.040 §9.2.2.1): what the network gives the module."""

    originator: Address
    timestamp: Timestamp
    user_data: UserData
    pid: int = 0
    dcs: int = 0
    more_messages: bool = False
    status_report: bool = False
    reply_path: bool = False

    @property
    def first_octet(self) -> int:
        return (
            0x00  # TP-MTI 00
            | (0 if self.more_messages else 0x04)  # TP-MMS: 1 = no more messages
            | (0x20 if self.status_report else 0)
            | (0x40 if self.user_data.header else 0)
            | (0x80 if self.reply_path else 0)
        )

    def encode(self) -> bytes:
        udl, ud = self.user_data.encode()
        return (
            bytes([self.first_octet])
            + self.originator.encode()
            + bytes([self.pid, self.dcs])
            + self.timestamp.encode()
            + bytes([udl])
            + ud
        )


@dataclass(frozen=True, kw_only=True)
class SmsSubmit:
    """SMS-SUBMIT (23.040 §9.2.2.2): what the module gives the network."""

    reference: int
    destination: Address
    user_data: UserData
    pid: int = 0
    dcs: int = 0
    validity_format: int = 2  # TP-VPF: 0 none, 2 relative, 1 enhanced, 3 absolute
    validity: bytes = b"\xa7"  # 167: 24 hours
    status_report_request: bool = False
    reject_duplicates: bool = False
    reply_path: bool = False

    @property
    def first_octet(self) -> int:
        return (
            0x01
            | (0x04 if self.reject_duplicates else 0)
            | (self.validity_format << 3)
            | (0x20 if self.status_report_request else 0)
            | (0x40 if self.user_data.header else 0)
            | (0x80 if self.reply_path else 0)
        )

    def encode(self) -> bytes:
        udl, ud = self.user_data.encode()
        return (
            bytes([self.first_octet, self.reference & 0xFF])
            + self.destination.encode()
            + bytes([self.pid, self.dcs])
            + self.validity
            + bytes([udl])
            + ud
        )

    def with_reference(self, reference: int) -> SmsSubmit:
        return replace(self, reference=reference & 0xFF)


VALIDITY_SIZES = {0: 0, 1: 7, 2: 1, 3: 7}  # TP-VPF → octets of TP-VP (23.040 §9.2.3.3)


def decode_tpdu(data: bytes) -> SmsDeliver | SmsSubmit:
    """An SMS-DELIVER or SMS-SUBMIT TPDU (without the SMSC address); anything malformed
    raises PduError, whatever part of the decoding finds it."""
    try:
        return _decode_tpdu(data)
    except PduError:
        raise
    except (ValueError, IndexError, KeyError) as exc:  # from the alphabet codecs
        raise PduError(f"malformed user data: {exc}") from None


def _decode_tpdu(data: bytes) -> SmsDeliver | SmsSubmit:
    if not data:
        raise PduError("empty TPDU")
    first = data[0]
    mti = first & 0x03
    if mti == 0:
        originator, pos = _read_address(data, 1)
        if pos + 10 > len(data):
            raise PduError("the SMS-DELIVER ends before its user data length")
        pid, dcs = data[pos], data[pos + 1]
        timestamp = Timestamp.decode(data[pos + 2 : pos + 9])
        udl = data[pos + 9]
        ud = UserData.decode(alphabet_of(dcs), bool(first & 0x40), udl, data[pos + 10 :])
        return SmsDeliver(
            originator=originator,
            timestamp=timestamp,
            user_data=ud,
            pid=pid,
            dcs=dcs,
            more_messages=not first & 0x04,
            status_report=bool(first & 0x20),
            reply_path=bool(first & 0x80),
        )
    if mti == 1:
        if len(data) < 2:
            raise PduError("the SMS-SUBMIT ends before its message reference")
        destination, pos = _read_address(data, 2)
        vpf = (first >> 3) & 0x03
        vp_size = VALIDITY_SIZES[vpf]
        if pos + 3 + vp_size > len(data):
            raise PduError("the SMS-SUBMIT ends before its user data length")
        pid, dcs = data[pos], data[pos + 1]
        validity = data[pos + 2 : pos + 2 + vp_size]
        udl = data[pos + 2 + vp_size]
        ud = UserData.decode(alphabet_of(dcs), bool(first & 0x40), udl, data[pos + 3 + vp_size :])
        return SmsSubmit(
            reference=data[1],
            destination=destination,
            user_data=ud,
            pid=pid,
            dcs=dcs,
            validity_format=vpf,
            validity=validity,
            status_report_request=bool(first & 0x20),
            reject_duplicates=bool(first & 0x04),
            reply_path=bool(first & 0x80),
        )
    raise PduError(f"TP-MTI {mti} is neither SMS-DELIVER nor SMS-SUBMIT")


def split_text(text: str, reference: int, *, ucs2: bool = False) -> list[UserData]:
    """A text as one message, or as concatenated parts with an 8-bit reference (23.040
    §9.2.3.24.1): GSM 7-bit when every character is in the default alphabet (and ``ucs2``
    does not ask for UCS2), else UCS2."""
    if not ucs2 and fits_gsm7(text):
        if gsm7_septets(text) <= MAX_SEPTETS:
            return [UserData(Alphabet.GSM7, text=text)]
        chunks = _chunks(text, 153, gsm7_septets)
        alphabet = Alphabet.GSM7
    else:
        if len(text.encode("utf-16-be")) <= MAX_USER_DATA:
            return [UserData(Alphabet.UCS2, text=text)]
        chunks = _chunks(text, 134, lambda t: len(t.encode("utf-16-be")))
        alphabet = Alphabet.UCS2
    if len(chunks) > 255:
        raise PduError(f"a text of {len(chunks)} parts is over the 255 parts a reference allows")
    return [
        UserData(
            alphabet,
            header=Concatenation(reference & 0xFF, len(chunks), n).element(),
            text=chunk,
        )
        for n, chunk in enumerate(chunks, start=1)
    ]


def _chunks(text: str, limit: int, measure: Callable[[str], int]) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` units, never inside a character."""
    chunks: list[str] = []
    current = ""
    for char in text:
        if measure(current + char) > limit:
            chunks.append(current)
            current = char
        else:
            current += char
    if current:
        chunks.append(current)
    return chunks
