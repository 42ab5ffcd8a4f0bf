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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from .definitions import ResourceType
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
    "build_content",
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


def type_of_value(value: Value) -> ResourceType:
    """The resource type a bare Python value encodes as, for resources with no definition."""
    if isinstance(value, bool):
        return ResourceType.BOOLEAN
    if isinstance(value, int):
        return ResourceType.INTEGER
    if isinstance(value, float):
        return ResourceType.FLOAT
    if isinstance(value, bytes):
        return ResourceType.OPAQUE
    if isinstance(value, ObjLink):
        return ResourceType.OBJLNK
    return ResourceType.STRING


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
    :class:`ObjectInstance`) its object path. Raises ``ValueError`` when the content's level or
    ids do not match ``base_path``.
    """
    level = base_path.level
    if isinstance(content, LwM2MObject):
        if level == 1 and base_path.object_id == content.id:
            return base_path
    elif isinstance(content, ObjectInstance):
        if level == 1:
            return base_path if content.id is None else base_path.child(content.id)
        if level == 2 and content.id in (None, base_path.instance_id):
            return base_path
    elif isinstance(content, SingleResource | MultiResource):
        if level == 3 and base_path.resource_id == content.id:
            return base_path
    elif isinstance(content, ResourceInstance):
        if level == 4 and base_path.resource_instance_id == content.id:
            return base_path
    else:
        raise ValueError(f"{type(content).__name__} is not LwM2M content")
    raise ValueError(
        f"{type(content).__name__} with id {content.id} does not belong at {base_path}"
    )


def flatten(content: Content, base_path: LwM2MPath) -> list[tuple[LwM2MPath, Value]]:
    """Every value in ``content`` with its full path, in path order.

    Empty multiple resources and empty instances contribute nothing. See :func:`content_path`
    for ``base_path``. An ``ObjectInstance`` without id cannot be flattened (``ValueError``).
    """
    path = content_path(content, base_path)
    entries: list[tuple[LwM2MPath, Value]] = []
    _flatten_into(content, path, entries)
    return entries


def _flatten_into(
    content: Content, path: LwM2MPath, entries: list[tuple[LwM2MPath, Value]]
) -> None:
    if isinstance(content, LwM2MObject):
        for iid in sorted(content.instances):
            _flatten_into(content.instances[iid], path.child(iid), entries)
    elif isinstance(content, ObjectInstance):
        if path.level != 2:
            raise ValueError("an object instance without id has no paths")
        for rid in sorted(content.resources):
            _flatten_into(content.resources[rid], path.child(rid), entries)
    elif isinstance(content, MultiResource):
        entries.extend(
            (path.child(riid), content.instances[riid]) for riid in sorted(content.instances)
        )
    else:
        entries.append((path, content.value))


def build_content(
    entries: Iterable[tuple[LwM2MPath, Value]],
    base_path: LwM2MPath,
    is_multiple: Callable[[LwM2MPath], bool | None],
) -> Content:
    """The inverse of :func:`flatten`: a tree at ``base_path`` from (path, value) pairs.

    ``is_multiple(resource_path)`` says whether a resource is a multiple resource (``None``:
    unknown, then the entries decide). Raises ``ValueError`` for a path outside ``base_path``,
    a path at the wrong depth, a duplicate path or a mix of single and multiple forms.
    """
    if base_path.is_root:
        raise ValueError("content cannot be built for the root path")
    by_resource: dict[LwM2MPath, dict[int | None, Value]] = {}
    for path, value in entries:
        if not base_path.contains(path):
            raise ValueError(f"{path} is not under {base_path}")
        if path.level < 3:
            raise ValueError(f"{path} is not a resource or resource instance path")
        resource_path = LwM2MPath.from_ids(path.ids[:3])
        slot = by_resource.setdefault(resource_path, {})
        if path.resource_instance_id in slot:
            raise ValueError(f"{path} appears twice")
        slot[path.resource_instance_id] = value
    resources: dict[LwM2MPath, Resource] = {}
    for resource_path, slot in by_resource.items():
        resources[resource_path] = _resource_from_slot(resource_path, slot, is_multiple)
    if base_path.level == 4:
        resource = resources.get(LwM2MPath.from_ids(base_path.ids[:3]))
        assert base_path.resource_instance_id is not None
        if not isinstance(resource, MultiResource) or len(resource.instances) != 1:
            raise ValueError(f"expected exactly one value for {base_path}")
        return ResourceInstance(
            base_path.resource_instance_id, resource.instances[base_path.resource_instance_id]
        )
    if base_path.level == 3:
        assert base_path.resource_id is not None
        if base_path in resources:
            return resources[base_path]
        if is_multiple(base_path):
            return MultiResource(base_path.resource_id, {})
        raise ValueError(f"no value for {base_path}")
    instances: dict[int, dict[int, Resource]] = {}
    for resource_path, resource in resources.items():
        assert resource_path.instance_id is not None
        instances.setdefault(resource_path.instance_id, {})[resource.id] = resource
    if base_path.level == 2:
        assert base_path.instance_id is not None
        found = instances.get(base_path.instance_id, {})
        return ObjectInstance(base_path.instance_id, dict(sorted(found.items())))
    assert base_path.object_id is not None
    return LwM2MObject(
        base_path.object_id,
        {
            iid: ObjectInstance(iid, dict(sorted(found.items())))
            for iid, found in sorted(instances.items())
        },
    )


def _resource_from_slot(
    path: LwM2MPath,
    slot: Mapping[int | None, Value],
    is_multiple: Callable[[LwM2MPath], bool | None],
) -> Resource:
    assert path.resource_id is not None
    multiple = is_multiple(path)
    if None in slot:
        if len(slot) > 1:
            raise ValueError(f"{path} is given both as a single value and with instances")
        if multiple:
            raise ValueError(f"{path} is a multiple resource: give resource instances")
        return SingleResource(path.resource_id, slot[None])
    if multiple is False:
        raise ValueError(f"{path} is a single resource: it has no resource instances")
    return MultiResource(
        path.resource_id, {riid: slot[riid] for riid in sorted(k for k in slot if k is not None)}
    )


def iter_resources(instance: ObjectInstance) -> Iterable[Resource]:
    """The resources of an instance in id order."""
    return (instance.resources[key] for key in sorted(instance.resources))
