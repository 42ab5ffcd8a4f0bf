"""Server requests → object store operations → responses (sans-I/O).

Device Management and Information Reporting interfaces (OMA LwM2M TS 1.0 §5.4-5.5), as CoAP
carries them (TS 1.0 §8.2.4-8.2.6):

====================================  =============================================
GET, Accept link-format               Discover
GET (Observe 0 / 1)                   Read (Observe / cancel Observe)
PUT with payload                      Write (replace)
PUT without payload, Uri-Query        Write-Attributes
POST on an object                     Create
POST on an instance                   Write (partial update)
POST on a resource                    Execute
DELETE on an instance                 Delete
====================================  =============================================

and, while a bootstrap server provisions the client, the Bootstrap interface (TS 1.0 §5.2.7):
Bootstrap-Write (PUT), Bootstrap-Delete (DELETE), Bootstrap-Discover (GET link-format) and
Bootstrap-Finish (POST /bs). Every error is raised as an ``LwM2MError`` where it is found and
rendered here, at one place, as the response code with the reason as diagnostic payload.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from emulator.lwm2m import codec
from emulator.lwm2m.attributes import is_cancel_query, parse_attribute_query
from emulator.lwm2m.errors import (
    BadRequest,
    LwM2MError,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    UnsupportedContentFormat,
)
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.linkformat import Link, format_links
from emulator.lwm2m.model import Content, LwM2MObject, ObjectInstance
from emulator.lwm2m.observe import ObservationManager
from emulator.lwm2m.paths import LwM2MPath
from emulator.lwm2m.store import ObjectStore

from .messages import (
    CHANGED,
    CONTENT,
    CREATED,
    DELETE,
    DELETED,
    GET,
    INTERNAL_SERVER_ERROR,
    POST,
    PUT,
    CoapRequest,
    CoapResponse,
)
from .settings import ClientSettings

log = logging.getLogger(__name__)

LINK_FORMAT = int(ContentFormat.LINK_FORMAT)
SECURITY, SERVER = 0, 1


def error_response(error: LwM2MError) -> CoapResponse:
    return CoapResponse(code=error.code, payload=str(error).encode("utf-8")[:200])


@dataclass(kw_only=True)
class Operations:
    """Answers one server's requests against the client's store."""

    store: ObjectStore
    observations: ObservationManager
    settings: ClientSettings

    # ------------------------------------------------------------- formats
    def _allowed(self, fmt: int) -> ContentFormat | None:
        known = ContentFormat.from_number(fmt)
        if known is None:
            return None
        canonical = known.canonical
        return canonical if int(canonical) in self.settings.content_formats else None

    def response_format(self, path: LwM2MPath, accept: int | None) -> ContentFormat:
        """The format of a Read/Observe answer: the Accept if we can, else 4.06 (RFC 7252
        §5.10.4); without Accept TS 1.0 §6.4's defaults, multi-value content in the profile's
        preferred format."""
        defs = self.store.definitions
        if accept is not None:
            fmt = self._allowed(accept)
            if fmt is None or not codec.supports(fmt, path, defs):
                raise NotAcceptable(f"cannot answer {path} in content format {accept}")
            return fmt
        fmt = codec.default_format(path, defs)
        if fmt is ContentFormat.TLV:
            return ContentFormat(self.settings.preferred_format)
        return fmt

    def _decode(self, request: CoapRequest, path: LwM2MPath) -> Content:
        if request.content_format is None:
            raise BadRequest("the payload has no Content-Format")
        fmt = self._allowed(request.content_format)
        if fmt is None:
            raise UnsupportedContentFormat(
                f"content format {request.content_format} is not supported"
            )
        return codec.decode(request.payload, fmt, path, self.store.definitions)

    def encode(self, content: Content, path: LwM2MPath, fmt: ContentFormat) -> bytes:
        return codec.encode(content, fmt, path, self.store.definitions)

    # ------------------------------------------------- device management
    def device_management(
        self, request: CoapRequest, *, ssid: int | None, now: float
    ) -> CoapResponse:
        """Answer a DM server's request; never raises."""
        try:
            return self._device_management(request, ssid, now)
        except LwM2MError as error:
            return error_response(error)
        except Exception:  # a bug must cost one 5.00, never the module
            log.exception("request %r failed", request)
            return CoapResponse(code=INTERNAL_SERVER_ERROR, payload=b"internal error")

    def _path(self, request: CoapRequest) -> LwM2MPath:
        segments = request.path
        if segments == ("",):
            segments = ()  # "/" sent as one empty Uri-Path option
        try:
            return LwM2MPath.from_segments(segments)
        except ValueError as exc:
            raise NotFound(f"not an LwM2M path: {exc}") from None

    def _device_management(
        self, request: CoapRequest, ssid: int | None, now: float
    ) -> CoapResponse:
        path = self._path(request)
        store = self.store
        method = request.method
        if method == GET:
            if request.accept == LINK_FORMAT:
                links = store.discover(
                    path, short_server_id=ssid, lwm2m_version=self.settings.lwm2m_version
                )
                return CoapResponse(
                    code=CONTENT,
                    payload=format_links(links).encode("utf-8"),
                    content_format=LINK_FORMAT,
                )
            fmt = self.response_format(path, request.accept)
            if request.observe == 0:
                content = self.observations.observe(
                    request.token, path, now, short_server_id=ssid, content_format=fmt
                )
                return CoapResponse(
                    code=CONTENT,
                    payload=self._encode_or_cancel(content, path, fmt, request.token),
                    content_format=int(fmt),
                    observe=True,
                )
            if request.token:
                # RFC 7641 §3.6 (Observe 1) and §4.1: a GET on an observation's token that does
                # not register again ends that observation.
                self.observations.cancel(request.token)
            content = store.read(path)
            return CoapResponse(
                code=CONTENT, payload=self.encode(content, path, fmt), content_format=int(fmt)
            )
        if method == PUT:
            if not request.payload and request.content_format is None:
                return self._write_attributes(path, request, ssid)
            store.write(path, self._decode(request, path), replace=True)
            return CoapResponse(code=CHANGED)
        if method == POST:
            if path.is_object:
                content = self._decode(request, path) if request.payload else ObjectInstance(None)
                created = store.create(path, content)
                return CoapResponse(code=CREATED, location_path=created.segments)
            if path.is_object_instance:
                store.write(path, self._decode(request, path), replace=False)
                return CoapResponse(code=CHANGED)
            if path.is_resource:
                store.execute(path, request.payload)
                return CoapResponse(code=CHANGED)
            raise MethodNotAllowed(f"POST on {path} is not an LwM2M operation")
        if method == DELETE:
            store.delete(path)
            self.observations.cancel_under(path)
            return CoapResponse(code=DELETED)
        raise MethodNotAllowed(f"method {method} is not an LwM2M 1.0 operation")

    def _encode_or_cancel(
        self, content: Content, path: LwM2MPath, fmt: ContentFormat, token: bytes
    ) -> bytes:
        try:
            return self.encode(content, path, fmt)
        except LwM2MError:
            self.observations.cancel(token)
            raise

    def _write_attributes(
        self, path: LwM2MPath, request: CoapRequest, ssid: int | None
    ) -> CoapResponse:
        if not request.query:
            raise BadRequest("a PUT needs a payload or notification attributes")
        if is_cancel_query(request.query):
            # Pre-1.0 "cancel" attribute (sent by lwm2m-node-lib): end observations there.
            if not self.store.has(path):
                raise NotFound(f"{path} does not exist")
            self.observations.cancel_under(path)
            return CoapResponse(code=CHANGED)
        self.store.write_attributes(
            path, parse_attribute_query(request.query), short_server_id=ssid
        )
        return CoapResponse(code=CHANGED)

    # --------------------------------------------------------- bootstrap
    def bootstrap(
        self,
        request: CoapRequest,
        *,
        bootstrap_instance: int | None,
        finish: Callable[[], None],
    ) -> CoapResponse:
        """Answer the bootstrap server's request; ``finish`` runs on Bootstrap-Finish and
        raises ``LwM2MError`` when the provisioned configuration is not usable."""
        try:
            return self._bootstrap(request, bootstrap_instance, finish)
        except LwM2MError as error:
            return error_response(error)
        except Exception:
            log.exception("bootstrap request %r failed", request)
            return CoapResponse(code=INTERNAL_SERVER_ERROR, payload=b"internal error")

    def _bootstrap(
        self, request: CoapRequest, bootstrap_instance: int | None, finish: Callable[[], None]
    ) -> CoapResponse:
        if request.method == POST and request.path == ("bs",):
            try:
                finish()
            except LwM2MError as error:
                # TS 1.1 §5.2.7.6: an unusable configuration is refused with 4.06.
                return CoapResponse(
                    code=NotAcceptable.code, payload=str(error).encode("utf-8")[:200]
                )
            return CoapResponse(code=CHANGED)
        path = self._path(request)
        if request.method == DELETE:
            self._bootstrap_delete(path, bootstrap_instance)
            return CoapResponse(code=DELETED)
        if request.method == GET and request.accept == LINK_FORMAT:
            return CoapResponse(
                code=CONTENT,
                payload=self._bootstrap_discover(path).encode("utf-8"),
                content_format=LINK_FORMAT,
            )
        if request.method == GET and path.object_id == SERVER:
            # TS 1.1 §5.2.7.1 Bootstrap-Read: the Server object only.
            fmt = self.response_format(path, request.accept)
            content = self.store.read(path, by_server=False)
            return CoapResponse(
                code=CONTENT, payload=self.encode(content, path, fmt), content_format=int(fmt)
            )
        if request.method == PUT:
            self._bootstrap_write(path, self._decode(request, path))
            return CoapResponse(code=CHANGED)
        raise MethodNotAllowed(f"{request.method} on {path} is not a bootstrap operation")

    def _bootstrap_write(self, path: LwM2MPath, content: Content) -> None:
        """Bootstrap-Write (TS 1.0 §5.2.7.4): creates missing instances, ignores access rights."""
        store = self.store
        if path.is_root:
            raise MethodNotAllowed("Bootstrap-Write needs an object path")
        assert path.object_id is not None
        if path.is_object:
            if isinstance(content, LwM2MObject):
                instances = list(content.instances.values())
            elif isinstance(content, ObjectInstance) and content.id is not None:
                instances = [content]
            else:
                raise BadRequest("a Bootstrap-Write on an object carries object instances")
            for instance in instances:
                assert instance.id is not None
                self._bootstrap_write(path.child(instance.id), instance)
            return
        instance_path = LwM2MPath.from_ids(path.ids[:2])
        if not store.has(instance_path):
            store.add_instance(path.object_id, instance_path.instance_id)
        store.write(path, content, replace=path.level == 2, by_server=False)

    def _bootstrap_delete(self, path: LwM2MPath, bootstrap_instance: int | None) -> None:
        """Bootstrap-Delete (TS 1.0 §5.2.7.5) on ``/``, an object or an instance; the bootstrap
        server's own Security instance stays (TS 1.1 §5.2.7.5)."""
        store = self.store
        if path.level > 2:
            raise BadRequest("Bootstrap-Delete takes /, an object or an object instance")
        targets: list[LwM2MPath] = []
        objects = [SECURITY, SERVER] if path.is_root else [path.object_id]
        for object_id in objects:
            assert object_id is not None
            for instance_id in store.instance_ids().get(object_id, []):
                target = LwM2MPath(object_id, instance_id)
                if path.contains(target):
                    targets.append(target)
        if path.is_object_instance and not targets:
            raise NotFound(f"{path} does not exist")
        for target in targets:
            if target.object_id == SECURITY and target.instance_id == bootstrap_instance:
                continue
            definition = store.definitions[target.object_id or 0]
            if definition.mandatory and not definition.multiple:
                continue  # e.g. Device /3/0: the device keeps it
            store.remove_instance(target)
            self.observations.cancel_under(target)

    def _bootstrap_discover(self, path: LwM2MPath) -> str:
        """Bootstrap-Discover (TS 1.1 §5.2.7.3): objects and instances, with each account's
        Short Server ID."""
        store = self.store
        if path.level > 1:
            raise BadRequest("Bootstrap-Discover takes / or an object")
        links = [Link("/", {"lwm2mv": self.settings.lwm2m_version})] if path.is_root else []
        for object_id, instances in store.instance_ids().items():
            if path.object_id is not None and object_id != path.object_id:
                continue
            if not instances:
                links.append(Link(f"/{object_id}"))
            for instance_id in instances:
                params: dict[str, str | None] = {}
                if object_id in (SECURITY, SERVER):
                    ssid_path = LwM2MPath(object_id, instance_id, 10 if object_id == 0 else 0)
                    if store.has(ssid_path):
                        params["ssid"] = str(store.get_value(ssid_path))
                links.append(Link(f"/{object_id}/{instance_id}", params))
        return format_links(links)
