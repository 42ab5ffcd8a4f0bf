"""Content codecs: one entry point over plain text, opaque, CBOR, TLV, LwM2M JSON and SenML JSON.

``encode(content, fmt, base_path, definitions)`` and ``decode(payload, fmt, base_path,
definitions)`` are the only calls the client and the server need. ``base_path`` is the request
path (the path read, written, observed or created); ``definitions`` gives each resource's type.

Errors: :class:`~emulator.lwm2m.errors.CodecError` (4.00) for malformed payloads and values of
the wrong type; :class:`~emulator.lwm2m.errors.UnsupportedFormatError` (4.15) when decoding a
format that is unknown or cannot carry content at that path level;
:class:`~emulator.lwm2m.errors.NotAcceptableFormatError` (4.06) when encoding content the format
cannot represent (e.g. an object instance as plain text).
"""

from __future__ import annotations

from collections.abc import Callable

from .cbor import decode_cbor_value, encode_cbor_value
from .definitions import ResourceType
from .errors import BadRequest, CodecError, NotAcceptableFormatError, UnsupportedFormatError
from .formats import ContentFormat
from .jsonformats import (
    decode_lwm2m_json,
    decode_senml_json,
    encode_lwm2m_json,
    encode_senml_json,
)
from .model import (
    Content,
    ResourceInstance,
    SingleResource,
    Value,
    content_path,
    type_of_value,
)
from .paths import LwM2MPath
from .registry import ObjectRegistry
from .tlv import decode_tlv, encode_tlv
from .values import check_value, parse_text_value, text_value

__all__ = ["SUPPORTED_FORMATS", "decode", "default_format", "encode", "supports"]

#: Formats :func:`encode` and :func:`decode` handle (legacy aliases decode too).
SUPPORTED_FORMATS: frozenset[ContentFormat] = frozenset(
    {
        ContentFormat.TEXT,
        ContentFormat.OPAQUE,
        ContentFormat.CBOR,
        ContentFormat.TLV,
        ContentFormat.LWM2M_JSON,
        ContentFormat.SENML_JSON,
    }
)


def _types(definitions: ObjectRegistry) -> Callable[[LwM2MPath], ResourceType | None]:
    def resolve(path: LwM2MPath) -> ResourceType | None:
        resource = definitions.resource(path)
        return resource.type if resource is not None else None

    return resolve


def _multiple(definitions: ObjectRegistry) -> Callable[[LwM2MPath], bool | None]:
    def resolve(path: LwM2MPath) -> bool | None:
        resource = definitions.resource(path)
        return resource.multiple if resource is not None else None

    return resolve


def _format(fmt: ContentFormat | int, error: type[CodecError]) -> ContentFormat:
    known = ContentFormat.from_number(int(fmt))
    if known is None or known.canonical not in SUPPORTED_FORMATS:
        raise error(f"content format {int(fmt)} is not supported for LwM2M content")
    return known.canonical


def _single_value_format(fmt: ContentFormat) -> bool:
    return fmt in (ContentFormat.TEXT, ContentFormat.OPAQUE, ContentFormat.CBOR)


def encode(
    content: Content,
    fmt: ContentFormat | int,
    base_path: LwM2MPath,
    definitions: ObjectRegistry,
) -> bytes:
    """Serialise ``content`` (the node at ``base_path``) in ``fmt``.

    Raises ``NotAcceptableFormatError`` (4.06) when ``fmt`` cannot carry this content and
    ``CodecError`` when a value does not fit its resource type.
    """
    fmt = _format(fmt, NotAcceptableFormatError)
    try:
        path = content_path(content, base_path)
    except ValueError as exc:
        raise CodecError(str(exc)) from None
    types = _types(definitions)
    if _single_value_format(fmt):
        if not isinstance(content, SingleResource | ResourceInstance):
            raise NotAcceptableFormatError(
                f"{fmt.name} carries one value, not a {type(content).__name__} ({path})"
            )
        rtype = types(path)
        value = content.value
        if fmt is ContentFormat.OPAQUE:
            if rtype not in (ResourceType.OPAQUE, None) or not isinstance(value, bytes):
                raise NotAcceptableFormatError(f"{path} is not an opaque resource")
            return value
        if rtype is None:
            rtype = type_of_value(value)
        if fmt is ContentFormat.CBOR:
            return encode_cbor_value(value, rtype, str(path))
        try:
            checked = check_value(value, rtype, str(path))
        except BadRequest as exc:
            raise CodecError(str(exc)) from None
        return text_value(checked, rtype).encode("utf-8")
    if fmt is ContentFormat.TLV:
        return encode_tlv(content, base_path, types)
    if fmt is ContentFormat.LWM2M_JSON:
        return encode_lwm2m_json(content, base_path, types)
    return encode_senml_json(content, base_path, types)


