"""LwM2M paths: ``/{object}/{instance}/{resource}/{resource instance}`` (OMA LwM2M TS 1.0 §6.1).

Ids are 16-bit unsigned integers; 65535 is reserved as an instance id (TS 1.0 §6.1 "MAX_ID")
and is refused there. Parsing is strict: no empty segments (except the root ``/``), no signs,
no leading zeros, no whitespace, nothing beyond four levels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_ID", "LwM2MPath", "PathLevel"]

#: Largest id on the wire; as an object instance id it is reserved (TS 1.0 §6.1).
MAX_ID: Final = 65535


class PathLevel:
    """Depth of a path, as returned by :attr:`LwM2MPath.level`."""

    ROOT: Final = 0
    OBJECT: Final = 1
    OBJECT_INSTANCE: Final = 2
    RESOURCE: Final = 3
    RESOURCE_INSTANCE: Final = 4


def _parse_id(text: str, what: str) -> int:
    if not text:
        raise ValueError(f"empty {what} id")
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"{what} id {text!r} is not a decimal number")
    if len(text) > 1 and text[0] == "0":
        raise ValueError(f"{what} id {text!r} has a leading zero")
    value = int(text)
    if value > MAX_ID:
        raise ValueError(f"{what} id {value} is larger than {MAX_ID}")
    return value


_NAMES: Final = ("object", "object instance", "resource", "resource instance")


@dataclass(frozen=True, slots=True)
class LwM2MPath:
    """A path to the root, an object, an object instance, a resource or a resource instance.

    Build one with ``LwM2MPath(3, 0, 13)``, :meth:`parse` or :meth:`from_segments`. A level may
    only be set when all levels above it are (``LwM2MPath(3, None, 1)`` raises ``ValueError``).
    ``str()`` gives the canonical text form, e.g. ``"/3/0/13"``, and ``"/"`` for the root.
    Paths sort by their ids, parents before children.
    """

    object_id: int | None = None
    instance_id: int | None = None
    resource_id: int | None = None
    resource_instance_id: int | None = None

    def __post_init__(self) -> None:
        seen_none = False
        for name, value in zip(_NAMES, self._raw(), strict=True):
            if value is None:
                seen_none = True
                continue
            if seen_none:
                raise ValueError(f"{name} id given without the levels above it")
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} id must be an int, not {type(value).__name__}")
            if not 0 <= value <= MAX_ID:
                raise ValueError(f"{name} id {value} is outside 0..{MAX_ID}")
        if self.instance_id == MAX_ID:
            raise ValueError(f"object instance id {MAX_ID} is reserved")

    def _raw(self) -> tuple[int | None, int | None, int | None, int | None]:
        return (self.object_id, self.instance_id, self.resource_id, self.resource_instance_id)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> LwM2MPath:
        """Parse ``"/"``, ``"/3"``, ``"/3/0"``, ``"/3/0/13"`` or ``"/3/0/7/1"``.

        Raises ``ValueError`` with the reason on anything else (missing leading slash, empty
        or non-numeric segment, trailing slash, ids out of range, more than four levels).
        """
        if not isinstance(text, str):
            raise ValueError(f"path must be a str, not {type(text).__name__}")
        if text == "/":
            return cls()
        if not text.startswith("/"):
            raise ValueError(f"path {text!r} does not start with '/'")
        return cls.from_segments(text[1:].split("/"))

    @classmethod
    def from_segments(cls, segments: Iterable[str]) -> LwM2MPath:
        """Build a path from Uri-Path option values, e.g. ``("3", "0")``; ``()`` is the root."""
        parts = list(segments)
        if len(parts) > 4:
            raise ValueError(f"path has {len(parts)} segments, at most 4 are allowed")
        ids = [_parse_id(part, name) for part, name in zip(parts, _NAMES, strict=False)]
        return cls(*ids)

    @classmethod
    def from_ids(cls, ids: Sequence[int]) -> LwM2MPath:
        """Build a path from up to four ids, e.g. ``(3, 0, 13)``."""
        if len(ids) > 4:
            raise ValueError(f"path has {len(ids)} ids, at most 4 are allowed")
        return cls(*ids)

    # -- inspection ---------------------------------------------------------------------------

    @property
    def ids(self) -> tuple[int, ...]:
        """The ids that are set, from the object down."""
        # Spelled out (levels are set top-down, __post_init__ sees to it): the object store
        # asks this tens of times per module it builds, a generator made it a tenth of the time.
        if self.object_id is None:
            return ()
        if self.instance_id is None:
            return (self.object_id,)
        if self.resource_id is None:
            return (self.object_id, self.instance_id)
        if self.resource_instance_id is None:
            return (self.object_id, self.instance_id, self.resource_id)
        return (self.object_id, self.instance_id, self.resource_id, self.resource_instance_id)

    @property
    def level(self) -> int:
        """0 root, 1 object, 2 instance, 3 resource, 4 resource instance (:class:`PathLevel`)."""
        return len(self.ids)

    @property
    def is_root(self) -> bool:
        """True for ``/``."""
        return self.object_id is None

    @property
    def is_object(self) -> bool:
        """True for ``/{o}``."""
        return self.level == PathLevel.OBJECT

    @property
    def is_object_instance(self) -> bool:
        """True for ``/{o}/{i}``."""
        return self.level == PathLevel.OBJECT_INSTANCE

    @property
    def is_resource(self) -> bool:
        """True for ``/{o}/{i}/{r}``."""
        return self.level == PathLevel.RESOURCE

    @property
    def is_resource_instance(self) -> bool:
        """True for ``/{o}/{i}/{r}/{ri}``."""
        return self.level == PathLevel.RESOURCE_INSTANCE

    @property
    def segments(self) -> tuple[str, ...]:
        """Uri-Path option values, e.g. ``("3", "0", "13")``."""
        return tuple(str(value) for value in self.ids)

    def parent(self) -> LwM2MPath:
        """The path one level up; the root's parent raises ``ValueError``."""
        ids = self.ids
        if not ids:
            raise ValueError("the root path has no parent")
        return LwM2MPath(*ids[:-1])

    def ancestors(self) -> tuple[LwM2MPath, ...]:
        """Strict ancestors from the nearest up to the object level (the root is left out)."""
        ids = self.ids
        return tuple(LwM2MPath(*ids[:n]) for n in range(len(ids) - 1, 0, -1))

    def child(self, child_id: int) -> LwM2MPath:
        """The path one level down, e.g. ``LwM2MPath(3, 0).child(13)`` is ``/3/0/13``."""
        if self.level == PathLevel.RESOURCE_INSTANCE:
            raise ValueError("a resource instance path has no children")
        return LwM2MPath.from_ids((*self.ids, child_id))

    def contains(self, other: LwM2MPath) -> bool:
        """True if ``other`` is this path or lies below it (the root contains everything)."""
        mine = self.ids
        return other.ids[: len(mine)] == mine

    def overlaps(self, other: LwM2MPath) -> bool:
        """True if one path contains the other (a change to one may change the other)."""
        return self.contains(other) or other.contains(self)

    def sort_key(self) -> tuple[int, ...]:
        """A key that orders parents before children, then by id."""
        return self.ids

    def __lt__(self, other: LwM2MPath) -> bool:
        return self.ids < other.ids

    def __le__(self, other: LwM2MPath) -> bool:
        return self.ids <= other.ids

    def __gt__(self, other: LwM2MPath) -> bool:
        return self.ids > other.ids

    def __ge__(self, other: LwM2MPath) -> bool:
        return self.ids >= other.ids

    def __str__(self) -> str:
        ids = self.ids
        return "/" + "/".join(str(value) for value in ids) if ids else "/"

    def __repr__(self) -> str:
        return f"LwM2MPath({str(self)!r})"
