"""QuecPython ``net`` getters for signal, cells and network mode (re-exported by ``net``).

* ``getSignal(sinrEnable=0)`` -> ``([rssi, ber, rscp, ecno], [rssi, rsrp, rsrq, cqi
  (, sinr)])``: the LTE list from ``AT+QCSQ`` (``"LTE",<rssi>,<rsrp>,<sinr>,<rsrq>``,
  SINR in 1/5 dB from -20 dB, as Quectel's manuals give it) and the CQI of
  ``AT+QENG="servingcell"`` where the module prints one; the GSM/WCDMA list from the
  ``"GSM"``/``"WCDMA"`` forms and ``AT+CSQ``'s bit error rate. What the module does not
  measure reads as the document's "unknown": 99 for RSSI/RSRP/BER, 255 for the rest.
* ``getCellInfo()`` -> ``([GSM cells], [UMTS cells], [LTE cells])`` from
  ``AT+QENG="servingcell"`` (flag 0) and ``"neighbourcell"`` (flag 2 intra, 3 inter).
  LTE: ``(flag, cid, mcc, mnc, pci, tac, earfcn, rssi, rsrq, sinr)`` where, as the
  document notes for these modules, the RSSI slot holds RSRP; GSM: ``(flag, cid, mcc,
  mnc, lac, arfcn, bsic, rssi)``; UMTS: ``(flag, cid, lcid, mcc, mnc, lac, uarfcn, psc,
  rssi)``. MCC/MNC decimal, cell ID and TAC/LAC converted from hex; a neighbour's
  unreported identity reads 0. No serving cell (``"SEARCH"``, ``"LIMSRV"``): three
  empty lists.
* ``getServingCi``/``Mcc``/``Mnc``/``Lac`` take the serving cell's values (-1 without
  one); ``getCi``/``getMcc``/``getMnc``/``getLac`` list them over every cell.
* ``getConfig()`` -> ``(mode, roaming)``: ``AT+QCFG="nwscanmode"`` (0 automatic -> the
  document's 6 "GSM_LTE, auto" or 12 "GSM_UMTS_LTE, auto" when the module can scan
  WCDMA, 1 GSM only -> 0, 2 WCDMA only -> 1, 3 LTE only -> 5) and
  ``AT+QCFG="roamservice"`` (1 off -> False, 2 on / 255 auto -> True).
* ``getNetMode()`` -> ``(selection_mode, mcc, mnc, act)`` from ``AT+COPS?`` read in
  numeric format (the module's format is restored); 27.007 <AcT> 0-7 are the
  document's ACT values; -1 while not registered.
* ``nitzTime()`` -> ``(date, abs_time, leap_sec)``: the network time of ``AT+QLTS``
  (``+QLTS: "yyyy/MM/dd,hh:mm:ss±zz,<dst>"``, UTC with the network's zone) as the
  document shows it, ``('yy/MM/dd hh:mm:ss±zz', <UTC seconds>, 0)``; -1 before the
  network has sent its time (``+QLTS: ""``).
"""

from __future__ import annotations

import calendar
import re

from client_api.at_args import parse_fields
from client_api.quecpython._support import FAILED, at

UNKNOWN_DBM = 99
UNKNOWN = 255
Cell = tuple[int, ...]


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _hex(value: object) -> int:
    try:
        return int(str(value), 16)
    except ValueError:
        return 0


def _serving_fields() -> list[int | str] | None:
    """The fields of ``+QENG: "servingcell",...`` (None when the module refused)."""
    response = at('AT+QENG="servingcell"')
    if response is None:
        return None
    for value in response.values("+QENG:"):
        fields = parse_fields(value)
        if fields and fields[0] == "servingcell":
            return fields
    return []


