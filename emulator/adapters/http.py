"""The asyncio adapter of the module's HTTP(S) session: requests with aiohttp.

aiohttp is a kept asyncio HTTP client (connection handling, TLS through an
``ssl.SSLContext``, chunked bodies, a pluggable resolver); the emulator already runs on
asyncio, so it fits where an own HTTP/1.1 client would be a toy. Names go through
:mod:`emulator.adapters.destinations` (the resolver), so the module reaches only what the emulator
allows. Each request uses a fresh connection, as a module's HTTP stack does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urljoin, urlsplit, urlunsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from emulator.adapters.destinations import DestinationRefused, NameNotResolved, resolve
from emulator.adapters.tls import TlsSetupError, client_context
from emulator.http.model import (
    HttpCancelRequested,
    HttpError,
    HttpRequestRequested,
    HttpResponse,
    HttpSession,
    session_for,
)
from emulator.module.events import ModuleEvent, PdpContextChanged, PoweredDown, RebootStarted
from emulator.module.routing import EventTypes

if TYPE_CHECKING:
    from emulator.adapters.host import ModuleHost
    from emulator.module.virtual import VirtualModule

log = logging.getLogger(__name__)
SKIPPED_RAW_HEADERS = {"host", "content-length", "transfer-encoding"}


class _ModuleResolver(AbstractResolver):
    """aiohttp's resolver, answering through the emulator's destination rules."""

    def __init__(self, module: VirtualModule) -> None:
        self.module = module

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address, resolved_port = await resolve(self.module, host, port)
        return [
            {
                "hostname": host,
                "host": address,
                "port": resolved_port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


class BadRawRequest(ValueError):
    """requestheader=1 data that is not an HTTP request."""


def parse_raw_request(
    raw: bytes, base_url: str
) -> tuple[str, str, list[tuple[str, str]], bytes]:
    head, separator, body = raw.partition(b"\r\n\r\n")
    if not separator:
        head, separator, body = raw.partition(b"\n\n")
    lines = head.decode("latin-1").replace("\r\n", "\n").split("\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise BadRawRequest(f"request line {lines[0]!r}")
    method, target = parts[0].upper(), parts[1]
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise BadRawRequest(f"header line {line!r}")
        if name.strip().lower() not in SKIPPED_RAW_HEADERS:
            headers.append((name.strip(), value.strip()))
    return method, urljoin(base_url, target), headers, body


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (aiohttp keeps our resolver's error as ``os_error``)."""
    chain = [exc]
    for _ in range(8):
        seen = chain[-1]
        inner = getattr(seen, "os_error", None) or seen.__cause__ or seen.__context__
        if inner is None or inner in chain:
            break
        chain.append(inner)
    return chain


