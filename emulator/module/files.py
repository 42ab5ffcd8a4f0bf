"""The module's own file system (Quectel's "UFS", the user area of the flash).

Firmware puts certificates and other files there with AT+QFUPL and names them as
``"UFS:cacert.pem"`` (or without the prefix) in AT+QSSLCFG and friends (Quectel "FILE
Application Note"). Names are flat: no folders, no ``..``. The files live in a
:class:`FileStore`: in memory by default, or in a folder on the PC
(:mod:`emulator.adapters.ufs`, for a test or a CI run that pre-loads certificates). A store
raises ``OSError`` when it cannot keep a file, which the AT commands report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from emulator.module.virtual import VirtualModule

COMPONENT = "files"
MAX_NAME = 80  # FILE AN: <filename> at most 80 bytes
DRIVE_PREFIXES = ("UFS:",)


class FileNameError(ValueError):
    """A name that is not a plain file name on the module's drive."""


class FileStore(Protocol):
    """Where the files are kept, by plain name (already checked)."""

    def exists(self, name: str) -> bool: ...

    def read(self, name: str) -> bytes: ...

    def write(self, name: str, data: bytes) -> None: ...

    def delete(self, name: str) -> bool: ...

    def listing(self) -> list[tuple[str, int]]: ...


class MemoryFiles:
    """Files kept for the life of the process (the default)."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}

    def exists(self, name: str) -> bool:
        return name in self._files

    def read(self, name: str) -> bytes:
        try:
            return self._files[name]
        except KeyError:
            raise FileNotFoundError(name) from None

    def write(self, name: str, data: bytes) -> None:
        self._files[name] = bytes(data)

    def delete(self, name: str) -> bool:
        return self._files.pop(name, None) is not None

    def listing(self) -> list[tuple[str, int]]:
        return sorted((name, len(data)) for name, data in self._files.items())


class ModuleFiles:
    """The drive as the AT commands see it: names checked, then handed to the store."""

    def __init__(self, store: FileStore | None = None) -> None:
        self.store: FileStore = store if store is not None else MemoryFiles()

    @staticmethod
    def plain_name(name: str) -> str:
        for prefix in DRIVE_PREFIXES:
            if name.upper().startswith(prefix):
                name = name[len(prefix) :]
        if not name or len(name) > MAX_NAME or "/" in name or "\\" in name or name in (".", ".."):
            raise FileNameError(f"invalid file name {name!r}")
        return name

    def exists(self, name: str) -> bool:
        return self.store.exists(self.plain_name(name))

    def read(self, name: str) -> bytes:
        return self.store.read(self.plain_name(name))

    def write(self, name: str, data: bytes) -> None:
        self.store.write(self.plain_name(name), data)

    def delete(self, name: str) -> bool:
        return self.store.delete(self.plain_name(name))

    def listing(self) -> list[tuple[str, int]]:
        return self.store.listing()

    def used_bytes(self) -> int:
        return sum(size for _, size in self.listing())


def files_for(module: VirtualModule) -> ModuleFiles:
    return module.component(COMPONENT, ModuleFiles)


def set_files_store(module: VirtualModule, store: FileStore) -> ModuleFiles:
    """Keep the module's files in ``store`` (files already there are the module's files)."""
    files = ModuleFiles(store)
    module.components[COMPONENT] = files
    return files
