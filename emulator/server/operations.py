"""Server → client requests as data, sans-I/O (OMA LwM2M TS 1.0 §5.4 device management,
§5.5 information reporting, §5.2.7 bootstrap).

Each builder returns a :class:`DeviceRequest`: method, path, query, payload, Content-Format,
Accept, Observe and the success codes the operation expects (TS 1.0 §8.2.4–8.2.6 tables).
:func:`decode_answer` turns a response payload back into content with the shared LwM2M codecs.
The asyncio adapter only turns a ``DeviceRequest`` into an aiocoap ``Message`` and back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final, TypeAlias

from emulator.lwm2m.attributes import ATTRIBUTE_NAMES
from emulator.lwm2m.codec import decode as decode_payload
from emulator.lwm2m.codec import encode
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.model import (
    Content,
    LwM2MObject,
    MultiResource,
    ObjectInstance,
    ObjLink,
    ResourceInstance,
    SingleResource,
    Value,
)
from emulator.lwm2m.paths import LwM2MPath
from emulator.lwm2m.registry import ObjectRegistry

__all__ = [
    "CHANGED",
    "CONTENT",
    "CREATED",
    "DELETED",
    "DeviceRequest",
    "Method",
    "WriteValue",
    "as_content",
    "bootstrap_delete",
    "bootstrap_finish",
    "bootstrap_write",
    "cancel_observe",
    "create",
    "decode_answer",
    "delete",
    "discover",
    "execute",
    "method_name",
    "observe",
    "read",
    "under",
    "write",
    "write_attributes",
]


class Method:
    """CoAP request method codes (RFC 7252 §12.1.1)."""

    GET: Final = 1
    POST: Final = 2
    PUT: Final = 3
    DELETE: Final = 4


_METHOD_NAMES: Final = {
    Method.GET: "GET",
    Method.POST: "POST",
    Method.PUT: "PUT",
    Method.DELETE: "DELETE",
}


def method_name(method: int) -> str:
    """``2`` → ``"POST"`` (for log lines); an unknown method code as its number."""
    return _METHOD_NAMES.get(method, str(method))


# Response codes (RFC 7252 §12.1.2) as raw code bytes.
CREATED: Final = (2 << 5) | 1
DELETED: Final = (2 << 5) | 2
CHANGED: Final = (2 << 5) | 4
CONTENT: Final = (2 << 5) | 5

#: What ``write`` and ``create`` accept: content, a bare value for a resource (instance), or a
#: mapping resource id → value (or → {resource instance id: value}) for an object instance.
WriteValue: TypeAlias = Content | Value | Mapping[int, "Value | Mapping[int, Value]"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRequest:
    """One request to a client, ready to be put on the wire."""

    operation: str
    method: int
    path: tuple[str, ...]
    query: tuple[str, ...] = ()
    payload: bytes = b""
    content_format: int | None = None
    accept: int | None = None
    observe: int | None = None
    #: Response codes that mean success for this operation.
    success: frozenset[int] = frozenset({CONTENT})


def under(prefix: tuple[str, ...], request: DeviceRequest) -> DeviceRequest:
    """``request`` addressed below ``prefix``: the alternate path a client announced for its
    objects (TS 1.0 §5.3.1, ``</lwm2m>;rt="oma.lwm2m"``)."""
    return replace(request, path=prefix + request.path) if prefix else request


def read(path: LwM2MPath, fmt: ContentFormat) -> DeviceRequest:
    """Read (TS 1.0 §5.4.1): GET with Accept."""
    _not_root(path, "Read")
    return DeviceRequest(operation="read", method=Method.GET, path=path.segments, accept=int(fmt))


def observe(path: LwM2MPath, fmt: ContentFormat) -> DeviceRequest:
    """Observe (TS 1.0 §5.5.1): GET with Observe=0 (RFC 7641 §2)."""
    _not_root(path, "Observe")
    return DeviceRequest(
        operation="observe", method=Method.GET, path=path.segments, accept=int(fmt), observe=0
    )


def cancel_observe(path: LwM2MPath, fmt: ContentFormat) -> DeviceRequest:
    """Active Cancel Observation (TS 1.0 §5.5.3, RFC 7641 §3.6): GET with Observe=1, sent with
    the observation's token."""
    return DeviceRequest(
        operation="cancel-observe",
        method=Method.GET,
        path=path.segments,
        accept=int(fmt),
        observe=1,
    )


