"""Execute argument lists (TS 1.0 §5.4.5)."""

from __future__ import annotations

import pytest

from emulator.lwm2m import BadRequest, format_execute_arguments, parse_execute_arguments


def test_parse_and_format() -> None:
    assert parse_execute_arguments(b"") == {}
    assert parse_execute_arguments(b"0") == {0: None}
    parsed = parse_execute_arguments(b"0='http://example.com/fw.bin',1,2=''")
    assert parsed == {0: "http://example.com/fw.bin", 1: None, 2: ""}
    assert format_execute_arguments(parsed) == b"0='http://example.com/fw.bin',1,2=''"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"a", "expected a digit"),
        (b"10", "expected ','"),
        (b"0,", "expected a digit"),
        (b"0='abc", "unterminated"),
        (b"0='a\\b'", "forbidden"),
        (b"0,0", "twice"),
        (b"0 ,1", "expected ','"),
        ("0='é'".encode(), "ASCII"),
    ],
)
def test_refusals(payload: bytes, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        parse_execute_arguments(payload)
