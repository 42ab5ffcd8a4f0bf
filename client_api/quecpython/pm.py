"""QuecPython ``pm``: power saving. PSM over ``AT+CPSMS``, sleep over ``AT+QSCLK``.

* ``set_psm_time(mode)`` sends ``AT+CPSMS=<mode>``; ``set_psm_time(tau_unit, tau_time,
  act_unit, act_time)`` sends ``AT+CPSMS=1,,,"<T3412>","<T3324>"`` where each timer is
  the 3GPP TS 24.008 GPRS Timer 3 / GPRS Timer 2 octet of 27.007 §7.38: three unit bits
  then five value bits, the unit tables being those the QuecPython document lists
  (TAU: 0 10 min, 1 1 h, 2 10 h, 3 2 s, 4 30 s, 5 1 min, 6 320 h, 7 off; active time:
  0 2 s, 1 1 min, 2 6 min, 7 off). True on ``OK``, False otherwise.
* ``get_psm_time()`` reads ``AT+CPSMS?`` back into ``[mode, tau_unit, tau_time,
  act_unit, act_time]`` (None when it cannot be read).
* ``autosleep(flag)``: ``AT+QSCLK=<flag>`` (Quectel: allow the module to sleep); 0 or -1.
* Wakelocks (``create_wakelock``, ``wakelock_lock``...) are the application's own
  bookkeeping, kept here with the documented return values; on the PC they cannot hold
  the module awake (its sleep is driven by ``AT+QSCLK`` and the DTR line).
"""

from __future__ import annotations

import itertools
import threading

from client_api.at_args import parse_fields
from client_api.quecpython._support import FAILED, at

TAU_UNITS = range(8)
ACT_UNITS = (0, 1, 2, 7)
TIMER_VALUES = range(32)  # five value bits


def _octet(unit: int, value: int) -> str:
    return f"{unit:03b}{value:05b}"


def set_psm_time(*args: int) -> bool:
    if len(args) == 1:
        mode = args[0]
        if mode not in (0, 1):
            return False
        return at(f"AT+CPSMS={mode}") is not None
    if len(args) != 4 or not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        return False
    tau_unit, tau_time, act_unit, act_time = args
    if tau_unit not in TAU_UNITS or act_unit not in ACT_UNITS:
        return False
    if tau_time not in TIMER_VALUES or act_time not in TIMER_VALUES:
        return False
    command = f'AT+CPSMS=1,,,"{_octet(tau_unit, tau_time)}","{_octet(act_unit, act_time)}"'
    return at(command) is not None


def _split(octet: object) -> tuple[int, int] | None:
    text = str(octet)
    if len(text) != 8 or set(text) - {"0", "1"}:
        return None
    return int(text[:3], 2), int(text[3:], 2)


def get_psm_time() -> list[int] | None:
    response = at("AT+CPSMS?")
    value = response.value("+CPSMS:") if response is not None else None
    fields = parse_fields(value) if value else []
    if not fields or not isinstance(fields[0], int):
        return None
    tau = _split(fields[3]) if len(fields) > 3 else None
    act = _split(fields[4]) if len(fields) > 4 else None
    tau = tau or (7, 0)
    act = act or (7, 0)
    return [fields[0], tau[0], tau[1], act[0], act[1]]


def autosleep(sleep_flag: int) -> int:
    if sleep_flag not in (0, 1):
        return FAILED
    return 0 if at(f"AT+QSCLK={sleep_flag}") is not None else FAILED


_locks: dict[int, tuple[str, bool]] = {}  # id -> (name, locked)
_ids = itertools.count(1)
_lock = threading.Lock()


def create_wakelock(lock_name: str, name_size: int | None = None) -> int:
    if not isinstance(lock_name, str) or not lock_name:
        return FAILED
    with _lock:
        ident = next(_ids)
        _locks[ident] = (lock_name, False)
        return ident


def delete_wakelock(lpm_fd: int) -> int:
    with _lock:
        return 0 if _locks.pop(lpm_fd, None) is not None else FAILED


def _set_locked(lpm_fd: int, locked: bool) -> int:
    with _lock:
        entry = _locks.get(lpm_fd)
        if entry is None:
            return FAILED
        _locks[lpm_fd] = (entry[0], locked)
        return 0


def wakelock_lock(lpm_fd: int) -> int:
    return _set_locked(lpm_fd, True)


def wakelock_unlock(lpm_fd: int) -> int:
    return _set_locked(lpm_fd, False)


def get_wakelock_num() -> int:
    with _lock:
        return len(_locks)


def locked_wakelocks() -> list[str]:
    """Names of the wakelocks the application holds locked (for tests and tools)."""
    with _lock:
        return sorted(name for name, locked in _locks.values() if locked)
