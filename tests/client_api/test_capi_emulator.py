"""client_api against the real emulator (``quecemu serve`` on a pty): the AT channel and the
runtime modules over the baseline commands. The LwM2M part is in test_capi_emulator_lwm2m.py.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import client_api
from client_api.at_session import UrcReceived
from client_api.channel import AtChannel
from client_api.errors import CmeError, CommandError, CommandTimeout, ModuleGone
from client_api.quecpython import checknet, datacall, modem, net, sim
from tests.client_api.capi_emulator import BASELINE_FAMILIES, Emulator

WAIT = 10.0
BOOT_URCS = ["RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"]
APPS = Path(__file__).parent / "apps"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(tmp_path, lwm2m=False)
    yield emu
    emu.stop()


@pytest.fixture
def at(emulator: Emulator) -> Iterator[AtChannel]:
    channel = client_api.open(str(emulator.link), command_timeout=5.0, reconnect_interval=0.05)
    assert channel.wait_connected(WAIT)
    yield channel
    channel.close()


def reboot_and_wait(channel: AtChannel) -> None:
    """AT+CFUN=1,1, then AT until the module answers again (input is lost while it boots)."""
    channel.command("AT+CFUN=1,1")
    for _ in range(100):
        try:
            channel.command("AT", timeout=0.2)
            return
        except CommandTimeout:
            continue
    raise AssertionError("the module did not come back from AT+CFUN=1,1")


def test_identity_and_echo(at: AtChannel) -> None:
    assert at.command("ATI").lines == ("Quectel", "EC200U", "Revision: EC200UCNAAR03A15M08")
    at.command("ATE0")
    assert at.command("AT+CGMM").lines == ("EC200U",)
    at.command("ATE1")
    assert at.command("AT+CGMM").lines == ("EC200U",)


def test_errors_from_the_module(at: AtChannel) -> None:
    with pytest.raises(CommandError) as unknown:
        at.command("AT+NOSUCHCOMMAND")
    assert unknown.value.final == "ERROR"
    at.command("AT+CMEE=2")
    with pytest.raises(CmeError) as text:
        at.command("AT+CFUN=7")
    assert text.value.text and text.value.code is not None
    at.command("AT+CMEE=1")


def test_boot_urcs_after_a_reboot(at: AtChannel) -> None:
    urcs: queue.Queue[UrcReceived] = queue.Queue()
    at.add_urc_listener(urcs.put)
    at.command("AT+CFUN=1,1")
    got = [urcs.get(timeout=WAIT).line for _ in BOOT_URCS]
    assert sorted(got) == sorted(BOOT_URCS) and got[0] == "RDY"
    assert at.command("AT").final == "OK"


def test_urcs_held_until_the_next_echo(tmp_path: Path) -> None:
    # Boot URCs 20 ms apart: the AT that finds the module back usually comes mid-boot.
    profile = tmp_path / "slow-boot-profile.json"
    boot = {"duration_ms": 300, "urcs": BOOT_URCS, "urc_gap_ms": 20}
    profile.write_text(
        json.dumps({"extends": "EC200U", "command_families": BASELINE_FAMILIES, "boot": boot})
    )
    emu = Emulator(tmp_path, "--urc-before-echo", "--profile", str(profile))
    channel = client_api.open(str(emu.link), command_timeout=5.0)
    try:
        urcs: queue.Queue[UrcReceived] = queue.Queue()
        channel.add_urc_listener(urcs.put)
        # The boot URCs nobody read are held for the first echo: "+CFUN: 1" among them
        # comes before the echo of AT+CFUN?, whose answer is also "+CFUN: 1".
        assert channel.command("AT+CFUN?").lines == ("+CFUN: 1",)
        assert [urcs.get(timeout=WAIT).line for _ in BOOT_URCS] == BOOT_URCS
        reboot_and_wait(channel)
        # The AT that found the module back may have come mid-boot, between two boot URCs:
        # the later ones are then held for the echo of a later command.
        got: list[str] = []
        deadline = time.monotonic() + WAIT
        while True:
            assert channel.drain_urcs(WAIT)
            while not urcs.empty():
                got.append(urcs.get_nowait().line)
            if len(got) >= len(BOOT_URCS) or time.monotonic() > deadline:
                break
            channel.command("AT")  # its echo releases what the module holds
        assert got == BOOT_URCS
        assert channel.drain_urcs(WAIT) and urcs.empty()
        assert channel.command("AT+CGMM").lines == ("EC200U",)
    finally:
        channel.close()
        emu.stop()


def test_module_vanishes_and_returns(emulator: Emulator, at: AtChannel) -> None:
    emulator.stop()
    with pytest.raises(ModuleGone):
        for _ in range(50):  # the first command may still meet the closing pty
            at.command("AT", timeout=0.5)
    assert not at.connected
    emulator.start()  # same --link, new pty
    assert at.wait_connected(WAIT)
    assert at.command("AT+CGMM").lines == ("EC200U",)


def test_runtime_modules_read_the_profile(at: AtChannel) -> None:
    assert modem.getDevImei() == "869339060001965"
    assert modem.getDevModel() == "EC200U"
    assert modem.getDevFwVersion() == "EC200UCNAAR03A15M08"
    assert modem.getDevSN() == "MPY22K06Q0001965"
    assert sim.getStatus() == 1
    assert sim.getImsi() == "460025191757605"
    assert sim.getIccid() == "89860025191757605000"
    assert net.csqQueryPoll() == 24
    state = net.getState()
    assert isinstance(state, tuple) and state[1][0] == 1 and state[1][3] == 7
    operator = net.operatorName()
    assert isinstance(operator, tuple) and operator[0] == "CHINA MOBILE"
    assert checknet.waitNetworkReady(10) == (3, 1)
    info = datacall.getInfo(1, 0)
    assert info == (1, 0, [1, 0, "10.46.73.41", "0.0.0.0", "0.0.0.0"])


def test_script_through_the_cli(emulator: Emulator) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "client_api", "run", str(APPS / "network_info.py")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, client_api.PORT_ENV: str(emulator.link)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "network (3, 1)",
        "imei 869339060001965 model EC200U",
        "csq 24",
        "sim 1 460025191757605",
    ]
