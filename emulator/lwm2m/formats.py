"""CoAP Content-Format numbers used by LwM2M (OMA LwM2M TS 1.0 §6.4, TS 1.1 §7.4, IANA).

The pre-registration numbers 1541 (text), 1542 (TLV) and 1543 (JSON) were used by early LwM2M 1.0
implementations; they are accepted when decoding and normalised with
:meth:`ContentFormat.canonical`.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ContentFormat"]


class ContentFormat(IntEnum):
    """Content formats the LwM2M codecs know about."""

    TEXT = 0  # text/plain;charset=utf-8: a single resource (TS 1.0 §6.4.1)
    LINK_FORMAT = 40  # application/link-format (RFC 6690): Register, Discover
    OPAQUE = 42  # application/octet-stream: a single opaque resource (TS 1.0 §6.4.2)
    CBOR = 60  # application/cbor: a single resource (TS 1.1 §7.4.6)
    SENML_JSON = 110  # application/senml+json (RFC 8428, TS 1.1 §7.4.4)
    TLV = 11542  # application/vnd.oma.lwm2m+tlv (TS 1.0 §6.4.3)
    LWM2M_JSON = 11543  # application/vnd.oma.lwm2m+json (TS 1.0 §6.4.4)
    TEXT_LEGACY = 1541  # pre-registration "lightweightm2m/text" (lwm2m-node-lib writes with it)
    TLV_LEGACY = 1542  # pre-registration TLV number, decode only
    LWM2M_JSON_LEGACY = 1543  # pre-registration JSON number, decode only

    @property
    def canonical(self) -> ContentFormat:
        """The registered number for a legacy alias, otherwise ``self``."""
        if self is ContentFormat.TEXT_LEGACY:
            return ContentFormat.TEXT
        if self is ContentFormat.TLV_LEGACY:
            return ContentFormat.TLV
        if self is ContentFormat.LWM2M_JSON_LEGACY:
            return ContentFormat.LWM2M_JSON
        return self

    @classmethod
    def from_number(cls, number: int | None) -> ContentFormat | None:
        """The format for a Content-Format option value, or ``None`` if it is not one of ours."""
        if number is None:
            return None
        try:
            return cls(number)
        except ValueError:
            return None
