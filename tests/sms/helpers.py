"""An SMS-capable module on a fake clock, echo off, for byte-exact exchanges."""

from __future__ import annotations

import dataclasses

from emulator.module.events import ModuleEvent
from emulator.module.nvstore import MemoryNvStore
from emulator.module.profile import ModuleProfile, load_profile
from emulator.sms.model import sms_state
from tests.support import BASELINE_FAMILIES, FakeClockModule

SENDER = "+8613912345678"


def sms_profile(**sms_changes: object) -> ModuleProfile:
    profile = load_profile("EC200U")
    sections = dict(profile.sections)
    sections["sms"] = {**profile.sections["sms"], **sms_changes}
    return dataclasses.replace(
        profile, command_families=(*BASELINE_FAMILIES, "sms"), sections=sections
    )


class SmsModule(FakeClockModule):
    def __init__(self, *, nv: MemoryNvStore | None = None, **sms_changes: object) -> None:
        super().__init__(sms_profile(**sms_changes), nv=nv)
        assert self.send(b"ATE0\r") == b"ATE0\r\r\nOK\r\n"
        self.events()

    def at(self, line: str) -> bytes:
        return self.send(line.encode("latin-1") + b"\r")

    def events(self) -> list[ModuleEvent]:
        out = []
        while (event := self.module.next_event()) is not None:
            out.append(event)
        return out

    def deliver(self, text: str, sender: str = SENDER) -> bytes:
        sms_state(self.module).deliver_text(sender, text, self.now)
        self.run_timers()
        return self.take()

    def send_message(self, command: str, payload: bytes) -> bytes:
        """A prompt command and its payload; the send delay is let pass."""
        assert self.at(command) == b"\r\n> "
        out = self.send(payload)
        self.advance(1.0)
        return out + self.take()
