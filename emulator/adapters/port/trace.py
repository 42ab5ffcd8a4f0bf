"""The RX/TX trace (``--trace FILE``): what crossed each AT port, one line per chunk.

A line reads::

    2026-11-23T19:06:29.123456Z +0.004211 0 869339060001965 RX "AT\\r"

UTC wall time, seconds since the trace started (monotonic, so the gaps are exact even if
the wall clock jumps), module index, IMEI, direction, and the bytes quoted with C-style
escapes (``\\r``, ``\\n``, ``\\t``, ``\\\\``, ``\\"``, ``\\xNN`` for anything else that
is not printable ASCII). RX is what the host sent, TX what it was sent, DROP what the module
said that reached no host (nobody had the port open, or the host stopped reading and the
bounded backlog was full). OPEN, CLOSE and REFUSED lines record hosts coming and going.
Chunks longer than ``MAX_CHUNK`` bytes are split over several lines.

Writes are buffered and flushed by one timer armed on the first line after a flush (none
while idle). The file is bounded: past ``max_bytes`` it is renamed to ``FILE.1``
(replacing an older one) and a new file starts, so a trace never holds more than twice
``max_bytes`` plus a line.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import time
from collections.abc import Callable
from pathlib import Path

MAX_CHUNK = 512  # bytes per trace line
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
FLUSH_INTERVAL = 0.25  # seconds; how stale the file may be behind the port
FLUSH_SIZE = 64 * 1024  # flush at once when this much is buffered


def _escape_table() -> list[str]:
    table = [f"\\x{b:02x}" for b in range(256)]
    for b in range(0x20, 0x7F):
        table[b] = chr(b)
    for b, text in ((0x0D, "\\r"), (0x0A, "\\n"), (0x09, "\\t"), (0x5C, "\\\\"), (0x22, '\\"')):
        table[b] = text
    return table


_ESCAPES = _escape_table()


def escape_bytes(data: bytes) -> str:
    """The quoted form used in trace lines (round-trips with ``unescape_bytes``)."""
    return '"' + "".join(_ESCAPES[b] for b in data) + '"'


def unescape_bytes(text: str) -> bytes:
    """Inverse of ``escape_bytes`` (for tools and tests reading a trace)."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f"not a quoted trace chunk: {text!r}")
    body = text[1:-1]
    out = bytearray()
    index = 0
    simple = {"r": 0x0D, "n": 0x0A, "t": 0x09, "\\": 0x5C, '"': 0x22}
    while index < len(body):
        ch = body[index]
        if ch != "\\":
            out.append(ord(ch))
            index += 1
            continue
        code = body[index + 1 : index + 2]
        if code in simple:
            out.append(simple[code])
            index += 2
        elif code == "x":
            out.append(int(body[index + 2 : index + 4], 16))
            index += 4
        else:
            raise ValueError(f"bad escape at {index} in {text!r}")
    return bytes(out)


class TraceWriter:
    """One trace file shared by every module of a run."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        loop: asyncio.AbstractEventLoop | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"trace size limit must be positive, got {max_bytes}")
        self.path = path
        self.max_bytes = max_bytes
        self._loop = loop or asyncio.get_running_loop()
        self._clock = clock
        self._wall_clock = wall_clock
        self._start = clock()
        self._pending: list[str] = []
        self._pending_size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._file = open(path, "a", encoding="ascii", newline="\n")  # noqa: SIM115 (lives with us)
        self._size = self._file.tell()
        self.lines = 0

    def record(self, label: str, direction: str, data: bytes) -> None:
        """``direction`` is RX, TX or DROP; ``label`` is "<index> <imei>". Nothing is
        written for empty ``data``."""
        for start in range(0, len(data), MAX_CHUNK):
            self._add(label, direction, escape_bytes(data[start : start + MAX_CHUNK]))

    def note(self, label: str, what: str, detail: str = "") -> None:
        """A non-data line: OPEN, CLOSE, REFUSED (``detail`` e.g. the TCP peer)."""
        self._add(label, what, detail)

    def _add(self, label: str, direction: str, text: str) -> None:
        if self._file.closed:
            return
        wall = datetime.datetime.fromtimestamp(self._wall_clock(), datetime.UTC)
        stamp = wall.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line = f"{stamp} +{self._clock() - self._start:.6f} {label} {direction} {text}".rstrip()
        self._pending.append(line + "\n")
        self._pending_size += len(line) + 1
        self.lines += 1
        if self._pending_size >= FLUSH_SIZE or self._size + self._pending_size >= self.max_bytes:
            self.flush()
        elif self._timer is None:
            self._timer = self._loop.call_later(FLUSH_INTERVAL, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending or self._file.closed:
            return
        text = "".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        self._file.write(text)
        self._file.flush()
        self._size += len(text)
        if self._size >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        self._file.close()
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        self._file = open(self.path, "w", encoding="ascii", newline="\n")  # noqa: SIM115
        self._size = 0

    def close(self) -> None:
        self.flush()
        self._file.close()
