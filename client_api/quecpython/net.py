"""QuecPython ``net``: signal, registration and operator over AT (3GPP TS 27.007 §7).

``getState`` builds the device's two lists from ``AT+CREG?`` (voice) and ``AT+CEREG?``
(data, ``AT+CGREG?`` when the module has no CEREG): ``[stat, lac, cid, rat,
reject_cause, psc]``. LAC/TAC and cell id are only present when the module reports them
(``AT+CREG=2``); this runtime does not change the module's report mode to get them, so
they read 0 otherwise. The access technology comes from the same line or ``AT+COPS?``.
Reject cause and PSC are not reported by these commands and read 0.

The signal, cell, mode and time getters (``getSignal``, ``getCellInfo``, ``getServing*``,
``getCi``..., ``getConfig``, ``getNetMode``, ``nitzTime``) use Quectel's ``AT+QCSQ``,
``AT+QENG``, ``AT+QCFG`` and ``AT+QLTS`` and 27.007's ``AT+COPS``; they live in
:mod:`client_api.quecpython.net_cells`.
"""

from __future__ import annotations

from client_api.at_args import parse_fields
from client_api.quecpython._support import FAILED, at, missing_attribute

PROVIDED = (
    "csqQueryPoll",
    "getState",
    "operatorName",
    "getModemFun",
    "setModemFun",
    "getSignal",
    "getCellInfo",
    "getConfig",
    "getNetMode",
    "getCi",
    "getServingCi",
    "getMcc",
    "getServingMcc",
    "getMnc",
    "getServingMnc",
    "getLac",
    "getServingLac",
    "nitzTime",
)

REGISTERED = (1, 5)  # 27.007 <stat>: registered home / roaming
COPS_FORMATS = (0, 1, 2)  # long alphanumeric, short alphanumeric, numeric


def csqQueryPoll() -> int:
    """``AT+CSQ``: rssi 0-31, 99 unknown; -1 on failure."""
    response = at("AT+CSQ")
    value = response.value("+CSQ:") if response is not None else None
    fields = parse_fields(value) if value is not None else []
    return fields[0] if fields and isinstance(fields[0], int) else FAILED


def _hex(value: int | str | None) -> int:
    if isinstance(value, str) and value:
        try:
            return int(value, 16)
        except ValueError:
            return 0
    return value if isinstance(value, int) else 0


def _registration(command: str, prefix: str) -> list[int] | None:
    response = at(command, quiet=True)
    value = response.value(prefix) if response is not None else None
    if value is None:
        return None
    fields = parse_fields(value)
    if len(fields) < 2 or not isinstance(fields[1], int):
        return None
    stat = fields[1]
    area = _hex(fields[2]) if len(fields) > 2 else 0
    cell = _hex(fields[3]) if len(fields) > 3 else 0
    rat = fields[4] if len(fields) > 4 and isinstance(fields[4], int) else -1
    return [stat, area, cell, rat, 0, 0]


def _current_act() -> int:
    response = at("AT+COPS?", quiet=True)
    value = response.value("+COPS:") if response is not None else None
    fields = parse_fields(value) if value is not None else []
    return fields[3] if len(fields) > 3 and isinstance(fields[3], int) else 0


def registration_stat() -> int:
    """The data (PS) registration <stat>, else the voice one; -1 when neither answers."""
    for command, prefix in (
        ("AT+CEREG?", "+CEREG:"),
        ("AT+CGREG?", "+CGREG:"),
        ("AT+CREG?", "+CREG:"),
    ):
        entry = _registration(command, prefix)
        if entry is not None:
            return entry[0]
    return FAILED


def getState() -> tuple[list[int], list[int]] | int:
    voice = _registration("AT+CREG?", "+CREG:")
    data = _registration("AT+CEREG?", "+CEREG:") or _registration("AT+CGREG?", "+CGREG:")
    if voice is None and data is None:
        return FAILED
    voice = voice or [0, 0, 0, 0, 0, 0]
    data = data or [0, 0, 0, 0, 0, 0]
    if -1 in (voice[3], data[3]):
        act = _current_act() if data[0] in REGISTERED or voice[0] in REGISTERED else 0
        for entry in (voice, data):
            if entry[3] == -1:
                entry[3] = act if entry[0] in REGISTERED else 0
    return (voice, data)


def operatorName() -> tuple[str, str, str, str] | int:
    """``(long, short, mcc, mnc)`` via ``AT+COPS?`` in each name format (``AT+COPS=3,<f>``),
    the module's own format restored afterwards; -1 when not registered."""
    first = at("AT+COPS?")
    value = first.value("+COPS:") if first is not None else None
    fields = parse_fields(value) if value is not None else []
    if len(fields) < 3:
        return FAILED
    original = fields[1] if isinstance(fields[1], int) else 0
    names: dict[int, str] = {original: str(fields[2])}
    format_changed = False
    for fmt in COPS_FORMATS:
        if fmt in names:
            continue
        if at(f"AT+COPS=3,{fmt}", quiet=True) is None:
            continue
        format_changed = True
        answer = at("AT+COPS?", quiet=True)
        got = parse_fields(answer.value("+COPS:") or "") if answer is not None else []
        if len(got) >= 3:
            names[fmt] = str(got[2])
    if format_changed:
        at(f"AT+COPS=3,{original}", quiet=True)
    numeric = names.get(2, "")
    return (names.get(0, ""), names.get(1, ""), numeric[:3], numeric[3:])


def getModemFun() -> int:
    """``AT+CFUN?``: 0 minimum, 1 full, 4 RF off; -1 on failure."""
    response = at("AT+CFUN?")
    value = response.value("+CFUN:") if response is not None else None
    fields = parse_fields(value) if value is not None else []
    return fields[0] if fields and isinstance(fields[0], int) else FAILED


def setModemFun(fun: int, rst: int = 0) -> int:
    """``AT+CFUN=<fun>[,<rst>]`` (up to 15 s per Quectel): 0 done, -1 failed."""
    if fun not in (0, 1, 4) or rst not in (0, 1):
        return FAILED
    command = f"AT+CFUN={fun},{rst}" if rst else f"AT+CFUN={fun}"
    return 0 if at(command, timeout=15.0) is not None else FAILED


from client_api.quecpython.net_cells import (  # noqa: E402 - they use operatorName's helpers
    getCellInfo as getCellInfo,
)
from client_api.quecpython.net_cells import getCi as getCi  # noqa: E402
from client_api.quecpython.net_cells import getConfig as getConfig  # noqa: E402
from client_api.quecpython.net_cells import getLac as getLac  # noqa: E402
from client_api.quecpython.net_cells import getMcc as getMcc  # noqa: E402
from client_api.quecpython.net_cells import getMnc as getMnc  # noqa: E402
from client_api.quecpython.net_cells import getNetMode as getNetMode  # noqa: E402
from client_api.quecpython.net_cells import getServingCi as getServingCi  # noqa: E402
from client_api.quecpython.net_cells import getServingLac as getServingLac  # noqa: E402
from client_api.quecpython.net_cells import getServingMcc as getServingMcc  # noqa: E402
from client_api.quecpython.net_cells import getServingMnc as getServingMnc  # noqa: E402
from client_api.quecpython.net_cells import getSignal as getSignal  # noqa: E402
from client_api.quecpython.net_cells import nitzTime as nitzTime  # noqa: E402


def __getattr__(name: str) -> object:
    raise missing_attribute("net", name, PROVIDED)
