"""deploy/kubernetes/quecemu.yaml is valid Kubernetes (kubernetes-validate's bundled schemas,
no cluster and no network needed) and wires what docs/control-plane.md promises: a broker,
the embedded LwM2M server, and a StatefulSet whose pod ordinal picks each pod's IMEIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from emulator.app.cli import build_parser
from emulator.app.replica import ordinal_from_name

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "kubernetes" / "quecemu.yaml"
KUBERNETES = "1.32.0"


@pytest.fixture(scope="module")
def resources() -> dict[tuple[str, str], dict[str, Any]]:
    documents = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in documents}


def test_every_resource_validates_strictly(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    for resource in resources.values():
        kubernetes_validate.validate(resource, KUBERNETES, strict=True)
    broken = dict(resources[("StatefulSet", "emulator")])
    broken["spec"] = {**broken["spec"], "replicas": "four"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_the_statefulset_takes_its_imeis_from_the_pod_ordinal(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    statefulset = resources[("StatefulSet", "emulator")]
    assert statefulset["spec"]["serviceName"] == "emulator"
    assert resources[("Service", "emulator")]["spec"]["clusterIP"] == "None"
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:2] == ["quecemu", "serve"]
    args = build_parser().parse_args(command[1:])  # this quecemu accepts the manifest's command
    assert args.replica == "hostname" and args.count == 2500 and args.headless
    assert args.mqtt == "mqtt://mqtt.quecemu.svc:1883"
    assert ordinal_from_name("emulator-3") == 3  # what the pod's host name gives


def test_the_broker_and_the_lwm2m_server_are_there(
    resources: dict[tuple[str, str], dict[str, Any]],
) -> None:
    mqtt = resources[("Deployment", "mqtt")]["spec"]["template"]["spec"]["containers"][0]
    assert mqtt["image"].startswith("eclipse-mosquitto:2")
    conf = resources[("ConfigMap", "mosquitto")]["data"]["mosquitto.conf"]
    assert "listener 1883" in conf
    server = resources[("Deployment", "lwm2m")]["spec"]["template"]["spec"]["containers"][0]
    assert server["command"][:2] == ["quecemu", "server"]
    build_parser().parse_args(server["command"][1:])
    ports = {(p["port"], p["protocol"]) for p in resources[("Service", "lwm2m")]["spec"]["ports"]}
    assert {(5683, "UDP"), (5684, "UDP")} <= ports