# ------------------------------------------------------------------------- signal
def getSignal(sinrEnable: int = 0) -> tuple[list[int], list[int]] | int:
    gw = [UNKNOWN_DBM, UNKNOWN_DBM, UNKNOWN, UNKNOWN]
    lte = [UNKNOWN_DBM, UNKNOWN_DBM, UNKNOWN, UNKNOWN]
    sinr = UNKNOWN
    response = at("AT+QCSQ")
    value = response.value("+QCSQ:") if response is not None else None
    if value is None:
        return FAILED
    fields = parse_fields(value)
    mode = str(fields[0]) if fields else "NOSERVICE"
    numbers = [_int(f, UNKNOWN) for f in fields[1:]]
    if mode == "LTE" and len(numbers) >= 4:
        lte[0], lte[1], lte[2] = numbers[0], numbers[1], numbers[3]
        sinr = round(numbers[2] / 5) - 20
        serving = _serving_fields() or []
        if len(serving) >= 20 and serving[2] == "LTE":  # layouts with <CQI> after <SINR>
            lte[3] = _int(serving[17], UNKNOWN)
    elif mode == "GSM" and numbers:
        gw[0] = numbers[0]
    elif mode in ("WCDMA", "TDSCDMA") and len(numbers) >= 3:
        gw[0], gw[2], gw[3] = numbers[0], numbers[1], numbers[2]
    if mode in ("GSM", "WCDMA", "TDSCDMA"):
        csq = at("AT+CSQ", quiet=True)
        csq_fields = parse_fields(csq.value("+CSQ:") or "") if csq is not None else []
        if len(csq_fields) > 1:
            gw[1] = _int(csq_fields[1], UNKNOWN_DBM)
    if sinrEnable:
        lte.append(sinr)
    return (gw, lte)


# -------------------------------------------------------------------------- cells
def _serving_cell(fields: list[int | str]) -> tuple[int, Cell] | None:
    """(0 GSM | 1 UMTS | 2 LTE, the document's tuple) of the serving cell line."""
    if len(fields) < 3:
        return None
    rat = fields[2]
    f = fields
    if rat == "LTE" and len(f) >= 17:
        return 2, (
            0,
            _hex(f[6]),
            _int(f[4]),
            _int(f[5]),
            _int(f[7]),
            _hex(f[12]),
            _int(f[8]),
            _int(f[13], UNKNOWN_DBM),
            _int(f[14], UNKNOWN),
            _int(f[16], UNKNOWN),
        )
    if rat == "GSM" and len(f) >= 13:
        return 0, (
            0,
            _hex(f[6]),
            _int(f[3]),
            _int(f[4]),
            _hex(f[5]),
            _int(f[8]),
            _int(f[7]),
            _int(f[12], UNKNOWN_DBM),
        )
    if rat == "WCDMA" and len(f) >= 12:
        return 1, (
            0,
            _hex(f[6]),
            0,
            _int(f[3]),
            _int(f[4]),
            _hex(f[5]),
            _int(f[7]),
            _int(f[8]),
            _int(f[10], UNKNOWN_DBM),
        )
    return None


def _neighbours() -> list[Cell]:
    """LTE neighbours of ``+QENG: "neighbourcell intra|inter","LTE",<earfcn>,<pci>,<rsrq>,
    <rsrp>,<rssi>,<sinr>,...``."""
    response = at('AT+QENG="neighbourcell"', quiet=True)
    cells: list[Cell] = []
    for value in response.values("+QENG:") if response is not None else []:
        f = parse_fields(value)
        if len(f) < 8 or f[1] != "LTE" or not str(f[0]).startswith("neighbourcell"):
            continue
        flag = 2 if "intra" in str(f[0]) else 3
        cells.append(
            (
                flag,
                0,
                0,
                0,
                _int(f[3]),
                0,
                _int(f[2]),
                _int(f[5], UNKNOWN_DBM),
                _int(f[4], UNKNOWN),
                _int(f[7], UNKNOWN),
            )
        )
    return cells


def getCellInfo() -> tuple[list[Cell], list[Cell], list[Cell]] | int:
    fields = _serving_fields()
    if fields is None:
        return FAILED
    lists: tuple[list[Cell], list[Cell], list[Cell]] = ([], [], [])
    serving = _serving_cell(fields)
    if serving is None:
        return lists
    lists[serving[0]].append(serving[1])
    if serving[0] == 2:
        lists[2].extend(_neighbours())
    return lists


