"""The transcript: everything a scenario run did, one timestamped line each.

Columns: seconds since the scenario started, a tag, the text::

       0.000 step   1 send AT+QLWREG                          (scenarios/x.yaml:12)
       0.001 at>>   AT+QLWREG\\r
       0.001 at<<   AT+QLWREG
       0.002 at<<   OK
       0.143 udp>   CON POST mid=1 /rd?ep=urn:imei:869339060001965&lt=86400 (97 B) forwarded
       0.150 srv    REGISTRATION ep=urn:imei:869339060001965 lt=86400 b=U lwm2m=1.0 </1/0>,...

Tags: ``step`` (a step starts), ``at>>``/``at<<`` (AT bytes to/from the module, control
characters escaped), ``udp>``/``udp<`` (datagrams through the fault relay, uplink/downlink),
``srv`` (what the server reports), ``op`` (a server operation and its answer), ``fault``,
``pass``/``FAIL``. Each ``write`` returns the line number, which failures quote.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from emulator.at.redact import redact


def escape(data: bytes | str) -> str:
    """Bytes as readable text: printable ASCII as is, CR/LF as ``\\r``/``\\n``, others ``\\xNN``."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    out: list[str] = []
    for char in text:
        code = ord(char)
        if char == "\r":
            out.append("\\r")
        elif char == "\n":
            out.append("\\n")
        elif char == "\\":
            out.append("\\\\")
        elif 32 <= code < 127 or (code > 160 and not isinstance(data, bytes)):
            out.append(char)
        else:
            out.append(f"\\x{code:02x}")
    return "".join(out)


class Transcript:
    """Appends lines to a file (or keeps them in memory when ``path`` is None)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.lines: list[str] = []
        self._file: TextIO | None = None
        self._origin = 0.0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", encoding="utf-8")

    @property
    def line_count(self) -> int:
        return len(self.lines)

    def set_origin(self, now: float) -> None:
        """Times are written relative to ``now`` (a scenario's start)."""
        self._origin = now

    def write(self, now: float, tag: str, text: str) -> int:
        """Add one line (newlines in ``text`` are escaped); returns its 1-based number."""
        body = redact(text).replace("\r", "\\r").replace("\n", "\\n")
        return self._append(f"{now - self._origin:10.3f} {tag:<6} {body}")

    def heading(self, text: str) -> int:
        """An unstamped line (scenario headers, summaries)."""
        return self._append(redact(text))

    def _append(self, line: str) -> int:
        self.lines.append(line)
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()
        return len(self.lines)

    def excerpt(self, first: int, last: int) -> str:
        """Lines ``first``..``last`` (1-based, inclusive) with their numbers."""
        first = max(first, 1)
        last = min(last, len(self.lines))
        return "\n".join(f"{n:6d}  {self.lines[n - 1]}" for n in range(first, last + 1))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
