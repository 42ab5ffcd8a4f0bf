"""Events a VirtualModule gives its adapters (pulled with ``next_event()``).

Small, frozen, keyword-only dataclasses. Command families define their own events by
subclassing ModuleEvent (the LwM2M family's requests, the TCP/IP stack's, SmsSent and
SmsReceived in emulator/sms/events.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from emulator.module.state import Functionality, RegStat, SimState


@dataclass(frozen=True, kw_only=True)
class ModuleEvent:
    """Base class of everything ``VirtualModule.next_event()`` returns."""


class RebootCause(enum.Enum):
    """Why the module restarts. The value is the cause's wording where events are shown
    (the control plane's ``reason``)."""

    AT_CFUN = "AT+CFUN=1,1"  # 27.007 §8.2: <fun>=1, <rst>=1 resets the ME
    POWER_ON = "power on"  # the power key after a power-down: a normal boot
    LWM2M_REBOOT = "LwM2M Reboot (/3/0/4)"  # a server executed Device Reboot (TS 1.0 E.4)
    LWM2M_FACTORY_RESET = "LwM2M Factory Reset (/3/0/5)"  # NV erased as well (TS 1.0 E.4)
    LWM2M_FIRMWARE_UPDATE = "LwM2M firmware update (/5/0/2)"  # onto the new firmware (E.6)
    CONTROL = "control"  # a world control: control plane, serve console, scenario, test


class PowerDownCause(enum.Enum):
    """Why the module switched itself off (the value: as for :class:`RebootCause`)."""

    AT_QPOWD_IMMEDIATE = "AT+QPOWD=0"  # Quectel AT manuals: power down at once
    AT_QPOWD_NORMAL = "AT+QPOWD=1"  # the default: deregister from the network first
    CONTROL = "control"  # a world control (the power key held)


@dataclass(frozen=True, kw_only=True)
class RebootStarted(ModuleEvent):
    """The module goes down (AT+CFUN=1,1, a server's Reboot execute, a fault). ``detail``:
    free text a caller outside the emulator gives (a control, a test); it replaces the
    cause's wording in ``reason``."""

    cause: RebootCause
    detail: str = ""
    factory_reset: bool = False

    @property
    def reason(self) -> str:
        return self.detail or self.cause.value


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
    """The module switched itself off (AT+QPOWD); only a power-on brings it back.
    ``detail`` as for :class:`RebootStarted`."""

    cause: PowerDownCause
    detail: str = ""

    @property
    def reason(self) -> str:
        return self.detail or self.cause.value


@dataclass(frozen=True, kw_only=True)
class NetworkTimeReceived(ModuleEvent):
    """The network sent its time (NITZ, 3GPP TS 24.008 §9.2.15a / TS 22.042)."""

    unix_time: float  # UTC
    tz_quarters: int  # local time zone incl. DST, quarters of an hour (27.007 <tz>)
    dst: int  # 0, 1 or 2 hours of daylight saving time included in tz_quarters
