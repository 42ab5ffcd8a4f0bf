"""LeshanDriver: the ServerDriver for an Eclipse Leshan demo server, over its REST API and SSE.

Leshan's maintainers call the demo's HTTP API unstable, so everything that knows its shapes
lives in this one module. It speaks both generations:

========================  ==============================  ==============================
                          2.x (pinned: 2.0.0-M16)         1.x (LwM2M 1.0)
========================  ==============================  ==============================
events                    ``/api/event?ep=``              ``/event?ep=``
PSK credentials           ``{"tls":{"mode":"psk",         ``{"psk":{"identity":..,
                          "details":{...}}}``             "key":..}}``
write body                ``{"id","kind","value",         ``{"id","value"}`` (type from
                          "type"}``, numbers as text      the JSON primitive)
time values (read)        epoch milliseconds              "yyyy-MM-ddTHH:mm:ssXXX" text
time values (written)     epoch milliseconds              epoch milliseconds
bootstrap completion      BSSESSION events                no events: the DM server's
                                                          REGISTRATION of the endpoint
========================  ==============================  ==============================

``api="auto"`` finds out which one answers (``/api/event`` exists only in 2.x). Values come
back as the plain trees of ``values.py``; types are taken from Leshan's ``type`` field (2.x)
or from our object definitions (1.x, whose JSON carries none).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote, urlencode

from emulator.lwm2m.definitions import ResourceType
from emulator.lwm2m.linkformat import Link
from emulator.lwm2m.paths import LwM2MPath
from emulator.lwm2m.registry import ObjectRegistry, default_registry
from scenario_tool.driver import (
    BootstrapConfig,
    BootstrapEnded,
    Deregistered,
    EventBox,
    Notified,
    Registered,
    Registration,
    Response,
    ServerNote,
    Updated,
)
from scenario_tool.errors import DriverError, StepTimeout, Unreachable, UnsupportedOperation
from scenario_tool.http import BaseUrl, EventStream, HttpResponse, SseEvent, request
from scenario_tool.values import Tree, normalise_code

log = logging.getLogger(__name__)

PINNED_VERSION: Final = "2.0.0-M16"  # what docker/Dockerfile.leshan builds; see docs/scenarios.md

# Content formats by the names Leshan's ContentFormat.fromName() knows.
_FORMAT_NAMES: Final = {
    "tlv": "TLV",
    "text": "TEXT",
    "json": "JSON",
    "senml_json": "SENML_JSON",
    "cbor": "CBOR",
    "opaque": "OPAQUE",
}
# Leshan 2.x ResourceModel.Type names by our type names.
_TYPE_NAMES: Final = {
    "string": "STRING",
    "integer": "INTEGER",
    "unsigned": "UNSIGNED_INTEGER",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "opaque": "OPAQUE",
    "time": "TIME",
    "objlnk": "OBJLNK",
    "corelnk": "CORELINK",
}
_TYPES_BY_LESHAN: Final = {v: k for k, v in _TYPE_NAMES.items()}


class LeshanDriver:
    """Drive a Leshan demo server (and optionally its bootstrap server) at ``url``.

    ``coap_host`` is where its CoAP endpoints are reached from this machine (default: the
    URL's host); the ports default to Leshan's (5683/5684, bootstrap 5783/5784).
    """

    kind = "leshan"

    def __init__(
        self,
        url: str,
        *,
        bootstrap_url: str | None = None,
        coap_host: str | None = None,
        coap_port: int = 5683,
        coaps_port: int = 5684,
        bootstrap_coap_port: int = 5783,
        bootstrap_coaps_port: int = 5784,
        api: str = "auto",
        registry: ObjectRegistry | None = None,
        http_timeout: float = 10.0,
    ) -> None:
        if api not in ("auto", "1", "2"):
            raise ValueError(f"api must be auto, 1 or 2, not {api!r}")
        self.base = BaseUrl.parse(url)
        self.bootstrap_base = BaseUrl.parse(bootstrap_url) if bootstrap_url else None
        host = coap_host or self.base.host
        self.coap_host = "127.0.0.1" if host == "localhost" else host
        self.ports = (coap_port, coaps_port, bootstrap_coap_port, bootstrap_coaps_port)
        self.api = api
        self.registry = registry or default_registry()
        self.http_timeout = http_timeout
        self._events = EventBox()
        self._streams: list[EventStream] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._watched: set[str] = set()
        self._delayed: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # What we configured, taken back on close: a PSK left behind would make Leshan refuse
        # the next scenario's NoSec registration of the same endpoint.
        self._psk_set: set[str] = set()
        self._bootstrap_set: set[str] = set()
        # 1.x: endpoints configured for bootstrap whose registration has not been seen yet.
        self._bootstrap_pending: set[str] = set()

    # ------------------------------------------------------------------ lifecycle
    @property
    def events(self) -> EventBox:
        return self._events

    @property
    def generation(self) -> int:
        """2 or 1 once started (``api="auto"`` decides at ``start``)."""
        return 1 if self.api == "1" else 2

    def _event_path(self) -> str:
        return "/event" if self.generation == 1 else "/api/event"

    async def start(self) -> None:
        """Subscribe to the server's events (before anything registers)."""
        if self.api == "auto":
            stream = EventStream(self.base, "/api/event")
            status = await stream.open(self.http_timeout)
            if status == 200:
                self.api = "2"
            else:
                await stream.close()
                stream = EventStream(self.base, "/event")
                status = await stream.open(self.http_timeout)
                if status != 200:
                    await stream.close()
                    raise DriverError(
                        f"{self.base} does not look like a Leshan demo server: neither "
                        f"/api/event (2.x) nor /event (1.x) serves events (HTTP {status})"
                    )
                self.api = "1"
        else:
            stream = EventStream(self.base, self._event_path())
            status = await stream.open(self.http_timeout)
            if status != 200:
                await stream.close()
                raise DriverError(f"{self.base}{self._event_path()} answered HTTP {status}")
        self._follow(stream, self._on_server_event)
        if self.bootstrap_base is not None:
            if self.generation == 1:
                log.info(
                    "Leshan 1.x bootstrap servers publish no events: a bootstrap counts as "
                    "finished when the DM server sees the endpoint register"
                )
            else:
                bs_stream = EventStream(self.bootstrap_base, "/api/event")
                status = await bs_stream.open(self.http_timeout)
                if status != 200:
                    await bs_stream.close()
                    raise DriverError(f"{self.bootstrap_base}/api/event answered HTTP {status}")
                self._follow(bs_stream, self._on_bootstrap_event)

    def _follow(self, stream: EventStream, handler: Any) -> None:
        self._streams.append(stream)

        async def pump() -> None:
            try:
                async for event in stream.events():
                    try:
                        handler(event)
                    except (ValueError, KeyError, TypeError, DriverError) as exc:
                        log.warning(
                            "ignoring a Leshan %s event we cannot read: %s", event.event, exc
                        )
            except DriverError as exc:
                log.warning("Leshan event stream %s ended: %s", stream.target, exc)

        self._tasks.append(asyncio.create_task(pump(), name=f"leshan-sse {stream.target}"))

    async def watch(self, endpoint: str) -> None:
        """Follow ``endpoint``'s CoAP log (Leshan traces messages only per endpoint)."""
        if endpoint in self._watched:
            return
        self._watched.add(endpoint)
        stream = EventStream(self.base, f"{self._event_path()}?{urlencode({'ep': endpoint})}")
        if await stream.open(self.http_timeout) != 200:
            await stream.close()
            return
        self._follow(stream, lambda event: self._on_endpoint_event(endpoint, event))

    async def close(self) -> None:
        await self._forget_configuration()
        for task in self._tasks:
            task.cancel()
        for stream in self._streams:
            await stream.close()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._streams.clear()

    async def _forget_configuration(self) -> None:
        calls = [
            (self.base, f"/api/security/clients/{quote(ep, safe=':')}") for ep in self._psk_set
        ]
        if self.bootstrap_base is not None:
            calls += [
                (self.bootstrap_base, f"/api/bootstrap/{quote(ep, safe=':')}")
                for ep in self._bootstrap_set
            ]
        for base, target in calls:
            try:
                await request(base, "DELETE", target, timeout=self.http_timeout)
            except (DriverError, Unreachable) as exc:
                log.warning("could not remove %s%s: %s", base, target, exc)
        self._psk_set.clear()
        self._bootstrap_set.clear()

    def coap_address(self) -> tuple[str, int]:
        return (self.coap_host, self.ports[0])

    def coaps_address(self) -> tuple[str, int] | None:
        return (self.coap_host, self.ports[1])

    def bootstrap_address(self, secure: bool = False) -> tuple[str, int] | None:
        if self.bootstrap_base is None:
            return None
        return (self.coap_host, self.ports[3] if secure else self.ports[2])

    async def stop(self) -> None:
        raise UnsupportedOperation(
            "a Leshan server is not ours to stop: run the scenario against the embedded "
            "server, or stop it yourself (docker-compose stop leshan)"
        )

    async def restart(self) -> None:
        raise UnsupportedOperation(
            "a Leshan server is not ours to restart: run the scenario against the embedded "
            "server, or restart it yourself (docker-compose restart leshan)"
        )

    # ------------------------------------------------------------------ events
    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _on_server_event(self, sse: SseEvent) -> None:
        name = sse.event
        if name in ("REGISTRATION", "UPDATED", "DEREGISTRATION"):
            data = json.loads(sse.data)
            # 2.x and late 1.x wrap an update as {"registration": ..., "update": ...}
            reg_json = data.get("registration", data) if name == "UPDATED" else data
            registration = parse_registration(reg_json)
            now = self._now()
            if name == "REGISTRATION" and registration.endpoint in self._bootstrap_pending:
                # Leshan 1.x's bootstrap server says nothing; the client registering with the
                # server it was given is the proof that Bootstrap-Finish went through.
                self._bootstrap_pending.discard(registration.endpoint)
                self._events.post(
                    BootstrapEnded(
                        endpoint=registration.endpoint,
                        at=now,
                        detail="(Leshan 1.x: seen as the endpoint's registration)",
                    )
                )
            endpoint = registration.endpoint
            if name == "REGISTRATION":
                self._events.post(Registered(endpoint=endpoint, at=now, registration=registration))
            elif name == "UPDATED":
                self._events.post(Updated(endpoint=endpoint, at=now, registration=registration))
            else:
                self._events.post(
                    Deregistered(endpoint=endpoint, at=now, registration=registration)
                )
        elif name == "NOTIFICATION":
            data = json.loads(sse.data)
            path = str(data.get("res", ""))
            value = self.tree(data.get("val"), path)
            self._events.post(
                Notified(endpoint=str(data["ep"]), at=self._now(), path=path, value=value)
            )
        elif name == "REQUEST_RESPONSE":
            data = json.loads(sse.data)
            future = self._delayed.pop(str(data.get("requestId")), None)
            if future is not None and not future.done():
                future.set_result(data.get("response") or {})
        # SLEEPING, AWAKE, SEND, COAPLOG (this stream has no ep filter, so none come) are
        # not scenario events.

    def _on_endpoint_event(self, endpoint: str, sse: SseEvent) -> None:
        if sse.event != "COAPLOG":
            return  # the same events arrive on the unfiltered stream
        data = json.loads(sse.data)
        self._events.post(
            ServerNote(endpoint=endpoint, at=self._now(), text=coap_log_line(data), coap=True)
        )

    def _on_bootstrap_event(self, sse: SseEvent) -> None:
        if sse.event != "BSSESSION":
            return
        data = json.loads(sse.data)
        name = str(data.get("name", ""))
        endpoint = str(data.get("endpoint", ""))
        message = str(data.get("message", "")).replace("\n", " | ")
        if name in ("finished", "failed"):
            self._events.post(
                BootstrapEnded(
                    endpoint=endpoint, at=self._now(), ok=name == "finished", detail=message
                )
            )
        else:
            self._events.post(
                ServerNote(endpoint=endpoint, at=self._now(), text=f"bootstrap {name}: {message}")
            )

    # ------------------------------------------------------------------ operations
    def _client_target(self, endpoint: str, path: str, suffix: str = "") -> str:
        return f"/api/clients/{quote(endpoint, safe=':')}{'' if path == '/' else path}{suffix}"

    async def _device_call(
        self,
        method: str,
        target: str,
        *,
        endpoint: str,
        operation: str,
        timeout: float,
        body: bytes | None = None,
        content_type: str | None = None,
        query: Mapping[str, str] | None = None,
        with_timeout: bool = True,
    ) -> dict[str, Any] | None:
        """One REST call that reaches the device; its JSON answer (None for an empty 200)."""
        params = dict(query or {})
        if with_timeout:
            params["timeout"] = str(max(1, round(timeout)))
        full = f"{target}?{urlencode(params)}"
        answer = await request(
            self.base,
            method,
            full,
            body=body,
            content_type=content_type,
            timeout=timeout + self.http_timeout,
        )
        return await self._device_answer(answer, endpoint, operation, timeout)

    async def _device_answer(
        self, answer: HttpResponse, endpoint: str, operation: str, timeout: float
    ) -> dict[str, Any] | None:
        if answer.status == 504:
            raise StepTimeout(f"{operation}: {endpoint} did not answer Leshan within {timeout:g} s")
        if answer.status == 400 and "registered client" in answer.text.lower():
            raise DriverError(f"{operation}: Leshan has no registration of {endpoint}")
        if answer.status != 200:
            raise DriverError(
                f"{operation}: Leshan answered HTTP {answer.status}: {answer.text[:300]}"
            )
        if not answer.body.strip():
            return None
        data = answer.json()
        if not isinstance(data, dict):
            raise DriverError(f"{operation}: unexpected answer from Leshan: {answer.text[:300]}")
        if data.get("delayed") and data.get("response") is None:
            # Queue mode: the device sleeps; the answer comes as a REQUEST_RESPONSE event.
            request_id = str(data.get("requestId"))
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._delayed[request_id] = future
            try:
                return await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise StepTimeout(
                    f"{operation}: {endpoint} is sleeping and did not wake within {timeout:g} s"
                ) from None
            finally:
                self._delayed.pop(request_id, None)
        return data

    def _response(self, data: dict[str, Any] | None, path: str) -> Response:
        if data is None:
            return Response(code=None)
        status = data.get("status")
        code = normalise_code(str(status)) if status is not None else None
        value = self.tree(data["content"], path) if data.get("content") is not None else None
        links = tuple(link_text(item) for item in data.get("objectLinks") or ())
        return Response(
            code=code, value=value, links=links, error=str(data.get("errormessage", ""))
        )

    async def read(
        self, endpoint: str, path: str, *, content_format: str | None, timeout: float
    ) -> Response:
        query = {"format": _FORMAT_NAMES[content_format]} if content_format else {}
        data = await self._device_call(
            "GET",
            self._client_target(endpoint, path),
            endpoint=endpoint,
            operation=f"read {path}",
            timeout=timeout,
            query=query,
        )
        return self._response(data, path)

    async def write(
        self,
        endpoint: str,
        path: str,
        value: Any,
        value_type: str | None,
        *,
        content_format: str | None,
        timeout: float,
    ) -> Response:
        node = self.write_node(path, value, value_type)
        query = {"format": _FORMAT_NAMES[content_format]} if content_format else {}
        if LwM2MPath.parse(path).level == 2:
            query["replace"] = "false"  # a partial update: only the resources given change
        data = await self._device_call(
            "PUT",
            self._client_target(endpoint, path),
            endpoint=endpoint,
            operation=f"write {path}",
            timeout=timeout,
            body=json.dumps(node).encode("utf-8"),
            content_type="application/json",
            query=query,
        )
        return self._response(data, path)

    async def execute(
        self, endpoint: str, path: str, args: str | None, *, timeout: float
    ) -> Response:
        data = await self._device_call(
            "POST",
            self._client_target(endpoint, path),
            endpoint=endpoint,
            operation=f"execute {path}",
            timeout=timeout,
            body=(args or "").encode("utf-8"),
            content_type="text/plain",
        )
        return self._response(data, path)

    async def discover(self, endpoint: str, path: str, *, timeout: float) -> Response:
        data = await self._device_call(
            "GET",
            self._client_target(endpoint, path, "/discover"),
            endpoint=endpoint,
            operation=f"discover {path}",
            timeout=timeout,
        )
        return self._response(data, path)

    async def observe(
        self, endpoint: str, path: str, *, content_format: str | None, timeout: float
    ) -> Response:
        query = {"format": _FORMAT_NAMES[content_format]} if content_format else {}
        data = await self._device_call(
            "POST",
            self._client_target(endpoint, path, "/observe"),
            endpoint=endpoint,
            operation=f"observe {path}",
            timeout=timeout,
            query=query,
        )
        return self._response(data, path)

    async def cancel_observe(self, endpoint: str, path: str, *, timeout: float) -> Response:
        # 2.x: "active" sends the client a cancelling GET (RFC 7641 §3.6); 1.x forgets the
        # observation and the client learns it from the Reset to its next notification.
        query = {"active": ""} if self.generation == 2 else {}
        data = await self._device_call(
            "DELETE",
            self._client_target(endpoint, path, "/observe"),
            endpoint=endpoint,
            operation=f"cancel observe {path}",
            timeout=timeout,
            query=query,
        )
        return self._response(data, path)

    async def write_attributes(
        self, endpoint: str, path: str, attributes: Mapping[str, float], *, timeout: float
    ) -> Response:
        query = {name: _number_text(value) for name, value in attributes.items()}
        data = await self._device_call(
            "PUT",
            self._client_target(endpoint, path, "/attributes"),
            endpoint=endpoint,
            operation=f"write attributes {path}",
            timeout=timeout,
            query=query,
            # Leshan parses this request's whole query as attributes: a timeout parameter
            # would be refused as an unknown attribute (its default, 5 s, applies).
            with_timeout=False,
        )
        return self._response(data, path)

    # ------------------------------------------------------------------ configuration
    async def set_psk(self, endpoint: str, identity: str, key: bytes) -> None:
        body = psk_body(endpoint, identity, key, self.generation)
        # 1.x's servlet takes the PUT on the collection with a trailing slash.
        target = "/api/security/clients/" if self.generation == 1 else "/api/security/clients"
        answer = await request(
            self.base,
            "PUT",
            target,
            body=json.dumps(body).encode("utf-8"),
            content_type="application/json",
            timeout=self.http_timeout,
        )
        if answer.status not in (200, 201, 204):
            raise DriverError(
                f"Leshan refused the PSK of {endpoint}: HTTP {answer.status} {answer.text[:300]}"
            )
        self._psk_set.add(endpoint)

    async def configure_bootstrap(self, endpoint: str, config: BootstrapConfig) -> None:
        if self.bootstrap_base is None:
            raise UnsupportedOperation("no Leshan bootstrap server was given (--leshan-bs URL)")
        body = bootstrap_body(config, self.generation)
        answer = await request(
            self.bootstrap_base,
            "POST",
            f"/api/bootstrap/{quote(endpoint, safe=':')}",
            body=json.dumps(body).encode("utf-8"),
            content_type="application/json",
            timeout=self.http_timeout,
        )
        if answer.status not in (200, 201, 204):
            raise DriverError(
                f"the Leshan bootstrap server refused the configuration of {endpoint}: "
                f"HTTP {answer.status} {answer.text[:300]}"
            )
        self._bootstrap_set.add(endpoint)
        if self.generation == 1:
            self._bootstrap_pending.add(endpoint)

    # ------------------------------------------------------------------ JSON shapes
    def _resource_type(self, path: LwM2MPath) -> ResourceType | None:
        definition = self.registry.resource(LwM2MPath.from_ids(path.ids[:3]))
        return definition.type if definition is not None else None

    def tree(self, node: Any, path: str) -> Tree:
        """A Leshan JSON node (2.x with ``kind``/``type``, or 1.x without) as a plain tree."""
        base = LwM2MPath.parse(path) if path.startswith("/") and path != "/" else None
        return self._tree(node, base)

    def _tree(self, node: Any, path: LwM2MPath | None) -> Tree:
        if not isinstance(node, dict):
            raise DriverError(f"unexpected content from Leshan: {node!r}")
        if "instances" in node:
            object_path = LwM2MPath(int(node["id"])) if "id" in node else path
            return {
                int(i["id"]): self._tree(
                    i, object_path.child(int(i["id"])) if object_path else None
                )
                for i in node["instances"]
            }
        if "resources" in node:
            instance_path = path
            if path is not None and path.level == 1 and "id" in node:
                instance_path = path.child(int(node["id"]))
            return {
                int(r["id"]): self._tree(
                    r, instance_path.child(int(r["id"])) if instance_path else None
                )
                for r in node["resources"]
            }
        rtype = self._node_type(node, path)
        if "values" in node:
            return {
                int(k): convert_value(v, rtype, self.generation) for k, v in node["values"].items()
            }
        if "value" in node:
            return convert_value(node["value"], rtype, self.generation)
        raise DriverError(f"unexpected content from Leshan: {node!r}")

    def _node_type(self, node: Mapping[str, Any], path: LwM2MPath | None) -> ResourceType | None:
        name = node.get("type")
        if isinstance(name, str) and name.upper() in _TYPES_BY_LESHAN:
            return ResourceType(_TYPES_BY_LESHAN[name.upper()])
        if path is not None and path.level >= 3:
            return self._resource_type(path)
        return None

    def write_node(self, path: str, value: Any, value_type: str | None) -> dict[str, Any]:
        """The JSON body of a Write on ``path`` (a resource, or an instance from a mapping)."""
        target = LwM2MPath.parse(path)
        if target.level == 2:
            if not isinstance(value, dict):
                raise DriverError(f"write {path}: an instance takes a mapping resource id -> value")
            resources = [
                self._resource_node(target.child(int(rid)), v, value_type)
                for rid, v in value.items()
            ]
            node: dict[str, Any] = {"id": target.instance_id, "resources": resources}
            if self.generation == 2:
                node["kind"] = "instance"
            return node
        if target.level == 4:
            rtype = self._pick_type(target, value, value_type)
            node = {"id": target.resource_instance_id, "value": self._json_value(value, rtype)}
            if self.generation == 2:
                node.update(kind="resourceInstance", type=_TYPE_NAMES[rtype.value])
            return node
        return self._resource_node(target, value, value_type)

    def _resource_node(self, path: LwM2MPath, value: Any, value_type: str | None) -> dict[str, Any]:
        rtype = self._pick_type(path, value, value_type)
        node: dict[str, Any] = {"id": path.resource_id}
        if isinstance(value, dict | list):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            node["values"] = {str(k): self._json_value(v, rtype) for k, v in items}
            if self.generation == 2:
                node.update(kind="multiResource", type=_TYPE_NAMES[rtype.value])
            return node
        node["value"] = self._json_value(value, rtype)
        if self.generation == 2:
            node.update(kind="singleResource", type=_TYPE_NAMES[rtype.value])
        return node

    def _pick_type(self, path: LwM2MPath, value: Any, value_type: str | None) -> ResourceType:
        if value_type is not None:
            return ResourceType(value_type)
        known = self._resource_type(path)
        if known is not None and known is not ResourceType.NONE:
            return known
        sample = next(iter(value.values()), "") if isinstance(value, dict) else value
        if isinstance(sample, bool):
            return ResourceType.BOOLEAN
        if isinstance(sample, int):
            return ResourceType.INTEGER
        if isinstance(sample, float):
            return ResourceType.FLOAT
        return ResourceType.STRING

    def _json_value(self, value: Any, rtype: ResourceType) -> Any:
        return json_value(value, rtype, self.generation)


# --------------------------------------------------------------------------- JSON helpers
def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def json_value(value: Any, rtype: ResourceType, generation: int) -> Any:
    """A scenario value as Leshan's JSON wants it for a resource of ``rtype``."""
    if rtype in (ResourceType.INTEGER, ResourceType.UNSIGNED_INTEGER):
        number = int(value)
        # 2.x takes integers as text (JavaScript numbers lose precision past 2**53).
        return str(number) if generation == 2 else number
    if rtype is ResourceType.FLOAT:
        real = float(value)
        return str(real) if generation == 2 else real
    if rtype is ResourceType.TIME:
        # Both generations build a java.util.Date from a JSON integer: epoch milliseconds
        # (1.0 read 1700000000 as 1970-01-20, the module reported 1700000).
        return int(value) * 1000
    if rtype is ResourceType.BOOLEAN:
        if isinstance(value, str):
            return value.lower() in ("1", "true")
        return bool(value)
    if rtype is ResourceType.OPAQUE:
        if isinstance(value, bytes):
            return value.hex()
        return str(value).lower().removeprefix("0x")
    if rtype is ResourceType.OBJLNK:
        object_id, _, instance_id = str(value).partition(":")
        return {"objectId": int(object_id), "objectInstanceId": int(instance_id)}
    return str(value)


def convert_value(raw: Any, rtype: ResourceType | None, generation: int) -> Tree:
    """A value from Leshan's JSON as the plain tree value of ``values.py``."""
    if rtype is None:
        if isinstance(raw, dict):
            raise DriverError(f"unexpected value from Leshan: {raw!r}")
        return raw  # type: ignore[no-any-return]
    try:
        if rtype in (ResourceType.INTEGER, ResourceType.UNSIGNED_INTEGER):
            return int(raw)
        if rtype is ResourceType.FLOAT:
            return float(raw)
        if rtype is ResourceType.BOOLEAN:
            return raw if isinstance(raw, bool) else str(raw).lower() == "true"
        if rtype is ResourceType.TIME:
            if isinstance(raw, int | float):
                return int(raw // 1000) if generation == 2 else int(raw)
            text = str(raw)
            if text.isdigit():
                return int(text) // 1000 if generation == 2 else int(text)
            return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
        if rtype is ResourceType.OPAQUE:
            text = str(raw)
            try:
                return bytes.fromhex(text)
            except ValueError:
                return base64.b64decode(text, validate=True)
        if rtype is ResourceType.OBJLNK:
            if isinstance(raw, dict):
                return f"{int(raw['objectId'])}:{int(raw['objectInstanceId'])}"
            return str(raw)
    except (ValueError, KeyError, TypeError) as exc:
        raise DriverError(f"Leshan sent {raw!r} for a {rtype.value} value: {exc}") from exc
    return str(raw)


def parse_registration(data: Mapping[str, Any]) -> Registration:
    """A registration as Leshan's JSON serializer writes it (both generations)."""
    if not isinstance(data, Mapping) or "endpoint" not in data:
        raise DriverError(f"not a Leshan registration: {data!r}")
    lifetime = data.get("lifetime")
    binding = data.get("bindingMode")
    if isinstance(binding, list):
        binding = "".join(str(b) for b in binding)
    version = data.get("lwM2mVersion") or data.get("lwm2mVersion")
    links = tuple(link_text(item) for item in data.get("objectLinks") or ())
    secure = data.get("secure")
    return Registration(
        endpoint=str(data["endpoint"]),
        registration_id=str(data.get("registrationId", "")),
        lifetime=int(lifetime) if lifetime is not None else None,
        binding=str(binding) if binding is not None else None,
        lwm2m_version=str(version) if version is not None else None,
        object_links=links,
        secure=bool(secure) if secure is not None else None,
        address=str(data["address"]) if data.get("address") is not None else None,
    )


def link_text(item: Any) -> str:
    """``{"url": "/3/0", "attributes": {"pmin": "10"}}`` → ``</3/0>;pmin=10``."""
    if isinstance(item, str):
        return item
    if not isinstance(item, Mapping) or "url" not in item:
        raise DriverError(f"not a Leshan link: {item!r}")
    attributes = item.get("attributes") or {}
    params: dict[str, str | None] = {}
    if isinstance(attributes, Mapping):
        params = {str(k): None if v is None else str(v) for k, v in attributes.items()}
    return str(Link(str(item["url"]), params))


def coap_log_line(data: Mapping[str, Any]) -> str:
    """One transcript line from a Leshan COAPLOG event (Californium's message trace)."""
    arrow = "<-" if data.get("incoming") else "->"
    parts = [
        arrow,
        str(data.get("type", "")),
        str(data.get("code", "")),
        f"mid={data.get('mId')}",
    ]
    if data.get("token"):
        parts.append(f"token={data['token']}")
    if data.get("options"):
        parts.append(str(data["options"]))
    if data.get("payload"):
        payload = str(data["payload"])
        parts.append(repr(payload if len(payload) <= 120 else payload[:117] + "..."))
    return " ".join(p for p in parts if p)


def psk_body(endpoint: str, identity: str, key: bytes, generation: int) -> dict[str, Any]:
    if generation == 1:
        return {"endpoint": endpoint, "psk": {"identity": identity, "key": key.hex()}}
    return {
        "endpoint": endpoint,
        "tls": {"mode": "psk", "details": {"identity": identity, "key": key.hex()}},
    }


def _signed_bytes(data: bytes) -> list[int]:
    # Java byte[] from JSON: Jackson (2.x) and Gson (1.x) both take -128..127.
    return [b - 256 if b > 127 else b for b in data]


def bootstrap_body(config: BootstrapConfig, generation: int) -> dict[str, Any]:
    """A BootstrapConfig for Leshan's bootstrap demo: delete /0 and /1, then write one server
    account (Security instance 1 + Server instance 0). Every security entry carries a
    ``serverId`` (1.x answers 500 without one)."""
    psk = config.security == "psk"
    security: dict[str, Any] = {
        "uri": config.server_uri,
        "bootstrapServer": False,
        "securityMode": "PSK" if psk else "NO_SEC",
        "publicKeyOrId": _signed_bytes(config.identity.encode()) if psk and config.identity else [],
        "serverPublicKey": [],
        "secretKey": _signed_bytes(config.key) if psk and config.key else [],
        "serverId": config.short_id,
    }
    server: dict[str, Any] = {
        "shortId": config.short_id,
        "lifetime": config.lifetime,
        "defaultMinPeriod": 1,
        "notifIfDisabled": True,
        # 2.x takes an EnumSet of binding letters, 1.x one BindingMode name.
        "binding": list(config.binding) if generation == 2 else config.binding,
    }
    return {
        "toDelete": ["/0", "/1"],
        "servers": {"0": server},
        "security": {"1": security},
    }
