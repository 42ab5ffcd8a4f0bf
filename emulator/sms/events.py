"""What the short message service reports (``VirtualModule.next_event()`` carries them).

Here rather than in emulator/module/events.py because they speak the SMS codec's terms
(:class:`~emulator.sms.pdu.Alphabet`), and the module core does not import the SMS package.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.module.events import ModuleEvent
from emulator.sms.pdu import Alphabet


@dataclass(frozen=True, kw_only=True)
class SmsSent(ModuleEvent):
    """The module submitted an SMS to the network (AT+CMGS, AT+CMSS; 3GPP TS 27.005 §3.5).

    One event per SMS-SUBMIT: a concatenated message gives one per part (``part`` is
    (reference, total, sequence) from its user data header).
    """

    reference: int  # TP-MR, as +CMGS/+CMSS reported it
    destination: str  # TP-DA, "+" first when international
    text: str  # the body for the GSM 7-bit and UCS2 alphabets
    data: bytes  # the body for 8-bit data
    alphabet: Alphabet  # renders as "gsm7", "8bit" or "ucs2"
    tpdu: str  # the SMS-SUBMIT TPDU in hex, as the network received it
    smsc: str
    part: tuple[int, int, int] | None = None


@dataclass(frozen=True, kw_only=True)
class SmsReceived(ModuleEvent):
    """The network delivered an SMS to the module, and what the module did with it."""

    sender: str
    text: str
    storage: str | None  # "SM"/"ME" when stored (+CMTI), None when shown directly (+CMT)
    index: int | None
    direct: bool
    rejected: str | None  # why the module could not take it (its storage is full)