def discover(path: LwM2MPath) -> DeviceRequest:
    """Discover (TS 1.0 §5.4.2): GET with Accept application/link-format."""
    _not_root(path, "Discover")
    return DeviceRequest(
        operation="discover",
        method=Method.GET,
        path=path.segments,
        accept=int(ContentFormat.LINK_FORMAT),
    )


def write(
    path: LwM2MPath,
    value: WriteValue,
    fmt: ContentFormat,
    definitions: ObjectRegistry,
    *,
    replace: bool = True,
) -> DeviceRequest:
    """Write (TS 1.0 §5.4.3): PUT replaces, POST updates partially (object instance only)."""
    if path.level < 2:
        raise ValueError(f"Write needs an object instance or resource path, not {path}")
    if not replace and path.level != 2:
        raise ValueError(f"a partial update (replace=False) targets an object instance, not {path}")
    content = as_content(value, path, definitions)
    return DeviceRequest(
        operation="write" if replace else "write (partial update)",
        method=Method.PUT if replace else Method.POST,
        path=path.segments,
        payload=encode(content, fmt, path, definitions),
        content_format=int(fmt),
        success=frozenset({CHANGED}),
    )


def execute(path: LwM2MPath, arguments: bytes | str = b"") -> DeviceRequest:
    """Execute (TS 1.0 §5.4.4): POST on a resource, arguments as the payload."""
    if not path.is_resource:
        raise ValueError(f"Execute targets a resource (/o/i/r), not {path}")
    payload = arguments.encode() if isinstance(arguments, str) else bytes(arguments)
    return DeviceRequest(
        operation="execute",
        method=Method.POST,
        path=path.segments,
        payload=payload,
        content_format=int(ContentFormat.TEXT) if payload else None,
        success=frozenset({CHANGED}),
    )


def write_attributes(path: LwM2MPath, attributes: Mapping[str, float | None]) -> DeviceRequest:
    """Write-Attributes (TS 1.0 §5.4.4 / §5.1.2): PUT with the attributes as Uri-Query;
    ``None`` removes an attribute (sent as the bare name)."""
    _not_root(path, "Write-Attributes")
    if not attributes:
        raise ValueError("Write-Attributes needs at least one attribute")
    query: list[str] = []
    for name, value in attributes.items():
        if name not in ATTRIBUTE_NAMES:
            raise ValueError(
                f"unknown notification attribute {name!r} (known: {', '.join(ATTRIBUTE_NAMES)})"
            )
        query.append(name if value is None else f"{name}={_number_text(value)}")
    return DeviceRequest(
        operation="write-attributes",
        method=Method.PUT,
        path=path.segments,
        query=tuple(query),
        success=frozenset({CHANGED}),
    )


def create(
    path: LwM2MPath, value: WriteValue, fmt: ContentFormat, definitions: ObjectRegistry
) -> DeviceRequest:
    """Create (TS 1.0 §5.4.5): POST on the object. ``path`` is ``/o`` (the client picks the
    instance id) or ``/o/i`` (we pick it; the payload then carries the instance id)."""
    if path.level not in (1, 2):
        raise ValueError(f"Create targets an object (/o) or a new instance (/o/i), not {path}")
    object_path = LwM2MPath(path.object_id)
    if path.level == 2:
        built = as_content(value, path, definitions)
    elif isinstance(value, ObjectInstance):
        built = value
    else:
        built = ObjectInstance(None, _instance(value, object_path.child(0), definitions).resources)
    if not isinstance(built, ObjectInstance):
        raise ValueError(f"Create takes an object instance, not a {type(built).__name__}")
    if built.id is None:
        if fmt is not ContentFormat.TLV:
            # Only TLV can carry resources without their instance (TS 1.0 §5.4.5).
            raise ValueError(f"Create without an instance id needs TLV, not {fmt.name}")
        payload = encode(built, fmt, object_path, definitions)
    else:
        assert path.object_id is not None
        payload = encode(
            LwM2MObject(path.object_id, {built.id: built}), fmt, object_path, definitions
        )
    return DeviceRequest(
        operation="create",
        method=Method.POST,
        path=object_path.segments,
        payload=payload,
        content_format=int(fmt),
        success=frozenset({CREATED}),
    )


