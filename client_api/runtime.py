"""Running an unmodified QuecPython script on the PC, against a module's AT port.

The script runs as ``__main__`` with the device modules installed
(:mod:`client_api.quecpython`). On the device an application never ends; here the run
ends when the script's main code has returned and nothing is left that could still do
something: no thread it started with ``_thread`` is running and no LwM2M callback is
registered, no timer or watchdog is running. ``until_urc`` ends it (status 0) once a
URC containing that text has been delivered to the script's callbacks; ``timeout`` ends
it with status 124. ``misc.Power.powerDown()`` and an unfed ``machine.WDT`` end it too.
The module's ``/usr`` is the folder ``usr`` (default: a folder of this application's
own under the user's cache directory).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import runpy
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from client_api import lwm2m as lwm2m_module
from client_api.at_session import UrcReceived
from client_api.channel import AtChannel
from client_api.errors import AtChannelError, CommandTimeout, ModuleGone
from client_api.ports import close_all, open_channel
from client_api.quecpython import _host, _sandbox, _timers, install, qthread, sys_bus
from client_api.quecpython import sms as sms_module

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_SCRIPT_FAILED = 1
EXIT_USAGE = 2
EXIT_MODULE_NOT_READY = 4
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130
CONNECT_GRACE = 3.0  # seconds to wait for the port before the script starts anyway
BOOT_LIMIT = 30.0  # seconds for a rebooted module to say RDY and answer AT again
IDLE_CHECK = 0.5  # how often the idle wait looks at callbacks (thread ends wake it at once)


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    script: Path
    port: str | None = None
    timeout: float | None = None
    until_urc: str | None = None
    args: tuple[str, ...] = field(default_factory=tuple)
    usr: Path | None = None  # the folder standing for the module's /usr
    uarts: tuple[tuple[int, str], ...] = ()  # (UARTn, PC serial port) pairs
    # Reboot the module first, as the device starts its application after power-up
    # (False: run on the module as it is, registrations and sockets included).
    fresh_boot: bool = True


class ModuleNotReady(Exception):
    """The module could not be rebooted for a fresh start (the message says why)."""


def default_usr(script: Path) -> Path:
    """A folder of the application's own (per script path) under the cache directory."""
    resolved = script.resolve()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = hashlib.sha256(str(resolved).encode()).hexdigest()[:10]
    return cache / "quecemu" / "usr" / f"{resolved.stem}-{tag}"


class _Finish:
    """The first reason to stop wins; the main thread or a watcher acts on it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.status = EXIT_OK
        self.message = ""
        self._lock = threading.Lock()
        self._announced = False

    def set(self, status: int, message: str = "") -> None:
        with self._lock:
            if self.event.is_set():
                return
            self.status, self.message = status, message
            self.event.set()

    def announce(self) -> None:
        """Print the reason once, from whichever thread ends the process first: the main
        thread returning from the run races the watcher's ``os._exit``, and a message left
        to the other one would be lost with the process."""
        with self._lock:
            if self._announced or not self.message:
                return
            self._announced = True
            with contextlib.suppress(OSError, ValueError):  # a closed pipe takes nothing
                print(self.message, file=sys.stderr)


def run_cli(options: RunOptions) -> int:
    """The ``run`` command: run the script; a watcher ends the process on timeout or on
    the awaited URC even when the script's main code never returns."""
    finish = _Finish()
    try:
        channel = _open(options)
    except ModuleNotReady as exc:
        print(f"client_api: {exc}", file=sys.stderr)
        close_all()
        return EXIT_MODULE_NOT_READY
    _start_watchers(options, channel, finish, hard_exit=True)
    status = _run(options, channel, finish)
    finish.announce()
    _flush()
    close_all()
    return status


def run_script(options: RunOptions) -> int:
    """Run a script in this process and return its exit status (for tests and embedding:
    a script whose main code never returns is not stopped by ``timeout`` here)."""
    finish = _Finish()
    channel = _open(options)
    _start_watchers(options, channel, finish, hard_exit=False)
    status = _run(options, channel, finish)
    finish.announce()
    return status


def _open(options: RunOptions) -> AtChannel:
    channel = open_channel(options.port)
    if not channel.wait_connected(CONNECT_GRACE):
        log.warning(
            "%s is not open (%s); the script starts and the channel keeps trying",
            channel.port,
            channel.gone_reason,
        )
    elif options.fresh_boot:
        boot_fresh(channel, BOOT_LIMIT)
    return channel


