"""QuecPython ``umqtt`` and ``request`` apps run unmodified with ``python -m client_api run``
against the real emulator (``quecemu serve``), whose MQTT and HTTP AT commands talk to a real
mosquitto and a local HTTP server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from tests.client_api.capi_emulator import Emulator
from tests.datastack.harness import Mosquitto
from tests.datastack.web import WebServer

APPS = Path(__file__).parent / "apps"
RUN_LIMIT = 90


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(tmp_path, "--profile", "EC200U", lwm2m=False)
    yield emu
    emu.stop()


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    mosquitto = Mosquitto().start()
    yield mosquitto
    mosquitto.close()


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


def test_umqtt_app_talks_to_mosquitto_through_the_module(tmp_path: Path, broker: Mosquitto) -> None:
    # The app names a public broker; the network map sends it to the local mosquitto.
    emulator = Emulator(
        tmp_path,
        "--profile",
        "EC200U",
        "--map",
        f"mqtt.example.com:1883=127.0.0.1:{broker.port}",
        lwm2m=False,
    )
    seen: list[tuple[str, bytes]] = []
    ready = threading.Event()
    stop = threading.Event()

    async def peer() -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="backend") as client:
            await client.subscribe("dev/#", qos=1)
            ready.set()
            async for message in client.messages:
                seen.append((message.topic.value, bytes(message.payload)))
                if message.topic.value == "dev/telemetry":
                    await client.publish("dev/cmd", b"reboot", qos=1)
                if message.topic.value == "dev/ack" or stop.is_set():
                    return

    thread = threading.Thread(target=lambda: asyncio.run(peer()), daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        done = run(APPS / "mqtt_app.py", "--port", str(emulator.link), "--timeout", "60")
        assert done.returncode == 0, done.stderr
        assert "published" in done.stdout and "command dev/cmd reboot" in done.stdout
        assert done.stdout.rstrip().endswith("done")
        thread.join(10)
        assert ("dev/telemetry", b'{"temp": 21.5}') in seen
        assert ("dev/ack", b"done:reboot") in seen
        assert ("dev/status", b"offline") not in seen  # a clean DISCONNECT sends no will
    finally:
        stop.set()
        emulator.stop()


def test_request_app_talks_to_a_local_http_server_through_the_module(
    emulator: Emulator,
) -> None:
    loop = asyncio.new_event_loop()
    server = WebServer()
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        done = run(
            APPS / "http_app.py",
            "--port",
            str(emulator.link),
            "--timeout",
            "60",
            "--",
            server.base,
        )
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0] == "get 200 21.5"
        assert lines[1] == "text hello world"
        assert lines[2] == 'post 201 {"temp": 22}'
        assert lines[3] == "put 201 mode=eco"
        assert lines[4] == "head 200 11"
        methods = [(m, p) for m, p, _, _ in server.seen.requests]
        assert methods == [
            ("GET", "/data.json"),
            ("GET", "/hello"),
            ("POST", "/echo"),
            ("PUT", "/echo"),
            ("HEAD", "/hello"),
        ]
        assert server.seen.requests[3][2]["X-Device"] == "quec-dev-1"
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
