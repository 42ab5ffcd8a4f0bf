"""The embedded server's HTTP face: Leshan 2.x's demo REST API, its server-sent events and a
web page, on aiohttp (with aiohttp-sse for the event streams).

This is a thin adapter: every route parses the request, calls one public coroutine of
:class:`~.server.LwM2MServer` (``read``, ``write``, ``observe`` ...) and renders
the answer in Leshan's shapes (:mod:`emulator.server.leshan_json`). Errors are rendered at one
place (:func:`_errors`) with the status codes Leshan gives: 400 for an unknown endpoint, a bad
path, bad JSON or a bad value; 504 when the device does not answer in time; a device's own
error code comes back as HTTP 200 with ``"failure": true`` (as in Leshan).

Queue mode (TS 1.0 §5.3.1 binding Q, Leshan's "delayed" requests): a request to a sleeping
client answers ``{"delayed": true, "requestId": ...}`` at once; the real answer follows as a
``REQUEST_RESPONSE`` event when the client wakes up (or its lifetime runs out).

Events (``GET /api/event[?ep=]``): REGISTRATION, UPDATED, DEREGISTRATION (also on expiry),
SLEEPING, AWAKE, NOTIFICATION, REQUEST_RESPONSE, BSSESSION; and, on streams filtered by
endpoint only (as Leshan does), COAPLOG: every CoAP message to and from that client, taken
from aiocoap's message-layer debug records (payloads of the Security object are hidden: they
carry PSKs).

Security: :func:`start_http` refuses a non-loopback address unless a bearer token is set;
with a token every API call needs ``Authorization: Bearer <token>`` (event streams may pass it
as ``?token=``, since browsers' EventSource cannot set headers). PSK keys are write-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final

from aiohttp import web
from aiohttp_sse import sse_response

from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.paths import LwM2MPath
from emulator.server import leshan_json as shapes
from emulator.server.credentials import parse_psk_key
from emulator.server.errors import (
    BadDeviceResponse,
    DeviceErrorResponse,
    DeviceTimeout,
    NotRegistered,
    ObservationClosed,
    QueueFull,
)
from emulator.server.events import (
    Awake,
    BootstrapFailed,
    BootstrapFinished,
    BootstrapRequested,
    Deregistered,
    Expired,
    Notification,
    Registered,
    ServerEvent,
    Sleeping,
    Updated,
)
from emulator.server.leshan_json import JsonShapeError

from .server import LwM2MServer

__all__ = ["HttpFace", "start_http"]

log = logging.getLogger("emulator.server.http")

#: Leshan's default device request timeout (seconds) when ``?timeout=`` is not given.
DEFAULT_TIMEOUT: Final = 5.0
#: Events queued for one slow event-stream reader before it is disconnected.
STREAM_BACKLOG: Final = 1000
#: Comment lines keep idle streams open through proxies and reveal dead readers.
PING_INTERVAL: Final = 10.0
#: Where the web page's files live (package data).
WEB_FILES: Final = ("index.html", "app.js", "style.css")
_CONTENT_TYPES: Final = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
_COAP_LOGGER: Final = "emulator.server.coap"


class _BadRequest(Exception):
    """Rendered as HTTP 400 with the message."""


# --------------------------------------------------------------------------- events
@dataclass(eq=False)  # each reader is its own (hashable by identity)
class _Reader:
    """One event stream's reader: ``endpoint`` None means every endpoint (but no COAPLOG)."""

    endpoint: str | None
    queue: asyncio.Queue[tuple[str, str] | None] = field(
        default_factory=lambda: asyncio.Queue(STREAM_BACKLOG)
    )


