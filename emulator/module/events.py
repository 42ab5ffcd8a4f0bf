"""Events a VirtualModule gives its adapters (pulled with ``next_event()``).

Small, frozen, keyword-only dataclasses (house style §3). Command families may define
their own events (e.g. the LwM2M family's requests) by subclassing ModuleEvent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ModuleEvent:
    """Base class of everything ``VirtualModule.next_event()`` returns."""


@dataclass(frozen=True, kw_only=True)
class RebootStarted(ModuleEvent):
    """The module goes down (AT+CFUN=1,1, a server's Reboot execute, a fault)."""

    reason: str
    factory_reset: bool = False


@dataclass(frozen=True, kw_only=True)
class BootCompleted(ModuleEvent):
    """Boot URCs have been sent; the AT port answers again."""


@dataclass(frozen=True, kw_only=True)
class FunctionalityChanged(ModuleEvent):
    fun: int  # 27.007 §8.2: 0 minimum, 1 full, 4 flight mode


@dataclass(frozen=True, kw_only=True)
class RegistrationChanged(ModuleEvent):
    """EPS registration state (27.007 §10.1.22 <stat>) changed."""

    stat: int

    @property
    def registered(self) -> bool:
        return self.stat in (1, 5)


@dataclass(frozen=True, kw_only=True)
class PdpContextChanged(ModuleEvent):
    cid: int
    active: bool
    address: str | None
    by_network: bool = False  # deactivated by the network (coverage, CFUN=0, a fault)


@dataclass(frozen=True, kw_only=True)
class SimStateChanged(ModuleEvent):
    state: str  # the +CPIN text: READY, NOT INSERTED, SIM PIN ...


@dataclass(frozen=True, kw_only=True)
class SignalChanged(ModuleEvent):
    rssi: int  # 27.007 §8.5 <rssi> 0-31, 99 unknown
    ber: int


@dataclass(frozen=True, kw_only=True)
class PoweredDown(ModuleEvent):
    """The module switched itself off (AT+QPOWD); only a power-on brings it back."""

    reason: str


@dataclass(frozen=True, kw_only=True)
class NetworkTimeReceived(ModuleEvent):
    """The network sent its time (NITZ, 3GPP TS 24.008 §9.2.15a / TS 22.042)."""

    unix_time: float  # UTC
    tz_quarters: int  # local time zone incl. DST, quarters of an hour (27.007 <tz>)
    dst: int  # 0, 1 or 2 hours of daylight saving time included in tz_quarters


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
    alphabet: str  # "gsm7", "8bit" or "ucs2"
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