def delete(path: LwM2MPath) -> DeviceRequest:
    """Delete (TS 1.0 §5.4.6): DELETE on an object instance."""
    if not path.is_object_instance:
        raise ValueError(f"Delete targets an object instance (/o/i), not {path}")
    return DeviceRequest(
        operation="delete", method=Method.DELETE, path=path.segments, success=frozenset({DELETED})
    )


def bootstrap_delete(path: LwM2MPath) -> DeviceRequest:
    """Bootstrap-Delete (TS 1.0 §5.2.7.5): DELETE on ``/``, an object or an instance."""
    return DeviceRequest(
        operation=f"bootstrap-delete {path}",
        method=Method.DELETE,
        path=path.segments,
        success=frozenset({DELETED}),
    )


def bootstrap_write(
    path: LwM2MPath, content: Content, fmt: ContentFormat, definitions: ObjectRegistry
) -> DeviceRequest:
    """Bootstrap-Write (TS 1.0 §5.2.7.4): PUT, may target objects a server cannot write."""
    return DeviceRequest(
        operation=f"bootstrap-write {path}",
        method=Method.PUT,
        path=path.segments,
        payload=encode(content, fmt, path, definitions),
        content_format=int(fmt),
        success=frozenset({CHANGED}),
    )


def bootstrap_finish() -> DeviceRequest:
    """Bootstrap-Finish (TS 1.0 §5.2.7.2): POST /bs."""
    return DeviceRequest(
        operation="bootstrap-finish",
        method=Method.POST,
        path=("bs",),
        success=frozenset({CHANGED}),
    )


def as_content(value: WriteValue, path: LwM2MPath, definitions: ObjectRegistry) -> Content:
    """Turn what a caller passed to ``write``/``create`` into a content tree at ``path``."""
    if isinstance(
        value, LwM2MObject | ObjectInstance | SingleResource | MultiResource | ResourceInstance
    ):
        return value
    if path.level == 4:
        assert path.resource_instance_id is not None
        return ResourceInstance(path.resource_instance_id, _value(value, path))
    if path.level == 3:
        return _resource(path, value, definitions)
    if path.level == 2:
        return _instance(value, path, definitions)
    raise ValueError(f"cannot build content for {path} from a {type(value).__name__}")


def _instance(value: object, path: LwM2MPath, definitions: ObjectRegistry) -> ObjectInstance:
    if isinstance(value, ObjectInstance):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"an object instance ({path}) takes a mapping resource id → value")
    return ObjectInstance(
        path.instance_id,
        {rid: _resource(path.child(rid), value[rid], definitions) for rid in sorted(value)},
    )


def _resource(
    path: LwM2MPath, value: object, definitions: ObjectRegistry
) -> SingleResource | MultiResource:
    assert path.resource_id is not None
    if isinstance(value, SingleResource | MultiResource):
        return value
    definition = definitions.resource(path)
    if isinstance(value, Mapping) and (definition is None or definition.multiple):
        return MultiResource(
            path.resource_id,
            {int(riid): _value(value[riid], path.child(int(riid))) for riid in sorted(value)},
        )
    return SingleResource(path.resource_id, _value(value, path))


def _value(value: object, path: LwM2MPath) -> Value:
    if isinstance(value, bool | int | float | str | bytes | ObjLink):
        return value
    raise ValueError(f"{path}: {type(value).__name__} is not an LwM2M value")


def decode_answer(
    payload: bytes,
    content_format: int | None,
    path: LwM2MPath,
    requested: ContentFormat,
    definitions: ObjectRegistry,
) -> Content:
    """Decode a Read/Observe answer. Without a Content-Format option a single value is taken
    as plain text (clients such as lwm2m-node-lib leave it out); anything else as what we
    asked for."""
    if content_format is None:
        fmt: int = ContentFormat.TEXT if path.level >= 3 else requested
    else:
        fmt = content_format
    return decode_payload(payload, fmt, path, definitions)


def _not_root(path: LwM2MPath, operation: str) -> None:
    if path.is_root:
        raise ValueError(f"{operation} needs an object, instance or resource path, not /")


def _number_text(value: float) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"attribute value {value!r} is not a number")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
