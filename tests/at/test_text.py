"""Text from elsewhere inside AT strings: V.250 §5.4.2.2 escapes for what would break the
line or the string, everything else as it is."""

from __future__ import annotations

import pytest

from emulator.at.text import at_string


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("coap://192.0.2.1:5683", "coap://192.0.2.1:5683"),
        (5683, "5683"),
        ("über ©", "über ©"),  # printable text past ASCII stays
        ("", ""),
        ('a"b', "a\\22b"),
        ("OK\r\nERROR", "OK\\0D\\0AERROR"),
        ("\x00\x1f\x7f", "\\00\\1F\\7F"),
        ("\x80\x9f\xa0", "\\80\\9F\xa0"),  # C1 controls escaped, NBSP not
    ],
)
def test_only_framing_characters_are_escaped(value: object, shown: str) -> None:
    assert at_string(value) == shown


def test_every_control_character_and_the_quote_are_escaped() -> None:
    for code in range(0x100):
        char = chr(code)
        escaped = code < 0x20 or 0x7F <= code <= 0x9F or char == '"'
        assert at_string(char) == (f"\\{code:02X}" if escaped else char)
