"""``quecemu serve --mqtt`` against Debian's mosquitto on loopback: the event stream, AT lines
and controls through the broker, ``quecemu ctl``, the last will, and bad input (a broker that
is down or goes away, a flood)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiomqtt
import pytest

from emulator.adapters.controlplane import BrokerAddress
from emulator.app.controller import Controller, NoAnswer
from emulator.module.state import derive_imei
from tests.controlplane.harness import ROOT, ServeProcess
from tests.datastack.harness import Mosquitto, free_tcp_port

FIRST = "869339060001965"
SECOND = derive_imei(FIRST, 1)


class Watcher:
    """Every message under the prefix, as (topic, JSON body)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Watcher:
        subscribed = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(subscribed))
        await asyncio.wait_for(subscribed, 10)
        return self

    async def _run(self, subscribed: asyncio.Future[None]) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port) as client:
            await client.subscribe("quecemu/#")
            subscribed.set_result(None)
            async for message in client.messages:
                try:
                    body = json.loads(message.payload) if message.payload else {}
                except ValueError:
                    continue  # a bad request a test sent
                self.seen.append((str(message.topic), body))
                self._changed.set()

    async def wait(
        self, match: Callable[[str, dict[str, Any]], bool], within: float = 15.0
    ) -> dict[str, Any]:
        async def look() -> dict[str, Any]:
            index = 0
            while True:
                while index < len(self.seen):
                    topic, body = self.seen[index]
                    index += 1
                    if match(topic, body):
                        return body
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(look(), within)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    mosquitto = Mosquitto().start()
    yield mosquitto
    mosquitto.close()


@pytest.fixture
def serve(broker: Mosquitto) -> Iterator[ServeProcess]:
    process = ServeProcess(broker.port, count=2).start()
    yield process
    process.close()


@pytest.fixture
async def watcher(broker: Mosquitto) -> AsyncIterator[Watcher]:
    watcher = await Watcher(broker.port).start()
    yield watcher
    await watcher.stop()


