"""Bundled object definitions and user-supplied definition files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.lwm2m import LwM2MPath, Operations, ResourceType, default_registry
from emulator.lwm2m.registry import ObjectRegistry, parse_object_definition


def test_bundled_objects_match_the_oma_registry_facts() -> None:
    registry = default_registry()
    assert [o.id for o in registry] == [0, 1, 2, 3, 4, 5, 11]
    device = registry[3]
    assert not device.multiple and device.mandatory
    reboot = device.resources[4]
    assert reboot.operations is Operations.E and reboot.type is ResourceType.NONE
    assert device.resources[13].type is ResourceType.TIME
    assert device.resources[13].operations is Operations.RW
    assert device.resources[11].multiple and device.resources[11].mandatory
    server = registry[1]
    assert server.resources[1].name == "Lifetime" and server.resources[1].writable
    assert server.resources[0].operations is Operations.R
    assert server.resources[8].executable
    security = registry[0]
    assert all(r.operations is Operations.NONE for r in security.resources.values())
    firmware = registry[5]
    assert firmware.resources[0].type is ResourceType.OPAQUE
    assert firmware.resources[0].operations is Operations.W
    assert firmware.resources[1].operations is Operations.RW
    assert 4 not in firmware.resources  # removed before LwM2M 1.0 was final
    apn = registry[11]
    assert apn.multiple
    assert {r.id for r in apn.mandatory_resources} == {0, 4}
    assert apn.resources[22].type is ResourceType.OBJLNK
    assert registry[4].resources[2].units == "dBm"


def test_registry_copies_are_independent() -> None:
    first = default_registry()
    second = default_registry()
    first.add(parse_object_definition({"id": 3303, "name": "Temperature", "resources": []}))
    assert 3303 in first and 3303 not in second


def test_resource_lookup() -> None:
    registry = default_registry()
    resource = registry.resource(LwM2MPath(3, 0, 7, 1))
    assert resource is not None and resource.name == "Power Source Voltage"
    assert registry.resource(LwM2MPath(3, 0)) is None
    assert registry.resource(LwM2MPath(3, 0, 99)) is None
    assert registry.resource(LwM2MPath(99, 0, 1)) is None


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "object.json"
    path.write_text(json.dumps(data))
    return path


def test_user_object_file_is_loaded(tmp_path: Path) -> None:
    registry = ObjectRegistry()
    definition = registry.load_file(
        _write(
            tmp_path,
            {
                "id": 3303,
                "name": "Temperature",
                "resources": [
                    {
                        "id": 5700,
                        "name": "Sensor Value",
                        "type": "float",
                        "operations": "R",
                        "mandatory": True,
                        "units": "Cel",
                    },
                    {"id": 5605, "name": "Reset", "type": "none", "operations": "E"},
                ],
            },
        )
    )
    assert definition.resources[5700].type is ResourceType.FLOAT
    assert registry[3303] is definition
    with pytest.raises(ValueError, match="already defined"):
        registry.add(definition)
    registry.add(definition, replace=True)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ([], "must be a JSON object"),
        ({"name": "x", "resources": []}, "missing 'id'"),
        ({"id": "3", "name": "x", "resources": []}, "'id' must be int"),
        ({"id": 70000, "name": "x", "resources": []}, "outside"),
        (
            {
                "id": 9,
                "name": "x",
                "resources": [{"id": 1, "name": "a", "type": "strin", "operations": "R"}],
            },
            "strin",
        ),
        (
            {
                "id": 9,
                "name": "x",
                "resources": [{"id": 1, "name": "a", "type": "string", "operations": "RE"}],
            },
            "RE",
        ),
        (
            {
                "id": 9,
                "name": "x",
                "resources": [{"id": 1, "name": "a", "type": "string", "operations": "E"}],
            },
            "executable",
        ),
        (
            {
                "id": 9,
                "name": "x",
                "resources": [{"id": 1, "name": "a", "type": "string", "operations": "R"}] * 2,
            },
            "defined twice",
        ),
        ({"id": 9, "name": "x", "multiple": "yes", "resources": []}, "'multiple' must be bool"),
    ],
)
def test_bad_definition_files_say_why(tmp_path: Path, data: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        ObjectRegistry().load_file(_write(tmp_path, data))


def test_broken_json_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        ObjectRegistry().load_file(path)
