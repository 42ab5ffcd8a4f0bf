"""The context the command families' handlers get: the AT core's, over the emulated module."""

from __future__ import annotations

from typing import TypeAlias

from emulator.at import registry
from emulator.module.virtual import VirtualModule

CommandContext: TypeAlias = registry.CommandContext[VirtualModule]
