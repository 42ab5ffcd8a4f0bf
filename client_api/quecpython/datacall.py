"""QuecPython ``dataCall``: PDP contexts over AT.

State and addresses come from ``AT+QIACT?`` (Quectel: ``+QIACT: <cid>,<state>,<type>[,
"<ipv4>"][,"<ipv6>"]``), or ``AT+CGACT?`` + ``AT+CGPADDR`` (27.007 §10.1.10, §10.1.14) on
a module without QIACT. DNS servers come from ``AT+QIDNSCFG=<cid>`` when the module has it.
``setCallback`` reports ``(profileID, 0|1)`` from ``+QIURC: "pdpdeact",<cid>`` and
``+CGEV: ... PDN ACT|DEACT <cid>`` URCs. ``getPdpRange()`` is the ``<cid>`` range the
module lists for ``AT+CGDCONT=?``; ``getApn(simid[, profileIdx])`` the APN of context
``profileIdx`` (default 1, the default bearer) from ``AT+CGDCONT?``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from client_api.at_args import BadArgument, check_string, parse_fields
from client_api.at_session import UrcReceived
from client_api.ports import default_channel
from client_api.quecpython._support import FAILED, at, missing_attribute

PROVIDED = (
    "getInfo",
    "activate",
    "deactivate",
    "setPDPContext",
    "getPDPContext",
    "setCallback",
    "getPdpRange",
    "getApn",
)

PROFILE_IDS = range(1, 16)  # the document says 1-3 but getInfo accepts more
IP_TYPES = {0: "IP", 1: "IPV6", 2: "IPV4V6"}  # dataCall ipType -> 27.007 PDP_type
QICSGP_TYPES = {0: 1, 1: 2, 2: 3}  # dataCall ipType -> Quectel context_type
UNSET_V4 = "0.0.0.0"
UNSET_V6 = "::"
ACTIVATE_TIMEOUT = 150.0  # Quectel's maximum response time for AT+QIACT
DEACTIVATE_TIMEOUT = 40.0


def _context(profile_id: int) -> tuple[int, list[str]] | None:
    """(state, [ipv4, ipv6]) of a context; None when the module cannot tell."""
    response = at("AT+QIACT?", quiet=True)
    if response is not None:
        for value in response.values("+QIACT:"):
            fields = parse_fields(value)
            if fields and fields[0] == profile_id:
                state = fields[1] if len(fields) > 1 and isinstance(fields[1], int) else 0
                return state, [str(f) for f in fields[3:]]
        return 0, []
    response = at("AT+CGACT?", quiet=True)
    if response is None:
        return None
    state = 0
    for value in response.values("+CGACT:"):
        fields = parse_fields(value)
        if len(fields) > 1 and fields[0] == profile_id and isinstance(fields[1], int):
            state = fields[1]
    if state != 1:
        return state, []
    answer = at(f"AT+CGPADDR={profile_id}", quiet=True)
    address_line = answer.value("+CGPADDR:") if answer is not None else None
    return state, [str(f) for f in parse_fields(address_line)[1:]] if address_line else []


def _dns(profile_id: int) -> tuple[str, str]:
    response = at(f"AT+QIDNSCFG={profile_id}", quiet=True)
    value = response.value("+QIDNSCFG:") if response is not None else None
    fields = parse_fields(value) if value else []
    primary = str(fields[1]) if len(fields) > 1 and fields[1] else UNSET_V4
    secondary = str(fields[2]) if len(fields) > 2 and fields[2] else UNSET_V4
    return primary, secondary


def getInfo(profileID: int, ipType: int) -> tuple[object, ...] | int:
    """``(profileID, ipType, [state, reconnect, addr, priDNS, secDNS])``; two lists for
    ipType 2; ``[0, 0, '0.0.0.0', '0.0.0.0', '0.0.0.0']`` when not active; -1 on failure."""
    if profileID not in PROFILE_IDS or ipType not in IP_TYPES:
        return FAILED
    context = _context(profileID)
    if context is None:
        return FAILED
    state, addresses = context
    v4 = next((a for a in addresses if "." in a), UNSET_V4)
    v6 = next((a for a in addresses if ":" in a), UNSET_V6)
    if state == 1:
        primary, secondary = _dns(profileID)
    else:
        primary, secondary = UNSET_V4, UNSET_V4
    ipv4 = [state if v4 != UNSET_V4 else 0, 0, v4, primary, secondary]
    ipv6 = [state if v6 != UNSET_V6 else 0, 0, v6, primary, secondary]
    if ipType == 0:
        return (profileID, ipType, ipv4)
    if ipType == 1:
        return (profileID, ipType, ipv6)
    return (profileID, ipType, ipv4, ipv6)


def activate(profileID: int) -> int:
    """``AT+QIACT=<id>`` (``AT+CGACT=1,<id>`` when QIACT is refused): 0 done, -1 failed."""
    if profileID not in PROFILE_IDS:
        return FAILED
    if at(f"AT+QIACT={profileID}", timeout=ACTIVATE_TIMEOUT, quiet=True) is not None:
        return 0
    return 0 if at(f"AT+CGACT=1,{profileID}", timeout=ACTIVATE_TIMEOUT) is not None else FAILED


def deactivate(profileID: int) -> int:
    """``AT+QIDEACT=<id>`` (``AT+CGACT=0,<id>`` when refused): 0 done, -1 failed."""
    if profileID not in PROFILE_IDS:
        return FAILED
    if at(f"AT+QIDEACT={profileID}", timeout=DEACTIVATE_TIMEOUT, quiet=True) is not None:
        return 0
    return 0 if at(f"AT+CGACT=0,{profileID}", timeout=DEACTIVATE_TIMEOUT) is not None else FAILED


def setPDPContext(
    profileID: int,
    ipType: int,
    apn: str,
    username: str = "",
    password: str = "",
    authType: int = 0,
) -> int:
    """``AT+CGDCONT=<id>,"<type>","<apn>"``; with credentials also ``AT+QICSGP``."""
    if profileID not in PROFILE_IDS or ipType not in IP_TYPES or authType not in range(4):
        return FAILED
    try:
        for value in (apn, username, password):
            check_string(value)
    except BadArgument:
        return FAILED
    if any(len(v) > 64 for v in (apn, username, password)):
        return FAILED
    if at(f'AT+CGDCONT={profileID},"{IP_TYPES[ipType]}","{apn}"') is None:
        return FAILED
    if username or password:
        command = (
            f'AT+QICSGP={profileID},{QICSGP_TYPES[ipType]},"{apn}","{username}",'
            f'"{password}",{authType}'
        )
        if at(command) is None:
            return FAILED
    return 0


def getPDPContext(profileID: int) -> tuple[int, str, str, str, int] | int:
    """``(ipType, apn, username, password, authType)`` from ``AT+QICSGP=<id>``, else from
    ``AT+CGDCONT?`` (no credentials there); -1 when the context is not defined."""
    if profileID not in PROFILE_IDS:
        return FAILED
    types_by_qicsgp = {v: k for k, v in QICSGP_TYPES.items()}
    response = at(f"AT+QICSGP={profileID}", quiet=True)
    value = response.value("+QICSGP:") if response is not None else None
    if value:
        f = parse_fields(value)
        if len(f) >= 5 and isinstance(f[0], int) and isinstance(f[4], int):
            return (types_by_qicsgp.get(f[0], 0), str(f[1]), str(f[2]), str(f[3]), f[4])
    types_by_name = {v: k for k, v in IP_TYPES.items()}
    response = at("AT+CGDCONT?")
    for value in response.values("+CGDCONT:") if response is not None else []:
        f = parse_fields(value)
        if len(f) >= 3 and f[0] == profileID:
            return (types_by_name.get(str(f[1]).upper(), 0), str(f[2]), "", "", 0)
    return FAILED


_callback: Callable[[tuple[int, int]], object] | None = None
_listening_on: set[int] = set()
_lock = threading.Lock()


def _on_urc(urc: UrcReceived) -> None:
    callback = _callback
    if callback is None:
        return
    event = _network_event(urc.line)
    if event is not None:
        callback(event)


def _network_event(line: str) -> tuple[int, int] | None:
    if line.startswith("+QIURC:"):
        fields = parse_fields(line[len("+QIURC:") :])
        if len(fields) > 1 and fields[0] == "pdpdeact" and isinstance(fields[1], int):
            return (fields[1], 0)
        return None
    if line.startswith("+CGEV:"):
        words = line[len("+CGEV:") :].split()
        if len(words) >= 3 and words[-3] == "PDN" and words[-1].isdigit():
            if words[-2] == "DEACT":
                return (int(words[-1]), 0)
            if words[-2] == "ACT":
                return (int(words[-1]), 1)
    return None


def setCallback(fun: Callable[[tuple[int, int]], object] | None) -> int:
    """Call ``fun((profileID, state))`` when a context goes down (0) or up (1)."""
    global _callback
    if fun is not None and not callable(fun):
        return FAILED
    channel = default_channel()
    with _lock:
        _callback = fun
        if id(channel) not in _listening_on:
            _listening_on.add(id(channel))
            channel.add_urc_listener(_on_urc, prefix="+QIURC:")
            channel.add_urc_listener(_on_urc, prefix="+CGEV:")
    return 0


def getPdpRange() -> tuple[int, int] | int:
    """``(min, max)`` profile IDs: the ``(<a>-<b>)`` of ``+CGDCONT: (1-15),"IP",...``."""
    response = at("AT+CGDCONT=?")
    for value in response.values("+CGDCONT:") if response is not None else []:
        match = re.match(r"^\((\d+)-(\d+)\)", value)
        if match:
            return (int(match.group(1)), int(match.group(2)))
    return FAILED


def getApn(simid: int, profileIdx: int = 1) -> str | int:
    """The APN of a defined context (only SIM 0 exists, as the document says); -1 when the
    context is not defined."""
    if simid != 0 or profileIdx not in PROFILE_IDS:
        return FAILED
    response = at("AT+CGDCONT?")
    for value in response.values("+CGDCONT:") if response is not None else []:
        fields = parse_fields(value)
        if len(fields) >= 3 and fields[0] == profileIdx:
            return str(fields[2])
    return FAILED


def __getattr__(name: str) -> object:
    raise missing_attribute("dataCall", name, PROVIDED)
