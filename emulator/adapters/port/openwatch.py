"""Notice when a host program opens or closes a pty's slave device (Linux inotify).

The emulator keeps its own slave fd open so the master never reports EIO (no busy loop
while nobody holds the port, and raw mode survives between hosts). The price is that the
master no longer sees hosts come and go. inotify gives that back at zero idle cost: the
kernel reports IN_OPEN and IN_CLOSE_* for device nodes too, once per open file description,
so a forked child sharing the descriptor adds no event. One inotify descriptor per event
loop serves every pty of the process (200 modules, one reader).

Python's standard library has no inotify binding; libc's three calls are used through
ctypes. Where they are missing (not Linux) ``OpenWatcher.for_loop`` returns None and ports
fall back to writing blindly into the pty, as if a host were always there.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import struct
import weakref
from collections.abc import Callable

log = logging.getLogger(__name__)

# <sys/inotify.h>
IN_CLOSE_WRITE = 0x00000008
IN_CLOSE_NOWRITE = 0x00000010
IN_OPEN = 0x00000020
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_EVENT_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)

OpenCallback = Callable[[bool], None]  # True: a host opened the device; False: one closed it
OverflowCallback = Callable[[], None]


class _Libc:
    """The three inotify calls, or None where libc does not have them."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.init1 = libc.inotify_init1
        self.init1.argtypes = [ctypes.c_int]
        self.init1.restype = ctypes.c_int
        self.add_watch = libc.inotify_add_watch
        self.add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self.add_watch.restype = ctypes.c_int
        self.rm_watch = libc.inotify_rm_watch
        self.rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        self.rm_watch.restype = ctypes.c_int


def _load_libc() -> _Libc | None:
    try:
        return _Libc()
    except (OSError, AttributeError):
        return None


# One watcher per event loop (None: inotify is unavailable there).
_WATCHERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OpenWatcher | None] = (
    weakref.WeakKeyDictionary()
)


class OpenWatcher:
    """Open/close notifications for device paths, from one inotify fd on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, libc: _Libc, fd: int) -> None:
        self._loop = loop
        self._libc = libc
        self._fd = fd
        self._watches: dict[int, tuple[OpenCallback, OverflowCallback]] = {}
        loop.add_reader(fd, self.drain)

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop) -> OpenWatcher | None:
        """The loop's shared watcher, created on first use; None without inotify."""
        if loop in _WATCHERS:
            return _WATCHERS[loop]
        watcher: OpenWatcher | None = None
        libc = _load_libc()
        if libc is not None:
            fd = libc.init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd >= 0:
                watcher = cls(loop, libc, fd)
            else:
                log.warning(
                    "inotify unavailable (%s): pty opens and closes go unnoticed",
                    os.strerror(ctypes.get_errno()),
                )
        _WATCHERS[loop] = watcher
        return watcher

    def watch(self, path: str, on_open: OpenCallback, on_overflow: OverflowCallback) -> int:
        """Start reporting opens/closes of ``path``; returns the watch id (for ``unwatch``)."""
        mask = IN_OPEN | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE
        wd: int = self._libc.add_watch(self._fd, os.fsencode(path), mask)
        if wd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_add_watch: {os.strerror(code)}", path)
        self._watches[wd] = (on_open, on_overflow)
        return wd

    def unwatch(self, wd: int) -> None:
        """Stop reporting for ``wd``; the last unwatch closes the inotify descriptor."""
        if self._watches.pop(wd, None) is not None:
            self._libc.rm_watch(self._fd, wd)  # fails harmlessly if the device is gone
        if not self._watches and self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
            if _WATCHERS.get(self._loop) is self:
                del _WATCHERS[self._loop]

    def drain(self) -> None:
        """Deliver every queued event now. Ports call this before reading host input, so a
        host's open is always seen before the first bytes it writes (open() returns only
        after the kernel queued IN_OPEN)."""
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            if not data:
                return
            self._dispatch(data)

    def _dispatch(self, data: bytes) -> None:
        offset = 0
        while offset + _EVENT_HEADER.size <= len(data):
            wd, mask, _cookie, name_len = _EVENT_HEADER.unpack_from(data, offset)
            offset += _EVENT_HEADER.size + name_len
            if mask & IN_Q_OVERFLOW:
                # Events were lost: no port can trust its count of openers any more.
                log.warning("inotify queue overflowed: pty open tracking disabled")
                for _, on_overflow in list(self._watches.values()):
                    on_overflow()
                continue
            callbacks = self._watches.get(wd)
            if callbacks is None or mask & IN_IGNORED:
                continue
            if mask & IN_OPEN:
                callbacks[0](True)
            if mask & (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE):
                callbacks[0](False)
