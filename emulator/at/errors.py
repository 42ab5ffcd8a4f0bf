"""AT errors: raised by parsers and handlers, rendered in one place (engine._render_error).

`+CME ERROR` codes and texts follow 3GPP TS 27.007 §9.2 as Quectel lists them in its
"LTE Standard" AT manuals.
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


# 3GPP TS 27.005 §3.2.5 <err> values of +CMS ERROR (0-255 are network causes, 300+ the ME's).
CMS_TEXTS: dict[int, str] = {
    300: "ME failure",
    301: "SMS service of ME reserved",
    302: "Operation not allowed",
    303: "Operation not supported",
    304: "Invalid PDU mode parameter",
    305: "Invalid text mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    313: "SIM failure",
    314: "SIM busy",
    320: "Memory failure",
    321: "Invalid memory index",
    322: "Memory full",
    330: "SMSC address unknown",
    331: "No network service",
    332: "Network timeout",
    340: "No +CNMA acknowledgement expected",
    500: "Unknown error",
}


class CmsError(AtError):
    """A message service error: ``+CMS ERROR: <err>`` (3GPP TS 27.005 §3.2.5).

    27.005 defines only the numeric form and does not tie it to AT+CMEE: it replaces OK and
    ends the line like ``+CME ERROR`` does.
    """

    code: ClassVar[int] = 500

    def __init__(self, reason: str = "", *, code: int | None = None) -> None:
        super().__init__(reason or CMS_TEXTS.get(code if code is not None else self.code, ""))
        if code is not None:
            self.code = code  # type: ignore[misc]  # instance override of the class default
        self.reason = reason

    @property
    def text(self) -> str:
        return CMS_TEXTS.get(self.code, "Unknown error")
