"""A small HTTP/1.1 client for Leshan's REST API and its server-sent events (stdlib only).

The parsing is sans-I/O (``ResponseParser`` for status, headers and bodies by length, chunked
or until close, RFC 9112 §6-7; ``SseParser`` for ``text/event-stream``, WHATWG HTML §9.2.6);
``request`` and ``EventStream`` move the bytes with asyncio streams. Each request opens its own
connection (``Connection: close``): the API is called a few times per step, and a fresh
connection never trips over a server that closed an idle one. Sizes are bounded and every
read has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from emulator.scenario.errors import DriverError, Unreachable

MAX_HEAD: Final = 64 * 1024
MAX_BODY: Final = 16 * 1024 * 1024
MAX_CHUNK_LINE: Final = 1024
MAX_EVENT: Final = 4 * 1024 * 1024


class HttpProtocolError(DriverError):
    """The peer's HTTP was not valid (or exceeded our bounds)."""


# --------------------------------------------------------------------------- sans-I/O
@dataclass(frozen=True)
class Head:
    status: int
    reason: str
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ", "


@dataclass
class ResponseParser:
    """Feed bytes, get the head once, then body pieces; ``finished`` when the body ended.

    ``no_body`` is for HEAD requests and the statuses that never carry one (1xx, 204, 304).
    """

    no_body: bool = False
    no_limit: bool = False  # event streams run for as long as the scenario
    head: Head | None = None
    finished: bool = False
    _buffer: bytearray = field(default_factory=bytearray)
    _mode: str = "head"  # head, length, chunk-size, chunk-data, chunk-crlf, trailer, close, done
    _remaining: int = 0
    _body_seen: int = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Body bytes made available by ``data`` (possibly none)."""
        self._buffer += data
        out: list[bytes] = []
        while True:
            progressed = self._step(out)
            if not progressed:
                return out

    def end_of_input(self) -> list[bytes]:
        """The connection closed: valid only when the body runs until close."""
        if self._mode == "close":
            self._mode = "done"
            self.finished = True
            return []
        if self._mode == "done":
            return []
        if self._mode == "head":
            raise HttpProtocolError("the connection closed before a complete response head")
        raise HttpProtocolError("the connection closed in the middle of the response body")

    def _step(self, out: list[bytes]) -> bool:
        if self._mode == "head":
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    raise HttpProtocolError("response head is larger than 64 KiB")
                return False
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            self.head = _parse_head(raw)
            self._choose_body_mode(self.head)
            return True
        if self._mode == "length":
            if self._remaining == 0:
                self._finish()
                return False
            if not self._buffer:
                return False
            piece = bytes(self._buffer[: self._remaining])
            del self._buffer[: len(piece)]
            self._remaining -= len(piece)
            self._emit(piece, out)
            return True
        if self._mode == "chunk-size":
            end = self._buffer.find(b"\r\n")
            if end < 0:
                if len(self._buffer) > MAX_CHUNK_LINE:
                    raise HttpProtocolError("chunk size line is too long")
                return False
            line = bytes(self._buffer[:end]).split(b";", 1)[0].strip()
            del self._buffer[: end + 2]
            try:
                size = int(line, 16)
            except ValueError:
                raise HttpProtocolError(f"bad chunk size {line!r}") from None
            if size < 0:
                raise HttpProtocolError(f"bad chunk size {line!r}")
            self._remaining = size
            self._mode = "chunk-data" if size else "trailer"
            return True
        if self._mode == "chunk-data":
            if self._remaining == 0:
                self._mode = "chunk-crlf"
                return True
            if not self._buffer:
                return False
            piece = bytes(self._buffer[: self._remaining])
            del self._buffer[: len(piece)]
            self._remaining -= len(piece)
            self._emit(piece, out)
            return True
        if self._mode == "chunk-crlf":
            if len(self._buffer) < 2:
                return False
            if self._buffer[:2] != b"\r\n":
                raise HttpProtocolError("chunk data is not followed by CRLF")
            del self._buffer[:2]
            self._mode = "chunk-size"
            return True
        if self._mode == "trailer":
            end = self._buffer.find(b"\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    raise HttpProtocolError("chunked trailer is too large")
                return False
            del self._buffer[: end + 2]
            if end == 0:
                self._finish()
                return False
            return True
        if self._mode == "close":
            if not self._buffer:
                return False
            piece = bytes(self._buffer)
            self._buffer.clear()
            self._emit(piece, out)
            return True
        return False

    def _choose_body_mode(self, head: Head) -> None:
        if head.status < 200 or head.status in (204, 304) or self.no_body:
            self._mode = "length"
            self._remaining = 0
            return
        encoding = head.headers.get("transfer-encoding", "").lower()
        if "chunked" in encoding:
            self._mode = "chunk-size"
            return
        length = head.headers.get("content-length")
        if length is not None:
            try:
                self._remaining = int(length)
            except ValueError:
                raise HttpProtocolError(f"bad Content-Length {length!r}") from None
            if self._remaining < 0 or self._remaining > MAX_BODY:
                raise HttpProtocolError(f"Content-Length {length} is out of bounds")
            self._mode = "length"
            return
        self._mode = "close"

    def _emit(self, piece: bytes, out: list[bytes]) -> None:
        self._body_seen += len(piece)
        if self._body_seen > MAX_BODY and not self.no_limit:
            raise HttpProtocolError("response body is larger than 16 MiB")
        out.append(piece)

    def _finish(self) -> None:
        self._mode = "done"
        self.finished = True


def _parse_head(raw: bytes) -> Head:
    try:
        text = raw.decode("iso-8859-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise HttpProtocolError("response head is not text") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HttpProtocolError(f"bad status line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpProtocolError(f"bad header line {line!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return Head(int(parts[1]), parts[2] if len(parts) > 2 else "", headers)


@dataclass(frozen=True)
class SseEvent:
    event: str  # "message" when the stream named none
    data: str
    id: str | None = None


@dataclass
class SseParser:
    """``text/event-stream`` decoding: fields ``event``, ``data``, ``id``; ``:`` comments."""

    _pending: str = ""
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None
    _size: int = 0
    _decoder: Any = None

    def feed(self, data: bytes) -> list[SseEvent]:
        if self._decoder is None:
            import codecs

            self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = self._pending + self._decoder.decode(data)
        events: list[SseEvent] = []
        start = 0
        index = 0
        length = len(text)
        while index < length:
            char = text[index]
            if char in "\r\n":
                if char == "\r" and index + 1 == length:
                    break  # a CR at the very end may be the first half of CRLF
                line = text[start:index]
                if char == "\r" and text[index + 1] == "\n":
                    index += 1
                index += 1
                start = index
                event = self._line(line)
                if event is not None:
                    events.append(event)
                continue
            index += 1
        self._pending = text[start:]
        if len(self._pending) > MAX_EVENT:
            raise HttpProtocolError("server-sent event line is larger than 4 MiB")
        return events

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data, self._size = "", [], 0
            return event
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._size += len(value)
            if self._size > MAX_EVENT:
                raise HttpProtocolError("server-sent event is larger than 4 MiB")
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None  # "retry" and unknown fields are ignored (WHATWG §9.2.6)


# --------------------------------------------------------------------------- asyncio
@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HttpProtocolError(f"expected JSON, got {self.text[:200]!r}") from exc


@dataclass(frozen=True)
class BaseUrl:
    """``http://host:port/prefix`` split once; requests name paths below it."""

    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, url: str) -> BaseUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{url!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:8080)"
            )
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise ValueError(f"{url!r}: {exc}") from None
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.prefix}"


