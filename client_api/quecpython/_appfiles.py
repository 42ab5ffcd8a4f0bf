"""The application's own files on the PC: its modules, and ``open`` in its code.

**Which module an ``import`` gets** (the rule; docs/client_api.md says it to users):

1. A QuecPython built-in this runtime provides (``net``, ``utime``, ``osTimer``...) wins,
   as on the device, where built-in modules come before files in ``/usr``. An
   application file with a built-in's name is never loaded; a warning says so once.
2. Otherwise, an import written in the application's code finds the application's own
   module first (a file ``NAME.py`` or a package ``NAME/`` next to the script), even
   when the PC has a module of that name (``serial``, ``queue``, ``logging``...): on the
   device those PC modules do not exist. Such a module is loaded under a private name
   (``__quecpython_app__.NAME``), so the PC's module of the same name — which this
   runtime itself may use, as the channel uses pyserial's ``serial`` — stays untouched.
3. Imports in any other code (the standard library, pyserial, this runtime) never see
   the application's files: the application's folder is searched after the PC's.

**``open`` in the application's code** goes to the device's file system: ``/usr/...``
and relative paths land in the ``/usr`` sandbox; other absolute paths are refused with
a ``PermissionError``. ``open`` called from any other code is the PC's, unchanged.
"""

from __future__ import annotations

import builtins
import importlib.machinery
import logging
import os
import sys
import sysconfig
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from client_api.quecpython._sandbox import current

log = logging.getLogger("client_api.quecpython")

APP_PACKAGE = "__quecpython_app__"


def _library_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    return tuple(os.path.join(os.path.realpath(r), "") for r in roots)


class AppFiles:
    def __init__(self, folder: Path, builtin_names: frozenset[str]) -> None:
        self.folder = folder.resolve()
        self._prefix = os.path.join(str(self.folder), "")
        self._builtin_names = builtin_names
        self._library_roots = _library_roots()
        self._code_files: dict[str, bool] = {}
        self._redirects: dict[str, bool] = {}
        self._ships: dict[str, bool] = {}  # an import in a loop must not stat each time
        self._warned: set[str] = set()
        package = types.ModuleType(APP_PACKAGE)
        package.__path__ = [str(self.folder)]
        package.__package__ = APP_PACKAGE
        self.package = package

    # ------------------------------------------------------------- whose code
    def is_app_file(self, filename: str) -> bool:
        known = self._code_files.get(filename)
        if known is None:
            real = os.path.realpath(filename)
            known = real.startswith(self._prefix) and not real.startswith(self._library_roots)
            self._code_files[filename] = known
        return known

    def is_app_caller(self, globals_: Any) -> bool:
        if not isinstance(globals_, dict):
            return False
        name = globals_.get("__name__")
        if isinstance(name, str) and (name == APP_PACKAGE or name.startswith(APP_PACKAGE + ".")):
            return True
        filename = globals_.get("__file__")
        return isinstance(filename, str) and self.is_app_file(filename)

    # ------------------------------------------------------------- modules
    def ships(self, name: str) -> bool:
        known = self._ships.get(name)
        if known is None:
            known = (self.folder / f"{name}.py").is_file() or (
                self.folder / name / "__init__.py"
            ).is_file()
            self._ships[name] = known
        return known

    def _host_has(self, name: str) -> bool:
        loaded = sys.modules.get(name)
        if loaded is not None:
            filename = getattr(loaded, "__file__", None)
            return not (isinstance(filename, str) and self.is_app_file(filename))
        if name in sys.builtin_module_names or name in sys.stdlib_module_names:
            return True
        path = [p for p in sys.path if os.path.realpath(p or ".") != str(self.folder)]
        return importlib.machinery.PathFinder.find_spec(name, path) is not None

    def redirect(self, top: str) -> bool:
        """Whether an application import of ``top`` must load the application's module
        under the private package (it ships one and the PC has one of that name)."""
        decided = self._redirects.get(top)
        if decided is None:
            decided = self.ships(top) and self._host_has(top)
            self._redirects[top] = decided
        return decided

    def warn_builtin_shadowed(self, top: str) -> None:
        if top in self._builtin_names and top not in self._warned and self.ships(top):
            self._warned.add(top)
            log.warning(
                "the application's %s is not used: QuecPython's built-in module %r comes"
                " first, as on the device (rename the file to use it)",
                self._shipped_path(top),
                top,
            )

    def _shipped_path(self, top: str) -> str:
        single = self.folder / f"{top}.py"
        return str(single if single.is_file() else self.folder / top)

    # ------------------------------------------------------------- open()
    def device_open(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, str | bytes | os.PathLike) and self.is_app_file(
                sys._getframe(1).f_code.co_filename
            ):
                file = current().host_path(file, f"open({os.fsdecode(file)!r})")
            return original(file, mode, *args, **kwargs)

        return open


def install_open(app: AppFiles) -> Callable[[], None]:
    original = builtins.open
    builtins.open = app.device_open(original)

    def uninstall() -> None:
        builtins.open = original

    return uninstall