# Field index of (cid, mcc, mnc, lac/tac) in each RAT's tuple
_ID_FIELDS = ((1, 2, 3, 4), (1, 3, 4, 5), (1, 2, 3, 5))


def _serving_value(which: int) -> int:
    fields = _serving_fields()
    serving = _serving_cell(fields) if fields else None
    if serving is None:
        return FAILED
    rat, cell = serving
    return cell[_ID_FIELDS[rat][which]]


def _all_values(which: int) -> list[int] | int:
    info = getCellInfo()
    if isinstance(info, int):
        return info
    return [cell[_ID_FIELDS[rat][which]] for rat, cells in enumerate(info) for cell in cells]


def getServingCi() -> int:
    return _serving_value(0)


def getServingMcc() -> int:
    return _serving_value(1)


def getServingMnc() -> int:
    return _serving_value(2)


def getServingLac() -> int:
    return _serving_value(3)


def getCi() -> list[int] | int:
    return _all_values(0)


def getMcc() -> list[int] | int:
    return _all_values(1)


def getMnc() -> list[int] | int:
    return _all_values(2)


def getLac() -> list[int] | int:
    return _all_values(3)


# ---------------------------------------------------------------------- mode
SCAN_TO_MODE = {1: 0, 2: 1, 3: 5}
GSM_LTE_AUTO = 6
GSM_UMTS_LTE_AUTO = 12
ROAMING_OFF = 1


def _qcfg(name: str) -> list[int | str] | None:
    response = at(f'AT+QCFG="{name}"')
    value = response.value("+QCFG:") if response is not None else None
    fields = parse_fields(value) if value else []
    return fields[1:] if len(fields) > 1 and str(fields[0]).lower() == name else None


def _can_scan_wcdma() -> bool:
    response = at("AT+QCFG=?", quiet=True)
    for value in response.values("+QCFG:") if response is not None else []:
        if value.lower().startswith('"nwscanmode"'):
            ranges = value.split(",", 1)[1] if "," in value else ""
            return "2" in ranges.replace("0-3", "0,1,2,3")
    return False


def getConfig() -> tuple[int, bool] | int:
    scan = _qcfg("nwscanmode")
    roam = _qcfg("roamservice")
    if not scan or not isinstance(scan[0], int):
        return FAILED
    if scan[0] == 0:
        mode = GSM_UMTS_LTE_AUTO if _can_scan_wcdma() else GSM_LTE_AUTO
    elif scan[0] in SCAN_TO_MODE:
        mode = SCAN_TO_MODE[scan[0]]
    else:
        return FAILED
    roaming = not (roam and roam[0] == ROAMING_OFF)
    return (mode, roaming)


def getNetMode() -> tuple[int, str, str, int] | int:
    first = at("AT+COPS?")
    fields = parse_fields(first.value("+COPS:") or "") if first is not None else []
    if len(fields) < 3 or not isinstance(fields[0], int):
        return FAILED
    original = _int(fields[1])
    numeric = fields
    if original != 2:
        if at("AT+COPS=3,2") is None:
            return FAILED
        answer = at("AT+COPS?")
        numeric = parse_fields(answer.value("+COPS:") or "") if answer is not None else []
        at(f"AT+COPS=3,{original}", quiet=True)
        if len(numeric) < 3:
            return FAILED
    operator = str(numeric[2])
    selection = 0 if fields[0] == 0 else 1
    act = _int(numeric[3], 10) if len(numeric) > 3 else 10
    return (selection, operator[:3], operator[3:], act if 0 <= act <= 7 else 10)


_QLTS = re.compile(r"^(\d{4})/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d\d)")


def nitzTime() -> tuple[str, int, int] | int:
    response = at("AT+QLTS")
    value = response.value("+QLTS:") if response is not None else None
    fields = parse_fields(value) if value else []
    match = _QLTS.match(str(fields[0])) if fields else None
    if match is None:
        return FAILED
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    zone = match.group(7)
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (OverflowError, ValueError):
        return FAILED
    date = f"{year % 100:02d}/{month:02d}/{day:02d} {hour:02d}:{minute:02d}:{second:02d}{zone}"
    return (date, seconds, 0)
