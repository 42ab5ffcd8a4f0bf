"""QuecPython ``osTimer``: software timers of the RTOS, here on host threads.

``import osTimer; t = osTimer()`` (the module is callable, as on the device);
``t.start(initialTime_ms, cyclialEn, callback)`` runs ``callback(None)`` after
``initialTime`` ms, and every ``initialTime`` ms when ``cyclialEn`` is 1 (the document
says the argument "is not actually used"); starting a running timer restarts it.
``stop()`` stops it, ``delete_timer()`` frees it (a deleted timer cannot be started
again). Return values as documented: 0 done, -1 failed (bad arguments, deleted timer).
A callback's exception is printed and the timer keeps running.
"""

from __future__ import annotations

import itertools
import sys
import types
from collections.abc import Callable
from typing import Any

from client_api.quecpython import _host
from client_api.quecpython._timers import SoftTimer

_numbers = itertools.count(1)


class osTimer:
    def __init__(self) -> None:
        self._timer = SoftTimer(f"osTimer-{next(_numbers)}")
        self._deleted = False

    def start(self, initialTime: int, cyclialEn: int, callback: Callable[[Any], object]) -> int:
        if self._deleted or not callable(callback):
            return -1
        if isinstance(initialTime, bool) or not isinstance(initialTime, int) or initialTime < 1:
            return -1
        if cyclialEn not in (0, 1):
            return -1

        def fire() -> None:
            _host.run_callback("osTimer", callback, None)

        self._timer.start(initialTime / 1000, cyclialEn == 1, fire)
        return 0

    def stop(self) -> int:
        if self._deleted:
            return -1
        self._timer.stop()
        return 0

    def delete_timer(self) -> int:
        self._timer.stop()
        self._deleted = True
        return 0


class _CallableModule(types.ModuleType):
    """``import osTimer; timer = osTimer()`` works on the device; so does calling this."""

    def __call__(self) -> osTimer:
        return osTimer()


sys.modules[__name__].__class__ = _CallableModule
