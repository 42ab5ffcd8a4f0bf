"""Leshan's REST API and server-sent events over aiohttp's client.

aiohttp does the HTTP (connections, chunked bodies, timeouts); what it does not do is read
``text/event-stream``, so :class:`SseParser` (sans-I/O, WHATWG HTML §9.2.6) stays here: the
aiohttp SSE clients on PyPI are unmaintained, and aiohttp's line reader splits on LF only
where the format also ends lines with a lone CR.
Each call opens a short-lived session: the API is called a few times per step, and a fresh
connection never trips over a server that closed an idle one. Sizes are bounded and every
read has a deadline.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp

from scenario_tool.errors import DriverError, Unreachable, os_reason

MAX_BODY: Final = 16 * 1024 * 1024
MAX_EVENT: Final = 4 * 1024 * 1024


class HttpProtocolError(DriverError):
    """The peer's HTTP (or event stream) was not valid, or exceeded our bounds."""


# --------------------------------------------------------------------------- sans-I/O
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
    _decoder: Any = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )

    def feed(self, data: bytes) -> list[SseEvent]:
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
    """``http://host:port/prefix`` split once; requests name paths below it. ``token`` (from
    ``$QUECEMU_HTTP_TOKEN`` unless given) goes out as ``Authorization: Bearer``."""

    scheme: str
    host: str
    port: int
    prefix: str
    token: str | None = None

    @classmethod
    def parse(cls, url: str, token: str | None = None) -> BaseUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{url!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:8080)"
            )
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise ValueError(f"{url!r}: {exc}") from None
        token = token or os.environ.get("QUECEMU_HTTP_TOKEN") or None
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"), token)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.prefix}"

    def url(self, target: str) -> str:
        return f"{self}{target}"

    def headers(self, **more: str) -> dict[str, str]:
        headers = dict(more)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


def _unreachable(base: BaseUrl, exc: aiohttp.ClientConnectorError) -> Unreachable:
    return Unreachable(f"{base} is not reachable: {os_reason(exc.os_error)}")


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
    headers = base.headers(Accept="application/json")
    if content_type is not None:
        headers["Content-Type"] = content_type
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.request(
                method, base.url(target), data=body, headers=headers, allow_redirects=False
            ) as answer,
        ):
            if (answer.content_length or 0) > MAX_BODY:
                raise HttpProtocolError(f"{method} {base}{target}: the answer exceeds 16 MiB")
            data = await answer.content.read(MAX_BODY + 1)
            if len(data) > MAX_BODY:
                raise HttpProtocolError(f"{method} {base}{target}: the answer exceeds 16 MiB")
            return HttpResponse(answer.status, answer.reason or "", dict(answer.headers), data)
    except aiohttp.ClientConnectorError as exc:
        raise _unreachable(base, exc) from None
    except TimeoutError:
        raise DriverError(
            f"{method} {base}{target}: no complete answer within {timeout:g} s"
        ) from None
    except aiohttp.ClientError as exc:
        raise Unreachable(f"{method} {base}{target}: connection lost ({exc})") from None


class EventStream:
    """A ``GET`` answered with ``text/event-stream``: ``open`` returns once the server answered
    (so events from then on are not missed), then ``events()`` yields until closed."""

    def __init__(self, base: BaseUrl, target: str) -> None:
        self.base = base
        self.target = target
        self.status: int | None = None
        self._session: aiohttp.ClientSession | None = None
        self._answer: aiohttp.ClientResponse | None = None
        self._sse = SseParser()

    async def open(self, timeout: float = 10.0) -> int:
        """Connect and read the head; returns the HTTP status (200 when streaming)."""
        # No total timeout: the stream lasts as long as the scenario.
        limits = aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=timeout)
        self._session = aiohttp.ClientSession(timeout=limits)
        headers = self.base.headers(Accept="text/event-stream", **{"Cache-Control": "no-cache"})
        try:
            async with asyncio.timeout(timeout):
                self._answer = await self._session.get(self.base.url(self.target), headers=headers)
        except aiohttp.ClientConnectorError as exc:
            await self.close()
            raise _unreachable(self.base, exc) from None
        except TimeoutError:
            await self.close()
            raise DriverError(
                f"GET {self.base}{self.target}: no answer within {timeout:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            await self.close()
            raise Unreachable(f"GET {self.base}{self.target}: connection lost ({exc})") from None
        self.status = self._answer.status
        return self.status

    async def events(self) -> AsyncIterator[SseEvent]:
        """Events until the server closes the stream (or ``close()`` is called)."""
        if self._answer is None:
            raise RuntimeError("open() the stream first")
        try:
            async for piece in self._answer.content.iter_any():
                for event in self._sse.feed(piece):
                    yield event
        except (aiohttp.ClientError, ConnectionError, OSError):
            return

    async def close(self) -> None:
        if self._answer is not None:
            self._answer.close()
            self._answer = None
        if self._session is not None:
            await self._session.close()
            self._session = None
