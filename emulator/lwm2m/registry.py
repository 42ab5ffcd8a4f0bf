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

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .definitions import ObjectDefinition, ResourceDefinition
from .paths import LwM2MPath

__all__ = ["BUNDLED_OBJECTS_DIR", "ObjectRegistry", "default_registry", "parse_object_definition"]

#: Directory holding the bundled definitions (objects 0, 1, 2, 3, 4, 5, 11).
BUNDLED_OBJECTS_DIR = Path(__file__).with_name("objects")


def parse_object_definition(data: Mapping[str, Any]) -> ObjectDefinition:
    """Build an :class:`ObjectDefinition` from decoded JSON; ``ValueError`` says what is wrong."""
    raise NotImplementedError


class ObjectRegistry:
    """The object definitions one client or server knows, keyed by object id."""

    def __init__(self, definitions: Mapping[int, ObjectDefinition] | None = None) -> None:
        self._objects: dict[int, ObjectDefinition] = dict(definitions or {})

    def add(self, definition: ObjectDefinition, *, replace: bool = False) -> None:
        """Add a definition; an existing id raises ``ValueError`` unless ``replace``."""
        raise NotImplementedError

    def load_file(self, path: str | Path, *, replace: bool = False) -> ObjectDefinition:
        """Read one JSON definition file and add it; returns the definition."""
        raise NotImplementedError

    def load_directory(self, directory: str | Path, *, replace: bool = False) -> None:
        """Add every ``*.json`` definition in ``directory``."""
        raise NotImplementedError

    def get(self, object_id: int) -> ObjectDefinition | None:
        """The definition of ``object_id`` or ``None``."""
        return self._objects.get(object_id)

    def resource(self, path: LwM2MPath) -> ResourceDefinition | None:
        """The definition of the resource ``path`` points at (or into), or ``None``."""
        raise NotImplementedError

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
    raise NotImplementedError
