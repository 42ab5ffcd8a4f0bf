"""QuecPython ``utime`` on the host clock.

``ticks_*`` wrap at 2**30 as the device's do (its document: "recount when the value exceeds
0x3FFFFFFF"), so ``ticks_diff`` is needed exactly as on the device. ``time()`` returns
whole seconds since 1970-01-01 UTC, the reference ``mktime``/``localtime`` convert to and
from (the document's wording for ``time()`` — seconds since the device was enabled — is
noted in docs/client_api.md). The time zone starts at the host's and ``setTimeZone``
moves ``localtime()`` as on the device.
"""

from __future__ import annotations

import calendar
import time as _time

TICKS_PERIOD = 1 << 30
TICKS_MAX = TICKS_PERIOD - 1
_HALF_PERIOD = TICKS_PERIOD // 2


def _host_zone_hours() -> int:
    offset = -(_time.altzone if _time.daylight and _time.localtime().tm_isdst else _time.timezone)
    return round(offset / 3600)


_zone_hours = _host_zone_hours()


def sleep(seconds: float) -> None:
    _time.sleep(seconds)


def sleep_ms(ms: int) -> None:
    _time.sleep(ms / 1000)


def sleep_us(us: int) -> None:
    _time.sleep(us / 1_000_000)


def ticks_ms() -> int:
    return _time.monotonic_ns() // 1_000_000 & TICKS_MAX


def ticks_us() -> int:
    return _time.monotonic_ns() // 1_000 & TICKS_MAX


def ticks_cpu() -> int:
    return _time.perf_counter_ns() & TICKS_MAX


def ticks_add(ticks: int, delta: int) -> int:
    return (ticks + delta) & TICKS_MAX


def ticks_diff(ticks1: int, ticks2: int) -> int:
    """``ticks1 - ticks2`` on the wrapping counter (signed, |result| < 2**29)."""
    return ((ticks1 - ticks2 + _HALF_PERIOD) & TICKS_MAX) - _HALF_PERIOD


def time() -> int:
    return int(_time.time())


def localtime(secs: int | None = None) -> tuple[int, int, int, int, int, int, int, int]:
    """``(year, month, mday, hour, minute, second, weekday 0=Monday, yearday)``."""
    seconds = _time.time() if secs is None else secs
    t = _time.gmtime(int(seconds) + _zone_hours * 3600)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, t.tm_wday, t.tm_yday)


def mktime(date: tuple[int, ...]) -> int:
    """Inverse of ``localtime``: seconds since 1970 for a local date tuple."""
    year, month, mday, hour, minute, second = date[:6]
    return calendar.timegm((year, month, mday, hour, minute, second, 0, 0, 0)) - (
        _zone_hours * 3600
    )


def getTimeZone() -> int:
    return _zone_hours


def setTimeZone(offset: int) -> None:
    global _zone_hours
    if isinstance(offset, bool) or not isinstance(offset, int) or not -12 <= offset <= 12:
        raise ValueError("time zone offset must be an integer -12..12 (hours)")
    _zone_hours = offset
