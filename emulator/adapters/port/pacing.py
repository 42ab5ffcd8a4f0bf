"""Baud pacing (``--baud N``): module output reaches the host at the speed of a UART.

A UART frame is 10 bits per byte at 8N1 (start bit, 8 data bits, stop bit), so N baud
carries N/10 bytes a second. Output is handed on in pieces of about 5 ms of line time,
each at the moment its last byte would have left the wire: one timer per piece and none
while idle, never a busy loop. What the module says faster than the line can carry waits
in a bounded queue; beyond it bytes are dropped and counted, as a UART transmit buffer
overflows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

BITS_PER_BYTE = 10  # 8N1
PIECE_SECONDS = 0.005  # line time per delivered piece: few timers, still a smooth stream
MAX_PIECE = 4096
DEFAULT_LIMIT = 64 * 1024


class BaudPacer:
    """Delays ``write``s so that ``out`` sees them at ``baud`` bits per second."""

    def __init__(
        self,
        baud: int,
        out: Callable[[bytes], None],
        *,
        limit: int = DEFAULT_LIMIT,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if baud <= 0:
            raise ValueError(f"baud rate must be positive, got {baud}")
        self.baud = baud
        self.byte_time = BITS_PER_BYTE / baud
        self.piece_size = max(1, min(MAX_PIECE, int(PIECE_SECONDS / self.byte_time)))
        self.bytes_dropped = 0
        self._out = out
        self._limit = limit
        self._loop = loop or asyncio.get_running_loop()
        self._queue = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._line_free_at = 0.0
        self._idle_waiters: list[asyncio.Future[None]] = []

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def wait_idle(self) -> None:
        """Until everything written so far has left the line."""
        if self._queue:
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._idle_waiters.append(waiter)
            await waiter

    def write(self, data: bytes) -> None:
        room = self._limit - len(self._queue)
        if room < len(data):
            self.bytes_dropped += len(data) - max(room, 0)
            data = data[: max(room, 0)]
        self._queue += data
        if self._queue and self._timer is None:
            self._schedule()

    def _schedule(self) -> None:
        count = min(len(self._queue), self.piece_size)
        start = max(self._loop.time(), self._line_free_at)
        self._line_free_at = start + count * self.byte_time
        self._timer = self._loop.call_at(self._line_free_at, self._deliver, count)

    def _deliver(self, count: int) -> None:
        self._timer = None
        data = bytes(self._queue[:count])
        del self._queue[:count]
        if self._queue:
            self._schedule()
        self._out(data)
        if not self._queue:
            self._wake_idle_waiters()

    def _wake_idle_waiters(self) -> None:
        waiters, self._idle_waiters = self._idle_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()
        self._wake_idle_waiters()