class HttpAdapter:
    def __init__(self, host: ModuleHost, session: HttpSession) -> None:
        self.host = host
        self.session = session
        self._client: aiohttp.ClientSession | None = None
        self._tasks: dict[int, asyncio.Task[None]] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        self._tasks.clear()
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _http(self) -> aiohttp.ClientSession:
        if self._client is None:
            connector = aiohttp.TCPConnector(
                resolver=_ModuleResolver(self.host.module), force_close=True, limit=0
            )
            self._client = aiohttp.ClientSession(
                connector=connector, skip_auto_headers=("Accept-Encoding",)
            )
        return self._client

    #: Every class ``on_event`` looks at: the host routes only these here (host.py).
    handled_events: ClassVar[EventTypes] = (
        PdpContextChanged,
        RebootStarted,
        PoweredDown,
        HttpCancelRequested,
        HttpRequestRequested,
    )

    def on_event(self, event: ModuleEvent) -> None:
        now = self.host.now()
        if isinstance(event, PdpContextChanged) and not event.active:
            self.session.network_lost(event.cid, now)
        elif isinstance(event, RebootStarted | PoweredDown):  # every link goes with it
            self.session.reset()
        elif isinstance(event, HttpCancelRequested):
            task = self._tasks.pop(event.seq, None)
            if task is not None:
                task.cancel()
        elif isinstance(event, HttpRequestRequested):
            task = asyncio.get_running_loop().create_task(self._request(event))
            self._tasks[event.seq] = task
            task.add_done_callback(self._forget(event.seq))

    def _forget(self, seq: int) -> Callable[[asyncio.Task[None]], None]:
        def forget(task: asyncio.Task[None]) -> None:
            if self._tasks.get(seq) is task:
                del self._tasks[seq]

        return forget

    async def _request(self, event: HttpRequestRequested) -> None:
        error, response = await self._perform(event)
        self.host.apply(self._done(event.seq, error, response))

    def _done(self, seq: int, error: int, response: HttpResponse | None) -> Callable[[float], None]:
        def done(now: float) -> None:
            self.session.request_done(seq, error, response, now)

        return done

    async def _perform(self, event: HttpRequestRequested) -> tuple[int, HttpResponse | None]:
        limits = self.session.limits
        method, url, body = event.method, event.url, event.body
        headers: list[tuple[str, str]] = list(event.headers)
        if event.raw_request is not None:
            try:
                method, url, raw_headers, body = parse_raw_request(event.raw_request, event.url)
            except BadRawRequest as exc:
                log.info("HTTP request data refused: %s", exc)
                return int(HttpError.INVALID_PARAMETER), None
            headers = raw_headers
        tls: ssl.SSLContext | bool = True
        if event.tls is not None:
            try:
                tls = client_context(event.tls)
            except TlsSetupError as exc:
                log.warning("HTTPS: %s", exc)
                return limits.tls_failure, None
        try:
            url, headers = await self._route_literal(url, headers)
        except (NameNotResolved, DestinationRefused, ValueError) as exc:
            return self._error_code(exc), None
        kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": False}
        if body or method in ("POST", "PUT"):
            kwargs["data"] = body
        try:
            async with asyncio.timeout(event.timeout):
                async with self._http().request(
                    method, url, ssl=tls, auto_decompress=False, **kwargs
                ) as answer:
                    data = bytearray()
                    async for chunk in answer.content.iter_chunked(65536):
                        data += chunk
                        if len(data) > limits.max_body:
                            return int(HttpError.MEMORY_ALLOCATION_FAILED), None
                    length = answer.content_length
                    return 0, HttpResponse(
                        status=answer.status,
                        reason=answer.reason or "",
                        raw_headers=tuple(answer.raw_headers),
                        body=bytes(data),
                        content_length=length if length is not None else len(data),
                    )
        except TimeoutError:
            return int(HttpError.TIMEOUT), None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return self._error_code(exc), None

    async def _route_literal(
        self, url: str, headers: list[tuple[str, str]]
    ) -> tuple[str, list[tuple[str, str]]]:
        """aiohttp does not ask the resolver for an address literal: route it here (the
        network map may send it elsewhere, or refuse it), keeping the Host the app named."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return url, headers  # a name: the resolver hook routes it
        default = 443 if parts.scheme.lower() == "https" else 80
        address, port = await resolve(self.host.module, host, parts.port or default)
        shown = f"[{address}]" if ":" in address else address
        routed = urlunsplit(parts._replace(netloc=f"{shown}:{port}"))
        if not any(name.lower() == "host" for name, _ in headers):
            headers = [*headers, ("Host", parts.netloc)]
        return routed, headers

    def _error_code(self, exc: BaseException) -> int:
        causes = _causes(exc)
        if any(isinstance(c, NameNotResolved) for c in causes):
            return int(HttpError.DNS_ERROR)
        if any(isinstance(c, DestinationRefused) for c in causes):
            return int(HttpError.SOCKET_CONNECT_ERROR)
        if any(isinstance(c, ssl.SSLError | aiohttp.ClientSSLError) for c in causes):
            return self.session.limits.tls_failure
        if isinstance(exc, aiohttp.ClientConnectorError):
            return int(HttpError.SOCKET_CONNECT_ERROR)
        if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
            return int(HttpError.SOCKET_READ_ERROR)
        if isinstance(exc, aiohttp.InvalidURL | ValueError):
            return int(HttpError.URL_ERROR)
        log.info("HTTP request failed: %r", exc)
        return int(HttpError.UNKNOWN)


def create_service(host: ModuleHost) -> HttpAdapter:
    """The aiohttp adapter of the module's HTTP(S) session."""
    return HttpAdapter(host, session_for(host.module))
