"""Waiting for the result URCs of the module's MQTT and HTTP(S) stacks."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from client_api.at_session import UrcReceived
from client_api.channel import AtChannel


class UrcWatch:
    """Collects the URCs with ``prefix`` from the moment it is made (so none is missed
    between sending a command and waiting for its result)."""

    def __init__(self, channel: AtChannel, prefix: str) -> None:
        self.prefix = prefix
        self._lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._held: list[str] = []
        self._lock = threading.Lock()
        self._remove = channel.add_urc_listener(self._on_urc, prefix)

    def _on_urc(self, urc: UrcReceived) -> None:
        self._lines.put(urc.line)

    def close(self) -> None:
        self._remove()

    def wait(self, wanted: Callable[[str], bool], timeout: float) -> str | None:
        """The first line (held or new) for which ``wanted`` is true; None on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            for line in self._held:
                if wanted(line):
                    self._held.remove(line)
                    return line
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                return None
            if wanted(line):
                return line
            with self._lock:
                self._held.append(line)
                del self._held[:-256]  # bounded: old unclaimed results are dropped


def fields(line: str) -> list[str]:
    """The comma-separated fields after ``+NAME: `` (no quotes inside)."""
    return [f.strip() for f in line.split(":", 1)[1].split(",")]
