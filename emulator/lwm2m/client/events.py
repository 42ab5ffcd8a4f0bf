"""Module events the LwM2M family adds (the module's event queue carries them to the service)."""

from __future__ import annotations

from dataclasses import dataclass

from emulator.module.events import ModuleEvent


@dataclass(frozen=True, kw_only=True)
class ClientWork(ModuleEvent):
    """The LwM2M client queued actions for its adapter (``LwM2MClient.next_action()``)."""
