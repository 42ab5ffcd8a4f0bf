"""The sans-I/O pieces: server-sent events (aiohttp does the HTTP), value matching, codes.

The parser is fed whole, byte by byte and at random cuts (h11's test style, tests/support.py).
"""

from __future__ import annotations

import pytest

from scenario_tool.http import HttpProtocolError, SseEvent, SseParser
from scenario_tool.values import mismatch, normalise_code
from tests.support import chunkings

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


def test_an_endless_event_is_refused() -> None:
    with pytest.raises(HttpProtocolError, match="larger than 4 MiB"):
        SseParser().feed(b"data: " + b"x" * (5 * 1024 * 1024))


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
