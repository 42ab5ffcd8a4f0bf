"""``machine.Timer``, ``WDT``, ``ExtInt``, ``RTC`` and ``UART`` (QuecPython's ``machine``
document); imported into :mod:`client_api.quecpython.machine`.

* ``Timer(Timer0..Timer3)``: ``start(period=ms, mode=ONE_SHOT|PERIODIC, callback=f)``
  calls ``f(timer)``; one task per timer number at a time, as the document says (a
  second object starting a busy number gets -1).
* ``WDT(period_s)``: armed at creation; ``feed()`` restarts the count, ``stop()`` disarms.
  Not fed within the period, the device restarts; here the run ends with exit status 3
  and a message saying so.
* ``ExtInt(GPIOn, mode, pull, callback)``: edges of the virtual GPIO (``gpio.drive``)
  call ``callback((GPIOn, 0 rising | 1 falling))`` once enabled; counts per edge.
* ``RTC()``: ``datetime()`` reads ``AT+CCLK?`` as ``(year, month, day, week 0=Sunday,
  hour, minute, second, 0)``; ``datetime(tuple)`` writes ``AT+CCLK`` keeping the module's
  time zone. The alarm runs a host timer to the module's RTC time.
* ``UART(UARTn, baudrate, databits, parity, stopbits, flowctl)``: the PC serial port
  named for that UART (``python -m client_api run --uart 2=/dev/ttyUSB0``); without one
  the constructor raises :class:`~client_api.quecpython._host.UnsupportedCall`.
"""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import re
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import serial

from client_api.at_args import parse_fields
from client_api.quecpython import _host
from client_api.quecpython._support import at
from client_api.quecpython._timers import SoftTimer

FAILED = -1


# ----------------------------------------------------------------------------- Timer
class Timer:
    Timer0 = 0
    Timer1 = 1
    Timer2 = 2
    Timer3 = 3
    ONE_SHOT = 0
    PERIODIC = 1

    _owners: ClassVar[dict[int, Timer]] = {}
    _owners_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, Timern: int) -> None:
        if Timern not in (0, 1, 2, 3):
            raise ValueError(f"Timern must be Timer0..Timer3 (0-3), got {Timern!r}")
        self._number = Timern
        self._timer = SoftTimer(f"machine.Timer{Timern}")

    def start(
        self, period: int = 0, mode: int = ONE_SHOT, callback: Callable[[Any], object] | None = None
    ) -> int:
        if isinstance(period, bool) or not isinstance(period, int) or period < 1:
            return FAILED
        if mode not in (Timer.ONE_SHOT, Timer.PERIODIC) or callback is None:
            return FAILED
        if not callable(callback):
            return FAILED
        with Timer._owners_lock:
            owner = Timer._owners.get(self._number)
            if owner is not None and owner is not self and owner._timer.running:
                return FAILED  # one task per hardware timer
            Timer._owners[self._number] = self

        def fire() -> None:
            _host.run_callback(f"machine.Timer{self._number}", callback, self)

        self._timer.start(period / 1000, mode == Timer.PERIODIC, fire)
        return 0

    def stop(self) -> int:
        self._timer.stop()
        return 0


# ------------------------------------------------------------------------------- WDT
class WDT:
    def __init__(self, period: int) -> None:
        if isinstance(period, bool) or not isinstance(period, int) or period < 1:
            raise ValueError(f"WDT period must be a positive number of seconds, got {period!r}")
        self._period = period
        self._timer = SoftTimer("machine.WDT")
        self._arm()

    def _arm(self) -> None:
        self._timer.start(float(self._period), False, self._expired)

    def _expired(self) -> None:
        _host.request_end(
            _host.EXIT_WATCHDOG,
            f"client_api: machine.WDT was not fed for {self._period} s;"
            " the module would restart the application",
        )

    def feed(self) -> int:
        self._arm()
        return 0

    def stop(self) -> int:
        self._timer.stop()
        return 0


# ---------------------------------------------------------------------------- ExtInt
def _machine() -> Any:
    """``machine`` (Pin, gpio), imported on use: it imports this module."""
    from client_api.quecpython import machine

    return machine


