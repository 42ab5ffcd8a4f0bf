"""A scenario drives the module's MQTT against a real mosquitto: AT steps, a message
published through the broker by the scenario, the module's +QMTRECV and +QMTSTAT checked
with urc steps, and a PDP fault that closes the link."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from scenario_tool.cli import EXIT_OK, run_files
from tests.datastack.harness import Mosquitto

SCENARIO = """\
    name: mqtt-through-mosquitto
    title: MQTT open, connect, subscribe, receive, PDP loss
    vars:
      broker: "127.0.0.1:{port}"
    steps:
      - send: AT+QMTOPEN=0,"127.0.0.1",{port}
      - urc: "+QMTOPEN: 0,0"
      - send: AT+QMTCONN=0,"scenario-dev"
      - urc: "+QMTCONN: 0,0,0"
      - send: AT+QMTSUB=0,1,"cmd/#",1
      - urc: "+QMTSUB: 0,1,0,1"
      - mqtt_publish: cmd/led
        broker: "${{broker}}"
        payload: "on"
        qos: 1
      - urc: '+QMTRECV: 0,1,"cmd/led","on"'
      - send: AT+QIDEACT=1
      - urc: "+QMTSTAT: 0,1"
      - send: AT+QMTCONN?
        expect: [OK]
"""


TAKEOVER = """\
    name: mqtt-takeover
    title: the broker closes the module's connection when another client takes its identifier
    vars:
      broker: "127.0.0.1:{port}"
    steps:
      - send: AT+QMTOPEN=0,"127.0.0.1",{port}
      - urc: "+QMTOPEN: 0,0"
      - send: AT+QMTCONN=0,"takeover-dev"
      - urc: "+QMTCONN: 0,0,0"
      - mqtt_takeover: takeover-dev
        broker: "${{broker}}"
      - urc: "+QMTSTAT: 0,1"
"""


def run_with_broker(tmp_path: Path, text: str) -> None:
    broker = Mosquitto().start()
    try:
        profile = tmp_path / "profile.json"
        profile.write_text(
            json.dumps(
                {
                    "extends": "EC200U",
                    "command_families": ["basic", "identity", "sim", "network", "pdp",
                                         "power", "clock", "files", "ssl", "mqtt"],
                }
            )
        )
        scenario = tmp_path / "mqtt.yaml"
        scenario.write_text(textwrap.dedent(text.format(port=broker.port)))
        lines: list[str] = []
        status = run_files(
            [scenario],
            progress=lines.append,
            summary=lines.append,
            err=lines.append,
            profile=str(profile),
        )
        assert status == EXIT_OK, "\n".join(lines)
        assert "1 scenarios: 1 passed" in "\n".join(lines)
    finally:
        broker.close()


def test_a_scenario_publishes_through_the_broker_and_checks_mqtt_urcs(tmp_path: Path) -> None:
    run_with_broker(tmp_path, SCENARIO)


def test_a_scenario_has_the_broker_close_the_modules_connection(tmp_path: Path) -> None:
    run_with_broker(tmp_path, TAKEOVER)
