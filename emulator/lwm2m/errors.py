"""Errors of the LwM2M core, each carrying the CoAP response code it maps to.

Errors are raised where they are found (codec, store, observe) and rendered at one boundary:
the CoAP adapter turns ``err.code`` into the response code and ``str(err)`` into the
diagnostic payload. ``code`` is the raw CoAP code byte (class << 5 | detail, RFC 7252 §3), the
same number as ``aiocoap.numbers.codes.Code``, so ``Code(err.code)`` works in an adapter.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BadRequest",
    "CodecError",
    "InternalServerError",
    "LinkFormatError",
    "LwM2MError",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "Unauthorized",
    "UnsupportedContentFormat",
]


def _code(klass: int, detail: int) -> int:
    return (klass << 5) | detail


class LwM2MError(Exception):
    """Base of every error the LwM2M core raises; ``reason`` says what was wrong."""

    #: Raw CoAP response code (RFC 7252 §12.1.2), e.g. 0x84 for 4.04.
    code: ClassVar[int] = _code(5, 0)

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def code_text(self) -> str:
        """The code in dotted form, e.g. ``"4.04"``."""
        return f"{self.code >> 5}.{self.code & 0x1F:02d}"

    def __str__(self) -> str:
        return self.reason or type(self).__name__


class BadRequest(LwM2MError):
    """4.00: the request (payload, value, attribute) is malformed or inconsistent."""

    code = _code(4, 0)


class Unauthorized(LwM2MError):
    """4.01: access control forbids the operation for this server."""

    code = _code(4, 1)


class NotFound(LwM2MError):
    """4.04: the object, instance or resource does not exist."""

    code = _code(4, 4)


class MethodNotAllowed(LwM2MError):
    """4.05: the operation is not allowed on that target (e.g. Write on a read-only resource)."""

    code = _code(4, 5)


class NotAcceptable(LwM2MError):
    """4.06: none of the requested content formats can represent the content."""

    code = _code(4, 6)


class UnsupportedContentFormat(LwM2MError):
    """4.15: the payload's content format is not supported (or not allowed for that target)."""

    code = _code(4, 15)


class InternalServerError(LwM2MError):
    """5.00: a resource getter, setter or execute handler failed."""

    code = _code(5, 0)


class CodecError(BadRequest, ValueError):
    """A payload could not be encoded or decoded (4.00 unless a subclass says otherwise).

    Also a ``ValueError`` so plain callers can catch it without knowing the hierarchy.
    """


class UnsupportedFormatError(CodecError):
    """Decoding: the content format is unknown or unsupported (4.15)."""

    code = UnsupportedContentFormat.code


class NotAcceptableFormatError(CodecError):
    """Encoding: the content cannot be represented in the requested format (4.06)."""

    code = NotAcceptable.code


class LinkFormatError(CodecError):
    """An RFC 6690 link-format payload is malformed."""


__all__ += ["NotAcceptableFormatError", "UnsupportedFormatError"]
