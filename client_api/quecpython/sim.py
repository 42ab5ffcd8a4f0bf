"""QuecPython ``sim``: SIM state and identity over AT.

``getStatus`` maps ``AT+CPIN?`` (3GPP TS 27.007 §8.3) onto QuecPython's status codes
(0 no SIM, 1 ready, 2 PIN, 3 PUK, ... 21 unknown); a ``+CME ERROR`` answer maps through
the error code (10 SIM not inserted -> 0, 14 SIM busy -> 18, 13/15 -> 20 invalid).
"""

from __future__ import annotations

from client_api.at_args import parse_fields
from client_api.errors import AtChannelError, CmeError, CommandError
from client_api.ports import default_channel
from client_api.quecpython._support import FAILED, at, bare_line, log, missing_attribute

PROVIDED = ("getStatus", "getImsi", "getIccid", "getPhoneNumber")

STATUS_UNKNOWN = 21

# +CPIN: <code> -> QuecPython sim.getStatus() value
CPIN_STATUS: dict[str, int] = {
    "READY": 1,
    "SIM PIN": 2,
    "SIM PUK": 3,
    "PH-SIM PIN": 4,
    "PH-SIM PUK": 5,
    "PH-FSIM PIN": 6,
    "PH-FSIM PUK": 7,
    "SIM PIN2": 8,
    "SIM PUK2": 9,
    "PH-NET PIN": 10,
    "PH-NET PUK": 11,
    "PH-NETSUB PIN": 12,
    "PH-NETSUB PUK": 13,
    "PH-SP PIN": 14,
    "PH-SP PUK": 15,
    "PH-CORP PIN": 16,
    "PH-CORP PUK": 17,
}
# +CME ERROR: <n> (27.007 §9.2) -> status
CME_STATUS: dict[int, int] = {10: 0, 13: 20, 14: 18, 15: 20}


def getStatus() -> int:
    """QuecPython's SIM status code; -1 when the module cannot be asked at all (gone,
    timed out), 21 (unknown) when it answers without a state."""
    try:
        response = default_channel().command("AT+CPIN?")
    except CmeError as exc:
        return CME_STATUS.get(exc.code, STATUS_UNKNOWN) if exc.code is not None else STATUS_UNKNOWN
    except CommandError:
        return STATUS_UNKNOWN  # the module answered, but not with a state
    except AtChannelError as exc:
        log.warning("%s", exc)
        return FAILED
    value = response.value("+CPIN:")
    return CPIN_STATUS.get(value, STATUS_UNKNOWN) if value is not None else STATUS_UNKNOWN


def getImsi() -> str | int:
    """``AT+CIMI``: the IMSI line."""
    value = bare_line(at("AT+CIMI"))
    return value if value else FAILED


def getIccid() -> str | int:
    """``AT+QCCID``: ``+QCCID: <ICCID>``."""
    response = at("AT+QCCID")
    value = response.value("+QCCID:") if response is not None else None
    return value if value else FAILED


def getPhoneNumber() -> str | int:
    """``AT+CNUM``: the number of the first ``+CNUM: "<alpha>","<number>",<type>`` line."""
    response = at("AT+CNUM")
    value = response.value("+CNUM:") if response is not None else None
    if value is None:
        return FAILED
    fields = parse_fields(value)
    number = fields[1] if len(fields) > 1 else None
    return number if isinstance(number, str) and number else FAILED


def __getattr__(name: str) -> object:
    raise missing_attribute("sim", name, PROVIDED)
