"""The sans-I/O pieces: HTTP response parsing, server-sent events, value matching, codes.

Parsers are fed whole, byte by byte and at random cuts (h11's test style, tests/support.py).
"""

from __future__ import annotations

import pytest

from emulator.scenario.http import HttpProtocolError, ResponseParser, SseEvent, SseParser
from emulator.scenario.values import mismatch, normalise_code
from tests.support import chunkings


def parse_response(chunks: list[bytes], close: bool = False) -> tuple[int, bytes, bool]:
    parser = ResponseParser()
    body = b""
    for chunk in chunks:
        body += b"".join(parser.feed(chunk))
    if close:
        body += b"".join(parser.end_of_input())
    assert parser.head is not None
    return parser.head.status, body, parser.finished


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'7\r\n{"a": 1\r\n1;ext=1\r\n}\r\n0\r\nX-Trailer: y\r\n\r\n'
)
LENGTH = b"HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 15\r\n\r\nRequest timeout"
CLOSE = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end"


@pytest.mark.parametrize(
    ("raw", "status", "body", "close"),
    [
        (CHUNKED, 200, b'{"a": 1}', False),
        (LENGTH, 504, b"Request timeout", False),
        (CLOSE, 200, b"until the end", True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b"", False),
    ],
)
def test_responses_parse_however_they_are_cut(
    raw: bytes, status: int, body: bytes, close: bool
) -> None:
    for name, chunks in chunkings(raw):
        got = parse_response(chunks, close)
        assert got == (status, body, True), name


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"SMTP 220 hello\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad header line"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "out of bounds"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", "not followed by CRLF"),
    ],
)
def test_bad_responses_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(HttpProtocolError, match=reason):
        ResponseParser().feed(raw)


def test_a_response_cut_short_is_an_error_not_a_hang() -> None:
    parser = ResponseParser()
    parser.feed(LENGTH[:-4])
    with pytest.raises(HttpProtocolError, match="middle of the response body"):
        parser.end_of_input()


def test_an_endless_head_is_refused() -> None:
    with pytest.raises(HttpProtocolError, match="larger than 64 KiB"):
        ResponseParser().feed(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20000)


SSE = (
    b": heartbeat comment\r\n"
    b"event: REGISTRATION\r\n"
    b'data: {"endpoint":"ep1"}\r\n'
    b"\r\n"
    b"\r\n"  # Jetty's keep-alive blank lines dispatch nothing
    b"event: NOTIFICATION\n"
    b'data: {"a":\n'
    b"data: 1}\n"
    b"id: 7\n"
    b"retry: 100\n"
    b"\n"
    b"data:no-space\r"
    b"\r\n"
)


def test_server_sent_events_parse_with_any_line_ending_and_any_cut() -> None:
    expected = [
        SseEvent("REGISTRATION", '{"endpoint":"ep1"}'),
        SseEvent("NOTIFICATION", '{"a":\n1}', "7"),
        SseEvent("message", "no-space", "7"),
    ]
    for name, chunks in chunkings(SSE, seed=3):
        parser = SseParser()
        events = [event for chunk in chunks for event in parser.feed(chunk)]
        assert events == expected, name


def test_utf8_split_across_chunks_survives() -> None:
    data = "event: X\ndata: Grüße\n\n".encode()
    parser = SseParser()
    events = [e for i in range(len(data)) for e in parser.feed(data[i : i + 1])]
    assert events == [SseEvent("X", "Grüße")]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("2.05", "2.05"),
        ("205", "2.05"),
        ("CONTENT", "2.05"),
        ("changed", "2.04"),
        ("Not Found", "4.04"),
        ("METHOD_NOT_ALLOWED", "4.05"),
    ],
)
def test_response_codes_are_accepted_in_every_spelling(text: str, code: str) -> None:
    assert normalise_code(text) == code


def test_an_unknown_code_is_refused() -> None:
    with pytest.raises(ValueError, match="not a CoAP response code"):
        normalise_code("SUPER")


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("Quectel", "Quectel"),
        (120, 120),
        (120, 120.0),
        ("42", 42),
        (True, True),
        ("true", True),
        ("0a0b", b"\x0a\x0b"),
        ("3:0", "3:0"),
        ({0: "Quectel"}, {0: "Quectel", 1: "EC200U"}),
        ({"1": 60}, {0: 1, 1: 60}),
        ([1, 5], {0: 1, 1: 5}),
        ({0: {1: 60}}, {0: {0: 1, 1: 60}}),
    ],
)
def test_matching_values(expected: object, actual: object) -> None:
    assert mismatch(expected, actual) is None


@pytest.mark.parametrize(
    ("expected", "actual", "reason"),
    [
        ("Quectel", "Acme", "expected 'Quectel', got 'Acme'"),
        (120, 60, "expected 120, got 60"),
        (False, True, "expected false, got true"),
        ({2: 1}, {0: 1}, "no id 2"),
        ({0: 5}, {0: 1}, "at 0"),
        ([1], {0: 1, 1: 2}, "expected 1 values"),
        ("x", {0: 1}, "got a set of values"),
        ({0: 1}, 1, "expected a set of values"),
    ],
)
def test_mismatches_say_why(expected: object, actual: object, reason: str) -> None:
    problem = mismatch(expected, actual)
    assert problem is not None and reason in problem
