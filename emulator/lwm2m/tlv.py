"""OMA LwM2M TLV (application/vnd.oma.lwm2m+tlv, 11542), TS 1.0 §6.4.3.

Each entry is a type byte, an 8- or 16-bit identifier, an optional 8/16/24-bit length and the
value. Type byte bits 7-6 say what the entry is (00 object instance, 01 resource instance,
10 multiple resource, 11 resource with value), bit 5 the identifier width (0: 8 bit, 1: 16 bit),
bits 4-3 the length field width (00: none, the length is in bits 2-0; 01: 8; 10: 16; 11: 24).

Values (TS 1.0 Appendix C): integers and time are signed big-endian in 1, 2, 4 or 8 bytes (we
write the shortest), floats IEEE 754 in 4 or 8 bytes (4 when exact), booleans one byte 0/1,
object links two 16-bit ids, strings UTF-8 and opaque values raw. TLV carries no types: a
resource without a definition decodes as ``bytes``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from .definitions import ResourceType
from .errors import BadRequest, CodecError, NotAcceptableFormatError
from .model import (
    Content,
    LwM2MObject,
    MultiResource,
    ObjectInstance,
    ObjLink,
    Resource,
    ResourceInstance,
    SingleResource,
    Value,
    type_of_value,
)
from .paths import LwM2MPath
from .values import check_value

__all__ = ["TlvEntry", "TlvKind", "decode_tlv", "encode_tlv", "parse_entries", "write_entry"]

#: Resolves a resource path to its type, or ``None`` if no definition is known.
TypeResolver = Callable[[LwM2MPath], ResourceType | None]

_MAX_LENGTH: Final = 0xFFFFFF  # 24-bit length field


class TlvKind(IntEnum):
    """Identifier type, bits 7-6 of the type byte."""

    OBJECT_INSTANCE = 0b00
    RESOURCE_INSTANCE = 0b01
    MULTIPLE_RESOURCE = 0b10
    RESOURCE_VALUE = 0b11


@dataclass(frozen=True, slots=True)
class TlvEntry:
    """One parsed TLV entry; ``value`` is the raw value bytes (children not yet parsed)."""

    kind: TlvKind
    id: int
    value: bytes


# -- writing --------------------------------------------------------------------------------------


def write_entry(kind: TlvKind, identifier: int, value: bytes) -> bytes:
    """One TLV entry with the narrowest identifier and length fields."""
    if not 0 <= identifier <= 0xFFFF:
        raise NotAcceptableFormatError(f"TLV identifier {identifier} does not fit 16 bits")
    length = len(value)
    if length > _MAX_LENGTH:
        raise NotAcceptableFormatError(f"TLV value of {length} bytes exceeds the 24-bit length")
    type_byte = kind << 6
    id_bytes = identifier.to_bytes(1 if identifier <= 0xFF else 2, "big")
    if identifier > 0xFF:
        type_byte |= 0x20
    if length <= 7:
        type_byte |= length
        length_bytes = b""
    else:
        width = 1 if length <= 0xFF else 2 if length <= 0xFFFF else 3
        type_byte |= width << 3
        length_bytes = length.to_bytes(width, "big")
    return bytes([type_byte]) + id_bytes + length_bytes + value


def encode_value(value: Value, rtype: ResourceType | None, where: str) -> bytes:
    """The TLV value bytes of one value (TS 1.0 Appendix C)."""
    if rtype is None:
        rtype = type_of_value(value)
    try:
        value = check_value(value, rtype, where)
    except BadRequest as exc:
        raise CodecError(str(exc)) from None
    if rtype in (ResourceType.INTEGER, ResourceType.TIME):
        assert isinstance(value, int)
        for size in (1, 2, 4, 8):
            if -(1 << (8 * size - 1)) <= value < (1 << (8 * size - 1)):
                return value.to_bytes(size, "big", signed=True)
        raise CodecError(f"{where}: {value} does not fit in 64 bits")
    if rtype is ResourceType.UNSIGNED_INTEGER:
        assert isinstance(value, int)
        for size in (1, 2, 4, 8):
            if value < (1 << (8 * size)):
                return value.to_bytes(size, "big")
        raise CodecError(f"{where}: {value} does not fit in 64 bits")
    if rtype is ResourceType.FLOAT:
        assert isinstance(value, float)
        single = struct.pack(">f", value) if abs(value) <= 3.4e38 else None
        if single is not None and struct.unpack(">f", single)[0] == value:
            return single
        return struct.pack(">d", value)
    if rtype is ResourceType.BOOLEAN:
        return b"\x01" if value else b"\x00"
    if rtype is ResourceType.OBJLNK:
        assert isinstance(value, ObjLink)
        return struct.pack(">HH", value.object_id, value.instance_id)
    if rtype is ResourceType.OPAQUE:
        assert isinstance(value, bytes)
        return value
    assert isinstance(value, str)
    return value.encode("utf-8")


def _encode_resource(resource: Resource, path: LwM2MPath, types: TypeResolver) -> bytes:
    rtype = types(path)
    if isinstance(resource, SingleResource):
        body = encode_value(resource.value, rtype, str(path))
        return write_entry(TlvKind.RESOURCE_VALUE, resource.id, body)
    inner = b"".join(
        write_entry(
            TlvKind.RESOURCE_INSTANCE,
            riid,
            encode_value(resource.instances[riid], rtype, str(path.child(riid))),
        )
        for riid in sorted(resource.instances)
    )
    return write_entry(TlvKind.MULTIPLE_RESOURCE, resource.id, inner)


def _encode_resources(instance: ObjectInstance, path: LwM2MPath, types: TypeResolver) -> bytes:
    return b"".join(
        _encode_resource(instance.resources[rid], path.child(rid), types)
        for rid in sorted(instance.resources)
    )


def encode_tlv(content: Content, path: LwM2MPath, types: TypeResolver) -> bytes:
    """Encode ``content`` sent for the request path ``path`` (its own path, or for an object
    instance possibly its object's path).

    An object is a list of object-instance entries; an instance read on its own path is its
    resources without a wrapper (TS 1.0 §6.4.3.1), but an instance at an object path (Create)
    is wrapped when it has an id; a multiple resource is one multiple-resource entry.
    """
    if isinstance(content, LwM2MObject):
        return b"".join(
            write_entry(
                TlvKind.OBJECT_INSTANCE,
                iid,
                _encode_resources(content.instances[iid], path.child(iid), types),
            )
            for iid in sorted(content.instances)
        )
    if isinstance(content, ObjectInstance):
        if path.level == 2 or content.id is None:
            # An id-less instance (Create payload) is typed via a placeholder instance path.
            instance_path = path if path.level == 2 else path.child(0)
            return _encode_resources(content, instance_path, types)
        body = _encode_resources(content, path.child(content.id), types)
        return write_entry(TlvKind.OBJECT_INSTANCE, content.id, body)
    if isinstance(content, SingleResource | MultiResource):
        return _encode_resource(content, path, types)
    body = encode_value(content.value, types(path), str(path))
    return write_entry(TlvKind.RESOURCE_INSTANCE, content.id, body)


# -- reading --------------------------------------------------------------------------------------


def parse_entries(data: bytes) -> list[TlvEntry]:
    """Split ``data`` into entries; raises ``CodecError`` on truncation."""
    entries: list[TlvEntry] = []
    offset = 0
    end = len(data)
    while offset < end:
        type_byte = data[offset]
        offset += 1
        id_size = 2 if type_byte & 0x20 else 1
        length_size = (type_byte >> 3) & 0x03
        if offset + id_size + length_size > end:
            raise CodecError(f"TLV header at byte {offset - 1} is truncated")
        identifier = int.from_bytes(data[offset : offset + id_size], "big")
        offset += id_size
        if length_size:
            length = int.from_bytes(data[offset : offset + length_size], "big")
            offset += length_size
        else:
            length = type_byte & 0x07
        if offset + length > end:
            raise CodecError(
                f"TLV entry {identifier} declares {length} bytes, only {end - offset} remain"
            )
        entries.append(
            TlvEntry(TlvKind(type_byte >> 6), identifier, data[offset : offset + length])
        )
        offset += length
    return entries


def decode_value(data: bytes, rtype: ResourceType | None, where: str) -> Value:
    """One value from its TLV bytes; ``CodecError`` if the size does not fit the type."""
    if rtype is None or rtype is ResourceType.OPAQUE:
        return bytes(data)
    if rtype in (ResourceType.INTEGER, ResourceType.TIME):
        if len(data) not in (1, 2, 4, 8):
            raise CodecError(f"{where}: an integer is 1, 2, 4 or 8 bytes, not {len(data)}")
        return int.from_bytes(data, "big", signed=True)
    if rtype is ResourceType.UNSIGNED_INTEGER:
        if len(data) not in (1, 2, 4, 8):
            raise CodecError(f"{where}: an integer is 1, 2, 4 or 8 bytes, not {len(data)}")
        return int.from_bytes(data, "big")
    if rtype is ResourceType.FLOAT:
        if len(data) == 4:
            result = float(struct.unpack(">f", data)[0])
        elif len(data) == 8:
            result = float(struct.unpack(">d", data)[0])
        else:
            raise CodecError(f"{where}: a float is 4 or 8 bytes, not {len(data)}")
        if not math.isfinite(result):
            raise CodecError(f"{where}: {result} is not a finite number")
        return result
    if rtype is ResourceType.BOOLEAN:
        if data not in (b"\x00", b"\x01"):
            raise CodecError(f"{where}: a boolean is one byte 0 or 1, not {data.hex()}")
        return data == b"\x01"
    if rtype is ResourceType.OBJLNK:
        if len(data) != 4:
            raise CodecError(f"{where}: an object link is 4 bytes, not {len(data)}")
        object_id, instance_id = struct.unpack(">HH", data)
        return ObjLink(object_id, instance_id)
    if rtype is ResourceType.NONE:
        raise CodecError(f"{where}: an executable resource has no value")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CodecError(f"{where}: the string is not valid UTF-8") from None


def _decode_resource(entry: TlvEntry, path: LwM2MPath, types: TypeResolver) -> Resource:
    rtype = types(path)
    if entry.kind is TlvKind.RESOURCE_VALUE:
        return SingleResource(entry.id, decode_value(entry.value, rtype, str(path)))
    if entry.kind is TlvKind.MULTIPLE_RESOURCE:
        instances: dict[int, Value] = {}
        for inner in parse_entries(entry.value):
            if inner.kind is not TlvKind.RESOURCE_INSTANCE:
                raise CodecError(f"{path}: a multiple resource holds only resource instances")
            if inner.id in instances:
                raise CodecError(f"{path}: resource instance {inner.id} appears twice")
            riid_path = path.child(inner.id)
            instances[inner.id] = decode_value(inner.value, rtype, str(riid_path))
        return MultiResource(entry.id, dict(sorted(instances.items())))
    raise CodecError(f"{path}: expected a resource entry, found {entry.kind.name.lower()}")


def _decode_resources(
    entries: list[TlvEntry], instance_path: LwM2MPath, types: TypeResolver
) -> dict[int, Resource]:
    resources: dict[int, Resource] = {}
    for entry in entries:
        if entry.id in resources:
            raise CodecError(f"{instance_path}: resource {entry.id} appears twice")
        resources[entry.id] = _decode_resource(entry, instance_path.child(entry.id), types)
    return dict(sorted(resources.items()))


def decode_tlv(data: bytes, path: LwM2MPath, types: TypeResolver) -> Content:
    """Decode a TLV payload received for ``path`` into content at that level."""
    entries = parse_entries(data)
    level = path.level
    if level == 1:
        assert path.object_id is not None
        kinds = {entry.kind for entry in entries}
        if kinds <= {TlvKind.OBJECT_INSTANCE}:
            instances: dict[int, ObjectInstance] = {}
            for entry in entries:
                if entry.id in instances:
                    raise CodecError(f"{path}: object instance {entry.id} appears twice")
                inner = parse_entries(entry.value)
                resources = _decode_resources(inner, path.child(entry.id), types)
                instances[entry.id] = ObjectInstance(entry.id, resources)
            return LwM2MObject(path.object_id, dict(sorted(instances.items())))
        if TlvKind.OBJECT_INSTANCE in kinds:
            raise CodecError(f"{path}: object instances mixed with bare resources")
        # Create without instance id (TS 1.0 §5.4.5): resources only. Types are looked up on a
        # placeholder instance path; they depend only on the object and resource ids.
        return ObjectInstance(None, _decode_resources(entries, path.child(0), types))
    if level == 2:
        assert path.instance_id is not None
        if len(entries) == 1 and entries[0].kind is TlvKind.OBJECT_INSTANCE:
            # Some peers wrap an instance read in its object-instance entry: accept that.
            if entries[0].id != path.instance_id:
                raise CodecError(f"{path}: payload is for object instance {entries[0].id}")
            entries = parse_entries(entries[0].value)
        return ObjectInstance(path.instance_id, _decode_resources(entries, path, types))
    if level == 3:
        assert path.resource_id is not None
        if len(entries) == 1 and entries[0].kind in (
            TlvKind.RESOURCE_VALUE,
            TlvKind.MULTIPLE_RESOURCE,
        ):
            if entries[0].id != path.resource_id:
                raise CodecError(f"{path}: payload is for resource {entries[0].id}")
            return _decode_resource(entries[0], path, types)
        if entries and all(entry.kind is TlvKind.RESOURCE_INSTANCE for entry in entries):
            wrapped = b"".join(write_entry(e.kind, e.id, e.value) for e in entries)
            return _decode_resource(
                TlvEntry(TlvKind.MULTIPLE_RESOURCE, path.resource_id, wrapped), path, types
            )
        raise CodecError(f"{path}: expected one resource entry")
    if level == 4:
        if len(entries) != 1 or entries[0].kind is not TlvKind.RESOURCE_INSTANCE:
            raise CodecError(f"{path}: expected one resource instance entry")
        if entries[0].id != path.resource_instance_id:
            raise CodecError(f"{path}: payload is for resource instance {entries[0].id}")
        return ResourceInstance(
            entries[0].id, decode_value(entries[0].value, types(path), str(path))
        )
    raise CodecError("TLV content cannot be addressed to the root path")
