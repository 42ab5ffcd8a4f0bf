"""The module's ``/usr`` file system, kept in a folder on the PC.

On the device an application sees one user file system mounted at ``/usr`` (its own
scripts live there). Here a folder on the PC stands for it (``python -m client_api run
--usr DIR``; the runtime picks a per-application folder by default). Device paths are
absolute (``/usr/config.json``) or relative to the current directory (``uos.chdir``,
initially ``/usr``). A path that leaves ``/usr`` — another absolute path, a ``..`` that
climbs out, a symbolic link in the folder that points elsewhere — is refused with
:class:`SandboxError` (a ``PermissionError``) naming the call, so an application can
never read or write the PC's own files through the device API. ``/`` itself can be
listed (it holds ``usr``) and entered, as on the device.

OS errors are re-raised with the device path, not the PC's, so messages (and
``exc.args[0]``, the errno MicroPython code checks) read as they would on the device.
"""

from __future__ import annotations

import errno
import os
import posixpath
import threading
from pathlib import Path

from client_api.quecpython import _host

DEVICE_ROOT = "/usr"


class SandboxError(PermissionError):
    """A device path outside ``/usr`` (the message names the call and the path)."""


class Sandbox:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder.resolve()
        self._cwd = DEVICE_ROOT
        self._lock = threading.Lock()

    # ------------------------------------------------------------------- paths
    @property
    def cwd(self) -> str:
        with self._lock:
            return self._cwd

    def set_cwd(self, device_path: str) -> None:
        with self._lock:
            self._cwd = device_path

    def device_path(self, path: str | bytes | os.PathLike[str], call: str) -> str:
        """The normalised absolute device path of ``path`` (no check yet)."""
        text = os.fsdecode(path)
        if not text:
            raise FileNotFoundError(errno.ENOENT, f"{call}: empty path")
        if "\x00" in text:
            raise ValueError(f"{call}: path holds a NUL character")
        joined = text if text.startswith("/") else posixpath.join(self.cwd, text)
        normal = posixpath.normpath(joined)
        return "/" if normal in ("/", "//") else normal

    def is_root(self, device_path: str) -> bool:
        return device_path == "/"

    def host_path(self, path: str | bytes | os.PathLike[str], call: str) -> Path:
        """Where a device path under ``/usr`` lives on the PC; refuses anything else."""
        device = self.device_path(path, call)
        if device != DEVICE_ROOT and not device.startswith(DEVICE_ROOT + "/"):
            raise SandboxError(
                errno.EACCES,
                f"{call}: {os.fsdecode(path)!r} is outside /usr, the only file system"
                f" the application has (kept in {self.folder})",
            )
        relative = device[len(DEVICE_ROOT) :].lstrip("/")
        host = self.folder / relative if relative else self.folder
        # A link inside the folder must not lead out of it.
        resolved = host.resolve()
        if resolved != self.folder and self.folder not in resolved.parents:
            raise SandboxError(
                errno.EACCES,
                f"{call}: {os.fsdecode(path)!r} leads out of /usr ({self.folder})",
            )
        return host

    def device_error(self, exc: OSError, device_path: str) -> OSError:
        """``exc`` re-made with the device path instead of the PC's."""
        number = exc.errno if exc.errno is not None else errno.EIO
        text = exc.strerror or os.strerror(number)
        made = OSError(number, f"{text}: {device_path!r}")
        return made


_current: Sandbox | None = None
_current_lock = threading.Lock()


def current() -> Sandbox:
    """The sandbox of ``settings.usr`` (re-made when the setting changes)."""
    global _current
    folder = _host.settings.usr
    if folder is None:
        raise _host.UnsupportedCall(
            "/usr", "no folder stands for the module's /usr (python -m client_api run --usr DIR)"
        )
    with _current_lock:
        if _current is None or _current.folder != folder.resolve():
            _current = Sandbox(folder)
        return _current


def reset() -> None:
    global _current
    with _current_lock:
        _current = None
