"""QuecPython system modules against the real emulator (`quecemu serve --link`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import serial

from tests.client_api.capi_emulator import Emulator

APPS = Path(__file__).parent / "apps"
RUN_LIMIT = 120  # seconds a run may take before the test fails (it never should)


# ------------------------------------------------------------------ system modules
def test_system_app_runs_twice_against_the_emulator(tmp_path: Path) -> None:
    """A QuecPython-style application using osTimer, sys_bus, ql_fs/uos/open on /usr,
    machine.RTC and the net/dataCall/pm getters, run unmodified twice in a row against
    `quecemu serve` over a real pty: the second run finds what the first left in /usr."""
    emu = Emulator(tmp_path)
    usr = tmp_path / "usr"
    try:
        for boot in (1, 2):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "client_api",
                    "run",
                    str(APPS / "system_app.py"),
                    "--port",
                    str(emu.link),
                    "--usr",
                    str(usr),
                    "--timeout",
                    "60",
                ],
                capture_output=True,
                text=True,
                timeout=RUN_LIMIT,
            )
            assert done.returncode == 0, done.stderr
            lines = [line for line in done.stdout.splitlines() if line.startswith("[system_app]")]
            expected_head = [
                "[system_app] network stage=3 state=1",
                f"[system_app] boot {boot}",
                f"[system_app] boot.log lines {boot}",
                "[system_app] usr files ['boot.log', 'system_app.json']",
                "[system_app] rtc set 0",
                "[system_app] rtc now 2030-01-02 week 3 03:04",
                "[system_app] serving mcc 460 mnc 0 ci B2C3D41 lac 5A1F",
                "[system_app] lte rssi -65 rsrp -85 rsrq -9 sinr 15",
                "[system_app] net mode (0, '460', '00', 7) config (6, True)",
                "[system_app] nitz True",
                "[system_app] apn cmnet pdp range (1, 15)",
                "[system_app] psm set True read [1, 1, 1, 0, 5]",
            ]
            assert lines[: len(expected_head)] == expected_head, done.stdout
            assert lines[len(expected_head)] == "[system_app] vbatt 3800"  # AT+CBC
            assert lines[len(expected_head) + 1 :] == [
                f"[system_app] signal/report {n} csq 24" for n in (1, 2, 3)
            ], done.stdout
            assert "INFO:system_app:reporter started" in done.stderr
        assert json.loads((usr / "system_app.json").read_text())["boots"] == 2
    finally:
        emu.stop()


def _answer(port: serial.SerialBase, command: bytes, limit: float = 30.0) -> bytes:
    """Send ``command`` until the module answers OK (it ignores input while booting)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        port.reset_input_buffer()
        port.write(command + b"\r")
        got = b""
        answer_by = time.monotonic() + 1.0
        while b"OK\r\n" not in got and time.monotonic() < answer_by:
            got += port.read(64)
        if b"OK\r\n" in got:
            return got
    raise AssertionError(f"no answer to {command!r} within {limit} s")


def test_power_restart_resets_the_module_and_ends_the_run(tmp_path: Path) -> None:
    """A reboot forgets ATE0 (not saved with AT&W): the echo is back afterwards."""
    emu = Emulator(tmp_path)
    try:
        with serial.serial_for_url(str(emu.link), timeout=0.1) as port:
            _answer(port, b"ATE0")
            assert _answer(port, b"AT").startswith(b"\r\nOK")  # no echo now
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "client_api",
                "run",
                str(APPS / "power_restart.py"),
                "--port",
                str(emu.link),
                "--usr",
                str(tmp_path / "usr"),
                "--timeout",
                "60",
            ],
            capture_output=True,
            text=True,
            timeout=RUN_LIMIT,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == "restarting\n"
        assert "misc.Power.powerRestart() restarted the module (AT+CFUN=1,1)" in done.stderr
        with serial.serial_for_url(str(emu.link), timeout=0.1) as port:
            assert _answer(port, b"AT").startswith(b"AT\r")  # echo on again: it rebooted
    finally:
        emu.stop()
