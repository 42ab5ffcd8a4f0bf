"""Non-volatile settings of one module in a file, written atomically.

A save is synchronous and complete (write a temporary file, fsync, rename over the old one,
fsync the directory), so a SIGTERM or a reboot right after ``OK`` loses nothing. The file is
the user's alone (0600, in a directory created 0700): it holds the module's PSKs.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

#: The state holds PSKs (AT+QLWCFG="security"): only the user may read it.
STATE_FILE_MODE = 0o600
STATE_DIR_MODE = 0o700


class FileNvStore:
    """One JSON file per module: ``<state_dir>/<imei>.json``.

    A file that cannot be parsed is renamed to ``<name>.corrupt-<unix time>`` and the
    module starts on factory defaults; ``warnings`` says what happened, for the CLI to print.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.warnings: list[str] = []
        self._data: dict[str, dict[str, Any]] = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            if self.path.stat().st_mode & 0o077:  # written before files were kept private
                os.chmod(self.path, STATE_FILE_MODE)
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
                raise ValueError("top level is not an object of objects")
        except ValueError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            self.warnings.append(
                f"state file {self.path} is corrupt ({exc}); kept as {aside.name}, "
                "starting on factory defaults"
            )
            return {}
        return data

    def load(self, namespace: str) -> dict[str, Any]:
        copy: dict[str, Any] = json.loads(json.dumps(self._data.get(namespace, {})))
        return copy

    def save(self, namespace: str, data: dict[str, Any]) -> None:
        self._data[namespace] = json.loads(json.dumps(data))
        self._write()

    def erase(self) -> None:
        self._data = {}
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, STATE_FILE_MODE)
        os.fchmod(fd, STATE_FILE_MODE)  # a leftover temporary file may have had other bits
        with open(fd, "w", encoding="utf-8") as f:
            json.dump(self._data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
