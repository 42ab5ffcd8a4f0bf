"""Errors of the embedded LwM2M server.

Two families, kept apart like h11's local/remote protocol errors:

* Errors about a request a *client* sent us (Register, Update, Bootstrap-Request ...) are
  :class:`~emulator.lwm2m.errors.LwM2MError` subclasses carrying the CoAP response code; the
  registration/bootstrap resources render them at one boundary (``err.code`` →
  response code, ``str(err)`` → diagnostic payload). This module adds the codes the core does
  not have (4.03, 4.12).
* Errors the Python API raises to *its caller* (``await server.read(...)`` ...) derive from
  :class:`ServerApiError`: the endpoint is not registered, the device answered with an error
  code, did not answer in time, or answered something we cannot decode.
"""

from __future__ import annotations

from emulator.lwm2m.errors import LwM2MError

__all__ = [
    "BadDeviceResponse",
    "DeviceErrorResponse",
    "DeviceTimeout",
    "Forbidden",
    "NotRegistered",
    "ObservationClosed",
    "PreconditionFailed",
    "QueueFull",
    "RequestEntityTooLarge",
    "ServerApiError",
    "ServiceUnavailable",
    "code_text",
]


def code_text(code: int) -> str:
    """A raw CoAP code byte in dotted form, e.g. ``0x84`` → ``"4.04"`` (RFC 7252 §3)."""
    return f"{code >> 5}.{code & 0x1F:02d}"


class Forbidden(LwM2MError):
    """4.03: the client is not allowed to do this (e.g. its DTLS identity belongs to another
    endpoint, or it registers in the clear while a PSK is configured for it)."""

    code = (4 << 5) | 3


class PreconditionFailed(LwM2MError):
    """4.12: the LwM2M version the client asked for is not supported (TS 1.1 §6.2.1)."""

    code = (4 << 5) | 12


class RequestEntityTooLarge(LwM2MError):
    """4.13 (RFC 7252 §5.9.2.9): a Register/Update object list longer than the server takes."""

    code = (4 << 5) | 13


class ServiceUnavailable(LwM2MError):
    """5.03 (RFC 7252 §5.9.3.4): the server holds as many registrations as it is allowed;
    ``max_age`` says after how many seconds to try again (sent as Max-Age)."""

    code = (5 << 5) | 3

    def __init__(self, reason: str = "", *, max_age: int = 60) -> None:
        super().__init__(reason)
        self.max_age = max_age


class ServerApiError(Exception):
    """Base of the errors the server's Python API raises."""


class NotRegistered(ServerApiError, LookupError):
    """No registration exists for that endpoint (never registered, deregistered or expired)."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(f"endpoint {endpoint!r} is not registered")
        self.endpoint = endpoint


class DeviceErrorResponse(ServerApiError):
    """The device answered a request with an error code (4.xx/5.xx) or an unexpected one."""

    def __init__(self, *, endpoint: str, operation: str, code: int, diagnostic: str) -> None:
        detail = f": {diagnostic}" if diagnostic else ""
        super().__init__(f"{operation} on {endpoint!r} answered {code_text(code)}{detail}")
        self.endpoint = endpoint
        self.operation = operation
        self.code = code
        self.diagnostic = diagnostic

    @property
    def code_text(self) -> str:
        """The device's response code in dotted form, e.g. ``"4.04"``."""
        return code_text(self.code)


class DeviceTimeout(ServerApiError, TimeoutError):
    """No answer in time (or, in queue mode, the device did not wake up in time)."""

    def __init__(self, *, endpoint: str, operation: str, reason: str) -> None:
        super().__init__(f"{operation} on {endpoint!r}: {reason}")
        self.endpoint = endpoint
        self.operation = operation


class QueueFull(ServerApiError):
    """A sleeping queue-mode client already has as many calls waiting for it as the server
    holds per client (TS 1.0 §5.3.1: requests wait until it wakes up; the wait is bounded)."""

    def __init__(self, *, endpoint: str, limit: int) -> None:
        super().__init__(
            f"endpoint {endpoint!r} is asleep (queue mode) and already has {limit} requests "
            "waiting for it to wake up"
        )
        self.endpoint = endpoint
        self.limit = limit


class ObservationClosed(ServerApiError):
    """The observation ended (cancelled, refused, the client stopped it, or the registration
    ended); ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the observation ended: {reason}")
        self.reason = reason


class BadDeviceResponse(ServerApiError, ValueError):
    """The device answered with a payload that cannot be decoded."""

    def __init__(self, *, endpoint: str, operation: str, reason: str) -> None:
        super().__init__(f"{operation} on {endpoint!r}: undecodable answer: {reason}")
        self.endpoint = endpoint
        self.operation = operation
