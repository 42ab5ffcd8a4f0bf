"""How a ``+QLWURC`` line becomes QuecPython's callback list ``[event_type, event_code, text]``.

QuecPython passes the module's C event ``{event_id, event_code, param}`` to the callback
(QuecPython's lwm2m documentation). The ids below are the client's event model (from the
QuecOpen LwM2M C API, ql_lwm2m_api.h, and Quectel's Wakaama-based client): 1 STATE_CHG_IND,
2 OPT_OBJ_IND, 3 FW_DLOAD_IND, 6 UPDATE_IND, 15 LIFETIME_CHG_IND; results 0 SUCCESS,
-1 ERROR. Which id each URC rides on is our reading of that model, kept here as data; the
document itself says the first two elements "can be ignored" and applications look at the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from client_api.at_args import parse_fields

URC_PREFIX = "+QLWURC:"

EVENT_STATE_CHANGE = 1  # STATE_CHG_IND: pdp, initial, dtls, bootstrap, register, deregister
EVENT_OBJECT_WRITTEN = 2  # OPT_OBJ_IND: the server operated on an object the host cares about
EVENT_FIRMWARE_DOWNLOAD = 3  # FW_DLOAD_IND: a package URI for the host to fetch
EVENT_UPDATE = 6  # UPDATE_IND: result of a registration update
EVENT_LIFETIME_CHANGED = 15  # LIFETIME_CHG_IND
EVENT_UNKNOWN = -1  # a URC name outside the document's event table

RESULT_SUCCESS = 0
RESULT_ERROR = -1


class CodeFrom(Enum):
    """Where the event code comes from in the URC's fields."""

    RESULT = "result"  # 2nd field "successfully" -> 0, "failed" -> -1
    DEREGISTER_CODE = "deregister code"  # last field: 0 success -> 0, 1/3 -> -1
    NOTHING = "nothing"  # informational: always 0


@dataclass(frozen=True, kw_only=True)
class UrcEvent:
    event_type: int
    code_from: CodeFrom


# The document's event table, URC name -> event.
URC_EVENTS: dict[str, UrcEvent] = {
    "pdp active": UrcEvent(event_type=EVENT_STATE_CHANGE, code_from=CodeFrom.RESULT),
    "initial": UrcEvent(event_type=EVENT_STATE_CHANGE, code_from=CodeFrom.RESULT),
    "dtls": UrcEvent(event_type=EVENT_STATE_CHANGE, code_from=CodeFrom.RESULT),
    "bootstraping": UrcEvent(event_type=EVENT_STATE_CHANGE, code_from=CodeFrom.NOTHING),
    "bootstrap": UrcEvent(event_type=EVENT_STATE_CHANGE, code_from=CodeFrom.RESULT),
    "registering": UrcEvent(event_type=EVENT_STATE_CHANGE, code_from=CodeFrom.NOTHING),
    "ready": UrcEvent(event_type=EVENT_STATE_CHANGE, code_from=CodeFrom.RESULT),
    "update": UrcEvent(event_type=EVENT_UPDATE, code_from=CodeFrom.RESULT),
    "deregister": UrcEvent(event_type=EVENT_STATE_CHANGE, code_from=CodeFrom.DEREGISTER_CODE),
    "fota/pkgurl": UrcEvent(event_type=EVENT_FIRMWARE_DOWNLOAD, code_from=CodeFrom.NOTHING),
    # Not in the document's table; the emulator's profiles report a finished download so.
    "fota/downloaded": UrcEvent(event_type=EVENT_FIRMWARE_DOWNLOAD, code_from=CodeFrom.NOTHING),
    "apn_changed": UrcEvent(event_type=EVENT_OBJECT_WRITTEN, code_from=CodeFrom.NOTHING),
    "user_name_changed": UrcEvent(event_type=EVENT_OBJECT_WRITTEN, code_from=CodeFrom.NOTHING),
    "secret_changed": UrcEvent(event_type=EVENT_OBJECT_WRITTEN, code_from=CodeFrom.NOTHING),
    "authentication_type_changed": UrcEvent(
        event_type=EVENT_OBJECT_WRITTEN, code_from=CodeFrom.NOTHING
    ),
    "lifetime_changed": UrcEvent(event_type=EVENT_LIFETIME_CHANGED, code_from=CodeFrom.NOTHING),
    "current_time_changed": UrcEvent(event_type=EVENT_OBJECT_WRITTEN, code_from=CodeFrom.NOTHING),
}

RESULT_CODES: dict[str, int] = {"successfully": RESULT_SUCCESS, "failed": RESULT_ERROR}


def callback_args(line: str) -> list[object]:
    """``[event_type, event_code, line]`` for a whole ``+QLWURC: ...`` line."""
    fields = parse_fields(line[len(URC_PREFIX) :]) if line.startswith(URC_PREFIX) else []
    name = fields[0] if fields and isinstance(fields[0], str) else None
    event = URC_EVENTS.get(name) if name is not None else None
    if event is None:
        return [EVENT_UNKNOWN, RESULT_SUCCESS, line]
    code = RESULT_SUCCESS
    if event.code_from is CodeFrom.RESULT:
        result = fields[1] if len(fields) > 1 else None
        code = RESULT_CODES.get(result, RESULT_ERROR) if isinstance(result, str) else RESULT_ERROR
    elif event.code_from is CodeFrom.DEREGISTER_CODE:
        last = fields[-1] if len(fields) > 1 else None
        code = RESULT_SUCCESS if last == 0 else RESULT_ERROR
    return [event.event_type, code, line]
