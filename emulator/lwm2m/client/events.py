"""Module events the LwM2M family adds (the module's event queue carries them to the service).

Besides its work signal and status, the client reports what happens on its way to a server
and what a server changed, as typed notices (:class:`LwM2MNotice`). The core says what
happened, never how a host sees it: the AT family (:mod:`emulator.commands.lwm2m`) renders
each notice as the ``+QLWURC`` line of the profile's URC template (QuecPython's lwm2m
document, "Event-Description"), and honours ``AT+QLWCFG="urc"`` there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar

from emulator.module.events import ModuleEvent


class IdentityEnum(enum.Enum):
    """An enum hashed by identity: its members are singletons compared by identity, so that
    hash is the right one, and it is computed in C, unlike Enum's (a Python call hashing the
    name). The client's phases and notices are hashed on every transition, set test and URC,
    thousands of times a second in a fleet."""

    __hash__ = object.__hash__


@dataclass(frozen=True, kw_only=True)
class ClientWork(ModuleEvent):
    """The LwM2M client queued actions for its adapter (``LwM2MClient.next_action()``)."""


class LwM2MStatus(IntEnum):
    """The client's state as ``AT+QLWSTAT?`` reports it (QuecPython document, lw.stat())."""

    NOT_REGISTERED = 0
    REGISTERING = 1
    REGISTERED = 2
    DEREGISTERING = 3
    LOGIN_FAILED = 4


@dataclass(frozen=True, kw_only=True)
class LwM2MStatusChanged(ModuleEvent):
    """What ``AT+QLWSTAT?`` would answer changed (for watchers of many modules: a fleet's
    counts and its failed registrations, without asking each module)."""

    status: LwM2MStatus
    previous: LwM2MStatus


# ------------------------------------------------------------------------ notices
class NoticeKind(IdentityEnum):
    """What a notice reports. The value names the profile's URC template for it (the
    ``"urcs"`` section of the profile's ``"lwm2m"`` settings), nothing more."""

    PDP_ACTIVE = "pdp active"  # the PDP context for LwM2M came up (or not)
    INITIAL = "initial"  # a server's address resolved and its socket opened (or not)
    DTLS = "dtls"  # the DTLS handshake with a server ended (RFC 6347)
    BOOTSTRAPPING = "bootstraping"  # a Bootstrap-Request goes out (TS 1.0 §5.2.7.1)
    BOOTSTRAP = "bootstrap"  # bootstrap finished or failed (TS 1.0 §5.2.7.3)
    REGISTERING = "registering"  # a Register goes out (TS 1.0 §5.3.1)
    READY = "ready"  # the server answered the Register (or never did)
    UPDATE = "update"  # the outcome of an Update (TS 1.0 §5.3.2)
    DEREGISTER = "deregister"  # the outcome of a De-register (TS 1.0 §5.3.3)
    FOTA_PACKAGE_URI = "fota/pkgurl"  # a Package URI for the host to fetch (manual download)
    FOTA_DOWNLOADED = "fota/downloaded"  # a package waits for the host's update (manual)
    APN_CHANGED = "apn_changed"  # a server wrote /11/x/1
    USER_NAME_CHANGED = "user_name_changed"  # a server wrote /11/x/5
    SECRET_CHANGED = "secret_changed"  # a server wrote /11/x/6
    AUTHENTICATION_TYPE_CHANGED = "authentication_type_changed"  # a server wrote /11/x/4
    LIFETIME_CHANGED = "lifetime_changed"  # a server wrote its lifetime, /1/x/1
    CURRENT_TIME_CHANGED = "current_time_changed"  # a server wrote /3/0/13


class Outcome(IdentityEnum):
    """How a step ended."""

    SUCCESS = "success"
    FAILURE = "failure"

    @classmethod
    def of(cls, ok: bool) -> Outcome:
        return cls.SUCCESS if ok else cls.FAILURE