async def _connect(
    base: BaseUrl, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    context = ssl.create_default_context() if base.scheme == "https" else None
    try:
        return await asyncio.wait_for(
            asyncio.open_connection(base.host, base.port, ssl=context), timeout
        )
    except TimeoutError:
        raise Unreachable(f"{base} did not accept a connection within {timeout:g} s") from None
    except OSError as exc:
        raise Unreachable(f"{base} is not reachable: {os_reason(exc)}") from None


def os_reason(exc: OSError) -> str:
    """``Connection refused`` rather than asyncio's ``Connect call failed ('h', p)``."""
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return exc.strerror or str(exc) or type(exc).__name__


def _request_bytes(
    base: BaseUrl, method: str, target: str, body: bytes | None, headers: Mapping[str, str]
) -> bytes:
    lines = [f"{method} {base.prefix}{target} HTTP/1.1", f"Host: {base.host}:{base.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body or b'')}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + (body or b"")


async def request(
    base: BaseUrl,
    method: str,
    target: str,
    *,
    body: bytes | None = None,
    content_type: str | None = None,
    timeout: float = 10.0,
) -> HttpResponse:
    """One request; the whole exchange is bounded by ``timeout``."""
    headers = {"Accept": "application/json", "Connection": "close"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    reader, writer = await _connect(base, timeout)
    parser = ResponseParser(no_body=method == "HEAD")
    body_parts: list[bytes] = []
    try:
        writer.write(_request_bytes(base, method, target, body, headers))
        await writer.drain()
        while not parser.finished:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            data = await asyncio.wait_for(reader.read(65536), remaining)
            body_parts += parser.end_of_input() if not data else parser.feed(data)
    except TimeoutError:
        raise DriverError(
            f"{method} {base}{target}: no complete answer within {timeout:g} s"
        ) from None
    except (ConnectionError, OSError) as exc:
        raise Unreachable(f"{method} {base}{target}: connection lost ({exc})") from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    assert parser.head is not None
    return HttpResponse(
        parser.head.status, parser.head.reason, parser.head.headers, b"".join(body_parts)
    )


class EventStream:
    """A ``GET`` answered with ``text/event-stream``: ``open`` returns once the server answered
    (so events from then on are not missed), then ``events()`` yields until closed."""

    def __init__(self, base: BaseUrl, target: str) -> None:
        self.base = base
        self.target = target
        self.status: int | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = ResponseParser(no_limit=True)
        self._sse = SseParser()
        self._early: list[bytes] = []

    async def open(self, timeout: float = 10.0) -> int:
        """Connect and read the head; returns the HTTP status (200 when streaming)."""
        reader, writer = await _connect(self.base, timeout)
        self._reader, self._writer = reader, writer
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        writer.write(_request_bytes(self.base, "GET", self.target, None, headers))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await writer.drain()
            while self._parser.head is None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError
                data = await asyncio.wait_for(reader.read(65536), remaining)
                if not data:
                    raise HttpProtocolError("the connection closed before the response head")
                self._early += self._parser.feed(data)
        except TimeoutError:
            await self.close()
            raise DriverError(
                f"GET {self.base}{self.target}: no answer within {timeout:g} s"
            ) from None
        except (ConnectionError, OSError) as exc:
            await self.close()
            raise Unreachable(f"GET {self.base}{self.target}: connection lost ({exc})") from None
        self.status = self._parser.head.status
        return self.status

    async def events(self) -> AsyncIterator[SseEvent]:
        """Events until the server closes the stream (or ``close()`` is called)."""
        if self._reader is None:
            raise RuntimeError("open() the stream first")
        for piece in self._early:
            for event in self._sse.feed(piece):
                yield event
        self._early.clear()
        while not self._parser.finished:
            try:
                data = await self._reader.read(65536)
            except (ConnectionError, OSError):
                return
            pieces = self._parser.end_of_input() if not data else self._parser.feed(data)
            for piece in pieces:
                for event in self._sse.feed(piece):
                    yield event
            if not data:
                return

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self._writer = None