def decode(
    payload: bytes,
    fmt: ContentFormat | int,
    base_path: LwM2MPath,
    definitions: ObjectRegistry,
) -> Content:
    """Parse ``payload`` received for ``base_path`` into a content tree at that level.

    For an object path, TLV may hold object instances (gives :class:`LwM2MObject`) or bare
    resources (a Create without instance id: gives ``ObjectInstance(id=None, ...)``).
    Raises ``UnsupportedFormatError`` (4.15) for a format that is unknown or cannot carry
    content at that level, ``CodecError`` (4.00) for a malformed payload or wrong types.
    """
    fmt = _format(fmt, UnsupportedFormatError)
    if base_path.is_root:
        raise CodecError("LwM2M content cannot be addressed to the root path")
    payload = bytes(payload)
    types = _types(definitions)
    if _single_value_format(fmt):
        return _decode_single(payload, fmt, base_path, definitions)
    if fmt is ContentFormat.TLV:
        return decode_tlv(payload, base_path, types)
    if fmt is ContentFormat.LWM2M_JSON:
        return decode_lwm2m_json(payload, base_path, types, _multiple(definitions))
    return decode_senml_json(payload, base_path, types, _multiple(definitions))


def _decode_single(
    payload: bytes, fmt: ContentFormat, path: LwM2MPath, definitions: ObjectRegistry
) -> Content:
    if path.level < 3:
        raise UnsupportedFormatError(f"{fmt.name} cannot carry content for {path}")
    resource = definitions.resource(path)
    if resource is not None and resource.multiple and path.level == 3:
        raise UnsupportedFormatError(f"{fmt.name} cannot carry the multiple resource {path}")
    if resource is not None and resource.type is ResourceType.NONE:
        raise UnsupportedFormatError(f"{path} is executable and has no value")
    rtype = resource.type if resource is not None else None
    where = str(path)
    value: Value
    if fmt is ContentFormat.OPAQUE:
        if rtype not in (ResourceType.OPAQUE, None):
            raise UnsupportedFormatError(f"{path} is not an opaque resource")
        value = payload
    elif fmt is ContentFormat.CBOR:
        value = decode_cbor_value(payload, rtype, where)
    else:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise CodecError(f"{where}: text payload is not valid UTF-8") from None
        value = parse_text_value(text, rtype or ResourceType.STRING, where)
    if path.level == 4:
        assert path.resource_instance_id is not None
        return ResourceInstance(path.resource_instance_id, value)
    assert path.resource_id is not None
    return SingleResource(path.resource_id, value)


def supports(fmt: ContentFormat | int, path: LwM2MPath, definitions: ObjectRegistry) -> bool:
    """True if ``fmt`` can carry content at ``path`` (TEXT/OPAQUE/CBOR only single values)."""
    known = ContentFormat.from_number(int(fmt))
    if known is None or known.canonical not in SUPPORTED_FORMATS or path.is_root:
        return False
    known = known.canonical
    if not _single_value_format(known):
        return True
    if path.level < 3:
        return False
    resource = definitions.resource(path)
    if resource is None:
        return True
    if resource.type is ResourceType.NONE or (resource.multiple and path.level == 3):
        return False
    if known is ContentFormat.OPAQUE:
        return resource.type is ResourceType.OPAQUE
    return True


def default_format(path: LwM2MPath, definitions: ObjectRegistry) -> ContentFormat:
    """The format to answer a Read without Accept: TEXT (OPAQUE for opaque resources) for one
    value, otherwise TLV (TS 1.0 §6.4)."""
    if path.level >= 3:
        resource = definitions.resource(path)
        if resource is not None and (path.level == 4 or not resource.multiple):
            if resource.type is ResourceType.OPAQUE:
                return ContentFormat.OPAQUE
            return ContentFormat.TEXT
    return ContentFormat.TLV
