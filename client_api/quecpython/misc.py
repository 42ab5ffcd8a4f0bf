"""QuecPython ``misc``: ``Power`` and ``ADC`` over AT; what needs the module's pins raises.

* ``Power.powerRestart()``: ``AT+CFUN=1,1`` (27.007 §8.2 reset); ``Power.powerDown()``:
  ``AT+QPOWD=1`` (Quectel's normal power-down). On the device neither returns: the
  application stops with the module. Here the run ends (status 0) with a message.
* ``Power.getVbatt()``: the voltage (mV) of ``AT+CBC`` (``+CBC: <bcs>,<bcl>,<voltage>``).
* ``Power.powerOnReason()`` / ``powerDownReason()``: not reported over AT; they return
  0, the documented "unknown", with a warning saying why.
* ``ADC().read(ADCn)``: ``AT+QADC=<n>`` (``+QADC: <status>,<mV>``, status 1 = valid);
  -1 when the module reports the reading failed.
* ``PowerKey``, ``PWM``, ``USB`` and ``antennaSecRXOffCtrl`` need the module's pins or
  its USB side and raise :class:`~client_api.quecpython._host.UnsupportedCall`.

A module (or emulator) without ``AT+CBC``/``AT+QPOWD``/``AT+QADC`` makes the call raise
``UnsupportedCall`` naming the call and the command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from client_api.at_args import parse_fields
from client_api.quecpython import _host
from client_api.quecpython._atcall import require
from client_api.quecpython._support import log

FAILED = -1
POWER_DOWN_TIMEOUT = 40.0  # Quectel lists up to 40 s for AT+QPOWD
RESTART_TIMEOUT = 15.0  # Quectel's maximum for AT+CFUN
_warned: set[str] = set()


def _unknown_reason(call: str) -> int:
    if call not in _warned:
        _warned.add(call)
        log.warning("%s: the module does not report it over AT; 0 (unknown) returned", call)
    return 0


class Power:
    @staticmethod
    def powerRestart() -> NoReturn:
        require("misc.Power.powerRestart", "AT+CFUN=1,1", timeout=RESTART_TIMEOUT)
        _host.end_run(
            0,
            "client_api: misc.Power.powerRestart() restarted the module (AT+CFUN=1,1);"
            " on the device the application would start again, here the run ends",
        )

    @staticmethod
    def powerDown() -> NoReturn:
        require("misc.Power.powerDown", "AT+QPOWD=1", timeout=POWER_DOWN_TIMEOUT)
        _host.end_run(0, "client_api: misc.Power.powerDown() powered the module down (AT+QPOWD=1)")

    @staticmethod
    def powerOnReason() -> int:
        return _unknown_reason("misc.Power.powerOnReason")

    @staticmethod
    def powerDownReason() -> int:
        return _unknown_reason("misc.Power.powerDownReason")

    @staticmethod
    def getVbatt() -> int:
        response = require("misc.Power.getVbatt", "AT+CBC")
        fields = parse_fields(response.value("+CBC:") or "")
        if len(fields) < 3 or not isinstance(fields[2], int):
            raise _host.UnsupportedCall(
                "misc.Power.getVbatt", f"no voltage in the module's answer {response.lines!r}"
            )
        return fields[2]


class ADC:
    ADC0 = 0
    ADC1 = 1
    ADC2 = 2
    ADC3 = 3

    def open(self) -> int:
        return 0

    def read(self, ADCn: int) -> int:
        if isinstance(ADCn, bool) or not isinstance(ADCn, int) or ADCn < 0:
            return FAILED
        response = require("misc.ADC.read", f"AT+QADC={ADCn}")
        fields = parse_fields(response.value("+QADC:") or "")
        if len(fields) < 2 or fields[0] != 1 or not isinstance(fields[1], int):
            return FAILED
        return fields[1]

    def close(self) -> int:
        return 0


def _pins(call: str) -> _host.UnsupportedCall:
    return _host.UnsupportedCall(call, "it needs the module's pins, which the PC cannot reach")


class PowerKey:
    def powerKeyEventRegister(self, usrFun: Callable[[int], object]) -> int:
        raise _pins("misc.PowerKey.powerKeyEventRegister")


class PWM:
    PWM0 = 0
    PWM1 = 1
    PWM2 = 2
    PWM3 = 3
    ABOVE_MS = 1
    ABOVE_1US = 2
    ABOVE_10US = 3
    ABOVE_BELOW_US = 4

    def __init__(self, PWMn: int, ABOVE_xx: int, highTime: int, cycleTime: int) -> None:
        raise _pins("misc.PWM")


class USB:
    def getStatus(self) -> int:
        raise _host.UnsupportedCall(
            "misc.USB.getStatus", "the module's USB side is not reported over AT"
        )

    def setCallback(self, usrFun: Callable[[int], object]) -> int:
        raise _host.UnsupportedCall(
            "misc.USB.setCallback", "the module's USB side is not reported over AT"
        )


def antennaSecRXOffCtrl(*args: int) -> int:
    raise _host.UnsupportedCall("misc.antennaSecRXOffCtrl", "not available over AT here")


def __getattr__(name: str) -> object:
    from client_api.quecpython._support import missing_attribute

    raise missing_attribute("misc", name, ("Power", "ADC", "PowerKey", "PWM", "USB"))