class EventHub:
    """Fans events out to the event streams; a reader too slow to keep up is disconnected
    (its queue gets the end mark) rather than growing memory without bound."""

    def __init__(self) -> None:
        self.readers: set[_Reader] = set()
        self.on_change: Callable[[], None] = lambda: None

    def add(self, endpoint: str | None) -> _Reader:
        reader = _Reader(endpoint)
        self.readers.add(reader)
        self.on_change()
        return reader

    def remove(self, reader: _Reader) -> None:
        self.readers.discard(reader)
        self.on_change()

    def wants(self, endpoint: str | None) -> bool:
        """True if a stream takes events of ``endpoint`` (one for all endpoints, or its own)."""
        return any(reader.endpoint in (None, endpoint) for reader in self.readers)

    @property
    def wants_coap_log(self) -> bool:
        return any(reader.endpoint is not None for reader in self.readers)

    def publish(self, name: str, data: Mapping[str, Any], endpoint: str | None) -> None:
        text = json.dumps(data, separators=(",", ":"))
        for reader in list(self.readers):
            if reader.endpoint is None and name == "COAPLOG":
                continue
            if reader.endpoint is not None and endpoint != reader.endpoint:
                continue
            try:
                reader.queue.put_nowait((name, text))
            except asyncio.QueueFull:
                log.warning("event stream for %s fell %d events behind: closed",
                            reader.endpoint or "all endpoints", STREAM_BACKLOG)  # fmt: skip
                self._end(reader)

    def close(self) -> None:
        for reader in list(self.readers):
            self._end(reader)

    def _end(self, reader: _Reader) -> None:
        self.readers.discard(reader)
        while True:  # make room for the end mark
            try:
                reader.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                reader.queue.get_nowait()


class _CoapLog(logging.Handler):
    """aiocoap's message layer logs every message it sends or receives at debug level with the
    Message as the argument; this turns those records into COAPLOG events."""

    _DIRECTIONS: Final = {"Incoming message %r": True, "Sending message %r": False}

    def __init__(self, face: HttpFace) -> None:
        super().__init__(logging.DEBUG)
        self.face = face

    def emit(self, record: logging.LogRecord) -> None:
        incoming = self._DIRECTIONS.get(str(record.msg))
        if incoming is None or not record.args or not isinstance(record.args, tuple):
            return
        try:
            self.face.coap_message(record.args[0], incoming, record.created)
        except Exception:  # a log handler must never break the message layer
            log.debug("could not trace a CoAP message", exc_info=True)


