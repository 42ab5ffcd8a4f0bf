"""MicroPython's ``uzlib`` (DEFLATE decompression) on CPython's ``zlib``.

``decompress(data, wbits=0, bufsize=0)``: ``wbits`` 0 or 8..15 reads a zlib stream (0:
window size from its header), -8..-15 raw DEFLATE, 24..31 a gzip stream, as MicroPython
documents; ``bufsize`` is ignored (kept for CPython compatibility, as on the device).
``DecompIO(stream, wbits=0)`` decompresses while reading from ``stream``
(``read([n])``, ``readinto(buf)``, ``readline()``). Corrupt data raises ``ValueError``.
"""

from __future__ import annotations

import zlib
from typing import IO

Data = bytes | bytearray | memoryview
CHUNK = 512


def _wbits(wbits: int) -> int:
    if wbits == 0 or 8 <= wbits <= 15 or -15 <= wbits <= -8 or 24 <= wbits <= 31:
        return wbits
    raise ValueError(f"wbits must be 0, 8..15, -8..-15 or 24..31, got {wbits}")


def decompress(data: Data, wbits: int = 0, bufsize: int = 0) -> bytes:
    try:
        return zlib.decompress(bytes(data), _wbits(wbits))
    except zlib.error as exc:
        raise ValueError(f"uzlib: {exc}") from None


class DecompIO:
    def __init__(self, stream: IO[bytes], wbits: int = 0, bufsize: int = 1) -> None:
        self._stream = stream
        self._inflater = zlib.decompressobj(_wbits(wbits))
        self._buffer = bytearray()
        self._eof = False

    def _fill(self, wanted: int | None) -> None:
        while not self._eof and (wanted is None or len(self._buffer) < wanted):
            chunk = self._stream.read(CHUNK)
            try:
                if not chunk:
                    self._buffer += self._inflater.flush()
                    self._eof = True
                    break
                self._buffer += self._inflater.decompress(chunk)
            except zlib.error as exc:
                raise ValueError(f"uzlib: {exc}") from None
            if self._inflater.eof:
                self._eof = True

    def read(self, size: int = -1) -> bytes:
        self._fill(None if size is None or size < 0 else size)
        count = len(self._buffer) if size is None or size < 0 else min(size, len(self._buffer))
        out = bytes(self._buffer[:count])
        del self._buffer[:count]
        return out

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self) -> bytes:
        line = bytearray()
        while True:
            byte = self.read(1)
            if not byte:
                return bytes(line)
            line += byte
            if byte == b"\n":
                return bytes(line)