def ctl(broker: Mosquitto, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "emulator",
            "ctl",
            "--mqtt",
            f"mqtt://127.0.0.1:{broker.port}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


async def test_status_urcs_events_and_at_through_the_broker(
    broker: Mosquitto, serve: ServeProcess, watcher: Watcher
) -> None:
    status = await watcher.wait(lambda t, b: t == f"quecemu/{SECOND}/status")
    assert status["online"] and status["power"] == "on" and status["registered"]
    instance = await watcher.wait(lambda t, b: t.startswith("quecemu/_instance/"))
    assert instance["online"] and instance["modules"] == 2 and instance["first_imei"] == FIRST

    reader, writer = await asyncio.open_connection("127.0.0.1", serve.tcp_port(FIRST))
    try:
        async with Controller(BrokerAddress("127.0.0.1", broker.port)) as controller:
            answer = await controller.at(FIRST, "AT+CEREG=2")
            assert answer["final"] == "OK" and answer["response"] == "\r\nOK\r\n"
            # The port shows it as well (one interpreter, as two programs on one UART).
            port_shows = await asyncio.wait_for(reader.readuntil(b"OK\r\n"), 10)
            assert port_shows == b"AT+CEREG=2\r\r\nOK\r\n"
            answer = await controller.control(FIRST, "coverage", present=False)
            assert answer["error"] is None
            urc = await watcher.wait(
                lambda t, b: t == f"quecemu/{FIRST}/urc" and b["text"].startswith("+CEREG")
            )
            expected = f"\r\n{urc['text']}\r\n".encode()
            shown = await asyncio.wait_for(reader.readexactly(len(expected)), 10)
            assert shown == expected  # exactly as the port shows it
            event = await watcher.wait(
                lambda t, b: t == f"quecemu/{FIRST}/event/registration" and not b["registered"]
            )
            assert event["v"] == 1 and event["state"] == "searching"
            await controller.control(FIRST, "coverage", present=True)
            await watcher.wait(
                lambda t, b: t == f"quecemu/{FIRST}/event/registration" and b["registered"]
            )
            await controller.control(FIRST, "signal", rssi=9)
            signal = await watcher.wait(lambda t, b: t == f"quecemu/{FIRST}/event/signal")
            assert signal["rssi"] == 9
            assert (await controller.at(FIRST, "AT+CSQ"))["lines"] == ["+CSQ: 9,99", "OK"]
            await controller.control(FIRST, "pdp_reject", reject=True)
            answer = await controller.at(FIRST, "AT+QIACT=1")
            assert answer["final"].startswith("+CME ERROR") or answer["final"] == "ERROR"
            await controller.control(FIRST, "sim", inserted=False)
            sim = await watcher.wait(lambda t, b: t == f"quecemu/{FIRST}/event/sim")
            assert sim["state"] == "NOT INSERTED"
            await controller.control(FIRST, "power", on=False)
            await watcher.wait(lambda t, b: t == f"quecemu/{FIRST}/event/power")
            answer = await controller.at(FIRST, "AT")
            assert "powered down" in answer["error"]
            await controller.control(FIRST, "power", on=True)
            await watcher.wait(lambda t, b: t == f"quecemu/{FIRST}/event/boot")
            answer = await controller.control(SECOND, "sms", sender="+8613912345678", text="hi")
            assert answer["result"]["parts"][0]["stored"] == "SM"
            cmti = await watcher.wait(
                lambda t, b: t == f"quecemu/{SECOND}/urc" and b["text"].startswith("+CMTI")
            )
            assert cmti["text"] == '+CMTI: "SM",0'
    finally:
        writer.close()


async def test_quecemu_ctl(broker: Mosquitto, serve: ServeProcess, watcher: Watcher) -> None:
    await watcher.wait(lambda t, b: t == f"quecemu/{FIRST}/status")
    result = await asyncio.to_thread(ctl, broker, "at", FIRST, "AT+CGSN")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{FIRST}\nOK\n"
    result = await asyncio.to_thread(ctl, broker, "at", FIRST, "AT+NOPE")
    assert result.returncode == 1 and result.stdout == "ERROR\n"
    result = await asyncio.to_thread(ctl, broker, "control", FIRST, "signal", "rssi=40")
    assert result.returncode == 1 and "'rssi' must be 0-31 or 99" in result.stderr
    result = await asyncio.to_thread(ctl, broker, "status", SECOND)
    assert result.returncode == 0 and json.loads(result.stdout)["imei"] == SECOND
    unknown = derive_imei(FIRST, 77)
    result = await asyncio.to_thread(ctl, broker, "at", unknown, "AT", "--timeout", "0.5")
    assert result.returncode == 3
    assert f"no module with IMEI {unknown}" in result.stderr and "retained status" in result.stderr
    watch = await asyncio.to_thread(
        ctl, broker, "watch", FIRST, "--what", "status", "--count", "1", "--for", "10"
    )
    assert watch.returncode == 0 and json.loads(watch.stdout)["topic"].endswith("/status")
    bad = await asyncio.to_thread(ctl, broker, "watch", "--what", "colour")
    assert bad.returncode == 2 and "--what takes" in bad.stderr


async def test_the_last_will_says_the_process_is_gone(broker: Mosquitto) -> None:
    process = ServeProcess(broker.port).start()
    try:
        watcher = await Watcher(broker.port).start()
        try:
            online = await watcher.wait(lambda t, b: t.startswith("quecemu/_instance/"))
            assert online["online"]
            process.kill()
            gone = await watcher.wait(
                lambda t, b: t.startswith("quecemu/_instance/") and not b["online"], within=60
            )
            assert gone["instance"] == online["instance"]
        finally:
            await watcher.stop()
    finally:
        process.close()


async def test_a_clean_stop_says_offline_for_the_process_and_its_modules(
    broker: Mosquitto,
) -> None:
    process = ServeProcess(broker.port).start()
    watcher = await Watcher(broker.port).start()
    try:
        await watcher.wait(lambda t, b: t == f"quecemu/{FIRST}/status" and b["online"])
        assert await asyncio.to_thread(process.stop) == 0
        await watcher.wait(lambda t, b: t == f"quecemu/{FIRST}/status" and not b["online"])
        await watcher.wait(lambda t, b: t.startswith("quecemu/_instance/") and not b["online"])
    finally:
        await watcher.stop()
        process.close()
    async with Controller(BrokerAddress("127.0.0.1", broker.port)) as controller:
        status = await controller.status(FIRST)
        assert status is not None and not status["online"]


async def test_a_broker_down_at_start_and_going_away_never_stops_the_modules() -> None:
    port = free_tcp_port()
    process = ServeProcess(port).start()  # nothing listens there yet: serve still comes up
    mosquitto = Mosquitto(port)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", process.tcp_port(FIRST))
        writer.write(b"AT+CSQ\r")
        assert await reader.readuntil(b"OK\r\n") == b"AT+CSQ\r\r\n+CSQ: 24,99\r\n\r\nOK\r\n"
        mosquitto.start()  # the broker comes: serve reconnects with back-off
        watcher = await Watcher(port).start()
        instance = await watcher.wait(
            lambda t, b: t.startswith("quecemu/_instance/") and b["online"], within=30
        )
        assert instance["counters"]["dropped"] > 0  # the boot URCs and events, counted
        await watcher.stop()
        async with Controller(BrokerAddress("127.0.0.1", port)) as controller:
            assert (await controller.at(FIRST, "AT"))["final"] == "OK"
        assert await reader.readuntil(b"OK\r\n") == b"AT\r\r\nOK\r\n"  # one interpreter
        await asyncio.to_thread(mosquitto.stop)  # the broker goes away
        writer.write(b"AT+CGSN\r")  # the module does not care
        assert (await reader.readuntil(b"OK\r\n")).endswith(f"{FIRST}\r\n\r\nOK\r\n".encode())
        await asyncio.to_thread(mosquitto.start)
        async with Controller(BrokerAddress("127.0.0.1", port)) as controller:
            for _ in range(60):  # until serve is back on the broker (back-off 0.5 s ... 2 s)
                with contextlib.suppress(NoAnswer):
                    answer = await controller.at(FIRST, "AT+CGSN", timeout=0.5)
                    break
            assert answer["lines"] == [FIRST, "OK"]
        writer.close()
        assert process.alive()
        errors = process.stderr()
        assert errors.count("unreachable or gone") == 2, errors  # once per outage
        assert "Traceback" not in errors
    finally:
        process.close()
        mosquitto.close()


async def test_a_request_flood_through_the_broker_is_bounded(
    broker: Mosquitto, serve: ServeProcess, watcher: Watcher
) -> None:
    await watcher.wait(lambda t, b: t == f"quecemu/{FIRST}/status")
    reader, writer = await asyncio.open_connection("127.0.0.1", serve.tcp_port(FIRST))
    writer.write(b"AT+CSQ")  # half a line on the port: the requests must wait for it
    await writer.drain()
    # Its echo says the module has it: sent is not read, and a request through the broker
    # could otherwise overtake it.
    assert await asyncio.wait_for(reader.readexactly(6), 10) == b"AT+CSQ"
    flood = 1500  # below the inbox bound (2,000): every request is answered, none dropped
    async with aiomqtt.Client("127.0.0.1", broker.port) as flooder:
        for number in range(flood):
            await flooder.publish(
                f"quecemu/{FIRST}/at/request", json.dumps({"id": number, "line": "AT+CGSN"})
            )
        await flooder.publish(f"quecemu/{FIRST}/at/request", b"\x00garbage")
    garbage = await watcher.wait(
        lambda t, b: t.endswith("/at/response") and b.get("id") is None, within=60
    )
    assert "not JSON" in garbage["error"]
    writer.write(b"\r")  # the port's line ends; the requests that were kept run now
    assert (await asyncio.wait_for(reader.readuntil(b"OK\r\n"), 10)).startswith(b"\r\r\n+CSQ: ")
    last = await watcher.wait(
        lambda t, b: t.endswith("/at/response") and b.get("id") == 8 and not b["error"]
    )
    assert last["lines"] == [FIRST, "OK"]
    answers = [b for t, b in watcher.seen if t == f"quecemu/{FIRST}/at/response"]
    refused = [b for b in answers if b["error"] and "already wait" in b["error"]]
    assert len(refused) + 9 + 1 == len(answers) == flood + 1  # 9 kept, 1 garbage
    async with Controller(BrokerAddress("127.0.0.1", broker.port)) as controller:
        assert (await controller.at(SECOND, "AT"))["final"] == "OK"  # still serving
    writer.close()
    assert serve.alive()
    errors = serve.stderr()
    assert "Traceback" not in errors
    assert errors.count("AT request flood") == 1, errors  # logged once


async def test_headless_modules_are_driven_through_the_broker(broker: Mosquitto) -> None:
    process = ServeProcess(broker.port, count=3, headless=True).start()
    try:
        assert process.modules == dict.fromkeys([FIRST, SECOND, derive_imei(FIRST, 2)])
        async with Controller(BrokerAddress("127.0.0.1", broker.port)) as controller:
            third = derive_imei(FIRST, 2)
            answer = await controller.at(third, "AT+CGSN;+CSQ")
            assert answer["lines"] == [third, "+CSQ: 24,99", "OK"]
            assert (await controller.control(third, "signal", rssi=4))["error"] is None
            assert (await controller.at(third, "AT+CSQ"))["lines"][0] == "+CSQ: 4,99"
            status = await controller.status(third)
            assert status is not None and status["rssi"] == 4 and status["power"] == "on"
    finally:
        process.close()


async def test_serve_stops_on_sigterm_after_its_broker_went_away() -> None:
    mosquitto = Mosquitto().start()
    process = ServeProcess(mosquitto.port, headless=True).start()
    try:
        async with Controller(BrokerAddress("127.0.0.1", mosquitto.port)) as controller:
            assert (await controller.at(FIRST, "AT"))["final"] == "OK"
        await asyncio.to_thread(mosquitto.stop)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while "unreachable or gone" not in process.stderr():  # serve noticed
            assert loop.time() < deadline, process.stderr()
            await asyncio.sleep(0.05)
        assert await asyncio.to_thread(process.stop) == 0  # SIGTERM: a clean exit, no hang
    finally:
        process.close()
        mosquitto.close()
