"""The QuecPython modules a script imports, provided on the host.

:func:`install` puts them into ``sys.modules`` under their device names (``import net``
gives :mod:`client_api.quecpython.net`) and makes an ``import`` of a module the host does
not provide fail with an ImportError that says so and lists what is provided.
"""

from __future__ import annotations

import builtins
import importlib
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# device name -> the module that stands in for it
PROVIDED: dict[str, str] = {
    "lwm2m": "client_api.lwm2m",
    "utime": "client_api.quecpython.utime",
    "_thread": "client_api.quecpython.qthread",
    "modem": "client_api.quecpython.modem",
    "net": "client_api.quecpython.net",
    "checkNet": "client_api.quecpython.checknet",
    "sim": "client_api.quecpython.sim",
    "dataCall": "client_api.quecpython.datacall",
    "machine": "client_api.quecpython.machine",
    "log": "client_api.quecpython.log",
}
# MicroPython's u-modules are subsets of these CPython modules: the full module stands in.
STDLIB_ALIASES: dict[str, str] = {
    "ujson": "json",
    "uos": "os",
    "usys": "sys",
    "ure": "re",
    "ustruct": "struct",
    "ubinascii": "binascii",
    "ucollections": "collections",
    "uio": "io",
    "uerrno": "errno",
    "urandom": "random",
    "uhashlib": "hashlib",
}

ImportFunction = Callable[..., types.ModuleType]


def provided_names() -> list[str]:
    return sorted([*PROVIDED, *STDLIB_ALIASES], key=str.lower)


def not_provided(name: str) -> ModuleNotFoundError:
    return ModuleNotFoundError(
        f"No module named {name!r}: the client_api host runtime does not provide it"
        f" (QuecPython modules provided: {', '.join(provided_names())};"
        " the Python standard library is importable too)",
        name=name,
    )


def _guarded_import(original: ImportFunction) -> ImportFunction:
    def guarded(
        name: str,
        globals: Mapping[str, object] | None = None,
        locals: Mapping[str, object] | None = None,
        fromlist: Sequence[str] = (),
        level: int = 0,
    ) -> types.ModuleType:
        try:
            return original(name, globals, locals, fromlist, level)
        except ModuleNotFoundError as exc:
            top = name.partition(".")[0]
            if level == 0 and exc.name in (name, top) and top not in sys.modules:
                raise not_provided(top) from None
            raise

    return guarded


def install() -> Callable[[], None]:
    """Make the device modules importable; returns a function that undoes it."""
    saved: dict[str, Any] = {}
    for device_name, target in [*PROVIDED.items(), *STDLIB_ALIASES.items()]:
        saved[device_name] = sys.modules.get(device_name)
        sys.modules[device_name] = importlib.import_module(target)
    original_import = builtins.__import__
    builtins.__import__ = _guarded_import(original_import)

    def uninstall() -> None:
        builtins.__import__ = original_import
        for device_name, module in saved.items():
            if module is None:
                sys.modules.pop(device_name, None)
            else:
                sys.modules[device_name] = module

    return uninstall
