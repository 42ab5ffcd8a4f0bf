"""QuecPython ``_thread`` on host threads.

Installed as ``_thread`` while a script runs, so it must stay a superset of CPython's
``_thread``: names it does not define come from the real one (``RLock``, ``_local``...),
and the standard library keeps working. It adds what QuecPython has — semaphores,
``threadIsRunning``, ``stop_thread``, ``get_heap_size`` — and remembers the threads a
script starts, so the runtime can stay up while they run (the device never exits).
"""

from __future__ import annotations

import _thread as _real
import ctypes
import os
import threading
import traceback
from collections.abc import Callable
from typing import Any

DEFAULT_STACK_SIZE = 8448  # bytes, QuecPython's documented default
MIN_STACK_SIZE = 8192

_stack_size = DEFAULT_STACK_SIZE
_running: set[int] = set()
_changed = threading.Condition()

LockType = _real.LockType
error = _real.error


def start_new_thread(function: Callable[..., object], args: tuple[Any, ...] | list[Any]) -> int:
    """Run ``function(*args)`` on a new thread; returns its id. An exception is printed
    with its traceback and ends only that thread, as on the device."""
    if not callable(function):
        raise TypeError("first argument must be callable")
    arguments = tuple(args)
    started = threading.Event()
    ident: list[int] = []

    def body() -> None:
        me = threading.get_ident()
        with _changed:
            _running.add(me)
        ident.append(me)
        started.set()
        try:
            function(*arguments)
        except SystemExit:
            pass
        except BaseException:
            traceback.print_exc()
        finally:
            with _changed:
                _running.discard(me)
                _changed.notify_all()

    thread = threading.Thread(target=body, name=getattr(function, "__name__", "thread"))
    thread.daemon = True  # the runtime decides when the process ends, not these threads
    thread.start()
    started.wait()
    return ident[0]


def get_ident() -> int:
    return threading.get_ident()


def stack_size(size: int | None = None) -> int | None:
    """Without ``size``: the stack size threads are created with. With it: set it
    (>= 8192). Host threads keep Python's own stack size; the value is only kept."""
    global _stack_size
    if size is None or size == 0:
        return _stack_size
    if size < MIN_STACK_SIZE:
        raise ValueError(f"stack size must be at least {MIN_STACK_SIZE} bytes")
    _stack_size = size
    return None


def threadIsRunning(thread_id: int) -> bool:
    with _changed:
        return thread_id in _running


def stop_thread(thread_id: int) -> None:
    """End a thread started with start_new_thread (0: the calling thread). The thread
    stops at its next Python instruction; one blocked in a long sleep stops after it."""
    target = threading.get_ident() if thread_id == 0 else thread_id
    if target == threading.main_thread().ident:
        raise ValueError("the main thread cannot be stopped")
    if thread_id == 0:
        raise SystemExit
    with _changed:
        if target not in _running:
            return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), ctypes.py_object(SystemExit))


def get_heap_size() -> int:
    """Free memory: the host's available physical memory in bytes."""
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return -1


def allocate_lock() -> Any:
    return _real.allocate_lock()


def delete_lock(lock: object) -> None:
    """Locks are freed by the garbage collector on the host; kept for compatibility."""


class Semphore:  # QuecPython's spelling
    """A counting semaphore whose initial count is also its maximum."""

    def __init__(self, initcount: int) -> None:
        if initcount < 1:
            raise ValueError("initcount must be at least 1")
        self._max = initcount
        self._count = initcount
        self._condition = threading.Condition()

    def acquire(self) -> bool:
        with self._condition:
            while self._count == 0:
                self._condition.wait()
            self._count -= 1
            return True

    def release(self) -> None:
        with self._condition:
            if self._count < self._max:
                self._count += 1
                self._condition.notify()

    def getCnt(self) -> tuple[int, int]:
        with self._condition:
            return (self._max, self._count)


def allocate_semphore(initcount: int) -> Semphore:
    return Semphore(initcount)


def delete_semphore(semphore: Semphore) -> None:
    """Freed by the garbage collector on the host; kept for compatibility."""


# ------------------------------------------------------------------- runtime side
def running_count() -> int:
    with _changed:
        return len(_running)


def wait_changed(timeout: float) -> None:
    """Block until a script thread ends (or ``timeout``)."""
    with _changed:
        _changed.wait(timeout)


def __getattr__(name: str) -> Any:
    # Everything else CPython's _thread has, so the stdlib imported later still works.
    return getattr(_real, name)