class ExtInt:
    IRQ_RISING = 0
    IRQ_FALLING = 1
    IRQ_RISING_FALLING = 2
    PULL_DISABLE = 0  # as Pin's
    PULL_PU = 1
    PULL_PD = 2

    def __init__(
        self, GPIOn: int, mode: int, pull: int, callback: Callable[[tuple[int, int]], object]
    ) -> None:
        if mode not in (ExtInt.IRQ_RISING, ExtInt.IRQ_FALLING, ExtInt.IRQ_RISING_FALLING):
            raise ValueError("mode must be IRQ_RISING, IRQ_FALLING or IRQ_RISING_FALLING")
        if not callable(callback):
            raise TypeError("callback must be callable")
        pin = _machine().Pin
        pin(GPIOn, pin.IN, pull)  # checks the number and pull, and sets the idle level
        self._number = GPIOn
        self._mode = mode
        self._callback = callback
        self._counts = [0, 0]  # rising, falling
        self._lock = threading.Lock()
        self._remove: Callable[[], None] | None = None

    def _on_edge(self, number: int, level: int) -> None:
        if number != self._number:
            return
        edge = 0 if level else 1
        if self._mode != ExtInt.IRQ_RISING_FALLING and edge != self._mode:
            return
        with self._lock:
            self._counts[edge] += 1
        _host.run_callback("machine.ExtInt", self._callback, (self._number, edge))

    def enable(self) -> int:
        if self._remove is None:
            self._remove = _machine().gpio.add_edge_listener(self._on_edge)
        return 0

    def disable(self) -> int:
        if self._remove is not None:
            self._remove()
            self._remove = None
        return 0

    def line(self) -> int:
        return self._number

    def read_level(self) -> int:
        return int(_machine().gpio.level(self._number))

    def read_count(self, is_reset: int = 0) -> list[int]:
        with self._lock:
            counts = list(self._counts)
            if is_reset:
                self._counts = [0, 0]
        return counts

    def count_reset(self) -> int:
        with self._lock:
            self._counts = [0, 0]
        return 0


# ------------------------------------------------------------------------------- RTC
_CCLK = re.compile(r"^(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d\d)$")
DateTime = tuple[int, int, int, int, int, int, int, int]


def read_module_clock() -> tuple[dt.datetime, int] | None:
    """The module's local wall time and its zone in quarter hours (27.007 §8.15)."""
    response = at("AT+CCLK?")
    value = response.value("+CCLK:") if response is not None else None
    fields = parse_fields(value) if value else []
    match = _CCLK.match(str(fields[0])) if fields else None
    if match is None:
        return None
    yy, mo, dd, hh, mi, ss, zz = (int(g) for g in match.groups())
    try:
        return dt.datetime(2000 + yy, mo, dd, hh, mi, ss), zz
    except ValueError:
        return None


def write_module_clock(local: dt.datetime, quarters: int) -> bool:
    if not 2000 <= local.year <= 2099:
        return False
    sign = "+" if quarters >= 0 else "-"
    text = local.strftime("%y/%m/%d,%H:%M:%S") + f"{sign}{abs(quarters):02d}"
    return at(f'AT+CCLK="{text}"') is not None


def _as_tuple(moment: dt.datetime) -> DateTime:
    week = (moment.weekday() + 1) % 7  # the document: 0 is Sunday
    return (
        moment.year,
        moment.month,
        moment.day,
        week,
        moment.hour,
        moment.minute,
        moment.second,
        0,
    )


def _from_tuple(value: tuple[int, ...]) -> dt.datetime | None:
    if len(value) < 7 or not all(isinstance(v, int) for v in value):
        return None
    year, month, day, _week, hour, minute, second = value[:7]
    try:
        return dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


class RTC:
    def __init__(self) -> None:
        self._alarm: dt.datetime | None = None
        self._callback: Callable[..., object] | None = None
        self._timer = SoftTimer("machine.RTC alarm")

    def datetime(self, args: tuple[int, ...] | None = None) -> DateTime | int:
        if args is None or args == ():
            clock = read_module_clock()
            return _as_tuple(clock[0]) if clock is not None else FAILED
        moment = _from_tuple(tuple(args))
        if moment is None:
            return FAILED
        clock = read_module_clock()
        quarters = clock[1] if clock is not None else 0
        return 0 if write_module_clock(moment, quarters) else FAILED

    def set_alarm(self, data_e: tuple[int, ...]) -> int:
        moment = _from_tuple(tuple(data_e))
        if moment is None:
            return FAILED
        clock = read_module_clock()
        if clock is None or moment <= clock[0]:
            return FAILED
        self._alarm = moment
        return 0

    def register_callback(self, fun: Callable[..., object]) -> int:
        if not callable(fun):
            return FAILED
        self._callback = fun
        return 0

    def enable_alarm(self, on_off: int) -> int:
        if not on_off:
            self._timer.stop()
            return 0
        alarm = self._alarm
        clock = read_module_clock()
        if alarm is None or clock is None:
            return FAILED
        delay = (alarm - clock[0]).total_seconds()
        if delay <= 0:
            return FAILED
        self._timer.start(delay, False, self._ring)
        return 0

    def _ring(self) -> None:
        callback, alarm = self._callback, self._alarm
        if callback is None or alarm is None:
            return
        # Device examples define the callback with and without an argument.
        try:
            takes_argument = bool(inspect.signature(callback).parameters)
        except (TypeError, ValueError):
            takes_argument = True
        if takes_argument:
            _host.run_callback("machine.RTC alarm", callback, _as_tuple(alarm))
        else:
            _host.run_callback("machine.RTC alarm", callback)


