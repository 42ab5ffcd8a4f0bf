"""Module events the LwM2M family adds (the module's event queue carries them to the service)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from emulator.module.events import ModuleEvent


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
