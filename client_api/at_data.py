"""What the host needs to know about a Quectel AT port's output, kept as data.

Sources: ITU-T V.250 §5.7 (result codes), 3GPP TS 27.007 §9.2 (+CME ERROR), §7.2/§10.1.19
(+CREG/+CEREG forms), Quectel "LTE Standard" AT manuals (boot URCs, +QIND, +QUSIM), and
QuecPython's lwm2m documentation (+QLWURC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# V.250 §5.7.1 final result codes in verbose form (ATV1), plus the two 27.007 error forms.
# ``CONNECT`` is final for the command that caused it; data mode itself is not supported here.
FINAL_RESULT_LINES: frozenset[str] = frozenset(
    {"OK", "ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "CONNECT"}
    | {"SEND OK", "SEND FAIL"}  # Quectel AT+QISEND / AT+QISENDEX
)
# Final result codes that mean the command succeeded (the others raise CommandError).
SUCCESS_FINALS: frozenset[str] = frozenset({"OK", "SEND OK"})
FINAL_RESULT_PREFIXES: tuple[str, ...] = ("+CME ERROR:", "+CMS ERROR:", "CONNECT ")

# Lines a Quectel module sends unsolicited. A line is a URC when it starts with one of the
# prefixes or equals one of the whole lines; everything else is part of a response.
# V.250 §5.7.1 numeric result codes (ATV0): the module sends ``<code><CR>`` (no LF) where
# ATV1 sends ``<CR><LF><text><CR><LF>``. Information text stays ``<text><CR><LF>``, and
# +CME ERROR / +CMS ERROR lines keep their text form.
NUMERIC_RESULT_CODES: dict[str, str] = {
    "0": "OK",
    "1": "CONNECT",
    "2": "RING",
    "3": "NO CARRIER",
    "4": "ERROR",
    "6": "NO DIALTONE",
    "7": "BUSY",
    "8": "NO ANSWER",
}

URC_PREFIXES: tuple[str, ...] = (
    "+QLWURC:",  # LwM2M client events
    "+CEREG:",  # EPS registration, 27.007 §10.1.22 (ambiguous: see UNSOLICITED_FORMS)
    "+CREG:",  # CS registration, 27.007 §7.2
    "+CGREG:",  # GPRS registration, 27.007 §10.1.20
    "+CFUN:",  # Quectel reports the functionality level after boot
    "+CPIN:",  # SIM state after boot / after a SIM event
    "+QUSIM:",  # Quectel: USIM detected
    "+QIND:",  # Quectel: "SMS DONE", "PB DONE", "csq",...
    "+QIURC:",  # Quectel TCP/IP stack events
    "+QIOPEN:",  # Quectel: the result of AT+QIOPEN, after its OK
    "+QPING:",  # Quectel: AT+QPING's results, after its OK
    "+QNTP:",  # Quectel: the result of AT+QNTP, after its OK
    "+CGEV:",  # 27.007 §10.1.19 packet domain events
    "+CTZV:",  # time zone change
    "+CTZE:",
    "+QNITZ:",
    "+CMTI:",  # 27.005 new SMS stored
    "+CMT:",
    "+CRING:",
    "+CLIP:",
    "+QSTAT:",
    # MQTT (Quectel MQTT Application Note) and HTTP(S) (HTTP(S) AT Commands Manual) results
    "+QMTOPEN:",
    "+QMTCLOSE:",
    "+QMTCONN:",
    "+QMTDISC:",
    "+QMTSUB:",
    "+QMTUNS:",
    "+QMTPUB:",
    "+QMTRECV:",
    "+QMTSTAT:",
    "+QMTPING:",
    "+QHTTPGET:",
    "+QHTTPPOST:",
    "+QHTTPPUT:",
    "+QHTTPREAD:",
)
URC_LINES: frozenset[str] = frozenset({"RDY", "RING", "POWERED DOWN", "NORMAL POWER DOWN"})

# Prefixes that are both a URC and the answer of a read command (AT+CEREG? answers
# "+CEREG: <n>,<stat>..." while the URC is "+CEREG: <stat>[,"<tac>",...]"). While such a
# command is in flight, a line with its prefix is part of the response unless it has the
# unsolicited shape below; a prefix without an entry here is always the response then.
UNSOLICITED_FORMS: dict[str, re.Pattern[str]] = {
    "+CREG:": re.compile(r'^\+CREG: ?\d+(?:,".*)?$'),
    "+CEREG:": re.compile(r'^\+CEREG: ?\d+(?:,".*)?$'),
    "+CGREG:": re.compile(r'^\+CGREG: ?\d+(?:,".*)?$'),
    # AT+QIOPEN=? answers ranges; the URC is <connectID>,<err>.
    "+QIOPEN:": re.compile(r"^\+QIOPEN: ?\d+,\d+$"),
    # AT+QPING=? answers ranges; the URCs start with a result code.
    "+QPING:": re.compile(r"^\+QPING: ?\d+(?:,.*)?$"),
    # AT+QMTOPEN? answers <idx>,"<host>",<port>; the URC is <idx>,<result>.
    "+QMTOPEN:": re.compile(r"^\+QMTOPEN: ?\d+,-?\d+$"),
    # AT+QMTCONN? answers <idx>,<state>; the URC carries <result>,<ret_code>.
    "+QMTCONN:": re.compile(r"^\+QMTCONN: ?\d+,\d+,-?\d+$"),
    # AT+QMTRECV? / AT+QMTRECV= answer slots or messages; "<idx>,<slot>" is the URC.
    "+QMTRECV:": re.compile(r"^\+QMTRECV: ?\d+,\d+$"),
}

# 3GPP TS 27.007 §9.2 texts (AT+CMEE=2) mapped back to codes, lower-cased for matching.
CME_CODES_BY_TEXT: dict[str, int] = {
    "phone failure": 0,
    "no connection to phone": 1,
    "phone-adaptor link reserved": 2,
    "operation not allowed": 3,
    "operation not supported": 4,
    "ph-sim pin required": 5,
    "ph-fsim pin required": 6,
    "ph-fsim puk required": 7,
    "sim not inserted": 10,
    "sim pin required": 11,
    "sim puk required": 12,
    "sim failure": 13,
    "sim busy": 14,
    "sim wrong": 15,
    "incorrect password": 16,
    "sim pin2 required": 17,
    "sim puk2 required": 18,
    "memory full": 20,
    "invalid index": 21,
    "not found": 22,
    "memory failure": 23,
    "text string too long": 24,
    "invalid characters in text string": 25,
    "dial string too long": 26,
    "invalid characters in dial string": 27,
    "no network service": 30,
    "network timeout": 31,
    "network not allowed - emergency calls only": 32,
    "incorrect parameters": 50,
    "unknown": 100,
}
CME_OPERATION_NOT_SUPPORTED = 4


@dataclass(frozen=True, kw_only=True)
class UrcTable:
    """Which lines are unsolicited: the prefix set, whole lines, and ambiguous shapes."""

    prefixes: tuple[str, ...] = URC_PREFIXES
    lines: frozenset[str] = URC_LINES
    unsolicited_forms: dict[str, re.Pattern[str]] = field(
        default_factory=lambda: dict(UNSOLICITED_FORMS)
    )

    def prefix_of(self, line: str) -> str | None:
        """The URC prefix ``line`` starts with, or the whole line for a URC line."""
        if line in self.lines:
            return line
        for prefix in self.prefixes:
            if line.startswith(prefix):
                return prefix
        return None


DEFAULT_URCS = UrcTable()


def is_final_result(line: str) -> bool:
    return line in FINAL_RESULT_LINES or line.startswith(FINAL_RESULT_PREFIXES)