# ------------------------------------------------------------------------------ UART
PARITY = {0: serial.PARITY_NONE, 1: serial.PARITY_EVEN, 2: serial.PARITY_ODD}
_uart_threads = itertools.count()


class UART:
    UART0 = 0
    UART1 = 1
    UART2 = 2
    UART3 = 3
    UART4 = 4

    def __init__(
        self,
        UARTn: int,
        baudrate: int = 115200,
        databits: int = 8,
        parity: int = 0,
        stopbits: int = 1,
        flowctl: int = 0,
    ) -> None:
        call = f"machine.UART({UARTn})"
        if UARTn not in range(5):
            raise ValueError(f"UARTn must be UART0..UART4 (0-4), got {UARTn!r}")
        if databits not in (5, 6, 7, 8) or parity not in PARITY or stopbits not in (1, 2):
            raise ValueError("databits 5-8, parity 0/1/2 and stopbits 1/2")
        port = _host.settings.uarts.get(UARTn)
        if port is None:
            raise _host.UnsupportedCall(
                call,
                f"no PC serial port stands for UART{UARTn};"
                f" run with --uart {UARTn}=PORT (a device path or pyserial URL)",
            )
        try:
            self._port = serial.serial_for_url(
                port,
                baudrate=baudrate,
                bytesize=databits,
                parity=PARITY[parity],
                stopbits=stopbits,
                rtscts=bool(flowctl),
                timeout=0,
            )
        except (serial.SerialException, ValueError, OSError) as exc:
            raise _host.UnsupportedCall(call, f"cannot open {port}: {exc}") from exc
        self._number = UARTn
        self._lock = threading.Lock()
        self._pending = bytearray()
        self._callback: Callable[[list[int]], object] | None = None
        self._closed = threading.Event()
        self._reader: threading.Thread | None = None

    def any(self) -> int:
        with self._lock:
            return len(self._pending) + (0 if self._closed.is_set() else self._port.in_waiting)

    def read(self, nbytes: int = -1) -> bytes:
        with self._lock:
            if not self._closed.is_set():
                self._pending += self._port.read(self._port.in_waiting)
            count = len(self._pending) if nbytes < 0 else min(nbytes, len(self._pending))
            out = bytes(self._pending[:count])
            del self._pending[:count]
            return out

    def write(self, data: bytes | bytearray | str) -> int:
        payload = data.encode() if isinstance(data, str) else bytes(data)
        written = self._port.write(payload)
        self._port.flush()
        return len(payload) if written is None else written

    def close(self) -> int:
        self._closed.set()
        self._port.close()
        return 0

    def set_callback(self, fun: Callable[[list[int]], object]) -> int:
        if not callable(fun):
            return FAILED
        self._callback = fun
        if self._reader is None:
            self._reader = threading.Thread(
                target=self._watch, name=f"UART{self._number}-{next(_uart_threads)}", daemon=True
            )
            self._reader.start()
        return 0

    def _watch(self) -> None:
        """Move arriving bytes into the receive buffer and tell the callback how many."""
        self._port.timeout = 0.1
        while not self._closed.is_set():
            try:
                with self._lock:
                    chunk = self._port.read(max(1, self._port.in_waiting))
                    self._pending += chunk
            except (serial.SerialException, OSError, TypeError):
                return
            callback = self._callback
            if chunk and callback is not None:
                _host.run_callback("machine.UART", callback, [0, self._number, len(chunk)])

    def control_485(self, GPIOn: int, direction: int) -> int:
        raise _host.UnsupportedCall(
            "machine.UART.control_485", "RS-485 direction pins are not driven on the PC"
        )
