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

from .formats import ContentFormat
from .model import Content
from .paths import LwM2MPath
from .registry import ObjectRegistry

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


def encode(
    content: Content,
    fmt: ContentFormat | int,
    base_path: LwM2MPath,
    definitions: ObjectRegistry,
) -> bytes:
    """Serialise ``content`` (the node at ``base_path``) in ``fmt``."""
    raise NotImplementedError


def decode(
    payload: bytes,
    fmt: ContentFormat | int,
    base_path: LwM2MPath,
    definitions: ObjectRegistry,
) -> Content:
    """Parse ``payload`` received for ``base_path`` into a content tree at that level.

    For an object path, TLV may hold object instances (gives :class:`LwM2MObject`) or bare
    resources (a Create without instance id: gives ``ObjectInstance(id=None, ...)``).
    """
    raise NotImplementedError


def supports(fmt: ContentFormat | int, path: LwM2MPath, definitions: ObjectRegistry) -> bool:
    """True if ``fmt`` can carry content at ``path`` (TEXT/OPAQUE/CBOR only single values)."""
    raise NotImplementedError


def default_format(path: LwM2MPath, definitions: ObjectRegistry) -> ContentFormat:
    """The format to answer a Read without Accept: TEXT/OPAQUE for a single-instance resource
    (OPAQUE for opaque ones), otherwise TLV (TS 1.0 §6.4)."""
    raise NotImplementedError
