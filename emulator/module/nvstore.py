"""Non-volatile settings of one module: namespaced JSON.

The store is injected into VirtualModule: tests and benchmarks use the in-memory store
here, ``quecemu serve --state-dir`` the file-backed one in :mod:`emulator.adapters.nvfile`.
"""

from __future__ import annotations

import json
from typing import Any, Protocol


class NvStore(Protocol):
    def load(self, namespace: str) -> dict[str, Any]: ...

    def save(self, namespace: str, data: dict[str, Any]) -> None: ...

    def erase(self) -> None: ...


class MemoryNvStore:
    """Keeps settings for the life of the process (the default without --state-dir)."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}

    def load(self, namespace: str) -> dict[str, Any]:
        copy: dict[str, Any] = json.loads(json.dumps(self._data.get(namespace, {})))
        return copy  # a copy, as from disk

    def save(self, namespace: str, data: dict[str, Any]) -> None:
        self._data[namespace] = json.loads(json.dumps(data))

    def erase(self) -> None:
        self._data.clear()