def boot_fresh(channel: AtChannel, limit: float = BOOT_LIMIT) -> None:
    """Reboot the module (``AT+CFUN=1,1``, 27.007 §8.2) and return once it is up again: it
    said ``RDY``, or its port went away and came back (a USB port re-enumerates and may never
    show RDY), and it answers ``AT``. A QuecPython application starts on a freshly booted
    module; without this a second run would find the first one's registration, sockets and
    settings (``lwm2m.config`` then answers -1, the client running). What the module keeps
    in NV (its LwM2M configuration, files, SMS) stays, as on the device."""
    booted = threading.Event()
    remove = channel.add_urc_listener(lambda urc: booted.set(), prefix="RDY")
    opens = channel.open_count
    deadline = time.monotonic() + limit
    try:
        try:
            channel.command("AT+CFUN=1,1", 5.0)
        except ModuleGone:
            pass  # the port went down with the reset before its OK came through
        except AtChannelError as exc:
            raise ModuleNotReady(
                f"the module on {channel.port} did not reboot (AT+CFUN=1,1: {exc});"
                " --keep-state runs the application on the module as it is"
            ) from None
        while not booted.wait(0.05):
            if channel.open_count > opens:
                break
            if time.monotonic() >= deadline:
                raise ModuleNotReady(
                    f"the module on {channel.port} did not boot again (no RDY, and its port"
                    f" did not come back, within {limit:g} s of AT+CFUN=1,1)"
                )
        while True:  # the boot URCs are still coming: the port answers once they are out
            try:
                channel.command("AT", 1.0)
                return
            except (CommandTimeout, ModuleGone):
                if time.monotonic() >= deadline:
                    raise ModuleNotReady(
                        f"the module on {channel.port} does not answer AT after its reboot"
                    ) from None
                channel.wait_connected(1.0)
    finally:
        remove()


def _start_watchers(
    options: RunOptions, channel: AtChannel, finish: _Finish, *, hard_exit: bool
) -> None:
    if options.until_urc is not None:
        wanted = options.until_urc

        def finish_after_delivery() -> None:
            channel.drain_urcs(5.0)  # the script's callbacks see this URC first
            finish.set(EXIT_OK)

        def on_urc(urc: UrcReceived) -> None:
            if wanted in urc.line:
                threading.Thread(target=finish_after_delivery, daemon=True).start()

        channel.add_urc_listener(on_urc)
    if options.timeout is not None:
        limit = options.timeout

        def on_timeout() -> None:
            if not finish.event.wait(limit):
                finish.set(EXIT_TIMEOUT, f"client_api: --timeout {limit:g} s reached")

        threading.Thread(target=on_timeout, daemon=True).start()
    if hard_exit:

        def enforce() -> None:
            finish.event.wait()
            finish.announce()
            _flush()
            os._exit(finish.status)

        threading.Thread(target=enforce, daemon=True).start()


def _run(options: RunOptions, channel: AtChannel, finish: _Finish) -> int:
    script = options.script.resolve()
    _host.settings.usr = options.usr if options.usr is not None else default_usr(script)
    _host.settings.uarts = dict(options.uarts)
    _sandbox.reset()
    _host.set_end_handler(finish.set)
    uninstall = install(script.parent)
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(script), *options.args]
    # After the PC's own paths (and only there, even when it is the current directory):
    # the application's modules never shadow the PC's for other code; its own imports
    # find them first (client_api.quecpython._appfiles).
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != str(script.parent)]
    sys.path.append(str(script.parent))
    try:
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as exc:
            code = exc.code
            finish.set(code if isinstance(code, int) else (0 if code is None else 1))
        except KeyboardInterrupt:
            finish.set(EXIT_INTERRUPTED)
        except BaseException:
            traceback.print_exc()
            finish.set(EXIT_SCRIPT_FAILED)
        try:
            while not finish.event.is_set():
                if options.until_urc is None and _idle(channel):
                    finish.set(EXIT_OK)
                    break
                if qthread.running_count():
                    qthread.wait_changed(IDLE_CHECK)
                else:
                    finish.event.wait(IDLE_CHECK)
        except KeyboardInterrupt:
            finish.set(EXIT_INTERRUPTED)
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        _timers.stop_all()
        sys_bus.clear()
        _host.set_end_handler(None)
        uninstall()
    return finish.status


def _idle(channel: AtChannel) -> bool:
    return (
        qthread.running_count() == 0
        and not lwm2m_module.has_callback(channel)
        and not sms_module.has_callback(channel)  # a script waiting for SMS keeps running
        and not _host.busy()
    )


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe has nothing to flush
            stream.flush()
