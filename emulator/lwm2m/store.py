"""The object store: object instances held against their definitions (sans-I/O).

The client's CoAP adapter maps each server request onto one method here (``read``, ``write``,
``execute``, ``create``, ``delete``, ``discover``, ``write_attributes``) and renders any
:class:`~emulator.lwm2m.errors.LwM2MError` as the response code. Device-side code sets up
instances and values with ``add_instance``/``set_value`` and may back a resource with a getter
and setter (``bind``) or an execute handler (``on_execute``).

Changes are reported as events (:mod:`emulator.lwm2m.events`): pulled with :meth:`next_event`
and/or pushed to listeners added with :meth:`add_listener`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import TypeAlias

from .attributes import NotificationAttributes
from .events import StoreEvent
from .linkformat import Link
from .model import Content, Value
from .paths import LwM2MPath
from .registry import ObjectRegistry

__all__ = ["ExecuteHandler", "Getter", "ObjectStore", "ResourceInit", "Setter"]

#: Returns a resource's current value (single) or resource-instance id → value (multiple).
Getter: TypeAlias = Callable[[], "Value | Mapping[int, Value]"]
#: Receives a new value written to the resource; may raise ``LwM2MError`` (e.g. BadRequest).
Setter: TypeAlias = Callable[["Value | Mapping[int, Value]"], None]
#: Runs an Execute: gets the path and the raw argument bytes (TS 1.0 §5.4.5 argument list).
ExecuteHandler: TypeAlias = Callable[[LwM2MPath, bytes], None]
#: Initial resources for ``add_instance``: resource id → value, or → {instance id: value}.
ResourceInit: TypeAlias = Mapping[int, "Value | Mapping[int, Value]"]


class ObjectStore:
    """Object instances and their resource values, checked against ``definitions``."""

    def __init__(self, definitions: ObjectRegistry, *, max_queued_events: int = 1000) -> None:
        self.definitions = definitions
        self._events: deque[StoreEvent] = deque(maxlen=max_queued_events)
        self._listeners: list[Callable[[StoreEvent], None]] = []

    # -- device side (no access checks) ---------------------------------------------------------

    def add_instance(
        self, object_id: int, instance_id: int | None = None, resources: ResourceInit | None = None
    ) -> LwM2MPath:
        """Create an instance locally (no event); the lowest free id if ``instance_id`` is None.

        Values are checked against the resource types (``BadRequest``); an unknown object is
        ``NotFound``; an existing instance or a second instance of a single-instance object is
        ``BadRequest``.
        """
        raise NotImplementedError

    def remove_instance(self, path: LwM2MPath) -> None:
        """Delete an instance locally (no event)."""
        raise NotImplementedError

    def set_value(self, path: LwM2MPath, value: Value | Mapping[int, Value]) -> None:
        """Set a resource (or resource instance) locally, ignoring operations.

        Reports ``ResourcesWritten(by_server=False)`` when the stored value changed. A bound
        resource's setter is called.
        """
        raise NotImplementedError

    def get_value(self, path: LwM2MPath) -> Value | dict[int, Value]:
        """A resource's value (dict for a multiple resource) or a resource instance's value."""
        raise NotImplementedError

    def has(self, path: LwM2MPath) -> bool:
        """True if the object (defined), instance, resource or resource instance exists."""
        raise NotImplementedError

    def bind(
        self, path: LwM2MPath, *, getter: Getter | None = None, setter: Setter | None = None
    ) -> None:
        """Back resource ``/o/i/r`` with callables: reads call ``getter``, writes ``setter``.

        With only a setter, the value is stored too and the setter sees every write.
        """
        raise NotImplementedError

    def on_execute(self, path: LwM2MPath, handler: ExecuteHandler) -> None:
        """Run ``handler`` when a server executes ``/o/i/r`` (the instance may come later)."""
        raise NotImplementedError

    def instance_ids(self) -> dict[int, list[int]]:
        """Object id → sorted instance ids, for every object with a definition that has
        instances or was ever given one via ``add_instance`` (for the Register payload)."""
        raise NotImplementedError

    # -- server operations (TS 1.0 §5.4) --------------------------------------------------------

    def read(self, path: LwM2MPath) -> Content:
        """Read an object, instance, resource or resource instance; non-readable resources are
        left out of object/instance reads and are ``MethodNotAllowed`` when read directly."""
        raise NotImplementedError

    def write(
        self, path: LwM2MPath, content: Content, *, replace: bool = True, by_server: bool = True
    ) -> None:
        """Write ``content`` to an instance, resource or resource instance.

        ``replace`` (PUT) replaces an instance's writable resources / a multiple resource's
        instances; otherwise (POST, partial update) only the given ones change. A server write
        to a non-writable resource is ``MethodNotAllowed``; a missing target ``NotFound``; a
        value of the wrong type ``BadRequest``. Reports ``ResourcesWritten``.
        """
        raise NotImplementedError

    def execute(self, path: LwM2MPath, arguments: bytes = b"") -> None:
        """Execute resource ``/o/i/r``: ``MethodNotAllowed`` unless its operation is E."""
        raise NotImplementedError

    def create(self, path: LwM2MPath, content: Content, *, by_server: bool = True) -> LwM2MPath:
        """Create an instance of object ``path`` from ``content`` (an ``ObjectInstance``, or a
        ``LwM2MObject`` holding exactly one instance); returns the new instance path."""
        raise NotImplementedError

    def delete(self, path: LwM2MPath, *, by_server: bool = True) -> None:
        """Delete an object instance (``MethodNotAllowed`` for other levels and Security)."""
        raise NotImplementedError

    def discover(
        self, path: LwM2MPath, *, short_server_id: int | None = None, lwm2m_version: str = "1.0"
    ) -> list[Link]:
        """Discover (TS 1.0 §5.4.2): links of the object/instance/resource with attributes."""
        raise NotImplementedError

    def write_attributes(
        self,
        path: LwM2MPath,
        changes: Mapping[str, float | None],
        *,
        short_server_id: int | None = None,
    ) -> None:
        """Attach notification attributes to ``path`` (see :mod:`emulator.lwm2m.attributes`)."""
        raise NotImplementedError

    def attributes(
        self, path: LwM2MPath, *, short_server_id: int | None = None
    ) -> NotificationAttributes:
        """The attributes attached at exactly ``path``."""
        raise NotImplementedError

    def effective_attributes(
        self, path: LwM2MPath, *, short_server_id: int | None = None
    ) -> NotificationAttributes:
        """Attributes in force for ``path``: inherited per TS 1.0 §5.1.2, pmin/pmax defaulting
        to the Server object's /1/x/2 and /1/x/3 (x: the instance with that short server id,
        or the first Server instance when ``short_server_id`` is None)."""
        raise NotImplementedError

    # -- events ---------------------------------------------------------------------------------

    def next_event(self) -> StoreEvent | None:
        """The oldest undelivered event, or ``None``."""
        return self._events.popleft() if self._events else None

    def add_listener(self, listener: Callable[[StoreEvent], None]) -> None:
        """Call ``listener`` with each event as it happens (in addition to the queue)."""
        self._listeners.append(listener)
