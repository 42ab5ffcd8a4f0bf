"""Baud pacing against the real loop clock, and the trace file's format and bounds."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from emulator.adapters.port.pacing import BaudPacer
from emulator.adapters.port.trace import TraceWriter, escape_bytes, unescape_bytes

TIMEOUT = 10.0


async def eventually(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Wait (bounded) for something with no event to wait on: a file filling."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


async def test_output_takes_the_time_a_uart_needs() -> None:
    loop = asyncio.get_running_loop()
    received: list[tuple[float, bytes]] = []
    done = loop.create_future()
    payload = bytes(range(32, 152))  # 120 bytes: 0.5 s at 2400 baud, 10 bits a byte

    def out(data: bytes) -> None:
        received.append((loop.time(), data))
        if sum(len(d) for _, d in received) == len(payload):
            done.set_result(None)

    pacer = BaudPacer(2400, out)
    start = loop.time()
    pacer.write(payload[:60])
    pacer.write(payload[60:])
    await asyncio.wait_for(done, TIMEOUT)
    assert b"".join(d for _, d in received) == payload
    elapsed = received[-1][0] - start
    assert 0.49 <= elapsed < 0.5 + 0.25
    # Delivered bit by bit in small pieces, each no earlier than its last byte's line time.
    assert len(received) >= 10
    sent = 0
    for when, data in received:
        sent += len(data)
        assert when - start >= sent * 10 / 2400 - 0.002


async def test_a_line_idle_again_starts_from_now() -> None:
    loop = asyncio.get_running_loop()
    arrivals: asyncio.Queue[float] = asyncio.Queue()
    pacer = BaudPacer(9600, lambda data: arrivals.put_nowait(loop.time()))
    start = loop.time()
    pacer.write(b"A")
    first = await asyncio.wait_for(arrivals.get(), TIMEOUT)
    assert first - start >= 10 / 9600 - 0.0005


async def test_output_beyond_the_queue_is_dropped_and_counted() -> None:
    pacer = BaudPacer(300, lambda data: None, limit=100)
    pacer.write(b"x" * 150)
    assert pacer.queued == 100 and pacer.bytes_dropped == 50
    pacer.close()
    assert pacer.queued == 0


def test_bad_baud_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        BaudPacer(0, lambda data: None, loop=asyncio.new_event_loop())


def test_escape_round_trips_every_byte() -> None:
    data = bytes(range(256)) + b'AT+QLWADDOBJ=3,0,"x"\r\n\\'
    text = escape_bytes(data)
    assert text.isascii() and "\n" not in text and "\r" not in text
    assert unescape_bytes(text) == data
    assert escape_bytes(b'AT\r\n"\\\x1a') == '"AT\\r\\n\\"\\\\\\x1a"'


async def test_trace_lines(tmp_path: Path) -> None:
    ticks = iter([100.0, 100.5, 101.25, 102.0])
    trace = TraceWriter(
        tmp_path / "t.log", clock=lambda: next(ticks), wall_clock=lambda: 1_795_000_000.123456
    )
    trace.record("0 869339060001965", "RX", b"AT\r")
    trace.record("0 869339060001965", "TX", b"AT\r\r\nOK\r\n")
    trace.note("1 869339060001973", "OPEN", "127.0.0.1:5555")
    trace.close()
    lines = (tmp_path / "t.log").read_text().splitlines()
    assert lines == [
        '2026-11-18T11:06:40.123456Z +0.500000 0 869339060001965 RX "AT\\r"',
        '2026-11-18T11:06:40.123456Z +1.250000 0 869339060001965 TX "AT\\r\\r\\nOK\\r\\n"',
        "2026-11-18T11:06:40.123456Z +2.000000 1 869339060001973 OPEN 127.0.0.1:5555",
    ]


async def test_trace_flushes_without_being_closed(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    trace = TraceWriter(path)
    trace.record("0 1", "RX", b"AT\r")
    assert path.read_text() == ""  # buffered, then on disk after the flush interval (0.25 s)
    await eventually(lambda: path.read_text().endswith('RX "AT\\r"\n'))
    trace.close()


async def test_trace_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    trace = TraceWriter(path, max_bytes=10_000)
    for index in range(2000):
        trace.record("0 869339060001965", "TX", f"\r\n+CSQ: {index % 32},99\r\n".encode())
    trace.close()
    rotated = path.with_name("t.log.1")
    assert rotated.exists()
    assert path.stat().st_size < 10_000 + 600  # one line beyond the limit at most
    assert rotated.stat().st_size < 10_000 + 600
    last = (path.read_text() or rotated.read_text()).splitlines()[-1]
    assert re.search(r'TX "\\r\\n\+CSQ: 15,99\\r\\n"$', last), last


async def test_long_chunks_are_split_over_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    trace = TraceWriter(path)
    trace.record("0 1", "TX", b"y" * 1300)
    trace.close()
    chunks = [unescape_bytes(line.split(" ", 5)[5]) for line in path.read_text().splitlines()]
    assert [len(c) for c in chunks] == [512, 512, 276]
