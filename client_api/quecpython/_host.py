"""What the system modules share with the runtime: settings, liveness, ending the run.

* :class:`UnsupportedCall` is the one error for a QuecPython call that cannot work on the
  PC (a power key, a PWM pin) or that needs an AT command the module refuses; its
  message names the call.
* **Liveness**: a running ``osTimer``, a started ``machine.Timer``, an armed
  ``machine.WDT``... will still do something, so the runtime must not end the run while
  one is held (:func:`hold` / :func:`release`, read by :func:`busy`).
* **Ending the run**: ``misc.Power.powerDown()`` or a watchdog that was not fed end the
  application as the device would; :func:`end_run` tells the runtime (which prints the
  reason and exits with the status) and stops the calling thread.
* **Settings** the runtime passes in: the folder standing for the module's ``/usr`` and
  the PC serial ports standing for the module's UARTs.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

EXIT_WATCHDOG = 3  # the run's exit status when machine.WDT was not fed in time


class UnsupportedCall(NotImplementedError):
    """A QuecPython call that cannot be carried out on the PC; the message says why."""

    def __init__(self, call: str, reason: str) -> None:
        super().__init__(f"{call}: {reason}")
        self.call = call
        self.reason = reason


@dataclass
class HostSettings:
    usr: Path | None = None  # None: chosen by the runtime when a script runs
    uarts: dict[int, str] = field(default_factory=dict)  # UARTn -> pyserial port


settings = HostSettings()

_live: set[object] = set()
_live_lock = threading.Lock()


def hold(token: object) -> None:
    """``token`` (a timer, a watchdog...) will still act: keep the run going."""
    with _live_lock:
        _live.add(token)


def release(token: object) -> None:
    with _live_lock:
        _live.discard(token)


def busy() -> bool:
    with _live_lock:
        return bool(_live)


EndHandler = Callable[[int, str], None]
_end_handler: EndHandler | None = None


def set_end_handler(handler: EndHandler | None) -> None:
    global _end_handler
    _end_handler = handler


def request_end(status: int, message: str) -> None:
    """Ask the runtime to end the run (from any thread); printed when no runtime runs."""
    handler = _end_handler
    if handler is not None:
        handler(status, message)
    else:
        print(message, file=sys.stderr)


def end_run(status: int, message: str) -> NoReturn:
    """End the application: the runtime exits with ``status``; this thread stops here."""
    request_end(status, message)
    raise SystemExit(status)


def run_callback(what: str, callback: Callable[..., object], *args: object) -> None:
    """Call an application callback; an exception is printed with its traceback (as the
    device prints it) and does not stop the timer, bus or pin that called it."""
    try:
        callback(*args)
    except SystemExit:
        raise
    except BaseException:
        # A closed or broken stderr must not end the timer (or bus, or pin) thread.
        with contextlib.suppress(OSError, ValueError):
            print(f"client_api: exception in {what} callback:", file=sys.stderr)
            traceback.print_exc()
