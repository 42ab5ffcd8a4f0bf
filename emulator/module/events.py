"""Events a VirtualModule gives its adapters (pulled with ``next_event()``).

Small, frozen, keyword-only dataclasses. Command families define their own events by
subclassing ModuleEvent (the LwM2M family's requests, the TCP/IP stack's, SmsSent and
SmsReceived in emulator/sms/events.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.module.state import Functionality, RegStat, SimState


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
    fun: Functionality  # 27.007 §8.2: 0 minimum, 1 full, 4 flight mode


@dataclass(frozen=True, kw_only=True)
class RegistrationChanged(ModuleEvent):
    """EPS registration state (27.007 §10.1.22 <stat>) changed."""

    stat: RegStat

    @property
    def registered(self) -> bool:
        return self.stat in (RegStat.HOME, RegStat.ROAMING)


@dataclass(frozen=True, kw_only=True)
class PdpContextChanged(ModuleEvent):
    cid: int
    active: bool
    address: str | None
    by_network: bool = False  # deactivated by the network (coverage, CFUN=0, a fault)


@dataclass(frozen=True, kw_only=True)
class SimStateChanged(ModuleEvent):
    state: SimState  # renders as the +CPIN text: READY, NOT INSERTED, SIM PIN


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
