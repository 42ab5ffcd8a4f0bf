"""Loading object definitions from JSON data files.

One JSON file per object, e.g. ``objects/3-device.json``::

    {
      "id": 3, "name": "Device", "version": "1.0", "urn": "urn:oma:lwm2m:oma:3",
      "multiple": false, "mandatory": true, "description": "...",
      "resources": [
        {"id": 0, "name": "Manufacturer", "type": "string", "operations": "R",
         "multiple": false, "mandatory": false, "range": "", "units": "", "description": "..."}
      ]
    }

``type`` is a :class:`~emulator.lwm2m.definitions.ResourceType` value (``string``, ``integer``,
``unsigned``, ``float``, ``boolean``, ``opaque``, ``time``, ``objlnk``, ``corelnk``, ``none``);
``operations`` is ``""``, ``R``, ``W``, ``RW`` or ``E``. A user adds an object by writing such a
file and calling :meth:`ObjectRegistry.load_file` (or ``load_directory``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .definitions import ObjectDefinition, Operations, ResourceDefinition, ResourceType
from .paths import LwM2MPath

__all__ = ["BUNDLED_OBJECTS_DIR", "ObjectRegistry", "default_registry", "parse_object_definition"]

#: Directory holding the bundled definitions (objects 0, 1, 2, 3, 4, 5, 11).
BUNDLED_OBJECTS_DIR = Path(__file__).with_name("objects")


def _field(data: Mapping[str, Any], name: str, kind: type, where: str, default: Any = None) -> Any:
    if name not in data:
        if default is None:
            raise ValueError(f"{where}: missing {name!r}")
        return default
    value = data[name]
    # bool is an int subclass: refuse true/false where an id is expected and vice versa.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{where}: {name!r} must be {kind.__name__}, not {value!r}")
    return value


def _check_id(value: int, where: str) -> int:
    if not 0 <= value <= 65535:
        raise ValueError(f"{where}: id {value} is outside 0..65535")
    return value


def _parse_resource(data: Any, where: str) -> ResourceDefinition:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: a resource must be a JSON object")
    rid = _check_id(_field(data, "id", int, where), where)
    where = f"{where} resource {rid}"
    try:
        rtype = ResourceType(_field(data, "type", str, where))
        operations = Operations(_field(data, "operations", str, where))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if operations.executable != (rtype is ResourceType.NONE):
        raise ValueError(f"{where}: executable resources (and only those) have type 'none'")
    return ResourceDefinition(
        id=rid,
        name=_field(data, "name", str, where),
        type=rtype,
        operations=operations,
        multiple=_field(data, "multiple", bool, where, False),
        mandatory=_field(data, "mandatory", bool, where, False),
        range_enumeration=_field(data, "range", str, where, ""),
        units=_field(data, "units", str, where, ""),
        description=_field(data, "description", str, where, ""),
    )


def parse_object_definition(data: Mapping[str, Any]) -> ObjectDefinition:
    """Build an :class:`ObjectDefinition` from decoded JSON; ``ValueError`` says what is wrong."""
    if not isinstance(data, Mapping):
        raise ValueError("an object definition must be a JSON object")
    oid = _check_id(_field(data, "id", int, "object"), "object")
    where = f"object {oid}"
    raw_resources = _field(data, "resources", list, where)
    resources: dict[int, ResourceDefinition] = {}
    for index, raw in enumerate(raw_resources):
        resource = _parse_resource(raw, f"{where} resources[{index}]")
        if resource.id in resources:
            raise ValueError(f"{where}: resource {resource.id} is defined twice")
        resources[resource.id] = resource
    return ObjectDefinition(
        id=oid,
        name=_field(data, "name", str, where),
        resources=dict(sorted(resources.items())),
        multiple=_field(data, "multiple", bool, where, True),
        mandatory=_field(data, "mandatory", bool, where, False),
        version=_field(data, "version", str, where, "1.0"),
        urn=_field(data, "urn", str, where, f"urn:oma:lwm2m:ext:{oid}"),
        description=_field(data, "description", str, where, ""),
    )


class ObjectRegistry:
    """The object definitions one client or server knows, keyed by object id."""

    def __init__(self, definitions: Mapping[int, ObjectDefinition] | None = None) -> None:
        self._objects: dict[int, ObjectDefinition] = dict(definitions or {})

    def add(self, definition: ObjectDefinition, *, replace: bool = False) -> None:
        """Add a definition; an existing id raises ``ValueError`` unless ``replace``."""
        if definition.id in self._objects and not replace:
            raise ValueError(f"object {definition.id} is already defined")
        self._objects[definition.id] = definition

    def load_file(self, path: str | Path, *, replace: bool = False) -> ObjectDefinition:
        """Read one JSON definition file and add it; returns the definition."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from None
        try:
            definition = parse_object_definition(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        self.add(definition, replace=replace)
        return definition

    def load_directory(self, directory: str | Path, *, replace: bool = False) -> None:
        """Add every ``*.json`` definition in ``directory``."""
        for path in sorted(Path(directory).glob("*.json")):
            self.load_file(path, replace=replace)

    def get(self, object_id: int) -> ObjectDefinition | None:
        """The definition of ``object_id`` or ``None``."""
        return self._objects.get(object_id)

    def resource(self, path: LwM2MPath) -> ResourceDefinition | None:
        """The definition of the resource ``path`` points at (or into), or ``None``."""
        if path.object_id is None or path.resource_id is None:
            return None
        definition = self._objects.get(path.object_id)
        return definition.resource(path.resource_id) if definition else None

    def __getitem__(self, object_id: int) -> ObjectDefinition:
        return self._objects[object_id]

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._objects

    def __iter__(self) -> Iterator[ObjectDefinition]:
        return iter([self._objects[key] for key in sorted(self._objects)])

    def __len__(self) -> int:
        return len(self._objects)

    def copy(self) -> ObjectRegistry:
        """An independent registry with the same definitions (to add objects to)."""
        return ObjectRegistry(self._objects)


def default_registry() -> ObjectRegistry:
    """A fresh registry holding the bundled definitions (a new copy each call)."""
    global _BUNDLED
    if _BUNDLED is None:
        loaded = ObjectRegistry()
        loaded.load_directory(BUNDLED_OBJECTS_DIR)
        _BUNDLED = loaded
    return _BUNDLED.copy()


_BUNDLED: ObjectRegistry | None = None