# --------------------------------------------------------------------------- the face
class HttpFace:
    """The aiohttp application around one :class:`LwM2MServer`."""

    def __init__(self, server: LwM2MServer, *, token: str | None = None) -> None:
        self.server = server
        self.token = token
        self.hub = EventHub()
        self.hub.on_change = self._coap_log_switch
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._subscription = server.subscribe()
        self._pump_task: asyncio.Task[None] | None = None
        self._coap_log = _CoapLog(self)
        self._bootstrapping: dict[str, str] = {}  # address → endpoint of a Bootstrap-Request
        self._addresses: dict[str, str] = {}  # address → endpoint of a registration
        self._held: dict[str, int] = {}  # endpoint → delayed requests waiting for it
        self._coap_logger = logging.getLogger(_COAP_LOGGER)
        self._coap_level = self._coap_logger.level
        self.app = web.Application(middlewares=[self._errors, self._auth])
        self._routes()

    # -- life cycle
    def start(self) -> None:
        self._pump_task = asyncio.get_running_loop().create_task(
            self._pump(), name="http events"
        )

    async def close(self) -> None:
        self._subscription.close()
        self.hub.close()
        self._coap_log_off()
        tasks = [t for t in (self._pump_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _routes(self) -> None:
        r = self.app.router
        r.add_get("/", self._page)
        r.add_get("/web/{name}", self._web_file)
        r.add_get("/api/clients", self._clients)
        r.add_get("/api/clients/{ep}", self._client)
        r.add_route("*", "/api/clients/{ep}/{rest:.+}", self._client_path)
        r.add_get("/api/objectspecs", self._objectspecs)
        r.add_get("/api/objectspecs/{ep}", self._objectspecs)
        r.add_get("/api/security/clients", self._psk_list)
        r.add_put("/api/security/clients", self._psk_put)
        r.add_put("/api/security/clients/", self._psk_put)
        r.add_delete("/api/security/clients/{ep}", self._psk_delete)
        r.add_get("/api/bootstrap", self._bootstrap_list)
        r.add_get("/api/bootstrap/{ep}", self._bootstrap_get)
        r.add_post("/api/bootstrap/{ep}", self._bootstrap_post)
        r.add_delete("/api/bootstrap/{ep}", self._bootstrap_delete)
        r.add_get("/api/event", self._events)

    # -- middlewares
    @web.middleware
    async def _auth(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if self.token is not None and request.path.startswith("/api/"):
            given = request.headers.get("Authorization", "")
            offered = given[7:] if given.lower().startswith("bearer ") else ""
            if not offered and request.path == "/api/event":
                offered = request.query.get("token", "")
            if not hmac.compare_digest(offered.encode(), self.token.encode()):
                raise web.HTTPUnauthorized(
                    text="a bearer token is required (Authorization: Bearer <token>)",
                    headers={"WWW-Authenticate": 'Bearer realm="quecemu"'},
                )
        return await handler(request)

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """The one place errors become HTTP answers."""
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except (_BadRequest, JsonShapeError, ValueError) as exc:
            return web.Response(status=400, text=f"Invalid request: {exc}")
        except NotRegistered as exc:
            return web.Response(status=400, text=f"no registered client with id '{exc.endpoint}'")
        except DeviceTimeout as exc:
            return web.Response(status=504, text=f"Request timeout: {exc}")
        except QueueFull as exc:
            return web.Response(status=503, text=str(exc), headers={"Retry-After": "60"})
        except BadDeviceResponse as exc:
            return web.Response(status=500, text=f"Invalid response from the client: {exc}")
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug of ours: say so, keep serving
            log.exception("%s %s failed", request.method, request.path)
            return web.Response(status=500, text=f"internal error: {type(exc).__name__}: {exc}")

    # -- events
    async def _pump(self) -> None:
        async for event in self._subscription:
            try:
                self._forward(event)
            except Exception:
                log.exception("could not publish %s", type(event).__name__)

    def _registration(self, endpoint: str, registration: Any) -> dict[str, Any]:
        return shapes.registration_json(
            registration,
            loop_now=asyncio.get_running_loop().time(),
            sleeping=registration.queue_mode and not self.server.is_awake(endpoint),
        )

    def _forward(self, event: ServerEvent) -> None:
        ep = event.endpoint
        publish = self.hub.publish
        if isinstance(event, Registered | Updated):
            if isinstance(event, Updated):
                self._addresses.pop(event.previous.address, None)
            self._addresses[event.registration.address] = ep
        elif isinstance(event, Deregistered | Expired):
            self._addresses.pop(event.registration.address, None)
        if not self.hub.wants(ep):
            return  # nobody streams this: no JSON built for nobody (a storm's worth of it)
        if isinstance(event, Registered):
            publish("REGISTRATION", self._registration(ep, event.registration), ep)
        elif isinstance(event, Updated):
            update = {
                "registrationId": event.registration.registration_id,
                "lifeTimeInSec": event.registration.lifetime,
                "address": event.registration.address,
            }
            both = {"registration": self._registration(ep, event.registration), "update": update}
            publish("UPDATED", both, ep)
        elif isinstance(event, Deregistered | Expired):
            publish("DEREGISTRATION", self._registration(ep, event.registration), ep)
        elif isinstance(event, Sleeping):
            publish("SLEEPING", {"ep": ep}, ep)
        elif isinstance(event, Awake):
            publish("AWAKE", {"ep": ep}, ep)
        elif isinstance(event, Notification):
            note: dict[str, Any] = {"ep": ep, "kind": "single", "res": str(event.path)}
            if event.content is not None:
                note["val"] = shapes.content_json(event.content, event.path, self.server.registry)
            else:
                note["error"] = event.error
            publish("NOTIFICATION", note, ep)
        elif isinstance(event, BootstrapRequested | BootstrapFinished | BootstrapFailed):
            name = {
                BootstrapRequested: "new",
                BootstrapFinished: "finished",
                BootstrapFailed: "failed",
            }[type(event)]
            message = event.reason if isinstance(event, BootstrapFailed) else ""
            publish("BSSESSION", {"name": name, "endpoint": ep, "message": message}, ep)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.query.get("ep") or None
        reader = self.hub.add(endpoint)
        try:
            async with sse_response(request, ping_interval=PING_INTERVAL) as stream:
                closed = asyncio.ensure_future(stream.wait())
                try:
                    while True:
                        getting = asyncio.ensure_future(reader.queue.get())
                        await asyncio.wait({getting, closed}, return_when=asyncio.FIRST_COMPLETED)
                        if not getting.done():
                            getting.cancel()
                            break  # the reader went away
                        item = getting.result()
                        if item is None:
                            break  # shutting down, or the reader fell too far behind
                        await stream.send(item[1], event=item[0])
                except (ConnectionResetError, TimeoutError):
                    pass  # the reader dropped the stream
                finally:
                    closed.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await closed
            return stream
        finally:
            self.hub.remove(reader)

    def _coap_log_switch(self) -> None:
        if self.hub.wants_coap_log:
            if self._coap_log not in self._coap_logger.handlers:
                self._coap_level = self._coap_logger.level
                self._coap_logger.addHandler(self._coap_log)
                self._coap_logger.setLevel(logging.DEBUG)
        else:
            self._coap_log_off()

    def _coap_log_off(self) -> None:
        if self._coap_log in self._coap_logger.handlers:
            self._coap_logger.removeHandler(self._coap_log)
            self._coap_logger.setLevel(self._coap_level)

    def coap_message(self, message: Any, incoming: bool, created: float) -> None:
        """Publish one CoAP message as a COAPLOG event of the endpoint it belongs to."""
        remote = getattr(getattr(message, "remote", None), "hostinfo", None)
        uri_path = tuple(message.opt.uri_path)
        endpoint = None
        if uri_path == ("rd",) or uri_path == ("bs",):
            for query in message.opt.uri_query:
                if query.startswith("ep="):
                    endpoint = query[3:]
            if endpoint is not None and uri_path == ("bs",) and remote is not None:
                # The bootstrap exchanges that follow come from that address, unregistered.
                self._bootstrapping[remote] = endpoint
                while len(self._bootstrapping) > 1000:
                    del self._bootstrapping[next(iter(self._bootstrapping))]
        if endpoint is None and remote is not None:
            endpoint = self._bootstrapping.get(remote)
        if endpoint is None and remote is not None:
            endpoint = self._addresses.get(remote)
            if endpoint is None:  # registered before the face saw the event (or just now)
                for registration in self.server.registrations():
                    if registration.address == remote:
                        endpoint = self._addresses[remote] = registration.endpoint
                        break
        if endpoint is None:
            return
        payload = bytes(message.payload)
        if uri_path[:1] == ("0",) and payload:
            shown = f"({len(payload)} bytes of Security object content hidden)"
        else:
            text = payload.decode("utf-8", "replace")
            shown = text if text.isprintable() else payload.hex()
        options = [f"Uri-Path: /{'/'.join(uri_path)}"] if uri_path else []
        if message.opt.uri_query:
            options.append(f"Uri-Query: {'&'.join(message.opt.uri_query)}")
        if message.opt.content_format is not None:
            options.append(f"Content-Format: {int(message.opt.content_format)}")
        if message.opt.observe is not None:
            options.append(f"Observe: {message.opt.observe}")
        code = message.code
        data = {
            "timestamp": int(created * 1000),
            "incoming": incoming,
            "type": getattr(message.mtype, "name", str(message.mtype)),
            "code": shapes.code_name(int(code)) if code.is_response() else code.name,
            "mId": message.mid,
            "token": bytes(message.token).hex(),
            "options": ", ".join(options),
            "payload": shown[:1024],
            "ep": endpoint,
        }
        self.hub.publish("COAPLOG", data, endpoint)

    # -- helpers
    def _timeout(self, request: web.Request) -> float:
        raw = request.query.get("timeout")
        if raw is None:
            return DEFAULT_TIMEOUT
        try:
            value = float(raw)
        except ValueError:
            raise _BadRequest(f"timeout {raw!r} is not a number of seconds") from None
        if not 0 < value <= 3600:
            raise _BadRequest(f"timeout {raw!r} must be above 0 and at most 3600 seconds")
        return value

    @staticmethod
    def _format(request: web.Request) -> ContentFormat | None:
        name = request.query.get("format")
        if not name:
            return None
        fmt = shapes.FORMATS.get(name.upper())
        if fmt is None:
            known = ", ".join(shapes.FORMATS)
            raise _BadRequest(f"unknown content format {name!r} (one of {known})")
        return fmt

    @staticmethod
    async def _json_body(request: web.Request) -> Any:
        text = await request.text()
        if not text.strip():
            raise _BadRequest("the request has no JSON body")
        try:
            return json.loads(text)
        except ValueError as exc:
            raise _BadRequest(f"malformed JSON: {exc}") from None

    async def _device(
        self,
        endpoint: str,
        operation: Callable[[float], Awaitable[dict[str, Any]]],
        timeout: float,
        name: str,
    ) -> web.Response:
        """Run ``operation`` now, or (queue mode, client asleep) later as a delayed request."""
        registration = self.server.registration(endpoint)
        if registration is None:
            raise NotRegistered(endpoint)
        if registration.queue_mode and not self.server.is_awake(endpoint):
            # Requests held for one sleeping client are bounded by the server core's own bound,
            # so a request accepted here is not refused by the core.
            limit = self.server.core.max_queued
            if self._held.get(endpoint, 0) >= limit:
                raise web.HTTPServiceUnavailable(
                    text=f"{limit} requests already wait for '{endpoint}' "
                    "to wake up; try again once it has",
                    headers={"Retry-After": "60"},
                )
            request_id = f"{endpoint}-{next(self._ids)}"
            # Held until the client is heard from again, at most until its lifetime ends.
            self._spawn(
                self._delayed(endpoint, request_id, operation, float(registration.lifetime)),
                f"delayed {name} {request_id}",
            )
            return web.json_response({"ep": endpoint, "requestId": request_id, "delayed": True})
        return web.json_response(await self._answer(operation, timeout))

    async def _answer(
        self, operation: Callable[[float], Awaitable[dict[str, Any]]], timeout: float
    ) -> dict[str, Any]:
        try:
            return await operation(timeout)
        except DeviceErrorResponse as exc:
            return shapes.response_json(exc.code, errormessage=exc.diagnostic)

    async def _delayed(
        self,
        endpoint: str,
        request_id: str,
        operation: Callable[[float], Awaitable[dict[str, Any]]],
        timeout: float,
    ) -> None:
        self._held[endpoint] = self._held.get(endpoint, 0) + 1
        try:
            response = await self._answer(operation, timeout)
        except (
            DeviceTimeout,
            NotRegistered,
            BadDeviceResponse,
            ObservationClosed,
            QueueFull,
        ) as exc:
            response = shapes.response_json(0xA4, errormessage=str(exc))
        except ValueError as exc:
            response = shapes.response_json(0x80, errormessage=str(exc))
        finally:
            self._held[endpoint] -= 1
            if not self._held[endpoint]:
                del self._held[endpoint]
        data = {"ep": endpoint, "requestId": request_id, "delayed": True, "response": response}
        self.hub.publish("REQUEST_RESPONSE", data, endpoint)

    # -- routes: clients
    async def _clients(self, request: web.Request) -> web.Response:
        return web.json_response(
            [self._registration(r.endpoint, r) for r in self.server.registrations()]
        )

    async def _client(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["ep"]
        registration = self.server.registration(endpoint)
        if registration is None:
            raise NotRegistered(endpoint)
        return web.json_response(self._registration(endpoint, registration))

    async def _client_path(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["ep"]
        segments = [s for s in request.match_info["rest"].split("/") if s]
        suffix = None
        if segments and segments[-1] in ("observe", "discover", "attributes"):
            suffix = segments.pop()
        try:
            path = LwM2MPath.parse("/" + "/".join(segments)) if segments else LwM2MPath.parse("/")
        except ValueError as exc:
            raise _BadRequest(f"invalid path /{'/'.join(segments)}: {exc}") from None
        method = request.method
        timeout = self._timeout(request) if suffix != "attributes" else DEFAULT_TIMEOUT
        handlers: dict[tuple[str, str | None], Callable[..., Awaitable[web.Response]]] = {
            ("GET", None): self._read,
            ("GET", "discover"): self._discover,
            ("PUT", None): self._write,
            ("PUT", "attributes"): self._write_attributes,
            ("POST", None): self._execute_or_create,
            ("DELETE", None): self._delete,
            ("POST", "observe"): self._observe,
            ("DELETE", "observe"): self._cancel_observe,
        }
        handler = handlers.get((method, suffix))
        if handler is None:
            allowed = sorted({m for m, s in handlers if s == suffix})
            raise web.HTTPMethodNotAllowed(method, allowed)
        if self.server.registration(endpoint) is None:
            raise NotRegistered(endpoint)
        return await handler(request, endpoint, path, timeout)

    async def _read(
        self, request: web.Request, ep: str, path: LwM2MPath, timeout: float
    ) -> web.Response:
        fmt = self._format(request)
        registry = self.server.registry

        async def run(seconds: float) -> dict[str, Any]:
            content = await self.server.read(ep, path, format=fmt, timeout=seconds)
            return shapes.response_json(0x45, content=shapes.content_json(content, path, registry))

        return await self._device(ep, run, timeout, "read")

    async def _discover(
        self, request: web.Request, ep: str, path: LwM2MPath, timeout: float
    ) -> web.Response:
        async def run(seconds: float) -> dict[str, Any]:
            links = await self.server.discover(ep, path, timeout=seconds)
            return shapes.response_json(0x45, objectLinks=[shapes.link_json(x) for x in links])

        return await self._device(ep, run, timeout, "discover")

    async def _write(
        self, request: web.Request, ep: str, path: LwM2MPath, timeout: float
    ) -> web.Response:
        fmt = self._format(request)
        if path.level < 2:
            raise _BadRequest(f"write needs an object instance or resource path, not {path}")
        replace = request.query.get("replace", "true").lower() != "false"
        content = shapes.json_content(await self._json_body(request), path, self.server.registry)

        async def run(seconds: float) -> dict[str, Any]:
            await self.server.write(ep, path, content, replace=replace, format=fmt, timeout=seconds)
            return shapes.response_json(0x44)

        return await self._device(ep, run, timeout, "write")

    async def _write_attributes(
        self, request: web.Request, ep: str, path: LwM2MPath, timeout: float
    ) -> web.Response:
        # Leshan reads the whole query string as attributes (no timeout parameter here).
        attributes: dict[str, float | None] = {}
        for name, raw in request.query.items():
            if not raw:
                attributes[name] = None
                continue
            try:
                attributes[name] = float(raw) if "." in raw else int(raw)
            except ValueError:
                raise _BadRequest(f"attribute {name}={raw!r} is not a number") from None

        async def run(seconds: float) -> dict[str, Any]:
            await self.server.write_attributes(ep, path, attributes, timeout=seconds)
            return shapes.response_json(0x44)

        return await self._device(ep, run, timeout, "write-attributes")

    async def _execute_or_create(
        self, request: web.Request, ep: str, path: LwM2MPath, timeout: float
    ) -> web.Response:
        if path.level == 3:
            arguments = await request.read()

            async def execute(seconds: float) -> dict[str, Any]:
                await self.server.execute(ep, path, arguments, timeout=seconds)
                return shapes.response_json(0x44)

            return await self._device(ep, execute, timeout, "execute")
        if path.level not in (1, 2):
            raise _BadRequest(f"POST takes an object or instance (create) or a resource "
                              f"(execute), not {path}")  # fmt: skip
        fmt = self._format(request)
        content = shapes.json_content(await self._json_body(request), path, self.server.registry)

        async def create(seconds: float) -> dict[str, Any]:
            where = await self.server.create(ep, path, content, format=fmt, timeout=seconds)
            return shapes.response_json(0x41, location=str(where))

        return await self._device(ep, create, timeout, "create")

    async def _delete(
        self, request: web.Request, ep: str, path: LwM2MPath, timeout: float
    ) -> web.Response:
        async def run(seconds: float) -> dict[str, Any]:
            await self.server.delete(ep, path, timeout=seconds)
            return shapes.response_json(0x42)

        return await self._device(ep, run, timeout, "delete")

    async def _observe(
        self, request: web.Request, ep: str, path: LwM2MPath, timeout: float
    ) -> web.Response:
        fmt = self._format(request)
        registry = self.server.registry

        async def run(seconds: float) -> dict[str, Any]:
            # Observing a path again replaces its observation (as in Leshan) rather than
            # doubling every notification; the client learns it from a Reset (RFC 7641 §3.6).
            await self.server.cancel_observe(ep, path, active=False)
            observation = await self.server.observe(ep, path, format=fmt, timeout=seconds)
            if observation.initial is None:
                return shapes.response_json(0x45)
            node = shapes.content_json(observation.initial, path, registry)
            return shapes.response_json(0x45, content=node)

        return await self._device(ep, run, timeout, "observe")

    async def _cancel_observe(
        self, request: web.Request, ep: str, path: LwM2MPath, timeout: float
    ) -> web.Response:
        active = "active" in request.query
        cancelled = await self.server.cancel_observe(ep, path, active=active, timeout=timeout)
        if active and cancelled:
            return web.json_response(shapes.response_json(0x45))
        return web.Response(status=200)

    # -- routes: object models, page
    async def _objectspecs(self, request: web.Request) -> web.Response:
        return web.json_response([shapes.object_spec(d) for d in self.server.registry])

    async def _page(self, request: web.Request) -> web.Response:
        return self._file("index.html")

    async def _web_file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in WEB_FILES:
            raise web.HTTPNotFound(text=f"no such file: {name}")
        return self._file(name)

    @staticmethod
    def _file(name: str) -> web.Response:
        data = resources.files("emulator.adapters.lwm2m_server").joinpath("web", name).read_bytes()
        suffix = name[name.rfind(".") :]
        return web.Response(
            body=data,
            content_type=_CONTENT_TYPES[suffix],
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    # -- routes: security
    async def _psk_list(self, request: web.Request) -> web.Response:
        entries = []
        for endpoint in self.server.credentials.endpoints():
            credentials = self.server.credentials.get(endpoint)
            assert credentials is not None
            identity = credentials.identity.decode("utf-8", "replace")
            # The key is write-only: never sent back.
            entries.append(
                {"endpoint": endpoint, "tls": {"mode": "psk", "details": {"identity": identity}}}
            )
        return web.json_response(entries)

    async def _psk_put(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("endpoint"), str):
            raise _BadRequest("a security entry needs 'endpoint'")
        details = body.get("psk")  # 1.x shape
        tls = body.get("tls")
        if isinstance(tls, dict):
            if str(tls.get("mode", "")).lower() != "psk":
                raise _BadRequest(f"security mode {tls.get('mode')!r} is not supported (psk)")
            details = tls.get("details")
        if not isinstance(details, dict):
            raise _BadRequest("a PSK entry needs tls.details (or psk) with identity and key")
        identity, key = details.get("identity"), details.get("key")
        if not isinstance(identity, str) or not isinstance(key, str):
            raise _BadRequest("the PSK identity and key are strings (the key in hex)")
        self.server.set_psk(body["endpoint"], identity, parse_psk_key(key))
        return web.Response(status=200)

    async def _psk_delete(self, request: web.Request) -> web.Response:
        self.server.remove_psk(request.match_info["ep"])
        return web.Response(status=200)

    # -- routes: bootstrap
    async def _bootstrap_list(self, request: web.Request) -> web.Response:
        configs = self.server.bootstrap_configs
        return web.json_response({ep: shapes.bootstrap_json(c) for ep, c in configs.items()})

    async def _bootstrap_get(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["ep"]
        config = self.server.bootstrap_configs.get(endpoint)
        if config is None:
            raise web.HTTPNotFound(text=f"no bootstrap configuration for '{endpoint}'")
        return web.json_response(shapes.bootstrap_json(config))

    async def _bootstrap_post(self, request: web.Request) -> web.Response:
        config = shapes.bootstrap_config(await self._json_body(request))
        self.server.set_bootstrap_config(request.match_info["ep"], config)
        return web.Response(status=200)

    async def _bootstrap_delete(self, request: web.Request) -> web.Response:
        self.server.remove_bootstrap_config(request.match_info["ep"])
        return web.Response(status=200)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class RunningHttp:
    """What :func:`start_http` started; :meth:`stop` ends it."""

    face: HttpFace
    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        await self.face.close()
        await self.runner.cleanup()


async def start_http(
    server: LwM2MServer, host: str = "127.0.0.1", port: int = 8080, *, token: str | None = None
) -> RunningHttp:
    """Serve the REST API, events and page for ``server`` on ``host:port`` (0: a free port).

    A non-loopback ``host`` needs a ``token``: the API can rewrite a device's configuration."""
    if not _is_loopback(host) and not token:
        raise ValueError(
            f"--http {host}:{port} is not a loopback address: set a bearer token "
            "(--http-token or QUECEMU_HTTP_TOKEN) to serve beyond this machine"
        )
    face = HttpFace(server, token=token or None)
    runner = web.AppRunner(
        face.app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    face.start()
    sockets = list(runner.addresses or [])
    bound_port = sockets[0][1] if sockets else port
    return RunningHttp(face, runner, host, bound_port)

