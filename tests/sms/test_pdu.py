"""PDU codec: our encodings decode with python-gsmmodem-new's decoder, its encodings decode
with ours and re-encode to the same bytes, and malformed bytes only ever give PduError."""

from __future__ import annotations

import contextlib
import random

import pytest
from gsmmodem.pdu import decodeSmsPdu, encodeSmsSubmitPdu

from emulator.sms.pdu import (
    Address,
    Alphabet,
    Concatenation,
    PduError,
    SmsDeliver,
    SmsSubmit,
    Timestamp,
    UserData,
    alphabet_of,
    dcs_for,
    decode_tpdu,
    read_sca,
    split_text,
)

STAMP = Timestamp(2026, 11, 27, 18, 40, 5, 32)
TEXTS = [
    "Hello world",
    "a€[]{}^~|\\ end",  # extension table characters take two septets
    "中文短信 привет",
    "x" * 7,  # 7 spare bits at the end: not an extra '@'
    "x" * 8,
    "y" * 160,
    "@@@",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_deliver_round_trip_and_host_library_decodes_it(text: str) -> None:
    (ud,) = split_text(text, 1)
    deliver = SmsDeliver(
        originator=Address.parse("+8613912345678"),
        timestamp=STAMP,
        user_data=ud,
        dcs=dcs_for(ud.alphabet),
    )
    raw = Address.parse("+8613800100500").encode_sca() + deliver.encode()
    decoded = decodeSmsPdu(raw.hex().upper())
    assert decoded["text"] == text
    assert decoded["number"] == "+8613912345678"
    assert decoded["smsc"] == "+8613800100500"
    assert decoded["time"].isoformat() == "2026-11-27T18:40:05+08:00"
    sca, size = read_sca(raw)
    assert sca == Address("+8613800100500", 145)
    assert decode_tpdu(raw[size:]) == deliver


def test_concatenated_parts_decode_with_the_host_library() -> None:
    text = "Lorem ipsum € " * 30
    parts = split_text(text, 9)
    assert [p.concatenation for p in parts] == [Concatenation(9, 3, n) for n in (1, 2, 3)]
    joined = ""
    for ud in parts:
        tpdu = SmsDeliver(
            originator=Address.parse("10086"), timestamp=STAMP, user_data=ud, dcs=0
        ).encode()
        decoded = decodeSmsPdu("00" + tpdu.hex())
        joined += decoded["text"]
        assert decode_tpdu(tpdu).user_data == ud
    assert joined == text
    ucs2 = split_text("中" * 100, 3)
    assert [len(p.text) for p in ucs2] == [67, 33]
    assert all(p.alphabet is Alphabet.UCS2 for p in ucs2)


@pytest.mark.parametrize("text", ["hello €", "中文" * 50, "z" * 300])
def test_host_library_submits_decode_and_re_encode_exactly(text: str) -> None:
    pdus = encodeSmsSubmitPdu("+8613912345678", text, reference=7)
    joined = ""
    for pdu in pdus:
        tpdu = pdu.data[-pdu.tpduLength :]
        submit = decode_tpdu(tpdu)
        assert isinstance(submit, SmsSubmit)
        assert submit.reference == 7
        assert submit.destination == Address("+8613912345678", 145)
        assert submit.encode() == tpdu
        joined += submit.user_data.text
    assert joined == text


@pytest.mark.parametrize(
    ("dcs", "alphabet"),
    [
        (0x00, Alphabet.GSM7),
        (0x04, Alphabet.DATA8),
        (0x08, Alphabet.UCS2),
        (0x10, Alphabet.GSM7),
        (0xF4, Alphabet.DATA8),
        (0xF0, Alphabet.GSM7),
        (0xC0, Alphabet.GSM7),
        (0xE0, Alphabet.UCS2),
    ],
)
def test_data_coding_schemes(dcs: int, alphabet: Alphabet) -> None:
    assert alphabet_of(dcs) is alphabet


@pytest.mark.parametrize("dcs", [0x20, 0x0C, 0x80, 0xB0])
def test_unsupported_data_coding_schemes(dcs: int) -> None:
    with pytest.raises(PduError):
        alphabet_of(dcs)


def test_eight_bit_and_alphanumeric_sender() -> None:
    ud = UserData(Alphabet.DATA8, data=b"\x00\x01\xff")
    submit = SmsSubmit(reference=1, destination=Address.parse("123"), user_data=ud, dcs=4)
    assert decode_tpdu(submit.encode()).user_data == ud
    # An alphanumeric TP-OA (23.040 §9.1.2.5): "MMoney" in packed default alphabet.
    tpdu = bytes.fromhex("04" + "0BD0CDE6DB5DCE03" + "0000" + STAMP.encode().hex() + "0361F118")
    decoded = decode_tpdu(tpdu)
    assert isinstance(decoded, SmsDeliver)
    assert decoded.originator.number == "MMoney"
    assert decoded.user_data.text == decodeSmsPdu("00" + tpdu.hex())["text"] == "abc"


def test_text_too_long_for_one_message() -> None:
    with pytest.raises(PduError):
        UserData(Alphabet.GSM7, text="x" * 161).encode()
    with pytest.raises(PduError):
        UserData(Alphabet.UCS2, text="中" * 71).encode()
    with pytest.raises(PduError, match="not in the GSM 7-bit"):
        UserData(Alphabet.GSM7, text="中").encode()


def test_malformed_bytes_only_ever_raise_pdu_error() -> None:
    rng = random.Random(11)
    good = [
        SmsDeliver(
            originator=Address.parse("+8613912345678"),
            timestamp=STAMP,
            user_data=ud,
            dcs=dcs_for(ud.alphabet),
        ).encode()
        for text in TEXTS
        for ud in split_text(text, 1)
    ]
    for _ in range(3000):
        base = bytearray(rng.choice(good))
        for _ in range(rng.randint(1, 4)):
            kind = rng.random()
            if kind < 0.4 and base:
                base[rng.randrange(len(base))] = rng.randrange(256)
            elif kind < 0.7 and base:
                del base[rng.randrange(len(base)) :]
            else:
                base += bytes(rng.randrange(256) for _ in range(rng.randint(1, 5)))
        with contextlib.suppress(PduError):
            decode_tpdu(bytes(base))
    for size in range(0, 30):
        with contextlib.suppress(PduError):
            read_sca(bytes(rng.randrange(256) for _ in range(size)))
