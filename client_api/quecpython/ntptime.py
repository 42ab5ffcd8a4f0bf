"""QuecPython ``ntptime``: set the module's clock from an NTP server, over ``AT+QNTP``.

``settime(timezone=0)`` sends ``AT+QNTP=1,"<host>",123`` (Quectel TCP/IP manual: the
result comes later as ``+QNTP: <err>,"<yyyy/MM/dd,hh:mm:ss±zz>"``, err 0 on success),
then writes that time, moved to ``timezone`` hours (-12..12), into the module's RTC with
``AT+CCLK`` (27.007 §8.15), so ``machine.RTC().datetime()`` shows local time as on the
device. 0 on success, -1 on failure (an error code in the URC, no URC in time, a bad
``timezone``). A module (or emulator) without ``AT+QNTP`` raises
:class:`~client_api.quecpython._host.UnsupportedCall` naming ``ntptime.settime``.
``host`` and ``sethost`` name the server, ``ntp.aliyun.com`` by default as on the device.
"""

from __future__ import annotations

import datetime as dt
import queue
import re

from client_api.at_args import BadArgument, check_string, parse_fields
from client_api.at_session import UrcReceived
from client_api.ports import default_channel
from client_api.quecpython._atcall import require
from client_api.quecpython._support import FAILED, log
from client_api.quecpython.machine_more import write_module_clock

host = "ntp.aliyun.com"
NTP_PORT = 123
CONTEXT_ID = 1
RESULT_TIMEOUT = 125.0  # Quectel lists 125 s as AT+QNTP's maximum response time
# Quectel prints the year with four digits ("2026/11/27,10:00:00+32"); two are accepted too.
_TIME = re.compile(r"^(\d{4}|\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d\d)$")


def sethost(new_host: str) -> int:
    global host
    try:
        check_string(new_host, "host")
    except BadArgument:
        return FAILED
    if not new_host or len(new_host) > 255:
        return FAILED
    host = new_host
    return 0


def _utc_of(text: str) -> dt.datetime | None:
    match = _TIME.match(text)
    if match is None:
        return None
    year, mo, dd, hh, mi, ss, zz = (int(g) for g in match.groups())
    try:
        local = dt.datetime(year if year >= 100 else 2000 + year, mo, dd, hh, mi, ss)
    except ValueError:
        return None
    return local - dt.timedelta(minutes=15 * zz)


def settime(timezone: int = 0) -> int:
    if isinstance(timezone, bool) or not isinstance(timezone, int) or not -12 <= timezone <= 12:
        return FAILED
    channel = default_channel()
    results: queue.SimpleQueue[str] = queue.SimpleQueue()

    def on_urc(urc: UrcReceived) -> None:
        results.put(urc.line)

    remove = channel.add_urc_listener(on_urc, prefix="+QNTP:")
    try:
        require("ntptime.settime", f'AT+QNTP={CONTEXT_ID},"{host}",{NTP_PORT}')
        try:
            line = results.get(timeout=RESULT_TIMEOUT)
        except queue.Empty:
            log.warning("ntptime.settime: no +QNTP result within %g s", RESULT_TIMEOUT)
            return FAILED
    finally:
        remove()
    fields = parse_fields(line[len("+QNTP:") :])
    if not fields or fields[0] != 0 or len(fields) < 2:
        log.warning("ntptime.settime: the module reported %r", line)
        return FAILED
    utc = _utc_of(str(fields[1]))
    if utc is None:
        log.warning("ntptime.settime: unreadable time in %r", line)
        return FAILED
    local = utc + dt.timedelta(hours=timezone)
    return 0 if write_module_clock(local, timezone * 4) else FAILED
