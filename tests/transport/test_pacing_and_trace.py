"""Baud pacing on a controlled clock and on the real loop; the trace file's format and
bounds."""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import cast

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


@dataclasses.dataclass
class Timer:
    callback: Callable[..., object]
    args: tuple[object, ...]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class LineClock:
    """What BaudPacer asks of its loop (``time``, ``call_at``) on a clock that moves only
    from one timer to the next: the schedule is checked exactly, however loaded the machine
    (a real loop's timers fire late by whatever the scheduler adds)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._timers: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., object], *args: object) -> Timer:
        timer = Timer(callback, args)
        heapq.heappush(self._timers, (when, next(self._order), timer))
        return timer

    def run(self) -> None:
        while self._timers:
            when, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                self.now = max(self.now, when)
                timer.callback(*timer.args)


def test_output_takes_the_time_a_uart_needs() -> None:
    clock = LineClock()
    received: list[tuple[float, bytes]] = []
    payload = bytes(range(32, 152))  # 120 bytes: 0.5 s at 2400 baud, 10 bits a byte
    pacer = BaudPacer(
        2400,
        lambda data: received.append((clock.now, data)),
        loop=cast(asyncio.AbstractEventLoop, clock),
    )
    start = clock.now
    pacer.write(payload[:60])
    pacer.write(payload[60:])
    clock.run()
    assert b"".join(d for _, d in received) == payload
    assert received[-1][0] - start == pytest.approx(0.5)
    # Delivered in small pieces, each when its last byte has left the wire.
    assert len(received) >= 10
    sent = 0
    for when, data in received:
        sent += len(data)
        assert when - start == pytest.approx(sent * 10 / 2400)


async def test_on_a_real_loop_no_piece_comes_before_its_line_time() -> None:
    loop = asyncio.get_running_loop()
    received: list[tuple[float, bytes]] = []
    done = loop.create_future()
    payload = bytes(range(32, 152))

    def out(data: bytes) -> None:
        received.append((loop.time(), data))
        if sum(len(d) for _, d in received) == len(payload):
            done.set_result(None)

    pacer = BaudPacer(2400, out)
    start = loop.time()
    pacer.write(payload)
    await asyncio.wait_for(done, TIMEOUT)
    assert b"".join(d for _, d in received) == payload
    sent = 0
    for when, data in received:  # late is the scheduler's doing; early would be ours
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
