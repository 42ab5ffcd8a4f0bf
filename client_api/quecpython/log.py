"""QuecPython ``log``: named loggers printing ``LEVEL:name:message`` to stderr.

The device's module prints level names CRIT/ERROR/WARN/INFO/DEBUG in that form, default
level INFO, and ``set_output`` takes ``usys.stdout``/``usys.stderr`` (or a UART, which the
host does not have).
"""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

CRITICAL = 50
ERROR = 40
WARNING = 30
INFO = 20
DEBUG = 10
NOTSET = 0

LEVEL_NAMES = {CRITICAL: "CRIT", ERROR: "ERROR", WARNING: "WARN", INFO: "INFO", DEBUG: "DEBUG"}

_level = INFO
_stream: TextIO | None = None  # None: whatever sys.stderr is when a line is written
_loggers: dict[str, Logger] = {}
_lock = threading.Lock()


class Logger:
    def __init__(self, name: str) -> None:
        self.name = name
        self.level = NOTSET

    def setLevel(self, level: int) -> None:
        self.level = level

    def isEnabledFor(self, level: int) -> bool:
        return level >= (self.level or _level)

    def log(self, level: int, msg: object, *args: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        name = LEVEL_NAMES.get(level, f"LVL{level}")
        stream = _stream if _stream is not None else sys.stderr
        with _lock:
            print(f"{name}:{self.name}:{text}", file=stream, flush=True)

    def debug(self, msg: object, *args: Any) -> None:
        self.log(DEBUG, msg, *args)

    def info(self, msg: object, *args: Any) -> None:
        self.log(INFO, msg, *args)

    def warning(self, msg: object, *args: Any) -> None:
        self.log(WARNING, msg, *args)

    def error(self, msg: object, *args: Any) -> None:
        self.log(ERROR, msg, *args)

    def critical(self, msg: object, *args: Any) -> None:
        self.log(CRITICAL, msg, *args)


def getLogger(name: str = "root") -> Logger:
    with _lock:
        logger = _loggers.get(name)
        if logger is None:
            logger = _loggers[name] = Logger(name)
        return logger


def basicConfig(level: int = INFO, stream: TextIO | None = None, **_ignored: Any) -> None:
    global _level, _stream
    _level = level
    if stream is not None:
        _stream = stream


def set_output(out: TextIO) -> None:
    global _stream
    if out is not sys.stdout and out is not sys.stderr:
        raise ValueError("log output must be usys.stdout or usys.stderr on the host")
    _stream = out
