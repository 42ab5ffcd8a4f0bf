"""The object store: object instances held against their definitions (sans-I/O).

The client's CoAP adapter maps each server request onto one method here (``read``, ``write``,
``execute``, ``create``, ``delete``, ``discover``, ``write_attributes``) and renders any
:class:`~emulator.lwm2m.errors.LwM2MError` as the response code. Device-side code sets up
instances and values with ``add_instance``/``set_value`` and may back a resource with a getter
and setter (``bind``) or an execute handler (``on_execute``).

Access rules (OMA LwM2M TS 1.0 §5.4, Appendix E): a server may not touch the Security object
at all (4.01); Read needs R, Write needs W, Execute needs E (else 4.05); a missing object,
instance or resource is 4.04; a value of the wrong type is 4.00. Local (device-side) calls and
``by_server=False`` skip the operation checks but not the type checks.

Changes are reported as events (:mod:`emulator.lwm2m.events`): pulled with :meth:`next_event`
(the queue keeps the newest ``max_queued_events``; ``dropped_events`` counts the rest) and/or
pushed to listeners added with :meth:`add_listener`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeAlias

from .attributes import NotificationAttributes
from .constraints import Check, definition_check
from .definitions import ObjectDefinition, ResourceDefinition, ResourceType
from .errors import (
    BadRequest,
    InternalServerError,
    LwM2MError,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
)
from .events import (
    AttributesWritten,
    InstanceCreated,
    InstanceDeleted,
    ResourceExecuted,
    ResourcesWritten,
    StoreEvent,
)
from .linkformat import Link
from .model import (
    Content,
    LwM2MObject,
    MultiResource,
    ObjectInstance,
    Resource,
    ResourceInstance,
    SingleResource,
    Value,
)
from .paths import MAX_ID, LwM2MPath
from .registry import ObjectRegistry
from .values import check_value

__all__ = ["ExecuteHandler", "Getter", "ObjectStore", "ResourceInit", "Setter"]

#: Returns a resource's current value (single) or resource-instance id → value (multiple).
Getter: TypeAlias = Callable[[], "Value | Mapping[int, Value]"]
#: Receives a new value written to the resource; may raise ``LwM2MError`` (e.g. BadRequest).
Setter: TypeAlias = Callable[["Value | Mapping[int, Value]"], None]
#: Runs an Execute: gets the path and the raw argument bytes (TS 1.0 §5.4.5 argument list).
ExecuteHandler: TypeAlias = Callable[[LwM2MPath, bytes], None]
#: Initial resources for ``add_instance``: resource id → value, or → {instance id: value}.
ResourceInit: TypeAlias = Mapping[int, "Value | Mapping[int, Value]"]

#: A stored resource: a value (single) or a dict of resource-instance values (multiple).
_Stored: TypeAlias = "Value | dict[int, Value]"

SECURITY_OBJECT = 0
SERVER_OBJECT = 1


@dataclass(slots=True)
class _Binding:
    getter: Getter | None
    setter: Setter | None


class ObjectStore:
    """Object instances and their resource values, checked against ``definitions``."""

    def __init__(self, definitions: ObjectRegistry, *, max_queued_events: int = 1000) -> None:
        self.definitions = definitions
        self._events: deque[StoreEvent] = deque(maxlen=max_queued_events)
        self._listeners: list[Callable[[StoreEvent], None]] = []
        #: Events pushed out of the full queue (nobody pulled them in time).
        self.dropped_events = 0
        self._objects: dict[int, dict[int, dict[int, _Stored]]] = {}
        self._bindings: dict[LwM2MPath, _Binding] = {}
        self._handlers: dict[LwM2MPath, ExecuteHandler] = {}
        self._attributes: dict[tuple[int | None, LwM2MPath], NotificationAttributes] = {}
        self._constraints: dict[tuple[int, int], list[Check]] = {}
        #: Longest string (UTF-8 bytes) a write may store; None: no bound. Opaque values
        #: (a pushed firmware package) are bounded by their transport instead.
        self.max_string_bytes: int | None = None

    # -- lookups --------------------------------------------------------------------------------

    def _object_definition(self, object_id: int | None) -> ObjectDefinition:
        definition = self.definitions.get(object_id) if object_id is not None else None
        if definition is None:
            raise NotFound(f"object {object_id} is not supported")
        return definition

    def _instance(self, path: LwM2MPath) -> dict[int, _Stored]:
        self._object_definition(path.object_id)
        assert path.object_id is not None and path.instance_id is not None
        instance = self._objects.get(path.object_id, {}).get(path.instance_id)
        if instance is None:
            raise NotFound(f"object instance /{path.object_id}/{path.instance_id} does not exist")
        return instance

    def _resource_definition(self, path: LwM2MPath) -> ResourceDefinition:
        definition = self._object_definition(path.object_id)
        assert path.resource_id is not None
        resource = definition.resource(path.resource_id)
        if resource is None:
            raise NotFound(f"resource {LwM2MPath.from_ids(path.ids[:3])} is not defined")
        return resource

    def _present(self, resource_path: LwM2MPath, instance: Mapping[int, _Stored]) -> bool:
        assert resource_path.resource_id is not None
        if resource_path.resource_id in instance:
            return True
        binding = self._bindings.get(resource_path)
        if binding is not None and binding.getter is not None:
            return True
        definition = self._resource_definition(resource_path)
        # Executable resources hold no value: they exist when mandatory or when handled.
        return definition.executable and (definition.mandatory or resource_path in self._handlers)

    def _resource_ids(self, instance_path: LwM2MPath) -> list[int]:
        instance = self._instance(instance_path)
        definition = self._object_definition(instance_path.object_id)
        return [
            rid for rid in definition.resources if self._present(instance_path.child(rid), instance)
        ]

    @staticmethod
    def _guard_security(path: LwM2MPath, by_server: bool) -> None:
        # TS 1.0 Appendix E.1: the Security object is for the bootstrap procedure only.
        if by_server and path.object_id == SECURITY_OBJECT:
            raise Unauthorized("the Security object is not accessible to servers")

    # -- device side (no access checks) ---------------------------------------------------------

    def add_object(self, object_id: int) -> None:
        """Declare support for a defined object that has no instances yet (listed as
        ``</o>`` in the Register payload)."""
        self._object_definition(object_id)
        self._objects.setdefault(object_id, {})

    def add_instance(
        self, object_id: int, instance_id: int | None = None, resources: ResourceInit | None = None
    ) -> LwM2MPath:
        """Create an instance locally (no event); the lowest free id if ``instance_id`` is None.

        Values are checked against the resource types (``BadRequest``); an unknown object or
        resource is ``NotFound``; an existing instance or a second instance of a single-instance
        object is ``BadRequest``.
        """
        definition = self._object_definition(object_id)
        instances = self._objects.get(object_id, {})
        instance_id = self._new_instance_id(definition, instances, instance_id)
        path = LwM2MPath(object_id, instance_id)
        stored = {
            rid: self._checked_init(path.child(rid), value)
            for rid, value in (resources or {}).items()
        }
        self._objects.setdefault(object_id, {})[instance_id] = dict(sorted(stored.items()))
        return path

    def _new_instance_id(
        self,
        definition: ObjectDefinition,
        instances: Mapping[int, object],
        instance_id: int | None,
    ) -> int:
        if not definition.multiple and instances:
            raise BadRequest(f"object {definition.id} is single-instance and already has one")
        if instance_id is None:
            instance_id = next(i for i in range(MAX_ID + 1) if i not in instances)
            if instance_id == MAX_ID:
                raise BadRequest(f"object {definition.id} has no free instance id")
        elif not 0 <= instance_id < MAX_ID:
            raise BadRequest(f"instance id {instance_id} is outside 0..{MAX_ID - 1}")
        if instance_id in instances:
            raise BadRequest(f"object instance /{definition.id}/{instance_id} already exists")
        return instance_id

    def _checked_init(self, path: LwM2MPath, value: Value | Mapping[int, Value]) -> _Stored:
        definition = self._resource_definition(path)
        if definition.executable:
            raise BadRequest(f"{path} is executable and holds no value")
        return self._checked_resource(path, definition, value)

    @staticmethod
    def _checked_resource(
        path: LwM2MPath, definition: ResourceDefinition, value: object
    ) -> _Stored:
        if definition.multiple:
            if not isinstance(value, Mapping):
                raise BadRequest(f"{path} is a multiple resource: give {{instance id: value}}")
            result: dict[int, Value] = {}
            for riid, item in sorted(value.items()):
                if isinstance(riid, bool) or not isinstance(riid, int) or not 0 <= riid <= MAX_ID:
                    raise BadRequest(f"{path}: resource instance id {riid!r} is invalid")
                result[riid] = check_value(item, definition.type, str(path.child(riid)))
            return result
        if isinstance(value, Mapping):
            raise BadRequest(f"{path} is a single resource: give one value")
        return check_value(value, definition.type, str(path))

    def remove_instance(self, path: LwM2MPath) -> None:
        """Delete an instance locally (no event)."""
        if not path.is_object_instance:
            raise BadRequest(f"{path} is not an object instance path")
        self._instance(path)
        self._drop_instance(path)

    def _drop_instance(self, path: LwM2MPath) -> None:
        assert path.object_id is not None and path.instance_id is not None
        del self._objects[path.object_id][path.instance_id]
        for key in [key for key in self._attributes if path.contains(key[1])]:
            del self._attributes[key]

    def set_value(self, path: LwM2MPath, value: Value | Mapping[int, Value]) -> None:
        """Set a resource (or resource instance) locally, ignoring operations.

        Reports ``ResourcesWritten(by_server=False)`` when the stored value changed. A bound
        resource's setter is called.
        """
        if path.level not in (3, 4):
            raise BadRequest(f"{path} is not a resource or resource instance path")
        resource_path = LwM2MPath.from_ids(path.ids[:3])
        definition = self._resource_definition(path)
        instance = self._instance(path)
        if definition.executable:
            raise BadRequest(f"{path} is executable and holds no value")
        assert resource_path.resource_id is not None
        if path.level == 4:
            if not definition.multiple:
                raise BadRequest(f"{resource_path} is a single resource")
            assert path.resource_instance_id is not None
            current = instance.get(resource_path.resource_id, {})
            assert isinstance(current, dict)
            merged = {
                **current,
                path.resource_instance_id: check_value(value, definition.type, str(path)),
            }
            new_value: _Stored = dict(sorted(merged.items()))
        else:
            new_value = self._checked_resource(path, definition, value)
        changed = instance.get(resource_path.resource_id) != new_value
        self._store(resource_path, instance, new_value)
        if changed:
            self._emit(ResourcesWritten(paths=(resource_path,), by_server=False))

    def _store(
        self, resource_path: LwM2MPath, instance: dict[int, _Stored], value: _Stored
    ) -> None:
        assert resource_path.resource_id is not None
        binding = self._bindings.get(resource_path)
        if binding is not None and binding.setter is not None:
            try:
                binding.setter(value)
            except LwM2MError:
                raise
            except Exception as exc:
                raise InternalServerError(f"{resource_path}: setter failed: {exc}") from exc
        instance[resource_path.resource_id] = value

    def get_value(self, path: LwM2MPath) -> Value | dict[int, Value]:
        """A resource's value (dict for a multiple resource) or a resource instance's value."""
        if path.level not in (3, 4):
            raise BadRequest(f"{path} is not a resource or resource instance path")
        resource_path = LwM2MPath.from_ids(path.ids[:3])
        definition = self._resource_definition(path)
        instance = self._instance(path)
        value = self._current(resource_path, definition, instance)
        if path.level == 3:
            return dict(value) if isinstance(value, dict) else value
        if not isinstance(value, dict) or path.resource_instance_id not in value:
            raise NotFound(f"resource instance {path} does not exist")
        return value[path.resource_instance_id]

    def _current(
        self, resource_path: LwM2MPath, definition: ResourceDefinition, instance: dict[int, _Stored]
    ) -> _Stored:
        assert resource_path.resource_id is not None
        binding = self._bindings.get(resource_path)
        if binding is not None and binding.getter is not None:
            try:
                raw = binding.getter()
            except LwM2MError:
                raise
            except Exception as exc:
                raise InternalServerError(f"{resource_path}: getter failed: {exc}") from exc
            try:
                return self._checked_resource(resource_path, definition, raw)
            except BadRequest as exc:
                raise InternalServerError(f"getter returned a bad value: {exc}") from None
        if definition.executable:
            raise MethodNotAllowed(f"{resource_path} is executable and has no value")
        if resource_path.resource_id not in instance:
            raise NotFound(f"resource {resource_path} does not exist")
        return instance[resource_path.resource_id]

    def has(self, path: LwM2MPath) -> bool:
        """True if the object (defined), instance, resource or resource instance exists."""
        try:
            if path.is_root:
                return True
            self._object_definition(path.object_id)
            if path.level == 1:
                return True
            instance = self._instance(path)
            if path.level == 2:
                return True
            resource_path = LwM2MPath.from_ids(path.ids[:3])
            if not self._present(resource_path, instance):
                return False
            if path.level == 3:
                return True
            value = self._current(resource_path, self._resource_definition(path), instance)
            return isinstance(value, dict) and path.resource_instance_id in value
        except LwM2MError:
            return False

    def bind(
        self, path: LwM2MPath, *, getter: Getter | None = None, setter: Setter | None = None
    ) -> None:
        """Back resource ``/o/i/r`` with callables: reads call ``getter``, writes ``setter``.

        With a setter, each write is checked, passed to the setter (which may refuse it by
        raising ``LwM2MError``) and then stored. With a getter only, writes are stored and
        reported but reads keep coming from the getter. A getter makes the resource present in
        its instance (once the instance exists).
        """
        if not path.is_resource:
            raise BadRequest(f"{path} is not a resource path")
        definition = self._resource_definition(path)
        if definition.executable:
            raise BadRequest(f"{path} is executable: use on_execute")
        self._bindings[path] = _Binding(getter, setter)

    def on_execute(self, path: LwM2MPath, handler: ExecuteHandler) -> None:
        """Run ``handler`` when a server executes ``/o/i/r`` (the instance may come later)."""
        if not path.is_resource:
            raise BadRequest(f"{path} is not a resource path")
        if not self._resource_definition(path).executable:
            raise BadRequest(f"{path} is not executable")
        self._handlers[path] = handler

    def constrain(self, object_id: int, resource_id: int, check: Check) -> None:
        """Add a device limit to resource ``/object_id/*/resource_id`` (every instance, now
        and later): writes and creates (by a server or the bootstrap server) whose value fails
        ``check`` are refused with its ``BadRequest`` before anything is stored."""
        self._resource_definition(LwM2MPath(object_id, 0, resource_id))
        self._constraints.setdefault((object_id, resource_id), []).append(check)

    def _constrained(self, path: LwM2MPath, definition: ResourceDefinition, value: Value) -> Value:
        """``value`` (already type-checked) against the definition's range, the device's
        limits and the string bound; raises ``BadRequest``."""
        where = str(path)
        if (
            self.max_string_bytes is not None
            and isinstance(value, str)
            and len(value.encode("utf-8")) > self.max_string_bytes
        ):
            raise BadRequest(f"{where}: longer than {self.max_string_bytes} bytes")
        check = definition_check(definition)
        if check is not None:
            check(value, where)
        assert path.object_id is not None and path.resource_id is not None
        for device_check in self._constraints.get((path.object_id, path.resource_id), ()):
            device_check(value, where)
        return value

    def instance_ids(self) -> dict[int, list[int]]:
        """Object id → sorted instance ids, for every object that has instances or was declared
        with :meth:`add_object` / ``add_instance`` (for the Register payload)."""
        return {oid: sorted(instances) for oid, instances in sorted(self._objects.items())}

    # -- server operations (TS 1.0 §5.4) --------------------------------------------------------

    def read(self, path: LwM2MPath, *, by_server: bool = True) -> Content:
        """Read an object, instance, resource or resource instance.

        Non-readable resources are left out of object/instance reads and are
        ``MethodNotAllowed`` when read directly by a server.
        """
        if path.is_root:
            raise MethodNotAllowed("Read on the root path is not allowed")
        self._guard_security(path, by_server)
        definition = self._object_definition(path.object_id)
        assert path.object_id is not None
        if path.level == 1:
            instances = {
                iid: self._read_instance(LwM2MPath(path.object_id, iid), by_server)
                for iid in sorted(self._objects.get(path.object_id, {}))
            }
            return LwM2MObject(definition.id, instances)
        if path.level == 2:
            return self._read_instance(path, by_server)
        instance = self._instance(path)
        resource_path = LwM2MPath.from_ids(path.ids[:3])
        resource_definition = self._resource_definition(path)
        if not self._present(resource_path, instance):
            raise NotFound(f"resource {resource_path} does not exist")
        if by_server and not resource_definition.readable:
            raise MethodNotAllowed(f"{resource_path} is not readable")
        resource = self._read_resource(resource_path, resource_definition, instance)
        if path.level == 3:
            return resource
        if not isinstance(resource, MultiResource):
            raise NotFound(f"{resource_path} is a single resource: {path} does not exist")
        assert path.resource_instance_id is not None
        if path.resource_instance_id not in resource.instances:
            raise NotFound(f"resource instance {path} does not exist")
        return ResourceInstance(
            path.resource_instance_id, resource.instances[path.resource_instance_id]
        )

    def _read_instance(self, path: LwM2MPath, by_server: bool) -> ObjectInstance:
        instance = self._instance(path)
        definition = self._object_definition(path.object_id)
        resources: dict[int, Resource] = {}
        for rid in self._resource_ids(path):
            resource_definition = definition.resources[rid]
            if resource_definition.executable or (by_server and not resource_definition.readable):
                continue
            resources[rid] = self._read_resource(path.child(rid), resource_definition, instance)
        assert path.instance_id is not None
        return ObjectInstance(path.instance_id, resources)

    def _read_resource(
        self, path: LwM2MPath, definition: ResourceDefinition, instance: dict[int, _Stored]
    ) -> Resource:
        assert path.resource_id is not None
        value = self._current(path, definition, instance)
        if isinstance(value, dict):
            return MultiResource(path.resource_id, dict(value))
        return SingleResource(path.resource_id, value)

    def write(
        self, path: LwM2MPath, content: Content, *, replace: bool = True, by_server: bool = True
    ) -> None:
        """Write ``content`` to an instance, resource or resource instance.

        ``replace`` (PUT) replaces: on an instance, optional writable resources missing from the
        payload are removed (mandatory ones keep their value); a multiple resource's instances
        are replaced. Otherwise (POST, partial update) only the given values change, and a
        multiple resource's given instances are merged into it. A server write to a
        non-writable resource is ``MethodNotAllowed``; a missing target ``NotFound``; a value
        of the wrong type or shape ``BadRequest``. Reports ``ResourcesWritten``. Every value
        is checked before anything is stored.
        """
        if path.level < 2:
            raise MethodNotAllowed(f"Write on {path} is not allowed (only the bootstrap may)")
        self._guard_security(path, by_server)
        instance = self._instance(path)
        plan: list[tuple[LwM2MPath, _Stored]] = []
        removals: list[LwM2MPath] = []
        if path.level == 2:
            if not isinstance(content, ObjectInstance) or content.id not in (
                None,
                path.instance_id,
            ):
                raise BadRequest(f"a Write on {path} needs that object instance as content")
            for rid, resource in sorted(content.resources.items()):
                if resource.id != rid:
                    raise BadRequest(f"resource {resource.id} filed under id {rid}")
                plan.append(
                    self._plan_resource(path.child(rid), resource, instance, True, by_server)
                )
            if replace:
                written = {rid for rid in content.resources}
                definition = self._object_definition(path.object_id)
                for rid, resource_definition in definition.resources.items():
                    if (
                        rid in instance
                        and rid not in written
                        and resource_definition.writable
                        and not resource_definition.mandatory
                    ):
                        removals.append(path.child(rid))
        elif path.level == 3:
            if not isinstance(content, SingleResource | MultiResource):
                raise BadRequest(f"a Write on {path} needs a resource as content")
            if content.id != path.resource_id:
                raise BadRequest(f"payload is for resource {content.id}, not {path}")
            plan.append(self._plan_resource(path, content, instance, replace, by_server))
        else:
            if not isinstance(content, ResourceInstance) or content.id != path.resource_instance_id:
                raise BadRequest(f"a Write on {path} needs that resource instance as content")
            resource_path = path.parent()
            assert resource_path.resource_id is not None
            if not self._resource_definition(path).multiple:
                raise NotFound(f"{resource_path} is a single resource: {path} does not exist")
            # Writing one resource instance merges it into its multiple resource (TS 1.1).
            single = MultiResource(resource_path.resource_id, {content.id: content.value})
            plan.append(self._plan_resource(resource_path, single, instance, False, by_server))
        for resource_path, value in plan:
            self._store(resource_path, instance, value)
        for resource_path in removals:
            assert resource_path.resource_id is not None
            del instance[resource_path.resource_id]
        paths = tuple(sorted({p for p, _ in plan} | set(removals)))
        if paths:
            self._emit(ResourcesWritten(paths=paths, by_server=by_server))

    def _plan_resource(
        self,
        path: LwM2MPath,
        resource: Resource,
        instance: dict[int, _Stored],
        replace: bool,
        by_server: bool,
    ) -> tuple[LwM2MPath, _Stored]:
        definition = self._resource_definition(path)
        if definition.executable:
            raise MethodNotAllowed(f"{path} is executable and cannot be written")
        if by_server and not definition.writable:
            raise MethodNotAllowed(f"{path} is not writable")
        if isinstance(resource, MultiResource):
            if not definition.multiple:
                raise BadRequest(f"{path} is a single resource, not a multiple one")
            new: dict[int, Value] = {}
            if not replace:
                current = instance.get(definition.id, {})
                if isinstance(current, dict):
                    new.update(current)
            for riid, item in resource.instances.items():
                child = path.child(riid)
                new[riid] = self._constrained(
                    child, definition, check_value(item, definition.type, str(child))
                )
            return path, dict(sorted(new.items()))
        if definition.multiple:
            raise BadRequest(f"{path} is a multiple resource: give resource instances")
        value = check_value(resource.value, definition.type, str(path))
        return path, self._constrained(path, definition, value)

    def execute(self, path: LwM2MPath, arguments: bytes = b"", *, by_server: bool = True) -> None:
        """Execute resource ``/o/i/r``: ``MethodNotAllowed`` unless its operation is E.

        The registered handler (if any) runs first; then ``ResourceExecuted`` is reported.
        A handler may refuse by raising ``LwM2MError``; any other exception becomes 5.00.
        """
        if not path.is_resource:
            raise MethodNotAllowed(f"Execute on {path} is not allowed (only on resources)")
        self._guard_security(path, by_server)
        definition = self._resource_definition(path)
        self._instance(path)
        if not definition.executable:
            raise MethodNotAllowed(f"{path} is not executable")
        handler = self._handlers.get(path)
        if handler is not None:
            try:
                handler(path, bytes(arguments))
            except LwM2MError:
                raise
            except Exception as exc:
                raise InternalServerError(f"{path}: execute failed: {exc}") from exc
        self._emit(ResourceExecuted(path=path, arguments=bytes(arguments)))

    def create(self, path: LwM2MPath, content: Content, *, by_server: bool = True) -> LwM2MPath:
        """Create an instance of object ``path`` from ``content`` (an ``ObjectInstance``, or a
        ``LwM2MObject`` holding exactly one instance); returns the new instance path.

        A server must supply every mandatory (non-executable) resource (``BadRequest``).
        """
        if not path.is_object:
            raise MethodNotAllowed(f"Create is only allowed on an object path, not {path}")
        self._guard_security(path, by_server)
        definition = self._object_definition(path.object_id)
        assert path.object_id is not None
        if isinstance(content, LwM2MObject):
            if content.id != path.object_id or len(content.instances) != 1:
                raise BadRequest("a Create payload holds exactly one instance of that object")
            content = next(iter(content.instances.values()))
        if not isinstance(content, ObjectInstance):
            raise BadRequest("a Create payload must be an object instance")
        instances = self._objects.get(path.object_id, {})
        instance_id = self._new_instance_id(definition, instances, content.id)
        instance_path = path.child(instance_id)
        stored: dict[int, _Stored] = {}
        for rid, resource in content.resources.items():
            resource_path = instance_path.child(rid)
            resource_definition = self._resource_definition(resource_path)
            if resource_definition.executable:
                raise BadRequest(f"{resource_path} is executable and cannot be given a value")
            if isinstance(resource, MultiResource):
                checked = self._checked_resource(
                    resource_path, resource_definition, resource.instances
                )
                assert isinstance(checked, dict)
                for riid, item in checked.items():
                    self._constrained(resource_path.child(riid), resource_definition, item)
                stored[rid] = checked
            else:
                single = self._checked_resource(resource_path, resource_definition, resource.value)
                assert not isinstance(single, dict)
                stored[rid] = self._constrained(resource_path, resource_definition, single)
        if by_server:
            missing = [
                r.id
                for r in definition.mandatory_resources
                if not r.executable and r.id not in stored
            ]
            if missing:
                raise BadRequest(
                    f"Create on {path} lacks mandatory resources {', '.join(map(str, missing))}"
                )
        self._objects.setdefault(path.object_id, {})[instance_id] = {}
        instance = self._objects[path.object_id][instance_id]
        for rid, value in sorted(stored.items()):
            self._store(instance_path.child(rid), instance, value)
        self._emit(InstanceCreated(path=instance_path, by_server=by_server))
        return instance_path

    def delete(self, path: LwM2MPath, *, by_server: bool = True) -> None:
        """Delete an object instance (``MethodNotAllowed`` for other levels and for the
        instance of a mandatory single-instance object such as Device)."""
        if not path.is_object_instance:
            raise MethodNotAllowed(f"Delete is only allowed on an object instance, not {path}")
        self._guard_security(path, by_server)
        definition = self._object_definition(path.object_id)
        self._instance(path)
        if by_server and definition.mandatory and not definition.multiple:
            raise MethodNotAllowed(f"the instance of mandatory object {definition.id} stays")
        self._drop_instance(path)
        self._emit(InstanceDeleted(path=path, by_server=by_server))

    def discover(
        self,
        path: LwM2MPath,
        *,
        short_server_id: int | None = None,
        lwm2m_version: str = "1.0",
        by_server: bool = True,
    ) -> list[Link]:
        """Discover (TS 1.0 §5.4.2): links with attached attributes.

        On an object: the object, its instances and their resources; on an instance: it and
        its resources; on a resource: the resource with its attributes and those it inherits.
        With ``lwm2m_version="1.1"`` multiple resources carry ``dim`` (TS 1.1 §5.4.2).
        """
        if path.is_root or path.level > 3:
            raise MethodNotAllowed(f"Discover on {path} is not allowed")
        self._guard_security(path, by_server)
        self._object_definition(path.object_id)
        assert path.object_id is not None

        def link(target: LwM2MPath, params: dict[str, str | None]) -> Link:
            return Link(str(target), params)

        def own(target: LwM2MPath) -> dict[str, str | None]:
            attributes = self.attributes(target, short_server_id=short_server_id)
            return dict(attributes.link_params())

        def resource_links(instance_path: LwM2MPath) -> list[Link]:
            result = []
            instance = self._instance(instance_path)
            for rid in self._resource_ids(instance_path):
                resource_path = instance_path.child(rid)
                params = own(resource_path)
                resource_definition = self._resource_definition(resource_path)
                if lwm2m_version != "1.0" and resource_definition.multiple:
                    value = self._current(resource_path, resource_definition, instance)
                    params["dim"] = str(len(value) if isinstance(value, dict) else 0)
                result.append(link(resource_path, params))
            return result

        if path.level == 1:
            links = [link(path, own(path))]
            for iid in sorted(self._objects.get(path.object_id, {})):
                instance_path = path.child(iid)
                links.append(link(instance_path, own(instance_path)))
                links.extend(resource_links(instance_path))
            return links
        if path.level == 2:
            self._instance(path)
            return [link(path, own(path)), *resource_links(path)]
        instance = self._instance(path)
        if not self._present(path, instance):
            raise NotFound(f"resource {path} does not exist")
        inherited = self.attributes(path, short_server_id=short_server_id)
        for ancestor in path.ancestors():
            inherited = inherited.over(self.attributes(ancestor, short_server_id=short_server_id))
        params: dict[str, str | None] = dict(inherited.link_params())
        resource_definition = self._resource_definition(path)
        if lwm2m_version != "1.0" and resource_definition.multiple:
            value = self._current(path, resource_definition, instance)
            params["dim"] = str(len(value) if isinstance(value, dict) else 0)
        return [link(path, params)]

    def write_attributes(
        self,
        path: LwM2MPath,
        changes: Mapping[str, float | None],
        *,
        short_server_id: int | None = None,
        by_server: bool = True,
    ) -> None:
        """Attach notification attributes to ``path`` (see :mod:`emulator.lwm2m.attributes`).

        pmin/pmax may sit on an object, instance or resource; gt/lt/st only on a numeric
        single-instance resource (TS 1.0 §5.1.2). ``None`` removes an attribute. The target
        must exist. Reports ``AttributesWritten``.
        """
        if path.is_root or path.level > 3:
            raise MethodNotAllowed(f"Write-Attributes on {path} is not allowed")
        self._guard_security(path, by_server)
        if not self.has(path):
            raise NotFound(f"{path} does not exist")
        current = self.attributes(path, short_server_id=short_server_id)
        updated = current.updated(changes)
        value_conditions = [n for n in ("gt", "lt", "st") if getattr(updated, n) is not None]
        if value_conditions:
            if path.level != 3:
                raise BadRequest(f"{', '.join(value_conditions)} only apply to resources")
            definition = self._resource_definition(path)
            if definition.multiple or not definition.type.is_numeric:
                raise BadRequest(
                    f"{', '.join(value_conditions)} only apply to numeric single resources"
                )
        updated.validate()
        key = (short_server_id, path)
        if updated.is_empty():
            self._attributes.pop(key, None)
        else:
            self._attributes[key] = updated
        self._emit(
            AttributesWritten(
                path=path, short_server_id=short_server_id, attributes=updated.as_dict()
            )
        )

    def attributes(
        self, path: LwM2MPath, *, short_server_id: int | None = None
    ) -> NotificationAttributes:
        """The attributes attached at exactly ``path``."""
        return self._attributes.get((short_server_id, path), NotificationAttributes())

    def effective_attributes(
        self, path: LwM2MPath, *, short_server_id: int | None = None
    ) -> NotificationAttributes:
        """Attributes in force for ``path``: inherited per TS 1.0 §5.1.2, pmin/pmax defaulting
        to the Server object's /1/x/2 and /1/x/3 (x: the instance with that short server id,
        or the first Server instance when ``short_server_id`` is None).

        A resource-instance path uses its resource's attributes.
        """
        if path.level == 4:
            path = path.parent()
        result = self.attributes(path, short_server_id=short_server_id)
        for ancestor in path.ancestors():
            result = result.over(self.attributes(ancestor, short_server_id=short_server_id))
        return result.over(self._server_defaults(short_server_id))

    def _server_defaults(self, short_server_id: int | None) -> NotificationAttributes:
        servers = self._objects.get(SERVER_OBJECT, {})
        for iid in sorted(servers):
            instance = servers[iid]
            if short_server_id is not None and instance.get(0) != short_server_id:
                continue
            values: dict[str, float] = {}
            for rid, name in ((2, "pmin"), (3, "pmax")):
                try:
                    value = self._current(
                        LwM2MPath(SERVER_OBJECT, iid, rid),
                        self._resource_definition(LwM2MPath(SERVER_OBJECT, iid, rid)),
                        instance,
                    )
                except LwM2MError:
                    continue
                if isinstance(value, int | float) and not isinstance(value, bool):
                    values[name] = float(value)
            # A default pmax of 0 means "no maximum period" (TS 1.0 Appendix E.2).
            if values.get("pmax") == 0:
                del values["pmax"]
            return NotificationAttributes(**values)
        return NotificationAttributes()

    # -- events ---------------------------------------------------------------------------------

    def _emit(self, event: StoreEvent) -> None:
        if self._events.maxlen is not None and len(self._events) == self._events.maxlen:
            self.dropped_events += 1
        self._events.append(event)
        for listener in list(self._listeners):
            listener(event)

    def next_event(self) -> StoreEvent | None:
        """The oldest undelivered event, or ``None``."""
        return self._events.popleft() if self._events else None

    def add_listener(self, listener: Callable[[StoreEvent], None]) -> None:
        """Call ``listener`` with each event as it happens (in addition to the queue)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[StoreEvent], None]) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)


__all__ += ["ResourceType"]
