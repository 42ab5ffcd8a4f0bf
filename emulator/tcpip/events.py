"""What the TCP/IP core asks of its asyncio adapter (posted with ``module.post_event``).

Every request carries the connection's ``token``: a result for a token that is no longer
current (the connection was closed, or its ID reused, meanwhile) is ignored by the core.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from emulator.module.events import ModuleEvent


class ServiceType(enum.Enum):
    """``<service_type>`` of AT+QIOPEN / +QISTATE."""

    TCP = "TCP"
    UDP = "UDP"
    TCP_LISTENER = "TCP LISTENER"
    UDP_SERVICE = "UDP SERVICE"
    TCP_INCOMING = "TCP INCOMING"  # accepted by a listener, never opened by AT+QIOPEN


@dataclass(frozen=True, kw_only=True)
class SocketOpen(ModuleEvent):
    """Resolve ``host`` (through the network map), then connect, bind or listen."""

    connect_id: int
    token: int
    service: ServiceType
    host: str
    remote_port: int
    local_port: int
    timeout: float


@dataclass(frozen=True, kw_only=True)
class SocketSend(ModuleEvent):
    connect_id: int
    token: int
    data: bytes
    remote: tuple[str, int] | None = None  # UDP SERVICE: the datagram's destination


@dataclass(frozen=True, kw_only=True)
class SocketClose(ModuleEvent):
    connect_id: int
    token: int


@dataclass(frozen=True, kw_only=True)
class SocketReadResume(ModuleEvent):
    """The host read the buffer down: the adapter may read from the socket again."""

    connect_id: int
    token: int


@dataclass(frozen=True, kw_only=True)
class DnsQuery(ModuleEvent):
    """AT+QIDNSGIP: resolve ``host``; answer with ``TcpipCore.dns_result``."""

    query_id: int
    host: str


@dataclass(frozen=True, kw_only=True)
class PingRequest(ModuleEvent):
    """AT+QPING: ``count`` ICMP echo requests of ``size`` bytes, ``timeout`` s each."""

    query_id: int
    host: str
    timeout: float
    count: int
    size: int


@dataclass(frozen=True, kw_only=True)
class NtpRequest(ModuleEvent):
    """AT+QNTP: one SNTP exchange (RFC 4330) with ``host``:``port``."""

    query_id: int
    host: str
    port: int
    timeout: float


@dataclass(frozen=True, kw_only=True)
class StackReset(ModuleEvent):
    """Every socket is gone at once (reboot, power down): close them all, quietly."""
