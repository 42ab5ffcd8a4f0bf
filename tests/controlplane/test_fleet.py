"""Four ``quecemu serve --replica R --count 25`` processes on one mosquitto: each takes its own
IMEIs, and one controller reaches a random module of each through the broker alone."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import pytest

from emulator.adapters.controlplane import BrokerAddress
from emulator.app.controller import Controller
from emulator.module.state import derive_imei
from tests.controlplane.harness import ServeProcess
from tests.datastack.harness import Mosquitto

FIRST = "869339060001965"
REPLICAS = 4
COUNT = 25


@pytest.fixture
def fleet() -> Iterator[tuple[Mosquitto, list[ServeProcess]]]:
    broker = Mosquitto().start()
    processes = [
        ServeProcess(broker.port, "--replica", str(replica), count=COUNT)
        for replica in range(REPLICAS)
    ]
    try:
        for process in processes:
            process.start()
        yield broker, processes
    finally:
        for process in processes:
            process.close()
        broker.close()


async def test_a_controller_reaches_a_random_module_of_every_process(
    fleet: tuple[Mosquitto, list[ServeProcess]],
) -> None:
    broker, processes = fleet
    expected = [derive_imei(FIRST, index) for index in range(REPLICAS * COUNT)]
    served = [list(process.modules) for process in processes]
    assert served == [expected[r * COUNT : (r + 1) * COUNT] for r in range(REPLICAS)]
    chooser = random.Random(14)
    async with Controller(BrokerAddress("127.0.0.1", broker.port)) as controller:
        instances = {}
        async for _topic, body in controller.watch(
            ["quecemu/_instance/+"], duration=30, count=REPLICAS
        ):
            instances[body["first_imei"]] = body
        assert sorted(instances) == [served[r][0] for r in range(REPLICAS)]
        assert all(i["online"] and i["modules"] == COUNT for i in instances.values())
        targets = [chooser.choice(imeis) for imeis in served]
        answers = await asyncio.gather(*(controller.at(imei, "AT+CGSN") for imei in targets))
        assert [a["lines"] for a in answers] == [[imei, "OK"] for imei in targets]
        changed = await asyncio.gather(
            *(controller.control(imei, "signal", rssi=3 + n) for n, imei in enumerate(targets))
        )
        assert all(c["error"] is None for c in changed)
        for n, imei in enumerate(targets):
            status = await controller.status(imei)
            assert status is not None and status["rssi"] == 3 + n
            assert status["instance"] == instances[served[n][0]]["instance"]
