"""One AT channel per port: the threaded adapter around :class:`~client_api.at_session.AtSession`.

Threads:

* the **reader** reads the port, feeds the session, resolves the command in flight and
  queues URCs; when the port fails it closes it and keeps trying to reopen it;
* the **URC deliverer** calls the URC listeners in arrival order. It is a thread of its
  own so that a listener (a QuecPython callback) may itself send commands — were it
  called on the reader, it would wait for an answer only the reader can read.

Commands are serialised by a lock, so every user of the channel in the process (the
``lwm2m`` object, ``net``, ``modem``...) shares the one port as on the device.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import serial

from client_api.at_data import DEFAULT_URCS, SUCCESS_FINALS, UrcTable
from client_api.at_session import (
    AtSession,
    CommandCompleted,
    CommandTimedOut,
    LineOverflow,
    RawAfter,
    RawEnd,
    SessionEvent,
    StrayLine,
    UrcReceived,
    check_command_line,
)
from client_api.errors import (
    AtChannelError,
    ChannelClosed,
    CommandTimeout,
    ModuleGone,
    error_for_final,
)

log = logging.getLogger(__name__)

DEFAULT_COMMAND_TIMEOUT = 5.0  # seconds; Quectel lists 300 ms for most commands
READ_POLL = 0.1  # the reader's read timeout: bounds how long close() waits, not latency
WRITE_TIMEOUT = 2.0  # a module that does not take our bytes for this long is treated as gone
DEFAULT_RECONNECT_INTERVAL = 0.2
BAUDRATE = 115200  # Quectel's default UART rate; ignored by ptys, USB ACM and sockets


class SerialPortLike(Protocol):
    """The part of ``serial.Serial`` the channel uses."""

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    @property
    def in_waiting(self) -> int: ...

    def close(self) -> None: ...


PortOpener = Callable[[str], SerialPortLike]
UrcListener = Callable[[UrcReceived], None]


def open_serial_port(url: str) -> SerialPortLike:
    """Open a device path or any pyserial URL (``socket://``, ``rfc2217://``, ``loop://``)."""
    # pyserial's rfc2217:// refuses a write timeout (after connecting); there TCP bounds writes.
    write_timeout = None if url.lower().startswith("rfc2217://") else WRITE_TIMEOUT
    port: SerialPortLike = serial.serial_for_url(
        url, baudrate=BAUDRATE, timeout=READ_POLL, write_timeout=write_timeout
    )
    return port


@dataclass(frozen=True, kw_only=True)
class AtResponse:
    """A command's information text and its final result code (always ``OK`` here)."""

    command: str
    lines: tuple[str, ...]
    final: str
    data: bytes = b""  # raw data after CONNECT, for commands that read some

    def values(self, prefix: str) -> list[str]:
        """The text after ``prefix`` (e.g. ``'+CSQ:'``) of every line that starts with it."""
        return [line[len(prefix) :].strip() for line in self.lines if line.startswith(prefix)]

    def value(self, prefix: str) -> str | None:
        found = self.values(prefix)
        return found[0] if found else None


class _Pending:
    """The caller's side of the command in flight."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.response: AtResponse | None = None
        self.error: AtChannelError | None = None

    def resolve(self, response: AtResponse) -> None:
        self.response = response
        self.done.set()

    def fail(self, error: AtChannelError) -> None:
        self.error = error
        self.done.set()

    def outcome(self) -> AtResponse:
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response


class AtChannel:
    """A shared, thread-safe AT channel on one port (device path or pyserial URL)."""

    def __init__(
        self,
        port: str,
        *,
        opener: PortOpener = open_serial_port,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
        reconnect_interval: float = DEFAULT_RECONNECT_INTERVAL,
        urcs: UrcTable = DEFAULT_URCS,
    ) -> None:
        self.port = port
        self.command_timeout = command_timeout
        self.reconnect_interval = reconnect_interval
        self._opener = opener
        self._session = AtSession(urcs=urcs)
        self._lock = threading.Lock()  # guards the session, the port slot and _pending
        self._command_lock = threading.Lock()  # one command in flight
        self._reopen_lock = threading.Lock()
        self._serial: SerialPortLike | None = None
        self._opens = 0  # successful opens so far (a reopen after the port came back counts)
        self._gone_reason = "not opened yet"
        self._pending: _Pending | None = None
        self._listeners: list[tuple[str | None, UrcListener]] = []
        self._urc_queue: queue.SimpleQueue[UrcReceived | threading.Event | None] = (
            queue.SimpleQueue()
        )
        self._connected = threading.Event()
        self._closed = threading.Event()
        self._wake = threading.Event()  # cuts the reader's reconnect pause short
        self._try_reopen()
        self._reader = threading.Thread(
            target=self._read_loop, name=f"at-reader {port}", daemon=True
        )
        self._deliverer = threading.Thread(
            target=self._deliver_loop, name=f"at-urcs {port}", daemon=True
        )
        self._reader.start()
        self._deliverer.start()

    # --------------------------------------------------------------------- public
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def gone_reason(self) -> str | None:
        """Why the port is not open right now, or None while it is."""
        return None if self.connected else self._gone_reason

    @property
    def open_count(self) -> int:
        """How often the port has been opened: it grows when a port that went away (a USB
        module re-enumerating after a reset) is open again."""
        return self._opens

    def wait_connected(self, timeout: float) -> bool:
        """Wait until the port is open (again); False when ``timeout`` passed first."""
        return self._connected.wait(timeout)

    def command(
        self,
        command: str,
        timeout: float | None = None,
        *,
        payload: bytes | None = None,
        raw_end: RawEnd | None = None,
        raw_after: RawAfter | None = None,
    ) -> AtResponse:
        """Send one command line and wait for its final result code.

        Returns the response on ``OK``. Raises :class:`~client_api.errors.CommandError`
        (or its :class:`~client_api.errors.CmeError`) for an error result,
        :class:`~client_api.errors.CommandTimeout`, :class:`~client_api.errors.ModuleGone`
        when the port is not there, :class:`~client_api.errors.ChannelClosed` after close().
        ``payload`` goes to the module at its ``> `` or ``CONNECT`` prompt; ``raw_end``
        reads raw data after ``CONNECT`` into ``AtResponse.data`` (see AtSession).
        """
        limit = self.command_timeout if timeout is None else timeout
        check_command_line(command)
        with self._command_lock:
            if self._closed.is_set():
                raise ChannelClosed(f"channel on {self.port} is closed")
            if self._serial is None and not self._try_reopen():
                raise ModuleGone(self.port, self._gone_reason)
            pending = _Pending()
            with self._lock:
                port = self._serial
                if port is None:
                    raise ModuleGone(self.port, self._gone_reason)
                data = self._session.send_command(
                    command,
                    time.monotonic(),
                    limit,
                    payload=payload,
                    raw_end=raw_end,
                    raw_after=raw_after,
                )
                deadline = self._session.get_timer()
                self._pending = pending
            try:
                port.write(data)
            except Exception as exc:  # pyserial raises SerialException, OSError, TypeError
                self._port_lost(port, f"write failed: {exc}")
            assert deadline is not None
            self._wait(pending, deadline)
            return pending.outcome()

    def add_urc_listener(
        self, listener: UrcListener, prefix: str | None = None
    ) -> Callable[[], None]:
        """Call ``listener`` (on the URC thread) for every URC, or those starting with
        ``prefix``. Returns a function that removes it. An exception in a listener is
        logged and never stops delivery."""
        entry = (prefix, listener)
        with self._lock:
            self._listeners.append(entry)

        def remove() -> None:
            with self._lock:
                if entry in self._listeners:
                    self._listeners.remove(entry)

        return remove

    def drain_urcs(self, timeout: float) -> bool:
        """Wait until every URC received so far has been delivered to the listeners."""
        marker = threading.Event()
        self._urc_queue.put(marker)
        return marker.wait(timeout)

    def close(self) -> None:
        """Stop the threads and close the port. Commands after this raise ChannelClosed."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._wake.set()
        self._urc_queue.put(None)
        with self._lock:
            port, self._serial = self._serial, None
            pending, self._pending = self._pending, None
            self._connected.clear()
            self._gone_reason = "closed"
        if pending is not None:
            pending.fail(ChannelClosed(f"channel on {self.port} closed during the command"))
        if port is not None:
            _close_quietly(port)
        current = threading.current_thread()
        for thread in (self._reader, self._deliverer):
            if thread is not current:
                thread.join(timeout=2.0)

    # --------------------------------------------------------------- command wait
    def _wait(self, pending: _Pending, deadline: float) -> None:
        while not pending.done.is_set():
            remaining = deadline - time.monotonic()
            if remaining > 0:
                pending.done.wait(remaining)
                continue
            with self._lock:
                self._session.handle_timer(time.monotonic())
                resolved = self._drain_events()
            self._settle(resolved)
            if not pending.done.is_set():  # the session no longer knew the command
                pending.fail(CommandTimeout("(abandoned command)", 0.0, ()))

    # -------------------------------------------------------------------- reading
    def _read_loop(self) -> None:
        while not self._closed.is_set():
            port = self._serial
            if port is None:
                if not self._try_reopen():
                    self._wake.wait(self.reconnect_interval)
                    self._wake.clear()
                continue
            try:
                data = port.read(1)
                if data:
                    waiting = port.in_waiting
                    if waiting:
                        data += port.read(waiting)
            except Exception as exc:  # SerialException/OSError; TypeError once closed
                if self._closed.is_set():
                    return
                self._port_lost(port, f"read failed: {exc}")
                continue
            if data:
                now = time.monotonic()
                with self._lock:
                    self._session.receive_data(data, now)
                    resolved = self._drain_events()
                    outgoing = self._session.data_to_send()
                if outgoing:
                    try:
                        port.write(outgoing)
                    except Exception as exc:  # as for a command line
                        self._port_lost(port, f"write failed: {exc}")
                self._settle(resolved)

    def _drain_events(self) -> list[tuple[_Pending, AtResponse | AtChannelError]]:
        """Pull the session's events (caller holds the lock); returns what to resolve."""
        resolved: list[tuple[_Pending, AtResponse | AtChannelError]] = []
        while (event := self._session.next_event()) is not None:
            outcome = self._outcome(event)
            if outcome is None:
                continue
            pending, self._pending = self._pending, None
            if pending is not None:
                resolved.append((pending, outcome))
        return resolved

    def _outcome(self, event: SessionEvent) -> AtResponse | AtChannelError | None:
        if isinstance(event, CommandCompleted):
            if event.final in SUCCESS_FINALS:
                return AtResponse(
                    command=event.command, lines=event.lines, final=event.final, data=event.data
                )
            return error_for_final(event.command, event.final, event.lines)
        if isinstance(event, CommandTimedOut):
            return CommandTimeout(event.command, event.timeout, event.lines)
        if isinstance(event, UrcReceived):
            self._urc_queue.put(event)
        elif isinstance(event, StrayLine):
            log.info("%s: ignoring %r (%s)", self.port, event.line, event.reason)
        elif isinstance(event, LineOverflow):
            log.warning(
                "%s: dropped a %d-byte line (limit %d)",
                self.port,
                event.dropped_bytes,
                event.limit,
            )
        return None

    @staticmethod
    def _settle(resolved: list[tuple[_Pending, AtResponse | AtChannelError]]) -> None:
        for pending, outcome in resolved:
            if isinstance(outcome, AtResponse):
                pending.resolve(outcome)
            else:
                pending.fail(outcome)

    # ----------------------------------------------------------- losing the port
    def _port_lost(self, port: SerialPortLike, reason: str) -> None:
        with self._lock:
            if self._serial is not port:
                return  # already handled (reader and writer both noticed)
            self._serial = None
            self._gone_reason = reason
            self._connected.clear()
            abandoned = self._session.reset()
            pending, self._pending = self._pending, None
        _close_quietly(port)
        log.warning("%s: module gone (%s); reopening in the background", self.port, reason)
        if pending is not None:
            what = f" during {abandoned!r}" if abandoned else ""
            pending.fail(ModuleGone(self.port, reason + what))

    def _try_reopen(self) -> bool:
        with self._reopen_lock:
            if self._serial is not None:
                return True
            if self._closed.is_set():
                return False
            try:
                port = self._opener(self.port)
            except Exception as exc:  # SerialException, OSError, ValueError (bad URL)
                self._gone_reason = f"cannot open: {exc}"
                return False
            with self._lock:
                if self._closed.is_set():
                    _close_quietly(port)
                    return False
                self._session.reset()
                self._serial = port
                self._opens += 1
                self._connected.set()
            self._wake.set()
            log.info("%s: port open", self.port)
            return True

    # --------------------------------------------------------------- delivering
    def _deliver_loop(self) -> None:
        while True:
            item = self._urc_queue.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            with self._lock:
                listeners = list(self._listeners)
            for prefix, listener in listeners:
                if prefix is not None and not item.line.startswith(prefix):
                    continue
                try:
                    listener(item)
                except Exception:
                    log.exception("%s: URC listener failed on %r", self.port, item.line)


def _close_quietly(port: SerialPortLike) -> None:
    cancel = getattr(port, "cancel_read", None)
    try:
        if callable(cancel):
            cancel()
        port.close()
    except Exception as exc:  # closing a vanished device may fail; nothing left to do
        log.debug("closing port: %s", exc)
