"""The module's radio-side state: SIM, functionality, registration, PDP contexts, clock.

Plain data. The transitions that are allowed, and what each reports, are the tables of
emulator/module/radio.py; only its RadioMachine changes this state. Registration states
are 27.007 §10.1.22 <stat> values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from emulator.at.errors import OperationNotAllowed


def luhn_check_digit(digits: str) -> int:
    """Check digit of a 14-digit IMEI body (3GPP TS 23.003 Annex B: the Luhn formula)."""
    total = 0
    for index, ch in enumerate(reversed(digits)):
        d = int(ch)
        if index % 2 == 0:  # every second digit from the right, starting with the last
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def is_valid_imei(imei: str) -> bool:
    return len(imei) == 15 and imei.isdigit() and luhn_check_digit(imei[:14]) == int(imei[14])


def derive_imei(first: str, index: int) -> str:
    """The IMEI of module ``index`` of a ``--count`` run: same TAC, serial number + index."""
    body = int(first[:14]) + index
    text = f"{body:014d}"
    if len(text) != 14:
        raise ValueError(f"IMEI {first} + {index} overflows")
    return text + str(luhn_check_digit(text))


class RegStat(enum.IntEnum):
    """27.007 §10.1.22 <stat>."""

    NOT_REGISTERED = 0
    HOME = 1
    SEARCHING = 2
    DENIED = 3
    UNKNOWN = 4
    ROAMING = 5


class Functionality(enum.IntEnum):
    """27.007 §8.2 <fun> as these modules take it (AT+CFUN=0/1/4)."""

    MINIMUM = 0
    FULL = 1
    FLIGHT = 4  # RF off, SIM still readable (Quectel: "disable both transmit and receive")


class SimState(enum.StrEnum):
    """The SIM as AT+CPIN reports it (27.007 §8.3 <code>)."""

    READY = "READY"
    NOT_INSERTED = "NOT INSERTED"
    PIN = "SIM PIN"


@dataclass
class PdpContext:
    """A context defined by AT+CGDCONT / AT+QICSGP (27.007 §10.1.1)."""

    cid: int
    pdp_type: str
    apn: str
    username: str = ""
    password: str = ""
    auth: int = 0  # AT+QICSGP <authentication>: 0 none, 1 PAP, 2 CHAP, 3 PAP or CHAP
    active: bool = False
    address: str | None = None


@dataclass
class RadioState:
    fun: Functionality = Functionality.FULL
    sim: SimState = SimState.READY
    coverage: bool = True  # the test/scenario-controlled "is there a cell" switch
    roaming: bool = False
    denied: bool = False
    stat: RegStat = RegStat.NOT_REGISTERED
    rssi: int = 99
    ber: int = 99
    creg_mode: int = 0  # AT+CREG=<n>
    cereg_mode: int = 0  # AT+CEREG=<n>
    cops_format: int = 0  # AT+COPS=3,<format>: 0 long, 1 short, 2 numeric operator name
    pdp_reject: bool = False  # fault: the network refuses the next activations
    ps_attach: bool = True  # AT+CGATT: 0 detaches from the packet domain until CGATT=1
    contexts: dict[int, PdpContext] = field(default_factory=dict)

    def wanted_stat(self) -> RegStat:
        """Where registration heads given functionality, SIM and coverage."""
        if self.fun is not Functionality.FULL or self.sim is not SimState.READY:
            return RegStat.NOT_REGISTERED
        if not self.ps_attach:
            return RegStat.NOT_REGISTERED
        if not self.coverage:
            return RegStat.SEARCHING
        if self.denied:
            return RegStat.DENIED
        return RegStat.ROAMING if self.roaming else RegStat.HOME

    @property
    def registered(self) -> bool:
        return self.stat in (RegStat.HOME, RegStat.ROAMING)

    def require_registered(self) -> None:
        if not self.registered:
            raise OperationNotAllowed("not registered to a network")
