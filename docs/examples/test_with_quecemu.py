"""A firmware team's tests with quecemu's pytest plugin (docs/pytest-plugin.md).

``register_device`` stands for the code under test: the part of a device's firmware that
drives the module over its serial port. Here it is Python over pyserial; a C program started
with ``quecemu_module.port`` as its serial device is tested the same way.

Run with ``pytest docs/examples`` once quecemu is installed (the plugin loads by itself).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import serial  # pyserial

from scenario_tool.driver import Registered

HERE = Path(__file__).parent


# --------------------------------------------------------------------------- the firmware
def command(port: serial.Serial, line: str, timeout: float = 5.0) -> list[str]:
    """Send one AT command; the lines up to its final result code (echo left out)."""
    port.write(line.encode() + b"\r")
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = port.readline().decode(errors="replace").strip()
        if not text or text == line:
            continue
        lines.append(text)
        if text == "OK" or "ERROR" in text:
            return lines
    raise TimeoutError(f"no answer to {line}")


def register_device(port_path: str, server_uri: str, lifetime: int = 300) -> None:
    """Give the module its LwM2M server and register; returns once the module says ready."""
    with serial.Serial(port_path, 115200, timeout=0.2) as port:
        for line in (
            f'AT+QLWCFG="security",1,1000,"{server_uri}",0,3',
            f'AT+QLWCFG="server",1,{lifetime},1,60,86400,0,"U"',
            "AT+QLWREG",
        ):
            answer = command(port, line)
            if answer[-1] != "OK":
                raise RuntimeError(f"{line} -> {answer}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if port.readline().startswith(b'+QLWURC: "ready"'):
                return
        raise TimeoutError("the module never reported ready")


# --------------------------------------------------------------------------- the tests
def test_the_device_registers_with_the_lifetime_it_chose(quecemu_module, quecemu_server):
    register_device(quecemu_module.port, quecemu_server.uri, lifetime=120)
    event = quecemu_server.wait(Registered, quecemu_module.endpoint, timeout=15)
    assert event.registration.lifetime == 120
    assert quecemu_server.read(quecemu_module.endpoint, "/3/0/0").value == "Quectel"


def test_a_weak_signal_is_what_the_module_reports(quecemu_module):
    quecemu_module.set_signal(3)
    assert quecemu_module.at("AT+CSQ") == ["+CSQ: 3,99", "OK"]


def test_without_a_sim_the_module_says_so(quecemu_module):
    quecemu_module.remove_sim()
    assert quecemu_module.at("AT+CPIN?") == ["+CME ERROR: 10"]


@pytest.mark.quecemu_module(profile="EG912N")
def test_another_model(quecemu_module):
    assert "EG912N" in " ".join(quecemu_module.at("ATI"))


def test_the_registration_scenario(quecemu_scenarios):
    # On a module of its own; port=quecemu_module.port would run it on this test's module.
    quecemu_scenarios.check(HERE / "registration.yaml")