@dataclass(frozen=True, kw_only=True)
class LwM2MNotice(ModuleEvent):
    """Something the client reports to its host; each subclass is one family of fields. A
    family of several kinds lists them in ``KINDS``; a family of one fixes ``kind`` (a field
    with that default, not an argument)."""

    kind: NoticeKind
    KINDS: ClassVar[frozenset[NoticeKind]] = frozenset()

    def __post_init__(self) -> None:
        if self.KINDS and self.kind not in self.KINDS:
            raise ValueError(f"{type(self).__name__} does not report {self.kind.name}")


@dataclass(frozen=True, kw_only=True)
class StepStarted(LwM2MNotice):
    """A bootstrap or a registration starts (no outcome yet)."""

    KINDS: ClassVar[frozenset[NoticeKind]] = frozenset(
        {NoticeKind.BOOTSTRAPPING, NoticeKind.REGISTERING}
    )


@dataclass(frozen=True, kw_only=True)
class PdpResult(LwM2MNotice):
    """The client's PDP activation ended; ``apn`` is the context's APN."""

    kind: NoticeKind = field(default=NoticeKind.PDP_ACTIVE, init=False)
    outcome: Outcome
    apn: str


@dataclass(frozen=True, kw_only=True)
class ServerResult(LwM2MNotice):
    """A step with one server ended; ``ssid`` is its Short Server ID (TS 1.0 E.2 /1/x/0)."""

    outcome: Outcome
    ssid: int
    KINDS: ClassVar[frozenset[NoticeKind]] = frozenset(
        {
            NoticeKind.INITIAL,
            NoticeKind.DTLS,
            NoticeKind.BOOTSTRAP,
            NoticeKind.READY,
            NoticeKind.UPDATE,
            NoticeKind.DEREGISTER,
        }
    )


@dataclass(frozen=True, kw_only=True)
class FirmwarePackageOffered(LwM2MNotice):
    """Manual download: a server wrote the Package URI (/5/0/1) for the host to fetch."""

    kind: NoticeKind = field(default=NoticeKind.FOTA_PACKAGE_URI, init=False)
    uri: str


@dataclass(frozen=True, kw_only=True)
class FirmwareDownloaded(LwM2MNotice):
    """Manual update: a package of ``size`` bytes waits for the host to apply it."""

    kind: NoticeKind = field(default=NoticeKind.FOTA_DOWNLOADED, init=False)
    size: int


@dataclass(frozen=True, kw_only=True)
class ApnTextWritten(LwM2MNotice):
    """A server wrote a text of the APN Connection Profile (/11): the APN, the user name or
    the secret; the context uses it at its next activation."""

    text: str
    KINDS: ClassVar[frozenset[NoticeKind]] = frozenset(
        {NoticeKind.APN_CHANGED, NoticeKind.USER_NAME_CHANGED, NoticeKind.SECRET_CHANGED}
    )


class ApnAuthentication(IntEnum):
    """/11/x/4 Authentication Type (OMA object 11)."""

    PAP = 0
    CHAP = 1
    PAP_OR_CHAP = 2
    NONE = 3


@dataclass(frozen=True, kw_only=True)
class ApnAuthenticationWritten(LwM2MNotice):
    kind: NoticeKind = field(default=NoticeKind.AUTHENTICATION_TYPE_CHANGED, init=False)
    authentication: ApnAuthentication


@dataclass(frozen=True, kw_only=True)
class LifetimeWritten(LwM2MNotice):
    """A server wrote its registration lifetime (/1/x/1, seconds); an Update follows."""

    kind: NoticeKind = field(default=NoticeKind.LIFETIME_CHANGED, init=False)
    ssid: int
    lifetime: int


@dataclass(frozen=True, kw_only=True)
class CurrentTimeWritten(LwM2MNotice):
    """A server set the clock (/3/0/13, Unix seconds)."""

    kind: NoticeKind = field(default=NoticeKind.CURRENT_TIME_CHANGED, init=False)
    unix_time: int
