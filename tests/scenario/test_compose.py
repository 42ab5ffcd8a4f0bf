"""docker-compose.yml is valid for Debian's docker-compose and wires what docs/scenarios.md
promises: Leshan 2.x server and bootstrap server on their documented ports, the emulator on
TCP, Mosquitto with our config, everything published on 127.0.0.1 only. (No Docker engine
runs here: ``docker-compose config`` validates without one.)"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = shutil.which("docker-compose") or (
    "/usr/bin/docker-compose" if Path("/usr/bin/docker-compose").exists() else None
)

pytestmark = pytest.mark.skipif(
    COMPOSE is None, reason="docker-compose is not installed (Debian package docker-compose)"
)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    assert COMPOSE is not None
    result = subprocess.run(
        [COMPOSE, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = yaml.safe_load(result.stdout)
    return loaded


def ports(service: dict[str, Any]) -> set[str]:
    return {str(p) for p in service.get("ports", [])}


def test_the_compose_file_validates_and_names_every_service(config: dict[str, Any]) -> None:
    assert set(config["services"]) == {"leshan", "leshan-bs", "emulator", "mqtt"}


def test_leshan_runs_the_pinned_2x_demo_jars_on_the_documented_ports(
    config: dict[str, Any],
) -> None:
    leshan = config["services"]["leshan"]
    bootstrap = config["services"]["leshan-bs"]
    assert leshan["build"]["args"]["LESHAN_VERSION"] == "2.0.0-M16"
    assert "/opt/leshan/leshan-demo-server.jar" in leshan["command"]
    assert "/opt/leshan/leshan-demo-bsserver.jar" in bootstrap["command"]
    assert ports(leshan) == {
        "127.0.0.1:8080:8080/tcp",
        "127.0.0.1:5683:5683/udp",
        "127.0.0.1:5684:5684/udp",
    }
    assert ports(bootstrap) == {
        "127.0.0.1:8081:8081/tcp",
        "127.0.0.1:5783:5783/udp",
        "127.0.0.1:5784:5784/udp",
    }
    dockerfile = (ROOT / "docker" / "Dockerfile.leshan").read_text()
    assert "FROM eclipse-temurin:17" in dockerfile
    assert "ARG LESHAN_VERSION=2.0.0-M16" in dockerfile
    assert "sha1sum -c" in dockerfile and "sha256sum -c" in dockerfile
    assert "https://repo1.maven.org/maven2/org/eclipse/leshan" in dockerfile


def test_the_emulator_serves_its_at_port_on_tcp_and_scales_on_the_broker(
    config: dict[str, Any],
) -> None:
    emulator = config["services"]["emulator"]
    command = emulator["command"]
    assert command[:4] == ["quecemu", "serve", "--tcp", "0.0.0.0:7000"]
    # --scale emulator=N: each container its own IMEIs (its number), all on one broker.
    assert command[command.index("--replica") + 1] == "compose"
    assert command[command.index("--mqtt") + 1] == "mqtt://mqtt:1883"
    assert command[command.index("--count") + 1] == "1"  # QUECEMU_COUNT unset
    assert ports(emulator) == {"127.0.0.1:7000-7099:7000/tcp"}  # no clash between replicas
    assert "container_name" not in emulator  # a fixed name would forbid --scale
    assert Path(emulator["build"]["context"]).resolve() == ROOT
    dockerfile = (ROOT / emulator["build"]["dockerfile"]).read_text()
    assert re.search(r"pip install .*/src", dockerfile)


def test_the_emulator_command_is_one_this_quecemu_accepts(config: dict[str, Any]) -> None:
    from emulator.app.cli import build_parser

    args = build_parser().parse_args(config["services"]["emulator"]["command"][1:])
    assert args.replica == "compose" and args.mqtt == "mqtt://mqtt:1883"


def test_mosquitto_uses_our_config(config: dict[str, Any]) -> None:
    mqtt = config["services"]["mqtt"]
    assert mqtt["image"].startswith("eclipse-mosquitto:2")
    volume = next(str(v) for v in mqtt["volumes"])
    assert volume.endswith("/docker/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro")
    conf = (ROOT / "docker" / "mosquitto.conf").read_text()
    assert "listener 1883" in conf and "allow_anonymous true" in conf
