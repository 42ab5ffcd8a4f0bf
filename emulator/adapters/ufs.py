"""The module's file system (UFS) in a folder on the PC, for a test or a CI run that
pre-loads certificates or wants to see what the firmware uploaded.

Files are written private (mode 0600): they are certificates and keys.
"""

from __future__ import annotations

import os
from pathlib import Path

from emulator.module.files import ModuleFiles, set_files_store
from emulator.module.virtual import VirtualModule


class FolderFiles:
    """A :class:`~emulator.module.files.FileStore` on the files of one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def exists(self, name: str) -> bool:
        return (self.root / name).is_file()

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    def write(self, name: str, data: bytes) -> None:
        fd = os.open(self.root / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)

    def delete(self, name: str) -> bool:
        path = self.root / name
        if not path.is_file():
            return False
        path.unlink()
        return True

    def listing(self) -> list[tuple[str, int]]:
        return sorted((p.name, p.stat().st_size) for p in self.root.iterdir() if p.is_file())


def set_files_root(module: VirtualModule, root: Path) -> ModuleFiles:
    """Use the folder ``root`` as the module's UFS (files already there are the module's)."""
    return set_files_store(module, FolderFiles(root))
