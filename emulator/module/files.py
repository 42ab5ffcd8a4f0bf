"""The module's own file system (Quectel's "UFS", the user area of the flash), kept as a
private folder on the PC.

Firmware puts certificates and other files there with AT+QFUPL and names them as
``"UFS:cacert.pem"`` (or without the prefix) in AT+QSSLCFG and friends (Quectel "FILE
Application Note"). A module gets a fresh private temporary folder (mode 0700, removed when
the emulator exits) unless a folder is given with :func:`set_files_root` (a test, a CI
run that wants to pre-load certificates). Names are flat: no folders, no ``..``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emulator.module.virtual import VirtualModule

COMPONENT = "files"
MAX_NAME = 80  # FILE AN: <filename> at most 80 bytes
DRIVE_PREFIXES = ("UFS:",)


class FileNameError(ValueError):
    """A name that is not a plain file name on the module's drive."""


class ModuleFiles:
    def __init__(self, root: Path | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="quecemu-ufs-")
            root = Path(self._tmp.name)
            os.chmod(root, 0o700)  # certificates and keys: not world-readable
        self.root = root

    @staticmethod
    def plain_name(name: str) -> str:
        for prefix in DRIVE_PREFIXES:
            if name.upper().startswith(prefix):
                name = name[len(prefix) :]
        if not name or len(name) > MAX_NAME or "/" in name or "\\" in name or name in (".", ".."):
            raise FileNameError(f"invalid file name {name!r}")
        return name

    def path(self, name: str) -> Path:
        return self.root / self.plain_name(name)

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def read(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def write(self, name: str, data: bytes) -> None:
        path = self.path(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)

    def delete(self, name: str) -> bool:
        path = self.path(name)
        if not path.is_file():
            return False
        path.unlink()
        return True

    def listing(self) -> list[tuple[str, int]]:
        return sorted((p.name, p.stat().st_size) for p in self.root.iterdir() if p.is_file())

    def used_bytes(self) -> int:
        return sum(size for _, size in self.listing())


def files_for(module: VirtualModule) -> ModuleFiles:
    return module.component(COMPONENT, ModuleFiles)


def set_files_root(module: VirtualModule, root: Path) -> ModuleFiles:
    """Use ``root`` as the module's UFS (files already there are the module's files)."""
    files = ModuleFiles(root)
    module.components[COMPONENT] = files
    return files
