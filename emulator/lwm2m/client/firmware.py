"""Firmware Update object (/5, OMA LwM2M TS 1.0 Appendix E.6): the state and result machine.

State: 0 Idle, 1 Downloading, 2 Downloaded, 3 Updating. Update Result: 0 initial, 1 success,
2 not enough flash, 3 out of RAM, 4 connection lost during download, 5 integrity check
failure, 6 unsupported package type, 7 invalid URI, 8 update failed, 9 unsupported protocol.

``AT+QLWCFG="fota",<download>,<update>`` picks who acts: with download 1 the module fetches the
Package URI itself, with 0 it hands the URI to the host (``"fota/pkgurl"``); with update 1 a
downloaded package is applied at once, with 0 the module reports ``"fota/downloaded"`` and
waits for the server's Update execute (/5/0/2). Applying restarts the module; the result
(1 success) is kept in NV so the server reads it after the restart.
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from emulator.lwm2m.errors import BadRequest, MethodNotAllowed

from .events import FirmwareDownloaded, FirmwarePackageOffered, LwM2MNotice
from .settings import FirmwareInfo

# /5/0/8 Firmware Update Protocol Support values (TS 1.0 E.6) by URI scheme.
PROTOCOL_BY_SCHEME = {"coap": 0, "coaps": 1, "http": 2, "https": 3}


class State(enum.IntEnum):
    IDLE = 0
    DOWNLOADING = 1
    DOWNLOADED = 2
    UPDATING = 3


class Result(enum.IntEnum):
    INITIAL = 0
    SUCCESS = 1
    NOT_ENOUGH_FLASH = 2
    OUT_OF_RAM = 3
    CONNECTION_LOST = 4
    INTEGRITY_FAILURE = 5
    UNSUPPORTED_PACKAGE = 6
    INVALID_URI = 7
    UPDATE_FAILED = 8
    UNSUPPORTED_PROTOCOL = 9


class DownloadError(enum.Enum):
    """Why a download failed, as the adapter reports it."""

    CONNECTION = "connection"  # refused, reset, timed out
    NOT_FOUND = "not found"  # 4.04 / HTTP 404 and other refusals of the URI
    TOO_LARGE = "too large"
    PROTOCOL = "protocol"  # a scheme the adapter cannot fetch


_RESULT_FOR_ERROR = {
    DownloadError.CONNECTION: Result.CONNECTION_LOST,
    DownloadError.NOT_FOUND: Result.INVALID_URI,
    DownloadError.TOO_LARGE: Result.NOT_ENOUGH_FLASH,
    DownloadError.PROTOCOL: Result.UNSUPPORTED_PROTOCOL,
}


@dataclass(frozen=True, kw_only=True)
class FirmwareHooks:
    """What the machine asks of the client."""

    download_mode: Callable[[], int]  # AT+QLWCFG="fota" <download>
    update_mode: Callable[[], int]  # AT+QLWCFG="fota" <update>
    start_download: Callable[[str], None]
    cancel_download: Callable[[], None]
    notify: Callable[[LwM2MNotice], None]  # reports to the host (+QLWURC on the AT port)
    apply: Callable[[], None]  # restart onto the new firmware (after saving the outcome)
    changed: Callable[[], None]  # state or result changed: observers of /5 are told


class FirmwareUpdate:
    """One Firmware Update instance (/5/0)."""

    def __init__(self, info: FirmwareInfo, hooks: FirmwareHooks) -> None:
        self.info = info
        self.hooks = hooks
        self.state = State.IDLE
        self.result = Result.INITIAL
        self.package_uri = ""
        self.package: bytes = b""
        self.package_name = ""
        self.package_version = ""

    # ------------------------------------------------------------ persistence
    def restore(self, saved: dict[str, Any]) -> None:
        """After a restart: a finished update reports its result (TS 1.0 E.6: state Idle)."""
        try:
            self.result = Result(int(saved.get("result", 0)))
        except ValueError:
            self.result = Result.INITIAL
        self.package_name = str(saved.get("name", ""))
        self.package_version = str(saved.get("version", ""))
        self.state = State.IDLE

    def saved(self) -> dict[str, Any]:
        return {
            "result": int(self.result),
            "name": self.package_name,
            "version": self.package_version,
        }

    # ----------------------------------------------------------- server writes
    def write_uri(self, uri: str) -> None:
        """Package URI (/5/0/1) written by a server."""
        if self.state is State.UPDATING:
            raise BadRequest("an update is being applied")
        if self.state is State.DOWNLOADING:
            self.hooks.cancel_download()
        self.package_uri = uri
        self.package = b""
        if uri == "":
            # TS 1.0 E.6: writing an empty URI resets the state machine.
            self._set(State.IDLE, Result.INITIAL)
            return
        try:
            parts = urlsplit(uri)
            valid = bool(parts.scheme and parts.hostname)
        except ValueError:
            valid = False
        if not valid:
            self._set(State.IDLE, Result.INVALID_URI)
            return
        protocol = PROTOCOL_BY_SCHEME.get(parts.scheme)
        if protocol is None or protocol not in self.info.protocols:
            self._set(State.IDLE, Result.UNSUPPORTED_PROTOCOL)
            return
        self.package_name = posixpath.basename(parts.path)
        if not self.hooks.download_mode():
            # Manual download: the host fetches the package (QuecPython: "capture URC").
            self._set(State.IDLE, Result.INITIAL)
            self.hooks.notify(FirmwarePackageOffered(uri=uri))
            return
        self._set(State.DOWNLOADING, Result.INITIAL)
        self.hooks.start_download(uri)

    def write_package(self, data: bytes) -> None:
        """Package (/5/0/0) pushed by a server."""
        if self.state is State.UPDATING:
            raise BadRequest("an update is being applied")
        if self.state is State.DOWNLOADING:
            self.hooks.cancel_download()
        if not data:
            self.package = b""
            self._set(State.IDLE, Result.INITIAL)
            return
        self.package_uri = ""
        self._received(data)

    # -------------------------------------------------------- adapter results
    def download_finished(self, data: bytes | None, error: DownloadError | None) -> None:
        if self.state is not State.DOWNLOADING:
            return  # cancelled meanwhile
        if error is not None or data is None:
            self._set(
                State.IDLE,
                _RESULT_FOR_ERROR.get(error or DownloadError.CONNECTION, Result.CONNECTION_LOST),
            )
            return
        self._received(data)

    def _received(self, data: bytes) -> None:
        if len(data) > self.info.max_package_bytes:
            self._set(State.IDLE, Result.NOT_ENOUGH_FLASH)
            return
        self.package = data
        self._set(State.DOWNLOADED, Result.INITIAL)
        if self.hooks.update_mode():
            self.execute_update()
        else:
            self.hooks.notify(FirmwareDownloaded(size=len(data)))

    # ------------------------------------------------------------- execute
    def execute_update(self) -> None:
        """Update (/5/0/2): only in state Downloaded (TS 1.0 E.6)."""
        if self.state is not State.DOWNLOADED:
            raise MethodNotAllowed(f"Update needs state Downloaded, state is {self.state.name}")
        self._set(State.UPDATING, Result.INITIAL)
        self.hooks.apply()

    def applied(self) -> None:
        """The restart onto the new firmware happens now: the outcome to keep."""
        self.result = Result.SUCCESS
        self.state = State.IDLE
        self.package = b""

    def _set(self, state: State, result: Result) -> None:
        changed = (state, result) != (self.state, self.result)
        self.state, self.result = state, result
        if changed:
            self.hooks.changed()
