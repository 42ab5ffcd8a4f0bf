"""File descriptors for ``quecemu serve``: the limit raised, a count that cannot fit refused,
and accept() failures reported without a flood.

Every module holds descriptors for as long as it runs: two per pty (the master and the slave
end kept open so the link survives a host closing it), a TCP AT port's listener and its one
client. Each module that registers with an LwM2M server adds one socket (its UDP socket for
plain CoAP, or its DTLS session's; a second server another); ``AT+QIOPEN`` sockets, MQTT and
HTTP come and go on top of that. A ``--headless`` module has no port at all.

* :func:`ensure_fd_limit` raises the soft ``RLIMIT_NOFILE`` to the hard limit (the most an
  unprivileged process may have) and raises :class:`FdLimitError`, saying the numbers, when
  even that cannot hold the ports; when the ports fit but not every module's LwM2M sockets
  too, it returns a warning instead (a module past that point fails its Register with
  ``"initial","failed"`` and one log line, and retries with its back-off).
* :class:`AcceptFailureReporter` is an asyncio exception handler: when ``accept()`` fails
  for lack of descriptors, asyncio stops watching that listener and tries again a second
  later (``ACCEPT_RETRY_DELAY``), but logs a traceback each time, for each listener (10,000
  listeners: 10,000 tracebacks a second). The reporter counts those and writes one line per
  interval instead; every other exception goes to the handler that was there before.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
from asyncio import constants as asyncio_constants
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

FDS_PER_PTY = 2
FDS_PER_TCP_PORT = 2  # the listener and the host's connection
FDS_PER_LWM2M = 1  # the module's CoAP socket, or its DTLS session's (one server)
FDS_RESERVED = 64  # the loop, inotify, the trace, stdio, a control port, imports...

#: errno values that mean "no descriptor or buffer to spare", not a fault of the peer.
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

ACCEPT_LOG_INTERVAL = 60.0


class FdLimitError(ValueError):
    """``--count`` modules cannot hold their ports within the hard descriptor limit."""


@dataclass(frozen=True, slots=True)
class FdBudget:
    count: int
    per_module_ports: int
    per_module_lwm2m: int = FDS_PER_LWM2M
    reserved: int = FDS_RESERVED

    @property
    def ports(self) -> int:
        """Descriptors the modules' ports need, plus the reserve."""
        return self.count * self.per_module_ports + self.reserved

    @property
    def with_lwm2m(self) -> int:
        return self.ports + self.count * self.per_module_lwm2m


def budget(count: int, *, pty: bool, tcp: bool) -> FdBudget:
    return FdBudget(count, FDS_PER_PTY * pty + FDS_PER_TCP_PORT * tcp)


def ensure_fd_limit(
    need: FdBudget,
    *,
    getrlimit: Callable[[int], tuple[int, int]] = resource.getrlimit,
    setrlimit: Callable[[int, tuple[int, int]], None] = resource.setrlimit,
) -> str | None:
    """Raise the soft limit to the hard one; refuse a count whose ports cannot fit.

    Returns a warning when the ports fit but not every module's LwM2M sockets too."""
    soft, hard = getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        target = max(soft, need.with_lwm2m) if soft != resource.RLIM_INFINITY else soft
    else:
        target = hard
    if soft != resource.RLIM_INFINITY and target > soft:
        try:
            setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:  # e.g. above fs.nr_open
            log.info("cannot raise RLIMIT_NOFILE to %d: %s", target, exc)
    if soft == resource.RLIM_INFINITY:
        return None
    per_module = need.per_module_ports
    if need.ports > soft:
        fits = max(0, (soft - need.reserved) // per_module) if per_module else 0
        raise FdLimitError(
            f"--count {need.count} needs {need.ports} file descriptors ({per_module} per "
            f"module for its ports + {need.reserved}), but this process may open only {soft} "
            f"(hard limit {hard}); at most {fits} modules fit: raise the hard limit "
            "(ulimit -Hn, systemd LimitNOFILE=, docker --ulimit nofile=) or run fewer modules"
        )
    if need.with_lwm2m > soft:
        fits = (soft - need.reserved) // (per_module + need.per_module_lwm2m)
        return (
            f"file descriptor limit {soft}: the ports of {need.count} modules fit, but only "
            f"about {fits} of them can also hold LwM2M sockets ({need.per_module_lwm2m} each); "
            'the others answer AT+QLWREG with "initial","failed" until descriptors are free'
        )
    return None


class AcceptFailureReporter:
    """An asyncio exception handler that turns accept() failures for lack of descriptors
    into one log line per interval (asyncio itself retries the listener after a second)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        interval: float = ACCEPT_LOG_INTERVAL,
    ) -> None:
        self._loop = loop
        self._interval = interval
        self._previous = loop.get_exception_handler()
        self._logged_at: float | None = None
        self._since_log = 0
        self.failures = 0
        self.lines = 0

    def install(self) -> None:
        self._loop.set_exception_handler(self)

    def uninstall(self) -> None:
        if self._loop.get_exception_handler() is self:
            self._loop.set_exception_handler(self._previous)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exception = context.get("exception")
        if (
            isinstance(exception, OSError)
            and exception.errno in RESOURCE_ERRNOS
            and "accept" in str(context.get("message", ""))
        ):
            self._note(exception, loop.time())
            return
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)

    def _note(self, exception: OSError, now: float) -> None:
        self.failures += 1
        self._since_log += 1
        if self._logged_at is not None and now - self._logged_at < self._interval:
            return
        self.lines += 1
        log.warning(
            "accept() failed %d time(s) since the last report: %s; asyncio retries each "
            "listener after %.0f s (next report in %.0f s at the earliest)",
            self._since_log,
            exception.strerror or exception,
            asyncio_constants.ACCEPT_RETRY_DELAY,
            self._interval,
        )
        self._logged_at, self._since_log = now, 0
