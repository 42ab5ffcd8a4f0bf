"""QuecPython ``usocket`` apps run unmodified with ``python -m client_api run`` against the
real emulator (``quecemu serve``), whose TCP/IP AT commands reach a TCP echo server and a
UDP peer on loopback under a public host name (the network map)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client_api.capi_emulator import Emulator
from tests.tcpip.harness import EchoServer, UdpPeer

APPS = Path(__file__).parent / "apps"
RUN_LIMIT = 90
PUBLIC = "203.0.113.10"  # TEST-NET-3 (RFC 5737): what api.example.com "is" for the app


class Peers:
    """The echo server and UDP peer on a loop of their own thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.echo = EchoServer()
        self.udp = UdpPeer()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.tcp_port = self._run(self.echo.start())
        self.udp_port = self._run(self.udp.start())

    def _run(self, coro: object) -> int:
        return int(asyncio.run_coroutine_threadsafe(coro, self.loop).result(10))  # type: ignore[arg-type]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.echo.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.udp.close)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def peers() -> Iterator[Peers]:
    running = Peers()
    yield running
    running.stop()


def run(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment.pop("QUECEMU_PORT", None)
    return subprocess.run(
        [sys.executable, "-m", "client_api", "run", str(app), *args],
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT,
        env=environment,
    )


def test_usocket_app_names_a_public_host_that_the_map_sends_to_local_peers(
    tmp_path: Path, peers: Peers
) -> None:
    emulator = Emulator(
        tmp_path,
        "--profile",
        "EC200U",
        "--map",
        f"api.example.com={PUBLIC}",
        "--map",
        f"{PUBLIC}:7={'127.0.0.1'}:{peers.tcp_port}",
        "--map",
        f"{PUBLIC}:9={'127.0.0.1'}:{peers.udp_port}",
        lwm2m=False,
    )
    try:
        done = run(
            APPS / "socket_app.py",
            "--port",
            str(emulator.link),
            "--timeout",
            "60",
            "--",
            "api.example.com",
            "7",
            "9",
        )
    finally:
        emulator.stop()
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"resolved {PUBLIC}"
    assert lines[1] == "state 4"  # ESTABLISHED
    assert lines[2] == "tcp echo True 274"
    assert lines[3] == "udp b'HELLO UDP' True"
    assert lines[4] == "udp timeout 110"  # ETIMEDOUT
    assert lines[5] == "dns error -202"
    assert lines[6] == "done"
    assert bytes(peers.echo.received) == b"GET / quecpython\r\n" + bytes(range(256))
    assert peers.udp.datagrams[0][0] == b"hello udp"
