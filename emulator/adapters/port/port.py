"""What every transport shares: its counters, its connection events and its interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

DataCallback = Callable[[bytes], None]


@dataclass(frozen=True, kw_only=True)
class PortEvent:
    """A host program came or went (traced as OPEN/CLOSE, counted in ``PortStats``)."""

    kind: str  # "open", "close" or "refused" (a second TCP client turned away)
    peer: str = ""  # "127.0.0.1:40122" for TCP; empty for a pty (the opener is unknown)


EventCallback = Callable[[PortEvent], None]


@dataclass
class PortStats:
    """Counters of one port. ``bytes_dropped`` is module output nobody read (the host was
    absent or stopped reading and the bounded backlog was full)."""

    bytes_in: int = 0
    bytes_out: int = 0
    bytes_dropped: int = 0
    opens: int = 0
    closes: int = 0
    refused: int = 0


class Port(Protocol):
    """A transport as ``serve`` drives it."""

    stats: PortStats

    def write(self, data: bytes) -> int:
        """Module output; never blocks and never raises for a slow or absent host.

        Returns how many bytes at the end of ``data`` reached no host (dropped: nobody had
        the port open, or the host stopped reading and the backlog is full), so a trace can
        tell what was sent from what was lost."""

    @property
    def backlog_size(self) -> int:
        """Output held because the host program has not taken it yet (bytes)."""

    def describe(self) -> str:
        """``pty /dev/pts/5 link /tmp/ttyQ0`` or ``tcp 127.0.0.1:40001``, for the ready lines."""

    def close(self) -> None: ...


class Backlog:
    """Output a transport could not hand over yet, capped at ``limit`` bytes.

    What does not fit is dropped and counted, the way a UART's transmit FIFO overflows
    when nobody drains it: memory stays bounded however long the host stays away.
    """

    def __init__(self, limit: int, stats: PortStats) -> None:
        if limit <= 0:
            raise ValueError(f"backlog limit must be positive, got {limit}")
        self.limit = limit
        self._stats = stats
        self._data = bytearray()

    def __len__(self) -> int:
        return len(self._data)

    def add(self, data: bytes) -> int:
        """Keep what fits; return the number of bytes dropped."""
        room = self.limit - len(self._data)
        kept = data[: max(room, 0)]
        self._data += kept
        dropped = len(data) - len(kept)
        self._stats.bytes_dropped += dropped
        return dropped

    def peek(self) -> bytes:
        return bytes(self._data)

    def consume(self, count: int) -> None:
        del self._data[:count]

    def discard(self) -> None:
        """Throw away stale output (a new host opened the port); counted as dropped."""
        self._stats.bytes_dropped += len(self._data)
        self._data.clear()
