"""QuecPython's lwm2m API against the real emulator's AT+QLW* commands and a real LwM2M
server (lwm2m-node-lib, tests/peers/lwm2m_server.js): what the module stored, what the
callback got, what the server saw.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import client_api
from client_api import lwm2m
from client_api.channel import AtChannel
from tests.client_api.capi_emulator import Emulator, NodeServer

WAIT = 15.0
IMEI = "869339060001965"
APPS = Path(__file__).parent / "apps"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(tmp_path, lwm2m=True)
    yield emu
    emu.stop()


@pytest.fixture
def at(emulator: Emulator) -> Iterator[AtChannel]:
    channel = client_api.open(str(emulator.link), command_timeout=5.0)
    assert channel.wait_connected(WAIT)
    yield channel
    channel.close()


@pytest.fixture
def lw(at: AtChannel) -> lwm2m.lwm2m:
    return lwm2m.lwm2m(at)


@pytest.fixture
def server() -> Iterator[NodeServer]:
    peer = NodeServer()
    yield peer
    peer.stop()


def read_back(at: AtChannel, name: str) -> tuple[str, ...]:
    return at.command(f'AT+QLWCFG="{name}"').lines


def callback_queue(lw: lwm2m.lwm2m) -> queue.Queue[list[object]]:
    got: queue.Queue[list[object]] = queue.Queue()
    assert lw.register_call(got.put) == 0
    return got


def until(got: queue.Queue[list[object]], text: str) -> list[list[object]]:
    """Callback lists up to and including the first whose URC text contains ``text``."""
    seen: list[list[object]] = []
    while True:
        args = got.get(timeout=WAIT)
        seen.append(args)
        if text in str(args[2]):
            return seen


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -------------------------------------------------------------------------- config
def test_every_config_type_is_stored_by_the_module(at: AtChannel, lw: lwm2m.lwm2m) -> None:
    url = "coap://127.0.0.1:5683"
    assert lw.config(lw.Reset, []) == 0
    assert read_back(at, "security") == ()
    assert lw.config(lw.Security, [1, 1000, url, 0, 3]) == 0
    assert lw.config(lw.Security, [0, 100, "coap://127.0.0.1:5783", 1, 3]) == 0
    assert lw.config(lw.Server, [1, 60, 2, 60, 86400, 1, "UQ"]) == 0
    assert lw.config(lw.Epnamemode, [7]) == 0
    assert lw.config(lw.Epname, ["plant-7"]) == 0
    assert lw.config(lw.Urc, [1]) == 0
    assert lw.config(lw.Fota, [0, 1]) == 0
    assert set(read_back(at, "security")) == {
        f'+QLWCFG: "security",1,1000,"{url}",0,3',
        '+QLWCFG: "security",0,100,"coap://127.0.0.1:5783",1,3',
    }
    assert read_back(at, "server") == ('+QLWCFG: "server",1,60,2,60,86400,1,"UQ"',)
    assert read_back(at, "epname/mode") == ('+QLWCFG: "epname/mode",7',)
    assert read_back(at, "fota") == ('+QLWCFG: "fota",0,1',)
    assert read_back(at, "urc") == ('+QLWCFG: "urc",1',)
    # The one-element Security list clears that instance.
    assert lw.config(lw.Security, [0]) == 0
    assert read_back(at, "security") == (f'+QLWCFG: "security",1,1000,"{url}",0,3',)
    assert lw.config(lw.Security, [1]) == 0
    assert read_back(at, "security") == ()


def test_psk_security_is_stored(at: AtChannel, lw: lwm2m.lwm2m) -> None:
    entry = [1, 1000, "coaps://127.0.0.1:5684", 0, 0, f"urn:imei:{IMEI}", "30313233"]
    assert lw.config(lw.Security, entry) == 0
    assert read_back(at, "security") == (
        f'+QLWCFG: "security",1,1000,"coaps://127.0.0.1:5684",0,0,"urn:imei:{IMEI}","30313233"',
    )


@pytest.mark.parametrize(
    ("config_type", "config_list"),
    [
        (lwm2m.Security, [1, 1000, "coap://127.0.0.1:5683"]),
        (lwm2m.Security, [1, 1000, 'coap://"x"', 0, 3]),
        (lwm2m.Server, [1, 0, 2, 60, 86400, 1, "U"]),
        (lwm2m.Server, [1, 60, 2, 60, 86400, 1, "X"]),
        (lwm2m.Fota, [1]),
        (lwm2m.Urc, ["1"]),
        (lwm2m.Reset, [1]),
    ],
)
def test_bad_lists_leave_the_module_untouched(
    at: AtChannel, lw: lwm2m.lwm2m, config_type: int, config_list: list[object]
) -> None:
    assert lw.config(lw.Server, [1, 60, 2, 60, 86400, 1, "U"]) == 0
    before = {name: read_back(at, name) for name in ("security", "server", "fota", "urc")}
    assert lw.config(config_type, config_list) == -1
    assert {name: read_back(at, name) for name in before} == before


def test_module_refusal_is_minus_one(lw: lwm2m.lwm2m) -> None:
    assert lw.config(lw.Epnamemode, [5]) == -1  # the module knows modes 1, 3, 6, 7


def test_epname_unsupported_by_the_profile_is_minus_two(tmp_path: Path) -> None:
    profile = tmp_path / "no-epname.json"
    subcommands = ["security", "server", "epname/mode", "urc", "startup", "fota", "reset"]
    profile.write_text(json.dumps({"extends": "EC200U", "lwm2m": {"subcommands": subcommands}}))
    emu = Emulator(tmp_path, "--profile", str(profile), lwm2m=True)
    channel = AtChannel(str(emu.link), command_timeout=5.0)
    try:
        lw = lwm2m.lwm2m(channel)
        assert lw.config(lw.Epname, ["plant-7"]) == -2
        assert lw.config(lw.Urc, [1]) == 0
    finally:
        channel.close()
        emu.stop()


# ------------------------------------------------------------------- registration
def configure(lw: lwm2m.lwm2m, url: str) -> None:
    assert lw.config(lw.Reset, []) == 0
    assert lw.config(lw.Security, [1, 1000, url, 0, 3]) == 0
    assert lw.config(lw.Server, [1, 60, 2, 60, 86400, 1, "U"]) == 0
    assert lw.config(lw.Epnamemode, [3]) == 0
    assert lw.config(lw.Urc, [1]) == 0


def test_register_update_deregister_against_a_real_server(
    lw: lwm2m.lwm2m, server: NodeServer
) -> None:
    got = callback_queue(lw)
    configure(lw, server.url)
    assert lw.init() == 0
    assert lw.stat() == 0
    assert lw.register() == 0
    assert lw.stat() in (1, 2)  # registering, unless the server was already that quick
    events = until(got, '"ready"')
    assert events == [
        [1, 0, '+QLWURC: "pdp active","successfully","cmnet"'],
        [1, 0, '+QLWURC: "initial","successfully",1000'],
        [1, 0, '+QLWURC: "registering"'],
        [1, 0, '+QLWURC: "ready","successfully",1000'],
    ]
    assert '"ready","successfully"' in str(events[-1][2])
    registration = server.wait_event("registration")
    assert registration["ep"] == f"urn:imei:{IMEI}"
    assert registration["lifetime"] == "60" and registration["binding"] == "U"
    assert lw.stat() == 2

    assert lw.update(1000) == 0
    assert until(got, '"update"') == [[6, 0, '+QLWURC: "update","successfully",1000']]
    assert server.wait_event("update")["ep"] == f"urn:imei:{IMEI}"
    assert lw.stat() == 2

    assert lw.unregister() == 0
    assert lw.stat() in (3, 0)  # deregistering, unless already done
    assert until(got, '"deregister"') == [[1, 0, '+QLWURC: "deregister",1000,0']]
    assert server.wait_event("unregistration")["ep"] == f"urn:imei:{IMEI}"
    assert lw.stat() == 0


def test_registration_failure_reaches_the_callback(lw: lwm2m.lwm2m) -> None:
    got = callback_queue(lw)
    configure(lw, f"coap://127.0.0.1:{closed_udp_port()}")
    assert lw.register() == 0
    events = until(got, '"ready"')
    assert events[-1] == [1, -1, '+QLWURC: "ready","failed",1000']
    assert lw.stat() == 4


def test_callback_none_stops_delivery(at: AtChannel, lw: lwm2m.lwm2m, server: NodeServer) -> None:
    got = callback_queue(lw)
    assert lw.register_call(None) == 0
    configure(lw, server.url)
    assert lw.register() == 0
    server.wait_event("registration")
    assert at.drain_urcs(WAIT)
    assert got.empty()


def test_urcs_held_for_the_next_echo_still_reach_the_callback(
    tmp_path: Path, server: NodeServer
) -> None:
    emu = Emulator(tmp_path, "--urc-before-echo", lwm2m=True)
    channel = AtChannel(str(emu.link), command_timeout=5.0)
    try:
        lw = lwm2m.lwm2m(channel)
        got = callback_queue(lw)
        configure(lw, server.url)
        assert lw.register() == 0
        server.wait_event("registration")
        # The module holds its URCs until a command line starts: each stat() releases them.
        texts: list[object] = []
        deadline = time.monotonic() + WAIT
        while '+QLWURC: "ready","successfully",1000' not in texts:
            assert time.monotonic() < deadline, texts
            assert lw.stat() in (1, 2)
            with contextlib.suppress(queue.Empty):
                texts.append(got.get(timeout=0.05)[2])
        assert texts == [
            '+QLWURC: "pdp active","successfully","cmnet"',
            '+QLWURC: "initial","successfully",1000',
            '+QLWURC: "registering"',
            '+QLWURC: "ready","successfully",1000',
        ]
        assert lw.stat() == 2
    finally:
        channel.close()
        emu.stop()


# ------------------------------------------------------------- a whole application
def test_quecpython_application_runs_unmodified_to_ready(
    emulator: Emulator, server: NodeServer, tmp_path: Path
) -> None:
    source = (APPS / "lwm2m_app.py").read_text()
    app = tmp_path / "main.py"
    app.write_text(source.replace('SERVER_PORT = "5683"', f'SERVER_PORT = "{server.port}"'))

    def run_app(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "client_api",
                "run",
                str(app),
                "--port",
                str(emulator.link),
                "--until-urc",
                '"ready","successfully"',
                "--timeout",
                "60",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=90,
            env=dict(os.environ),
        )

    # Twice on the same module, as a developer reruns an app: each run starts on a freshly
    # booted module (the first run's registration does not make the second one's config -1).
    for attempt in (1, 2):
        done = run_app()
        assert done.returncode == 0, f"run {attempt}: {done.stdout}{done.stderr}"
        out = done.stdout
        assert "[lwm2m_app] network stage=3 state=1" in out
        assert f"[lwm2m_app] imei {IMEI} init 0" in out
        assert "[lwm2m_app] config results [0, 0, 0, 0]" in out, out
        assert "[lwm2m_app] Connect Success!" in out
        assert "[lwm2m_app] stat 2" in out
        registration = server.wait_event("registration")
        assert registration["ep"] == f"urn:imei:{IMEI}" and registration["lifetime"] == "60"
    # --keep-state starts on the registered module: the running client refuses the app's
    # configuration and registration (+CME ERROR: 3), as every second run did before.
    kept = run_app("--keep-state", "--timeout", "10")
    assert "[lwm2m_app] register -1" in kept.stdout, kept.stdout + kept.stderr

