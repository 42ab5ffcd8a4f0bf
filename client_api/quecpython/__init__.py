"""The QuecPython modules a script imports, provided on the host.

:func:`install` puts them into ``sys.modules`` under their device names (``import net``
gives :mod:`client_api.quecpython.net`) and makes an ``import`` of a module the host does
not provide fail with an ImportError that says so and lists what is provided. Given the
application's folder, it also applies the rule of :mod:`client_api.quecpython._appfiles`
(built-ins first; the application's own modules before the PC's for its own imports)
and sends ``open`` in the application's code to the ``/usr`` sandbox.
"""

from __future__ import annotations

import builtins
import importlib
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from client_api.quecpython._appfiles import APP_PACKAGE, AppFiles, install_open

# device name -> the module that stands in for it
PROVIDED: dict[str, str] = {
    "lwm2m": "client_api.lwm2m",
    "utime": "client_api.quecpython.utime",
    "_thread": "client_api.quecpython.qthread",
    "modem": "client_api.quecpython.modem",
    "net": "client_api.quecpython.net",
    "checkNet": "client_api.quecpython.checknet",
    "sim": "client_api.quecpython.sim",
    "sms": "client_api.quecpython.sms",
    "dataCall": "client_api.quecpython.datacall",
    "machine": "client_api.quecpython.machine",
    "log": "client_api.quecpython.log",
    "osTimer": "client_api.quecpython.ostimer",
    "sys_bus": "client_api.quecpython.sys_bus",
    "misc": "client_api.quecpython.misc",
    "pm": "client_api.quecpython.pm",
    "ql_fs": "client_api.quecpython.ql_fs",
    "uos": "client_api.quecpython.uos",
    "ntptime": "client_api.quecpython.ntptime",
    "ujson": "client_api.quecpython.ujson",
    "ubinascii": "client_api.quecpython.ubinascii",
    "uhashlib": "client_api.quecpython.uhashlib",
    "uzlib": "client_api.quecpython.uzlib",
    "umqtt": "client_api.quecpython.umqtt",
    "umqtt.simple": "client_api.quecpython.umqtt.simple",
    "umqtt.robust": "client_api.quecpython.umqtt.robust",
    "request": "client_api.quecpython.request",
    "usocket": "client_api.quecpython.usocket",
}
# MicroPython's u-modules are subsets of these CPython modules: the full module stands in.
STDLIB_ALIASES: dict[str, str] = {
    "usys": "sys",
    "ure": "re",
    "ustruct": "struct",
    "ucollections": "collections",
    "uio": "io",
    "uerrno": "errno",
    "urandom": "random",
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


def _guarded_import(original: ImportFunction, app: AppFiles | None = None) -> ImportFunction:
    def guarded(
        name: str,
        globals: Mapping[str, object] | None = None,
        locals: Mapping[str, object] | None = None,
        fromlist: Sequence[str] = (),
        level: int = 0,
    ) -> types.ModuleType:
        if app is not None and level == 0 and app.is_app_caller(globals):
            top = name.partition(".")[0]
            if top in PROVIDED or top in STDLIB_ALIASES:
                app.warn_builtin_shadowed(top)
            elif app.redirect(top):
                module = original(f"{APP_PACKAGE}.{name}", globals, locals, fromlist, 0)
                return module if fromlist else sys.modules[f"{APP_PACKAGE}.{top}"]
        try:
            return original(name, globals, locals, fromlist, level)
        except ModuleNotFoundError as exc:
            top = name.partition(".")[0]
            if level == 0 and exc.name in (name, top) and top not in sys.modules:
                raise not_provided(top) from None
            raise

    return guarded


def install(app_folder: Path | None = None) -> Callable[[], None]:
    """Make the device modules importable (and, given the application's folder, its
    module rule and device ``open``); returns a function that undoes it."""
    saved: dict[str, Any] = {}
    for device_name, target in [*PROVIDED.items(), *STDLIB_ALIASES.items()]:
        saved[device_name] = sys.modules.get(device_name)
        sys.modules[device_name] = importlib.import_module(target)
    builtin_names = frozenset(PROVIDED) | frozenset(STDLIB_ALIASES)
    app = AppFiles(app_folder, builtin_names) if app_folder is not None else None
    undo_open: Callable[[], None] | None = None
    if app is not None:
        saved[APP_PACKAGE] = sys.modules.get(APP_PACKAGE)
        sys.modules[APP_PACKAGE] = app.package
        undo_open = install_open(app)
    original_import = builtins.__import__
    builtins.__import__ = _guarded_import(original_import, app)

    def uninstall() -> None:
        builtins.__import__ = original_import
        if undo_open is not None:
            undo_open()
        for key in [k for k in sys.modules if k.startswith(APP_PACKAGE + ".")]:
            del sys.modules[key]
        for device_name, module in saved.items():
            if module is None:
                sys.modules.pop(device_name, None)
            else:
                sys.modules[device_name] = module

    return uninstall
