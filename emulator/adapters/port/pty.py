"""The pty transport: a module's AT port as a pseudo-terminal (``/dev/pts/N``, ``--link``).

Strategy:

* The emulator keeps the slave fd open for the port's whole life. The master then never
  reads EIO when no host has the port open, so there is nothing to poll and nothing to
  busy-loop on, and raw mode stays set between hosts.
* Hosts coming and going are seen through inotify on the slave device (``openwatch``).
  While no host holds the port, module output is dropped and counted, as bytes sent on a
  UART with nothing attached are lost; the next opener never reads stale URCs. When the
  last host closes, anything it left unread is flushed and raw mode is set again, so a host
  that turned echo on cannot make the next session echo the module's output back into it.
* While a host holds the port but does not read, the kernel buffers about 16-20 KB; beyond
  that a write raises BlockingIOError and the rest waits in a bounded backlog drained when
  the master is writable. What does not fit is dropped and counted: never blocked, never
  crashed, memory bounded.

Without inotify (not Linux) the port behaves as if a host were always there: output goes
into the pty and stale bytes wait for the next opener (pyserial flushes them on open).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import termios
import tty
from pathlib import Path

from emulator.adapters.port.openwatch import OpenWatcher
from emulator.adapters.port.port import Backlog, DataCallback, EventCallback, PortEvent, PortStats

log = logging.getLogger(__name__)

DEFAULT_BACKLOG = 16 * 1024  # on top of the kernel's own ~16-20 KB pty buffer
READ_SIZE = 64 * 1024
READ_RETRY_DELAY = 1.0  # seconds; only after an unexpected read error, never while idle


class LinkError(OSError):
    """A ``--link`` that cannot be made; the message says which link and why."""

    def __init__(self, link: Path, reason: str, code: int = errno.EINVAL) -> None:
        super().__init__(code, f"cannot use link {link}: {reason}")

    def __str__(self) -> str:
        return str(self.strerror)


def check_link_directory(link: Path) -> None:
    parent = link.parent
    if not parent.is_dir():
        what = "does not exist" if not parent.exists() else "is not a directory"
        raise LinkError(link, f"directory {parent} {what}", errno.ENOENT)


class LinkLock:
    """Who serves a link: an exclusive ``flock`` on ``.<name>.lock`` beside it, held for
    the port's life, with the holder's pid inside for the message others get.

    The kernel drops the lock when its holder dies, so a link left by a crashed run is
    stale (replaced) while a link whose lock is held belongs to a live run (refused).
    """

    def __init__(self, link: Path) -> None:
        check_link_directory(link)
        self.path = link.with_name(f".{link.name}.lock")
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise LinkError(link, exc.strerror or str(exc), exc.errno or errno.EIO) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                raise LinkError(
                    link,
                    f"in use by another quecemu serve (pid {holder}); "
                    "stop it or choose another --link",
                    errno.EBUSY,
                ) from None
            # The holder we waited on may have removed the file on exit: lock the file
            # that is there now, not an orphan nobody else will look at.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None


def make_link(link: Path, target: str) -> None:
    """Point ``link`` at ``target``, replacing an old symlink atomically (a stale one from
    a crashed run; the caller holds the link's ``LinkLock``, so it is no live run's). A
    regular file is not ours to clobber."""
    check_link_directory(link)
    if link.exists() and not link.is_symlink():
        raise LinkError(link, "it exists and is not a symlink; not replacing it", errno.EEXIST)
    temporary = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    try:
        os.symlink(target, temporary)
        try:
            os.replace(temporary, link)
        except OSError:
            temporary.unlink()
            raise
    except OSError as exc:
        raise LinkError(link, exc.strerror or str(exc), exc.errno or errno.EIO) from exc


def remove_link(link: Path, target: str) -> None:
    """Remove ``link`` if it still points at ``target`` (another run may have taken it)."""
    try:
        if os.readlink(link) == target:
            link.unlink()
    except OSError:
        pass


class PtyPort:
    """One pseudo-terminal carrying one module's AT port.

    ``on_data`` gets the host's bytes; ``write`` takes the module's. ``on_event`` hears
    about hosts opening and closing the device (when inotify can tell).
    """

    def __init__(
        self,
        on_data: DataCallback,
        *,
        link: Path | None = None,
        on_event: EventCallback | None = None,
        backlog_limit: int = DEFAULT_BACKLOG,
        loop: asyncio.AbstractEventLoop | None = None,
        watch_opens: bool = True,
    ) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._on_data = on_data
        self._on_event = on_event
        self.stats = PortStats()
        self._backlog = Backlog(backlog_limit, self.stats)
        self._openers = 0
        self._watcher: OpenWatcher | None = None
        self._watch_id: int | None = None
        self._writer_armed = False
        self._reading = False
        self._dropping = False
        self._closed = False
        self.link = link
        self._link_lock: LinkLock | None = None
        self._master, self._slave = os.openpty()
        try:
            # Raw: no echo of our own output back into us, no CR->LF translation.
            tty.setraw(self._slave, termios.TCSANOW)
            os.set_blocking(self._master, False)
            self.path = os.ttyname(self._slave)
            if watch_opens:
                self._watcher = OpenWatcher.for_loop(self._loop)
            if self._watcher is not None:
                self._watch_id = self._watcher.watch(
                    self.path, self._host_opened_or_closed, self._lost_track
                )
            if link is not None:
                self._link_lock = LinkLock(link)
                make_link(link, self.path)
        except BaseException:
            self._release()
            raise
        self._start_reading()

    # ------------------------------------------------------------------ state
    @property
    def tracking_opens(self) -> bool:
        """True while inotify tells us who holds the port."""
        return self._watch_id is not None

    @property
    def host_present(self) -> bool:
        """Whether output can reach a host (always assumed without open tracking)."""
        return self._openers > 0 or not self.tracking_opens

    @property
    def backlog_size(self) -> int:
        return len(self._backlog)

    def describe(self) -> str:
        text = f"pty {self.path}"
        if self.link is not None:
            text += f" link {self.link}"
        return text

    # ----------------------------------------------------------------- output
    def write(self, data: bytes) -> int:
        if self._closed or not data:
            return len(data)
        if not self.host_present:
            self.stats.bytes_dropped += len(data)
            return len(data)
        if len(self._backlog):
            return self._keep(data)  # keep the order: older bytes go first
        written = self._write_now(data)
        if written < len(data):
            dropped = self._keep(data[written:])
            self._arm_writer()
            return dropped
        return 0

    def _write_now(self, data: bytes) -> int:
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            # Not expected while we hold the slave; lose this chunk rather than the port.
            log.warning("%s: write failed (%s); output dropped", self.path, exc.strerror)
            self.stats.bytes_dropped += len(data)
            return len(data)
        self.stats.bytes_out += written
        return written

    def _keep(self, data: bytes) -> int:
        dropped = self._backlog.add(data)
        if dropped and not self._dropping:
            self._dropping = True
            log.warning(
                "%s: the host is not reading; dropping output beyond %d buffered bytes",
                self.path,
                self._backlog.limit,
            )
        return dropped

    def _arm_writer(self) -> None:
        if not self._writer_armed:
            self._writer_armed = True
            self._loop.add_writer(self._master, self._on_writable)

    def _disarm_writer(self) -> None:
        if self._writer_armed:
            self._writer_armed = False
            self._loop.remove_writer(self._master)

    def _on_writable(self) -> None:
        written = self._write_now(self._backlog.peek())
        self._backlog.consume(written)
        if not len(self._backlog):
            self._disarm_writer()
            self._dropping = False

    # ------------------------------------------------------------------ input
    def _start_reading(self) -> None:
        if not self._closed and not self._reading:
            self._reading = True
            self._loop.add_reader(self._master, self._on_readable)

    def _on_readable(self) -> None:
        if self._watcher is not None:
            self._watcher.drain()  # a host's open must count before its first bytes do
        try:
            data = os.read(self._master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            self._pause_reading(exc.strerror or str(exc))
            return
        if not data:
            self._pause_reading("end of file")
            return
        self.stats.bytes_in += len(data)
        if self._writer_armed:
            # The loop may run this before the write callback of the same wake-up: move the
            # backlog on first, so the room the host just made by reading goes to the older
            # output and the answer to these bytes is not dropped behind a full backlog.
            self._on_writable()
        self._on_data(data)

    def _pause_reading(self, reason: str) -> None:
        """A read error we do not expect while holding the slave: retry at a low rate
        instead of spinning on a descriptor that stays readable."""
        log.warning("%s: read failed (%s); retrying in %.0f s", self.path, reason, READ_RETRY_DELAY)
        self._reading = False
        self._loop.remove_reader(self._master)
        self._loop.call_later(READ_RETRY_DELAY, self._start_reading)

    # ------------------------------------------------------ hosts coming and going
    def _host_opened_or_closed(self, opened: bool) -> None:
        if self._closed:
            return
        if opened:
            self._openers += 1
            self.stats.opens += 1
            if self._openers == 1:
                self._flush_stale()
            self._emit(PortEvent(kind="open"))
            return
        if self._openers == 0:
            return  # a close of something opened before we watched: nothing to undo
        self._openers -= 1
        self.stats.closes += 1
        if self._openers == 0:
            self._flush_stale()
            with contextlib.suppress(termios.error):
                tty.setraw(self._slave, termios.TCSANOW)
        self._emit(PortEvent(kind="close"))

    def _flush_stale(self) -> None:
        """Nobody will read what is queued: the host that left, or none yet."""
        with contextlib.suppress(termios.error):
            termios.tcflush(self._slave, termios.TCIFLUSH)
        self._backlog.discard()
        self._disarm_writer()
        self._dropping = False

    def _lost_track(self) -> None:
        """inotify lost events: from now on assume a host is always there."""
        if self._watcher is not None and self._watch_id is not None:
            self._watcher.unwatch(self._watch_id)
        self._watch_id = None
        self._watcher = None

    def _emit(self, event: PortEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    # -------------------------------------------------------------- shutdown
    def close(self) -> None:
        """Stop serving: the link is removed and any open host sees the port hang up."""
        if self._closed:
            return
        self._closed = True
        if self._reading:
            self._loop.remove_reader(self._master)
            self._reading = False
        self._disarm_writer()
        self._release()

    def _release(self) -> None:
        if self._watcher is not None and self._watch_id is not None:
            self._watcher.unwatch(self._watch_id)
            self._watch_id = None
        if self._link_lock is not None:
            # Only a link we hold: one served by another run is not ours to remove.
            if self.link is not None and hasattr(self, "path"):
                remove_link(self.link, self.path)
            self._link_lock.release()
            self._link_lock = None
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
