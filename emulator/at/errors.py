"""AT errors: raised by parsers and handlers, rendered in one place (engine._render_error).

`+CME ERROR` codes and texts follow 3GPP TS 27.007 §9.2 as Quectel lists them in its
"LTE Standard" AT manuals (see shared/reference/quectel-at-research.md §6).
"""

from __future__ import annotations

from typing import ClassVar

# 3GPP TS 27.007 §9.2.1 (general) and §9.2.2 (GPRS) codes with the texts Quectel prints at CMEE=2.
CME_TEXTS: dict[int, str] = {
    0: "Phone failure",
    1: "No connection to phone",
    2: "Phone-adaptor link reserved",
    3: "Operation not allowed",
    4: "Operation not supported",
    5: "PH-SIM PIN required",
    6: "PH-FSIM PIN required",
    7: "PH-FSIM PUK required",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    15: "SIM wrong",
    16: "Incorrect password",
    17: "SIM PIN2 required",
    18: "SIM PUK2 required",
    20: "Memory full",
    21: "Invalid index",
    22: "Not found",
    23: "Memory failure",
    24: "Text string too long",
    25: "Invalid characters in text string",
    26: "Dial string too long",
    27: "Invalid characters in dial string",
    30: "No network service",
    31: "Network timeout",
    32: "Network not allowed - emergency calls only",
    50: "Incorrect parameters",
    100: "Unknown",
    148: "Unspecified GPRS error",
    149: "PDP authentication failure",
}


class AtError(Exception):
    """Base of every error a command can end with."""


class SyntaxAtError(AtError):
    """The line is not a well-formed command (V.250): always a plain ``ERROR``.

    Unknown commands, unbalanced quotes, non-ASCII bytes and overlong lines land here,
    whatever ``AT+CMEE`` says, as on the hardware.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CmeError(AtError):
    """An ME error: ``+CME ERROR: <code>`` (CMEE=1), its text (CMEE=2) or ``ERROR`` (CMEE=0)."""

    code: ClassVar[int] = 100

    def __init__(self, reason: str = "", *, code: int | None = None) -> None:
        super().__init__(reason or CME_TEXTS.get(code if code is not None else self.code, ""))
        if code is not None:
            self.code = code  # type: ignore[misc]  # instance override of the class default
        self.reason = reason

    @property
    def text(self) -> str:
        return CME_TEXTS.get(self.code, "Unknown")


class OperationNotAllowed(CmeError):
    code = 3


class OperationNotSupported(CmeError):
    code = 4


class SimNotInserted(CmeError):
    code = 10


class SimPinRequired(CmeError):
    code = 11


class SimFailure(CmeError):
    code = 13


class SimBusy(CmeError):
    code = 14


class NotFound(CmeError):
    code = 22


class TextTooLong(CmeError):
    code = 24


class InvalidCharacters(CmeError):
    code = 25


class NoNetworkService(CmeError):
    code = 30


class IncorrectParameters(CmeError):
    """Wrong parameter count, type or range (27.007 code 50)."""

    code = 50


class PdpAuthenticationFailure(CmeError):
    code = 149


class UnspecifiedGprsError(CmeError):
    code = 148
