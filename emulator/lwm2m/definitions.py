"""Object and resource definitions (OMA LwM2M TS 1.0 Appendix D / the OMA object registry).

These are plain frozen data. The bundled definitions are JSON files under ``objects/``, read by
:mod:`emulator.lwm2m.registry`; see there for the file format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["ObjectDefinition", "Operations", "ResourceDefinition", "ResourceType"]


class ResourceType(StrEnum):
    """Data types of TS 1.0 Appendix C (plus 1.1's unsigned integer and CoRE link)."""

    STRING = "string"
    INTEGER = "integer"
    UNSIGNED_INTEGER = "unsigned"  # LwM2M 1.1
    FLOAT = "float"
    BOOLEAN = "boolean"
    OPAQUE = "opaque"
    TIME = "time"  # int seconds since the Unix epoch (TS 1.0 Appendix C)
    OBJLNK = "objlnk"
    CORELNK = "corelnk"  # LwM2M 1.1: a string holding RFC 6690 links
    NONE = "none"  # executable resources carry no value

    @property
    def is_numeric(self) -> bool:
        """True for types the gt/lt/st attributes apply to (TS 1.0 §5.1.2)."""
        return self in (ResourceType.INTEGER, ResourceType.UNSIGNED_INTEGER, ResourceType.FLOAT)


class Operations(StrEnum):
    """Operations a resource allows, as written in the object definitions."""

    NONE = ""  # e.g. Security object resources: only the bootstrap server touches them
    R = "R"
    W = "W"
    RW = "RW"
    E = "E"

    @property
    def readable(self) -> bool:
        """Read (and Observe) allowed."""
        return "R" in self.value

    @property
    def writable(self) -> bool:
        """Write allowed."""
        return "W" in self.value

    @property
    def executable(self) -> bool:
        """Execute allowed."""
        return self is Operations.E


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceDefinition:
    """One resource of an object definition."""

    id: int
    name: str
    type: ResourceType
    operations: Operations
    multiple: bool = False
    mandatory: bool = False
    range_enumeration: str = ""
    units: str = ""
    description: str = ""

    @property
    def readable(self) -> bool:
        """Read allowed."""
        return self.operations.readable

    @property
    def writable(self) -> bool:
        """Write allowed."""
        return self.operations.writable

    @property
    def executable(self) -> bool:
        """Execute allowed."""
        return self.operations.executable


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectDefinition:
    """One LwM2M object: its id, name, instance multiplicity and resources."""

    id: int
    name: str
    resources: Mapping[int, ResourceDefinition] = field(default_factory=dict)
    multiple: bool = True
    mandatory: bool = False
    version: str = "1.0"
    urn: str = ""
    description: str = ""

    def resource(self, resource_id: int) -> ResourceDefinition | None:
        """The definition of ``resource_id``, or ``None`` if the object has no such resource."""
        return self.resources.get(resource_id)

    @property
    def mandatory_resources(self) -> tuple[ResourceDefinition, ...]:
        """The resources every instance must have, in id order."""
        return tuple(r for _, r in sorted(self.resources.items()) if r.mandatory)
