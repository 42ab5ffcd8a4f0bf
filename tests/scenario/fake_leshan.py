"""A small fake of Leshan's demo HTTP API (stdlib http.server), for testing LeshanDriver's
requests and parsing. It speaks the documented shapes of both generations (Leshan's
demo servlets): 2.x over HTTP/1.1 with chunked event streams at /api/event, 1.x over
HTTP/1.0 with close-delimited streams at /event. It answers device operations from a table,
records every request, and lets a test push server-sent events.

Modelled 1.x behaviours: events at /event, Gson bodies without kind/type, Time written as
epoch milliseconds (as 2.x), and a bootstrap server that publishes no events at all.

This is not a Leshan: it proves our request and parse code; the real-Leshan tests
(test_leshan_real.py) run when QUECEMU_LESHAN_URL names one.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

SLEEPY = "urn:imei:000000000000001"  # answers {"delayed": true}, then a REQUEST_RESPONSE event
SLOW = "urn:imei:000000000000002"  # answers 504, as Leshan does on a device timeout


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    content_type: str | None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Stream:
    endpoint: str | None
    events: queue.Queue[tuple[str, str] | None] = field(default_factory=queue.Queue)


def registration_json(
    endpoint: str, *, generation: int = 2, lifetime: int = 86400
) -> dict[str, Any]:
    links = [
        {"url": "/", "attributes": {"rt": '"oma.lwm2m"', "ct": "11542"}},
        {"url": "/1/0", "attributes": {}},
        {"url": "/3/0", "attributes": {}},
    ]
    data: dict[str, Any] = {
        "endpoint": endpoint,
        "registrationId": "reg-1",
        "registrationDate": "2024-01-01T00:00:00Z",
        "address": "127.0.0.1:40000",
        "lwM2mVersion": "1.0",
        "lifetime": lifetime,
        "bindingMode": "U",
        "rootPath": "/",
        "objectLinks": links,
        "secure": False,
        "additionalRegistrationAttributes": {},
    }
    if generation == 1:
        data["objectLinks"] = [
            {"url": link["url"], "attributes": link["attributes"]} for link in links
        ]
    return data


class FakeLeshan:
    """``FakeLeshan(generation=2)``; ``url`` once started; ``emit()`` pushes events."""

    def __init__(self, generation: int = 2, *, bootstrap: bool = False) -> None:
        self.generation = generation
        self.bootstrap = bootstrap
        self.requests: list[Recorded] = []
        self.streams: list[_Stream] = []
        self.lock = threading.Lock()
        self.stream_opened = threading.Condition(self.lock)
        self.registered: set[str] = set()
        self.register_on_watch: bool = False  # emit REGISTRATION when an ep stream opens
        self.notify_on_observe: Any = None  # value to NOTIFY right after an observe
        self.device_time: int | None = None  # what a write of /3/0/13 gave the device (s)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if generation == 2 else "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> FakeLeshan:
        self.thread.start()
        return self

    def stop(self) -> None:
        with self.lock:
            for stream in self.streams:
                stream.events.put(None)
        self.server.shutdown()
        self.server.server_close()

    # -- events
    def emit(self, name: str, data: Any, *, endpoint: str | None = None) -> None:
        """Send an event to every stream that wants it (COAPLOG only to ep-filtered ones)."""
        text = data if isinstance(data, str) else json.dumps(data)
        with self.lock:
            for stream in self.streams:
                if stream.endpoint is None and name == "COAPLOG":
                    continue
                if stream.endpoint is None or endpoint is None or stream.endpoint == endpoint:
                    stream.events.put((name, text))

    def wait_streams(self, count: int, timeout: float = 5.0) -> None:
        with self.stream_opened:
            if not self.stream_opened.wait_for(lambda: len(self.streams) >= count, timeout):
                raise AssertionError(f"only {len(self.streams)} event streams opened")

    # -- requests
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = parts.path
        event_path = {2: "/api/event", 1: "/event"}.get(self.generation)
        if self.bootstrap and self.generation == 1:
            event_path = None  # Leshan 1.x's bootstrap server demo has no event servlet
        if method == "GET" and path == event_path:
            self._stream(handler, query.get("ep", [None])[0])
            return
        recorded = Recorded(method, path, query, body, handler.headers.get("Content-Type"))
        with self.lock:
            self.requests.append(recorded)
        status, payload = self._answer(recorded)
        self._reply(handler, status, payload)

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        if payload is None:
            data = b""
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header(
            "Content-Type", "application/json" if data[:1] == b"{" else "text/plain"
        )
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _stream(self, handler: BaseHTTPRequestHandler, endpoint: str | None) -> None:
        stream = _Stream(endpoint)
        # Subscribed before the head goes out: once a client has the head, no event is missed.
        with self.stream_opened:
            self.streams.append(stream)
            self.stream_opened.notify_all()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        chunked = self.generation == 2
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        if endpoint is not None and self.register_on_watch:
            self.registered.add(endpoint)
            self.emit(
                "REGISTRATION",
                registration_json(endpoint, generation=self.generation),
                endpoint=endpoint,
            )

        def send(data: bytes) -> None:
            if chunked:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                handler.wfile.write(data)
            handler.wfile.flush()

        try:
            send(b": hello\r\n\r\n")
            while True:
                item = stream.events.get()
                if item is None:
                    break
                name, text = item
                lines = "".join(f"data:{line}\r\n" for line in text.split("\n"))
                send(f"event:{name}\r\n{lines}\r\n".encode())
            if chunked:
                handler.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        finally:
            with self.lock:
                if stream in self.streams:
                    self.streams.remove(stream)
            handler.close_connection = True

    def _answer(self, request: Recorded) -> tuple[int, Any]:
        path = request.path
        if path.startswith("/api/security/clients"):
            wanted = "/api/security/clients" if self.generation == 2 else "/api/security/clients/"
            if request.method == "PUT" and path == wanted:
                return 200, None
            if request.method == "DELETE" and path.count("/") == 4:
                return 200, None
            return 404, "no such servlet"
        if path.startswith("/api/bootstrap/"):
            return (200, None) if request.method in ("POST", "DELETE") else (405, "no")
        if path == "/api/clients":
            return 200, []
        if not path.startswith("/api/clients/"):
            return 404, "not found"
        rest = path[len("/api/clients/") :]
        endpoint, _, target = rest.partition("/")
        endpoint = unquote(endpoint)
        target = "/" + target
        if endpoint == SLOW:
            return 504, "Request timeout"
        if endpoint not in self.registered and endpoint != SLEEPY:
            return 400, f"No registered client with id '{endpoint}'"
        if endpoint == SLEEPY:
            threading.Timer(
                0.05,
                lambda: self.emit(
                    "REQUEST_RESPONSE",
                    {
                        "ep": endpoint,
                        "requestId": "r-1",
                        "delayed": True,
                        "response": {
                            "status": "CHANGED",
                            "valid": True,
                            "success": True,
                            "failure": False,
                        },
                    },
                ),
            ).start()
            return 200, {"ep": endpoint, "requestId": "r-1", "delayed": True}
        return self._device(request, endpoint, target)

    def _status(self, status: str, **more: Any) -> dict[str, Any]:
        if self.generation == 1:
            return {"status": status, **more}
        failure = not status.startswith(("CONTENT", "CHANGED", "CREATED", "DELETED"))
        return {"status": status, "valid": True, "success": not failure, "failure": failure, **more}

    def _device(self, request: Recorded, endpoint: str, target: str) -> tuple[int, Any]:
        method = request.method
        if target.endswith("/observe"):
            resource = target[: -len("/observe")]
            if method == "DELETE":
                return 200, (self._status("CONTENT") if "active" in request.query else None)
            if self.notify_on_observe is not None:
                value = self.notify_on_observe
                threading.Timer(
                    0.05,
                    lambda: self.emit(
                        "NOTIFICATION",
                        {
                            "ep": endpoint,
                            "kind": "single",
                            "res": resource,
                            "val": self._single(9, value),
                        },
                        endpoint=endpoint,
                    ),
                ).start()
            return 200, self._status("CONTENT", content=self._single(9, 87))
        if target.endswith("/attributes"):
            # Leshan parses the whole query string as LwM2M attributes.
            unknown = set(request.query) - {"pmin", "pmax", "gt", "lt", "st"}
            if unknown:
                return 400, f"Invalid request: unknown attribute {sorted(unknown)}"
            return 200, self._status("CHANGED")
        if target.endswith("/discover"):
            links = [
                {"url": "/3/0", "attributes": {}},
                {"url": "/3/0/9", "attributes": {"pmin": "1"}},
            ]
            return 200, self._status("CONTENT", objectLinks=links)
        if method == "GET":
            if target == "/3/0":
                return 200, self._status("CONTENT", content=self._device_instance())
            if target == "/3/0/0":
                return 200, self._status("CONTENT", content=self._single(0, "Quectel", "STRING"))
            if target == "/3/0/13":
                return 200, self._status("CONTENT", content=self._single(13, self._time(), "TIME"))
            if target == "/5/0/0":
                return 200, self._status("CONTENT", content=self._single(0, "0a0bff", "OPAQUE"))
            return 200, self._status("NOT_FOUND", errormessage="no such resource")
        if method == "PUT":
            if target == "/3/0/13":
                # Both generations turn a JSON integer for a Time resource into a
                # java.util.Date: epoch milliseconds; the device gets seconds.
                value = request.json().get("value")
                if not isinstance(value, int):
                    return 400, f"Unexpected JSON type of 'value' field [{value!r}]"
                self.device_time = value // 1000
            return 200, self._status("CHANGED")
        if method == "POST":
            if target == "/3/0/4":
                return 200, self._status("CHANGED")
            return 200, self._status("METHOD_NOT_ALLOWED")
        return 400, "Invalid path"

    def _time(self) -> Any:
        return 1_700_000_000_000 if self.generation == 2 else "2023-11-14T22:13:20Z"

    def _single(self, rid: int, value: Any, type_name: str = "INTEGER") -> dict[str, Any]:
        if self.generation == 1:
            return {"id": rid, "value": value}
        text = str(value) if type_name in ("INTEGER", "FLOAT") else value
        return {"id": rid, "kind": "singleResource", "type": type_name, "value": text}

    def _device_instance(self) -> dict[str, Any]:
        if self.generation == 1:
            return {
                "id": 0,
                "resources": [
                    {"id": 0, "value": "Quectel"},
                    {"id": 6, "values": {"0": 1, "1": 5}},
                    {"id": 9, "value": 87},
                    {"id": 13, "value": self._time()},
                ],
            }
        return {
            "id": 0,
            "kind": "instance",
            "resources": [
                {"id": 0, "kind": "singleResource", "type": "STRING", "value": "Quectel"},
                {
                    "id": 6,
                    "kind": "multiResource",
                    "type": "INTEGER",
                    "values": {"0": "1", "1": "5"},
                },
                {"id": 9, "kind": "singleResource", "type": "INTEGER", "value": "87"},
                {"id": 13, "kind": "singleResource", "type": "TIME", "value": self._time()},
            ],
        }
