"""Test support shared by the suites: a VirtualModule on a fake clock, driven byte-exactly."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator, Sequence

from emulator.module.nvstore import MemoryNvStore, NvStore
from emulator.module.profile import ModuleProfile, load_profile
from emulator.module.virtual import VirtualModule

BASELINE_FAMILIES = ("basic", "identity", "sim", "network", "pdp", "power", "clock")


def baseline_profile(name: str = "EC200U", **changes: object) -> ModuleProfile:
    """A built-in profile limited to the baseline families (no LwM2M service)."""
    profile = load_profile(name)
    return dataclasses.replace(profile, command_families=BASELINE_FAMILIES, **changes)  # type: ignore[arg-type]


def chunkings(data: bytes, seed: int = 7) -> Iterator[tuple[str, list[bytes]]]:
    """The same input whole, byte by byte, and split at random points (h11 style)."""
    yield "whole", [data]
    yield "bytewise", [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(seed)
    for n in range(3):
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 6))))
        parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        yield f"random{n}", parts


class FakeClockModule:
    """Drives a VirtualModule with an explicit clock; collects every output byte."""

    def __init__(
        self,
        profile: ModuleProfile | None = None,
        *,
        nv: NvStore | None = None,
        booted: bool = True,
        start: float = 1000.0,
    ) -> None:
        self.now = start
        self.nv = nv if nv is not None else MemoryNvStore()
        self.module = VirtualModule(
            profile or baseline_profile(),
            now=self.now,
            nv=self.nv,
            wall_clock_offset=1_700_000_000.0 - start,
        )
        self.output = bytearray()
        if booted:
            self.advance(5.0)
            self.take()

    def run_timers(self) -> None:
        while (when := self.module.get_timer()) is not None and when <= self.now:
            self.module.handle_timer(self.now)
        self.output += self.module.data_to_send()

    def advance(self, seconds: float) -> None:
        """Let time pass, firing every timer on the way in order."""
        end = self.now + seconds
        while (when := self.module.get_timer()) is not None and when <= end:
            self.now = max(self.now, when)
            self.module.handle_timer(self.now)
            self.output += self.module.data_to_send()
        self.now = end
        self.run_timers()

    def send(self, data: bytes | Sequence[bytes]) -> bytes:
        """Feed bytes (or chunks), run due timers, return what came out."""
        chunks = [data] if isinstance(data, bytes) else list(data)
        for chunk in chunks:
            self.module.receive_data(chunk, self.now)
            self.run_timers()
        return self.take()

    def take(self) -> bytes:
        out = bytes(self.output)
        self.output.clear()
        return out
