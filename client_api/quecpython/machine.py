"""QuecPython ``machine``: ``Pin`` and ``ExtInt`` on virtual GPIOs kept in memory,
``Timer`` and ``WDT`` on host timers, ``RTC`` over ``AT+CCLK`` and ``UART`` over a PC
serial port (see :mod:`client_api.quecpython.machine_more`).

A test (or a host program) sees and drives the pins through :data:`gpio`:
``gpio.level(n)`` is what the script last wrote to an output, ``gpio.drive(n, level)``
sets what an input reads (and fires ``ExtInt`` callbacks on its edges). Other
``machine`` classes (I2C, SPI, LCD...) are not provided; using one raises an
AttributeError that says so.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from client_api.quecpython._support import missing_attribute


@dataclass
class PinState:
    direction: int
    pull: int
    level: int


class VirtualGpio:
    """All virtual pins of the process."""

    def __init__(self) -> None:
        self._pins: dict[int, PinState] = {}
        self._lock = threading.Lock()
        self._edge_listeners: list[Callable[[int, int], None]] = []

    def add_edge_listener(self, listener: Callable[[int, int], None]) -> Callable[[], None]:
        """Call ``listener(pin, new_level)`` whenever a pin's level changes."""
        with self._lock:
            self._edge_listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._edge_listeners:
                    self._edge_listeners.remove(listener)

        return remove

    def _changed(self, number: int, before: int, after: int) -> None:
        if before == after:
            return
        with self._lock:
            listeners = list(self._edge_listeners)
        for listener in listeners:
            listener(number, after)

    def configure(self, number: int, direction: int, pull: int, level: int) -> None:
        with self._lock:
            self._pins[number] = PinState(direction=direction, pull=pull, level=level)

    def level(self, number: int) -> int:
        with self._lock:
            return self._pins[number].level

    def direction(self, number: int) -> int:
        with self._lock:
            return self._pins[number].direction

    def drive(self, number: int, level: int) -> None:
        """Set the level an input pin reads (the outside world pulling the line)."""
        with self._lock:
            state = self._pins.setdefault(number, PinState(direction=0, pull=0, level=0))
            before, state.level = state.level, 1 if level else 0
        self._changed(number, before, state.level)

    def set_level(self, number: int, level: int) -> None:
        with self._lock:
            state = self._pins[number]
            before, state.level = state.level, level
        self._changed(number, before, level)

    def set_direction(self, number: int, direction: int) -> None:
        with self._lock:
            self._pins[number].direction = direction

    def snapshot(self) -> dict[int, PinState]:
        with self._lock:
            return {n: PinState(s.direction, s.pull, s.level) for n, s in self._pins.items()}

    def clear(self) -> None:
        with self._lock:
            self._pins.clear()


gpio = VirtualGpio()

GPIO_COUNT = 47  # QuecPython names GPIO1..GPIO47


class Pin:
    IN = 0
    OUT = 1
    PULL_DISABLE = 0
    PULL_PU = 1
    PULL_PD = 2
    # QuecPython's pin names; the number is the name's (GPIO1 is 1).
    GPIO1 = 1
    GPIO2 = 2
    GPIO3 = 3
    GPIO4 = 4
    GPIO5 = 5
    GPIO6 = 6
    GPIO7 = 7
    GPIO8 = 8
    GPIO9 = 9
    GPIO10 = 10
    GPIO11 = 11
    GPIO12 = 12
    GPIO13 = 13
    GPIO14 = 14
    GPIO15 = 15
    GPIO16 = 16
    GPIO17 = 17
    GPIO18 = 18
    GPIO19 = 19
    GPIO20 = 20
    GPIO21 = 21
    GPIO22 = 22
    GPIO23 = 23
    GPIO24 = 24
    GPIO25 = 25
    GPIO26 = 26
    GPIO27 = 27
    GPIO28 = 28
    GPIO29 = 29
    GPIO30 = 30
    GPIO31 = 31
    GPIO32 = 32
    GPIO33 = 33
    GPIO34 = 34
    GPIO35 = 35
    GPIO36 = 36
    GPIO37 = 37
    GPIO38 = 38
    GPIO39 = 39
    GPIO40 = 40
    GPIO41 = 41
    GPIO42 = 42
    GPIO43 = 43
    GPIO44 = 44
    GPIO45 = 45
    GPIO46 = 46
    GPIO47 = 47

    def __init__(
        self, GPIOn: int, direction: int = IN, pullMode: int = PULL_DISABLE, level: int = 0
    ) -> None:
        if not 1 <= GPIOn <= GPIO_COUNT:
            raise ValueError(f"GPIOn must be 1-{GPIO_COUNT}, got {GPIOn}")
        if direction not in (Pin.IN, Pin.OUT):
            raise ValueError("direction must be Pin.IN or Pin.OUT")
        if pullMode not in (Pin.PULL_DISABLE, Pin.PULL_PU, Pin.PULL_PD):
            raise ValueError("pullMode must be PULL_DISABLE, PULL_PU or PULL_PD")
        self._number = GPIOn
        start = (
            (1 if level else 0) if direction == Pin.OUT else (1 if pullMode == Pin.PULL_PU else 0)
        )
        gpio.configure(GPIOn, direction, pullMode, start)

    def read(self) -> int:
        return gpio.level(self._number)

    def write(self, value: int) -> int:
        """0 done; -1 when the pin is an input (an input cannot be driven)."""
        if gpio.direction(self._number) != Pin.OUT or value not in (0, 1):
            return -1
        gpio.set_level(self._number, value)
        return 0

    def set_dir(self, value: int) -> int:
        if value not in (Pin.IN, Pin.OUT):
            return -1
        gpio.set_direction(self._number, value)
        return 0

    def get_dir(self) -> int:
        return gpio.direction(self._number)


from client_api.quecpython.machine_more import (  # noqa: E402 - they use gpio above
    RTC as RTC,
)
from client_api.quecpython.machine_more import UART as UART  # noqa: E402
from client_api.quecpython.machine_more import WDT as WDT  # noqa: E402
from client_api.quecpython.machine_more import ExtInt as ExtInt  # noqa: E402
from client_api.quecpython.machine_more import Timer as Timer  # noqa: E402

PROVIDED = ("Pin", "ExtInt", "Timer", "WDT", "RTC", "UART")


def __getattr__(name: str) -> object:
    raise missing_attribute("machine", name, PROVIDED)
