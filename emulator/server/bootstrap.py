"""Bootstrap configurations and the client-initiated bootstrap sequence, sans-I/O
(OMA LwM2M TS 1.0 §5.2.7).

A :class:`BootstrapConfig` says what an endpoint gets: the objects to clear first
(Bootstrap-Delete, ``/0`` and ``/1`` by default) and one :class:`ServerAccount` per LwM2M
server, written as a Security (object 0) and a Server (object 1) instance. After the client's
``POST /bs?ep=`` the server runs :func:`bootstrap_requests` in order and stops at the first
answer that is not the expected success code; the last request is Bootstrap-Finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final
from urllib.parse import urlsplit

from emulator.lwm2m.errors import BadRequest
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.model import ObjectInstance, SingleResource
from emulator.lwm2m.paths import LwM2MPath
from emulator.lwm2m.registry import ObjectRegistry

from . import operations
from .operations import DeviceRequest
from .text import check_endpoint_name

__all__ = [
    "BootstrapConfig",
    "SecurityMode",
    "ServerAccount",
    "bootstrap_requests",
    "parse_bootstrap_query",
]

#: Instance ids picked when the account does not name them: Security /0/0 is usually the
#: client's bootstrap-server account, so LwM2M server accounts start at /0/1 (as Leshan does).
_FIRST_SECURITY_INSTANCE: Final = 1
_FIRST_SERVER_INSTANCE: Final = 0


class SecurityMode(IntEnum):
    """Security object resource 2, Security Mode (TS 1.0 Appendix E.1)."""

    PSK = 0
    RPK = 1
    CERTIFICATE = 2
    NO_SEC = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerAccount:
    """One LwM2M server the client is told about (a Security and a Server instance).

    ``uri`` is ``coap://host:port`` (NoSec) or ``coaps://host:port`` (PSK: give
    ``psk_identity`` and ``psk_key``).
    """

    uri: str
    short_server_id: int = 1
    psk_identity: str | None = None
    psk_key: bytes | None = None
    lifetime: int = 86400
    binding: str = "U"
    default_min_period: int | None = None
    default_max_period: int | None = None
    notification_storing: bool = True
    security_instance_id: int | None = None
    server_instance_id: int | None = None

    def __post_init__(self) -> None:
        scheme = urlsplit(self.uri).scheme
        if scheme not in ("coap", "coaps"):
            raise ValueError(f"server URI {self.uri!r} must start with coap:// or coaps://")
        if not 1 <= self.short_server_id <= 65534:
            # 0 and 65535 are reserved (TS 1.0 Appendix E.2, resource 0).
            raise ValueError(f"short server id {self.short_server_id} is outside 1..65534")
        if scheme == "coaps" and not (self.psk_identity and self.psk_key):
            raise ValueError(f"a coaps:// server ({self.uri}) needs psk_identity and psk_key")
        if scheme == "coap" and (self.psk_identity or self.psk_key):
            raise ValueError(f"a coap:// server ({self.uri}) takes no PSK")
        if self.lifetime < 1:
            raise ValueError(f"lifetime {self.lifetime} must be at least 1 second")

    @property
    def security_mode(self) -> SecurityMode:
        """PSK for ``coaps://``, NoSec for ``coap://``."""
        return SecurityMode.PSK if self.uri.startswith("coaps:") else SecurityMode.NO_SEC

    def security_instance(self, instance_id: int) -> ObjectInstance:
        """The Security object instance (object 0) for this account."""
        values: list[SingleResource] = [
            SingleResource(0, self.uri),
            SingleResource(1, False),  # not a bootstrap-server account
            SingleResource(2, int(self.security_mode)),
            SingleResource(3, (self.psk_identity or "").encode()),
            SingleResource(4, b""),
            SingleResource(5, self.psk_key or b""),
            SingleResource(10, self.short_server_id),
        ]
        return ObjectInstance(instance_id, {value.id: value for value in values})

    def server_instance(self, instance_id: int) -> ObjectInstance:
        """The Server object instance (object 1) for this account."""
        values: list[SingleResource] = [
            SingleResource(0, self.short_server_id),
            SingleResource(1, self.lifetime),
            SingleResource(6, self.notification_storing),
            SingleResource(7, self.binding),
        ]
        if self.default_min_period is not None:
            values.append(SingleResource(2, self.default_min_period))
        if self.default_max_period is not None:
            values.append(SingleResource(3, self.default_max_period))
        return ObjectInstance(instance_id, {value.id: value for value in sorted(values, key=_id)})


def _id(resource: SingleResource) -> int:
    return resource.id


@dataclass(frozen=True, slots=True, kw_only=True)
class BootstrapConfig:
    """What one endpoint receives when it bootstraps."""

    servers: tuple[ServerAccount, ...] = ()
    #: Paths cleared with Bootstrap-Delete before writing, in order.
    delete: tuple[str, ...] = ("/0", "/1")
    #: Format of the Bootstrap-Writes (TLV: mandatory for LwM2M 1.0 clients, TS 1.0 §6.4.3).
    content_format: ContentFormat = ContentFormat.TLV
    _delete_paths: tuple[LwM2MPath, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "servers", tuple(self.servers))
        paths = []
        for text in self.delete:
            path = LwM2MPath.parse(text)
            if path.level > 2:
                raise ValueError(f"Bootstrap-Delete targets /, an object or an instance: {text}")
            paths.append(path)
        object.__setattr__(self, "_delete_paths", tuple(paths))
        ids = [server.short_server_id for server in self.servers]
        if len(set(ids)) != len(ids):
            raise ValueError(f"short server ids must differ between servers: {ids}")

    def instances(self) -> list[tuple[LwM2MPath, ObjectInstance]]:
        """The Security and Server instances to write, with their paths."""
        written: list[tuple[LwM2MPath, ObjectInstance]] = []
        for index, server in enumerate(self.servers):
            security_id = server.security_instance_id
            if security_id is None:
                security_id = _FIRST_SECURITY_INSTANCE + index
            server_id = server.server_instance_id
            if server_id is None:
                server_id = _FIRST_SERVER_INSTANCE + index
            written.append((LwM2MPath(0, security_id), server.security_instance(security_id)))
            written.append((LwM2MPath(1, server_id), server.server_instance(server_id)))
        return written


def bootstrap_requests(config: BootstrapConfig, definitions: ObjectRegistry) -> list[DeviceRequest]:
    """The requests the server sends after a Bootstrap-Request, in order."""
    requests = [operations.bootstrap_delete(path) for path in config._delete_paths]
    for path, instance in config.instances():
        requests.append(
            operations.bootstrap_write(path, instance, config.content_format, definitions)
        )
    requests.append(operations.bootstrap_finish())
    return requests


def parse_bootstrap_query(queries: Sequence[str]) -> str:
    """The endpoint name of a Bootstrap-Request's ``ep=`` (TS 1.0 §5.2.7.1); ``BadRequest``
    if it is missing, empty or repeated."""
    endpoints = [query[3:] for query in queries if query.startswith("ep=")]
    if len(endpoints) != 1 or not endpoints[0]:
        raise BadRequest("Bootstrap-Request needs exactly one non-empty endpoint name (ep=)")
    return check_endpoint_name(endpoints[0])
