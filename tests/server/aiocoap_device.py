"""A small LwM2M device for the server tests: an aiocoap client context whose own socket (or
DTLS session) answers the server's requests from an :class:`ObjectStore`.

The virtual module's real client lives in ``emulator.lwm2m.client``; this one only exists so the
server's requests can be checked on the wire. Every request the device receives is recorded in
``seen`` (an asyncio queue) exactly as it arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiocoap import Code, Context, Message, resource
from aiocoap import error as coap_error

from emulator.adapters.dtls.coap import DtlsClientInterface
from emulator.lwm2m.attributes import parse_attribute_query
from emulator.lwm2m.codec import decode, default_format, encode, supports
from emulator.lwm2m.errors import LwM2MError, NotAcceptable
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.linkformat import build_register_payload, format_links
from emulator.lwm2m.paths import LwM2MPath
from emulator.lwm2m.registry import default_registry
from emulator.lwm2m.store import ObjectStore


@dataclass(frozen=True)
class SeenRequest:
    """A request the device received, as it came off the wire."""

    method: str
    path: tuple[str, ...]
    query: tuple[str, ...]
    payload: bytes
    content_format: int | None
    accept: int | None
    observe: int | None
    token: bytes


class _DeviceRoot(resource.ObservableResource):  # type: ignore[misc]
    def __init__(self, device: AiocoapDevice) -> None:
        super().__init__()
        self.device = device
        self.watchers: dict[Any, LwM2MPath] = {}
        self.observed_requests: list[Message] = []

    async def add_observation(self, request: Message, serverobservation: Any) -> None:
        path = LwM2MPath.from_segments(request.opt.uri_path)
        self.watchers[serverobservation] = path

        def cancelled() -> None:
            self.watchers.pop(serverobservation, None)
            self.device.cancelled_observations.put_nowait(path)

        serverobservation.accept(cancelled)

    async def render(self, request: Message) -> Message:
        # aiocoap renders an observed request again for each notification: record only what
        # came off the wire.
        if any(request is observed for observed in self.observed_requests):
            return self._answer(request)
        if request.opt.observe == 0:
            self.observed_requests.append(request)
        self.device.seen.put_nowait(
            SeenRequest(
                method=str(request.code),
                path=tuple(request.opt.uri_path),
                query=tuple(request.opt.uri_query),
                payload=bytes(request.payload),
                content_format=request.opt.content_format,
                accept=request.opt.accept,
                observe=request.opt.observe,
                token=bytes(request.token),
            )
        )
        return self._answer(request)

    def _answer(self, request: Message) -> Message:
        try:
            return self._handle(request)
        except LwM2MError as err:
            return Message(code=Code(err.code), payload=str(err).encode())

    def _handle(self, request: Message) -> Message:
        store = self.device.store
        segments = tuple(request.opt.uri_path)
        if segments == ("bs",) and request.code == Code.POST:
            self.device.bootstrap_finished.set()
            return Message(code=Code.CHANGED)
        path = LwM2MPath.from_segments(segments)
        registry = store.definitions
        if request.code == Code.GET:
            if request.opt.accept == ContentFormat.LINK_FORMAT:
                links = store.discover(path)
                return Message(
                    code=Code.CONTENT,
                    payload=format_links(links).encode(),
                    content_format=ContentFormat.LINK_FORMAT,
                )
            fmt = request.opt.accept
            if fmt is None:
                fmt = default_format(path, registry)
            elif not supports(fmt, path, registry):
                raise NotAcceptable(f"cannot answer {path} in {fmt}")
            content = store.read(path)
            return Message(
                code=Code.CONTENT, payload=encode(content, fmt, path, registry), content_format=fmt
            )
        if request.code == Code.PUT:
            if request.opt.uri_query:
                store.write_attributes(path, parse_attribute_query(request.opt.uri_query))
                return Message(code=Code.CHANGED)
            fmt = request.opt.content_format
            if self.device.refuse_bootstrap_writes and self.device.bootstrapping:
                return Message(code=Code.BAD_REQUEST, payload=b"refused by the test")
            content = decode(bytes(request.payload), fmt, path, registry)
            if self.device.bootstrapping and path.object_id in (0, 1):
                self.device.bootstrap_writes.append((path, content))
                return Message(code=Code.CHANGED)
            store.write(path, content, replace=True)
            self.device.changed(path)
            return Message(code=Code.CHANGED)
        if request.code == Code.POST:
            if path.is_resource:
                store.execute(path, bytes(request.payload))
                return Message(code=Code.CHANGED)
            fmt = request.opt.content_format
            content = decode(bytes(request.payload), fmt, path, registry)
            if path.is_object_instance:
                store.write(path, content, replace=False)
                self.device.changed(path)
                return Message(code=Code.CHANGED)
            created = store.create(path, content)
            return Message(code=Code.CREATED, location_path=created.segments)
        if request.code == Code.DELETE:
            if self.device.bootstrapping and path.level <= 1:
                self.device.bootstrap_deletes.append(path)
                return Message(code=Code.DELETED)
            store.delete(path)
            return Message(code=Code.DELETED)
        return Message(code=Code.METHOD_NOT_ALLOWED)

    def notify(self, changed: LwM2MPath) -> None:
        for observation, path in list(self.watchers.items()):
            if path.overlaps(changed):
                observation.trigger()


class AiocoapDevice:
    """An LwM2M device built from an aiocoap client context and an ObjectStore."""

    def __init__(
        self,
        endpoint: str,
        *,
        lwm2m: str = "1.0",
        binding: str = "U",
        lifetime: int = 300,
    ) -> None:
        self.endpoint = endpoint
        self.lwm2m = lwm2m
        self.binding = binding
        self.lifetime = lifetime
        self.store = ObjectStore(default_registry())
        self.store.add_instance(1, 0, {0: 1, 1: lifetime, 6: True, 7: binding})
        self.store.add_instance(
            3,
            0,
            {0: "Quectel", 1: "EC200U", 2: "860000000000001", 13: 1_700_000_000, 14: "+00"},
        )
        self.store.add_object(11)
        self.seen: asyncio.Queue[SeenRequest] = asyncio.Queue()
        self.cancelled_observations: asyncio.Queue[LwM2MPath] = asyncio.Queue()
        self.bootstrapping = False
        self.bootstrap_deletes: list[LwM2MPath] = []
        self.bootstrap_writes: list[tuple[LwM2MPath, Any]] = []
        self.bootstrap_finished = asyncio.Event()
        self.refuse_bootstrap_writes = False
        self.location: tuple[str, ...] = ()
        self.context: Context | None = None
        self._root = _DeviceRoot(self)
        self._server_uri = ""
        self._session: Any = None
        self._psk: tuple[bytes, bytes] | None = None
        self._dtls: DtlsClientInterface | None = None

    async def start(self, server_uri: str, *, psk: tuple[bytes, bytes] | None = None) -> None:
        """Open the client context towards ``server_uri`` (``coaps://`` needs ``psk``)."""
        self._server_uri = server_uri
        # udp6 only: DTLS is ours (emulator.adapters.dtls), added below when a PSK is given.
        self.context = await Context.create_client_context(transports=["udp6"])
        self.context.serversite = self._root
        if psk is not None:
            self._psk = psk
            self._dtls = await DtlsClientInterface.create(self.context, bind_host="127.0.0.1")

    async def _dtls_session(self, timeout: float) -> Any:
        """The DTLS session with the server, shaking hands on first use (a refused handshake
        raises ``DtlsHandshakeError``)."""
        if self._session is None:
            assert self._dtls is not None and self._psk is not None
            parts = urlsplit(self._server_uri)
            self._session = await self._dtls.connect(
                parts.hostname or "",
                parts.port or 5684,
                identity=self._psk[0],
                key=self._psk[1],
                timeout=timeout,
            )
        return self._session

    async def close(self) -> None:
        if self.context is not None:
            await self.context.shutdown()
            self.context = None

    async def request(
        self,
        method: Code,
        path: str,
        *,
        query: tuple[str, ...] = (),
        payload: bytes = b"",
        content_format: int | None = None,
        timeout: float = 10.0,
    ) -> Message:
        assert self.context is not None
        message = Message(
            code=method,
            uri=f"{self._server_uri}{path}",
            payload=payload,
        )
        if query:
            message.opt.uri_query = query
        if content_format is not None:
            message.opt.content_format = content_format
        if self._dtls is not None:
            message.remote = await self._dtls_session(timeout)
        return await asyncio.wait_for(self.context.request(message).response, timeout)

    def register_payload(self) -> bytes:
        announced = ContentFormat.TLV if self.lwm2m == "1.0" else ContentFormat.SENML_JSON
        return build_register_payload(self.store.instance_ids(), content_format=announced).encode()

    async def register(
        self, *, extra_query: tuple[str, ...] = (), timeout: float = 10.0
    ) -> Message:
        query = (
            f"ep={self.endpoint}",
            f"lt={self.lifetime}",
            f"lwm2m={self.lwm2m}",
            f"b={self.binding}",
            *extra_query,
        )
        response = await self.request(
            Code.POST,
            "/rd",
            query=query,
            payload=self.register_payload(),
            content_format=ContentFormat.LINK_FORMAT,
            timeout=timeout,
        )
        if response.code == Code.CREATED:
            self.location = tuple(response.opt.location_path)
        return response

    async def update(self, query: tuple[str, ...] = (), payload: bytes = b"") -> Message:
        return await self.request(
            Code.POST,
            "/" + "/".join(self.location),
            query=query,
            payload=payload,
            content_format=ContentFormat.LINK_FORMAT if payload else None,
        )

    async def bootstrap_request(self) -> Message:
        self.bootstrapping = True
        return await self.request(Code.POST, "/bs", query=(f"ep={self.endpoint}",))

    async def deregister(self) -> Message:
        return await self.request(Code.DELETE, "/" + "/".join(self.location))

    def set_value(self, path: str, value: Any) -> None:
        target = LwM2MPath.parse(path)
        self.store.set_value(target, value)
        self.changed(target)

    def changed(self, path: LwM2MPath) -> None:
        self._root.notify(path)

    def watched_paths(self) -> list[LwM2MPath]:
        return list(self._root.watchers.values())


async def next_seen(device: AiocoapDevice, timeout: float = 5.0) -> SeenRequest:
    return await asyncio.wait_for(device.seen.get(), timeout)


def values(store_content: Mapping[int, Any]) -> dict[int, Any]:
    """resource id → value of an ObjectInstance's resources (for short asserts)."""
    return {rid: getattr(res, "value", None) for rid, res in store_content.items()}


__all__ = ["AiocoapDevice", "SeenRequest", "coap_error", "next_seen", "values"]
