"""The value model: typed trees for LwM2M content, shared by the client and the server.

Values are plain Python objects, chosen by the resource type of the definition:

=========================  ==================================================
LwM2M type                 Python value
=========================  ==================================================
String, CoRE link          ``str``
Integer, Unsigned integer  ``int``
Float                      ``float`` (an ``int`` is accepted where a float is expected)
Boolean                    ``bool``
Opaque                     ``bytes``
Time                       ``int`` seconds since 1970-01-01T00:00:00Z
Objlnk                     :class:`ObjLink`
=========================  ==================================================

A content tree is one of :class:`LwM2MObject`, :class:`ObjectInstance`,
:class:`SingleResource`, :class:`MultiResource` or :class:`ResourceInstance` (the union
:data:`Content`), matching the level of the path it was read from or is written to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from .paths import LwM2MPath

__all__ = [
    "Content",
    "LwM2MObject",
    "MultiResource",
    "ObjLink",
    "ObjectInstance",
    "ResourceInstance",
    "SingleResource",
    "Value",
    "content_path",
    "flatten",
]


@dataclass(frozen=True, slots=True)
class ObjLink:
    """An object link (TS 1.0 Appendix C): ``object_id:instance_id``; ``65535:65535`` is null."""

    object_id: int
    instance_id: int

    def __post_init__(self) -> None:
        for value in (self.object_id, self.instance_id):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
                raise ValueError(f"object link id {value!r} is outside 0..65535")

    @classmethod
    def parse(cls, text: str) -> ObjLink:
        """Parse the text form ``"3:0"``; raises ``ValueError`` with the reason."""
        left, sep, right = text.partition(":")
        if not sep or not left.isdigit() or not right.isdigit():
            raise ValueError(f"object link {text!r} is not of the form <object>:<instance>")
        return cls(int(left), int(right))

    def __str__(self) -> str:
        return f"{self.object_id}:{self.instance_id}"


Value: TypeAlias = int | float | str | bytes | bool | ObjLink


@dataclass(frozen=True, slots=True)
class SingleResource:
    """A single-instance resource and its value."""

    id: int
    value: Value


@dataclass(frozen=True, slots=True)
class ResourceInstance:
    """One instance of a multiple-instance resource (content at ``/o/i/r/ri``)."""

    id: int
    value: Value


@dataclass(frozen=True, slots=True)
class MultiResource:
    """A multiple-instance resource: resource-instance id → value (may be empty)."""

    id: int
    instances: Mapping[int, Value] = field(default_factory=dict)


Resource: TypeAlias = SingleResource | MultiResource


@dataclass(frozen=True, slots=True)
class ObjectInstance:
    """An object instance: resource id → resource.

    ``id`` is ``None`` only in a Create payload that leaves the instance id to the client
    (TS 1.0 §5.4.5: a TLV Create on ``/o`` may carry the resources without an instance header).
    """

    id: int | None
    resources: Mapping[int, Resource] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LwM2MObject:
    """All instances of one object: instance id → instance."""

    id: int
    instances: Mapping[int, ObjectInstance] = field(default_factory=dict)


Content: TypeAlias = (
    LwM2MObject | ObjectInstance | SingleResource | MultiResource | ResourceInstance
)


def content_path(content: Content, base_path: LwM2MPath) -> LwM2MPath:
    """The path of the node ``content`` when it was read from / written to ``base_path``.

    ``base_path`` is the request path: either the node's own path, or (for an
    :class:`ObjectInstance` with an id) its object path. Raises ``ValueError`` when the content's
    level or ids do not match ``base_path``.
    """
    raise NotImplementedError


def flatten(content: Content, base_path: LwM2MPath) -> list[tuple[LwM2MPath, Value]]:
    """Every value in ``content`` with its full path, in path order.

    Empty multiple resources and empty instances contribute nothing. See :func:`content_path`
    for ``base_path``.
    """
    raise NotImplementedError


def iter_resources(instance: ObjectInstance) -> Iterable[Resource]:
    """The resources of an instance in id order."""
    return (instance.resources[key] for key in sorted(instance.resources))
