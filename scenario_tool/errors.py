"""Errors of the scenario runner, each carrying what a user needs to act on it.

They are raised where the problem is found and rendered once, by the CLI (``cli.py``): a
scenario file that is refused names file, line and reason; a server or emulator that cannot be
reached gives one sentence saying which and where.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Where:
    """A place in a scenario file (1-based line and column, as editors count)."""

    file: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class ScenarioError(Exception):
    """Base class of everything the scenario package raises on purpose."""


class ScenarioFormatError(ScenarioError):
    """A scenario file is not valid: unknown step, missing field, wrong type, bad YAML."""

    def __init__(self, where: Where, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class DriverError(ScenarioError):
    """A server driver could not do what was asked (the server refused or misbehaved)."""


class UnsupportedOperation(DriverError):
    """The driver cannot do this at all (e.g. stopping a Leshan server it does not own)."""


class Unreachable(ScenarioError):
    """A server, a relay target or an external emulator cannot be reached."""


class WorkerLost(ScenarioError):
    """A worker process of a ``--modules`` run died or failed before its modules finished:
    the run could not complete (its modules' results are missing, not failed)."""


class StepTimeout(ScenarioError):
    """Nothing matching came within the step's time."""


def os_reason(exc: OSError) -> str:
    """``Connection refused`` rather than asyncio's ``Connect call failed ('h', p)``."""
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return exc.strerror or str(exc) or type(exc).__name__
