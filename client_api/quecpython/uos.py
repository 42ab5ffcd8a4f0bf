"""QuecPython ``uos`` over the ``/usr`` sandbox (:mod:`client_api.quecpython._sandbox`).

File functions take device paths (``/usr/...`` or relative to ``getcwd()``, initially
``/usr``); anything outside ``/usr`` raises a ``PermissionError`` naming the call.
``listdir`` returns a list of names, ``ilistdir`` yields ``(name, type, inode, size)``
(type 0x4000 directory, 0x8000 file), ``stat`` the 10-tuple ``(mode, ino, dev, nlink, uid,
gid, size, atime, mtime, ctime)``, ``statvfs`` the PC folder's file system figures.
``uname()`` is QuecPython's ``key=value`` tuple built from the module's identity
(``AT+CGMM``, ``AT+CGMR``), ``uname2()`` the MicroPython-style named form. Mounting
(``VfsFat``, ``VfsLfs1``, ``mount``...) needs hardware and raises ``UnsupportedCall``.
"""

from __future__ import annotations

import os
import stat as stat_module
import sys
from collections.abc import Iterator
from typing import Any, NamedTuple

from client_api.quecpython import _host, modem
from client_api.quecpython._sandbox import DEVICE_ROOT, SandboxError, current

sep = "/"
Path = str | bytes

PROVIDED = (
    "chdir",
    "getcwd",
    "ilistdir",
    "listdir",
    "mkdir",
    "remove",
    "rename",
    "rmdir",
    "stat",
    "statvfs",
    "uname",
    "uname2",
    "urandom",
)


def _host_call(call: str, path: Path, action: Any, *extra: Any) -> Any:
    box = current()
    device = box.device_path(path, call)
    host = box.host_path(path, call)
    try:
        return action(host, *extra)
    except OSError as exc:
        if isinstance(exc, SandboxError):
            raise
        raise box.device_error(exc, device) from None


def getcwd() -> str:
    return current().cwd


def chdir(path: Path) -> None:
    box = current()
    device = box.device_path(path, "uos.chdir")
    if box.is_root(device):
        box.set_cwd("/")
        return
    host = box.host_path(path, "uos.chdir")
    if not host.is_dir():
        raise box.device_error(OSError(2, "No such directory"), device)
    box.set_cwd(device)


def listdir(dir: Path | None = None) -> list[str]:
    box = current()
    target = box.cwd if dir is None or dir in ("", b"") else os.fsdecode(dir)
    if box.is_root(box.device_path(target, "uos.listdir")):
        return [DEVICE_ROOT.lstrip("/")]
    names = _host_call("uos.listdir", target, os.listdir)
    return sorted(names)


def ilistdir(dir: Path | None = None) -> Iterator[tuple[str, int, int, int]]:
    box = current()
    target = box.cwd if dir is None or dir in ("", b"") else os.fsdecode(dir)
    if box.is_root(box.device_path(target, "uos.ilistdir")):
        yield (DEVICE_ROOT.lstrip("/"), 0x4000, 0, 0)
        return
    host = box.host_path(target, "uos.ilistdir")
    for name in listdir(target):
        info = (host / name).stat()
        kind = 0x4000 if stat_module.S_ISDIR(info.st_mode) else 0x8000
        yield (name, kind, 0, info.st_size if kind == 0x8000 else -1)


def mkdir(path: Path) -> None:
    _host_call("uos.mkdir", path, os.mkdir)


def rmdir(path: Path) -> None:
    _host_call("uos.rmdir", path, os.rmdir)


def remove(path: Path) -> None:
    _host_call("uos.remove", path, os.remove)


def rename(old_path: Path, new_path: Path) -> None:
    box = current()
    target = box.host_path(new_path, "uos.rename")
    _host_call("uos.rename", old_path, os.rename, target)


def stat(path: Path) -> tuple[int, ...]:
    box = current()
    if box.is_root(box.device_path(path, "uos.stat")):
        return (0x4000, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    info = _host_call("uos.stat", path, os.stat)
    kind = 0x4000 if stat_module.S_ISDIR(info.st_mode) else 0x8000  # no permission bits
    return (
        kind,
        0,
        0,
        0,
        0,
        0,
        info.st_size,
        int(info.st_atime),
        int(info.st_mtime),
        int(info.st_ctime),
    )


def statvfs(path: Path) -> tuple[int, ...]:
    info = _host_call("uos.statvfs", path, os.statvfs)
    return (
        info.f_bsize,
        info.f_frsize,
        info.f_blocks,
        info.f_bfree,
        info.f_bavail,
        info.f_files,
        info.f_ffree,
        info.f_favail,
        info.f_flag,
        info.f_namemax,
    )


class UnameResult(NamedTuple):
    sysname: str
    nodename: str
    release: str
    version: str
    machine: str
    qpyver: str


def uname2() -> UnameResult:
    model = modem.getDevModel()
    firmware = modem.getDevFwVersion()
    model_text = model if isinstance(model, str) else "unknown"
    firmware_text = firmware if isinstance(firmware, str) else "unknown"
    host_python = ".".join(str(part) for part in sys.version_info[:3])
    return UnameResult(
        sysname=model_text,
        nodename=model_text,
        release=firmware_text,
        version=f"client_api host runtime on CPython {host_python}",
        machine=f"{model_text} with QUECTEL",
        qpyver="client_api",
    )


def uname() -> tuple[str, ...]:
    named = uname2()
    return tuple(f"{key}={value}" for key, value in zip(named._fields, named, strict=True))


def urandom(n: int) -> bytes:
    return os.urandom(n)


def _needs_hardware(name: str) -> Any:
    def refuse(*args: object, **kwargs: object) -> None:
        raise _host.UnsupportedCall(
            f"uos.{name}", "mounting SD cards and flash chips needs the module's hardware"
        )

    return refuse


VfsFat = _needs_hardware("VfsFat")
VfsSd = _needs_hardware("VfsSd")
VfsLfs1 = _needs_hardware("VfsLfs1")
VfsEmmc = _needs_hardware("VfsEmmc")
mount = _needs_hardware("mount")
set_det = _needs_hardware("set_det")
set_callback = _needs_hardware("set_callback")


def __getattr__(name: str) -> object:
    from client_api.quecpython._support import missing_attribute

    raise missing_attribute("uos", name, PROVIDED)
