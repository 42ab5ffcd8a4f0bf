"""Leshan 2.x demo JSON shapes for the embedded server's HTTP face, sans-I/O.

Eclipse Leshan's demo server (the de-facto REST API of LwM2M tooling) writes LwM2M nodes,
registrations, responses and events as JSON; scripts, dashboards and our own
:class:`~scenario_tool.leshan.LeshanDriver` read those shapes. This module turns the embedded
server's values (:mod:`emulator.lwm2m.model`, :class:`Registration`, events) into them and back.

Value encoding follows Leshan 2.x: integers and floats as JSON *text* (JavaScript numbers lose
precision past 2**53), Time as epoch *milliseconds*, Opaque as hex text, Objlnk as
``{"objectId", "objectInstanceId"}``. Incoming values are also accepted in the 1.x shape (no
``kind``/``type``, numbers as JSON numbers): the type then comes from the object definitions.
Every malformed node raises :class:`JsonShapeError` with a message for the HTTP 400 body.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from emulator.lwm2m.definitions import ObjectDefinition, ResourceType
from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.linkformat import Link
from emulator.lwm2m.model import (
    Content,
    LwM2MObject,
    MultiResource,
    ObjectInstance,
    ObjLink,
    ResourceInstance,
    SingleResource,
    Value,
    type_of_value,
)
from emulator.lwm2m.paths import LwM2MPath
from emulator.lwm2m.registry import ObjectRegistry

from .bootstrap import BootstrapConfig, ServerAccount
from .registration import Registration

__all__ = [
    "FORMATS",
    "JsonShapeError",
    "bootstrap_config",
    "bootstrap_json",
    "code_name",
    "content_json",
    "json_content",
    "link_json",
    "object_spec",
    "registration_json",
]


class JsonShapeError(ValueError):
    """A JSON document that is not what Leshan's API takes (rendered as HTTP 400)."""


#: ``?format=`` names (Leshan's ContentFormat names) → the formats our codecs speak.
FORMATS: Final[Mapping[str, ContentFormat]] = {
    "TLV": ContentFormat.TLV,
    "TEXT": ContentFormat.TEXT,
    "JSON": ContentFormat.LWM2M_JSON,
    "SENML_JSON": ContentFormat.SENML_JSON,
    "CBOR": ContentFormat.CBOR,
    "OPAQUE": ContentFormat.OPAQUE,
}

# Leshan's ResponseCode names (RFC 7252 §12.1.2 codes).
_CODE_NAMES: Final[Mapping[int, str]] = {
    0x41: "CREATED",
    0x42: "DELETED",
    0x43: "VALID",
    0x44: "CHANGED",
    0x45: "CONTENT",
    0x5F: "CONTINUE",
    0x80: "BAD_REQUEST",
    0x81: "UNAUTHORIZED",
    0x82: "BAD_OPTION",
    0x83: "FORBIDDEN",
    0x84: "NOT_FOUND",
    0x85: "METHOD_NOT_ALLOWED",
    0x86: "NOT_ACCEPTABLE",
    0x88: "REQUEST_ENTITY_INCOMPLETE",
    0x8C: "PRECONDITION_FAILED",
    0x8D: "REQUEST_ENTITY_TOO_LARGE",
    0x8F: "UNSUPPORTED_CONTENT_FORMAT",
    0xA0: "INTERNAL_SERVER_ERROR",
    0xA1: "NOT_IMPLEMENTED",
    0xA2: "BAD_GATEWAY",
    0xA3: "SERVICE_UNAVAILABLE",
    0xA4: "GATEWAY_TIMEOUT",
    0xA5: "PROXY_NOT_SUPPORTED",
}

# Leshan's ResourceModel.Type names.
_TYPE_NAMES: Final[Mapping[ResourceType, str]] = {
    ResourceType.STRING: "STRING",
    ResourceType.INTEGER: "INTEGER",
    ResourceType.UNSIGNED_INTEGER: "UNSIGNED_INTEGER",
    ResourceType.FLOAT: "FLOAT",
    ResourceType.BOOLEAN: "BOOLEAN",
    ResourceType.OPAQUE: "OPAQUE",
    ResourceType.TIME: "TIME",
    ResourceType.OBJLNK: "OBJLNK",
    ResourceType.CORELNK: "CORELINK",
    ResourceType.NONE: "NONE",
}
_TYPES_BY_NAME: Final = {name: rtype for rtype, name in _TYPE_NAMES.items()}


def code_name(code: int) -> str:
    """``0x84`` → ``"NOT_FOUND"`` (dotted text for a code Leshan has no name for)."""
    return _CODE_NAMES.get(code, f"{code >> 5}.{code & 0x1F:02d}")


def response_json(code: int, **more: Any) -> dict[str, Any]:
    """A device answer as Leshan 2.x's response serializer writes it."""
    success = code >> 5 == 2
    data = {"status": code_name(code), "valid": True, "success": success, "failure": not success}
    data.update(more)
    return data


# --------------------------------------------------------------------------- content → JSON
def _type(registry: ObjectRegistry, path: LwM2MPath, value: Value | None) -> ResourceType:
    definition = registry.resource(LwM2MPath.from_ids(path.ids[:3]))
    if definition is not None and definition.type is not ResourceType.NONE:
        return definition.type
    return type_of_value(value) if value is not None else ResourceType.STRING


def value_json(value: Value, rtype: ResourceType) -> Any:
    """One value in Leshan 2.x's JSON encoding."""
    if isinstance(value, bool):
        return value
    if rtype is ResourceType.TIME and isinstance(value, int):
        return value * 1000  # java.util.Date milliseconds
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, ObjLink):
        return {"objectId": value.object_id, "objectInstanceId": value.instance_id}
    return value


def content_json(content: Content, path: LwM2MPath, registry: ObjectRegistry) -> dict[str, Any]:
    """A content tree read from ``path`` as a Leshan 2.x node."""
    if isinstance(content, LwM2MObject):
        object_path = LwM2MPath(content.id)
        return {
            "kind": "obj",
            "id": content.id,
            "instances": [
                content_json(content.instances[iid], object_path.child(iid), registry)
                for iid in sorted(content.instances)
            ],
        }
    if isinstance(content, ObjectInstance):
        instance_path = path if path.level == 2 else path.child(content.id or 0)
        node: dict[str, Any] = {"kind": "instance", "id": instance_path.instance_id}
        node["resources"] = [
            content_json(content.resources[rid], instance_path.child(rid), registry)
            for rid in sorted(content.resources)
        ]
        return node
    if isinstance(content, MultiResource):
        sample = next(iter(content.instances.values()), None)
        rtype = _type(registry, path, sample)
        return {
            "kind": "multiResource",
            "id": content.id,
            "type": _TYPE_NAMES[rtype],
            "values": {str(k): value_json(v, rtype) for k, v in sorted(content.instances.items())},
        }
    rtype = _type(registry, path, content.value)
    kind = "resourceInstance" if isinstance(content, ResourceInstance) else "singleResource"
    return {
        "kind": kind,
        "id": content.id,
        "type": _TYPE_NAMES[rtype],
        "value": value_json(content.value, rtype),
    }


# --------------------------------------------------------------------------- JSON → content
def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null"


def _unexpected(raw: Any, rtype: ResourceType, expected: str) -> JsonShapeError:
    return JsonShapeError(
        f"unexpected JSON type of 'value' [{raw!r}]: a JSON {expected} is expected for "
        f"{_TYPE_NAMES[rtype]} but was {_json_kind(raw)}"
    )


def parse_value(raw: Any, rtype: ResourceType) -> Value:
    """A JSON value (2.x text numbers, or 1.x JSON numbers) as a value of ``rtype``."""
    if rtype in (ResourceType.STRING, ResourceType.CORELNK):
        if not isinstance(raw, str):
            raise _unexpected(raw, rtype, "string")
        return raw
    if rtype in (ResourceType.INTEGER, ResourceType.UNSIGNED_INTEGER):
        if isinstance(raw, str):
            try:
                number = int(raw.strip())
            except ValueError:
                raise JsonShapeError(f"{raw!r} is not a valid integer") from None
        elif isinstance(raw, int | float) and not isinstance(raw, bool) and float(raw).is_integer():
            number = int(raw)
        else:
            raise _unexpected(raw, rtype, "string (or integral number)")
        if rtype is ResourceType.UNSIGNED_INTEGER and number < 0:
            raise JsonShapeError(f"{raw!r} is not a valid unsigned integer")
        return number
    if rtype is ResourceType.FLOAT:
        if isinstance(raw, str):
            try:
                real = float(raw)
            except ValueError:
                raise JsonShapeError(f"{raw!r} is not a valid float") from None
        elif isinstance(raw, int | float) and not isinstance(raw, bool):
            real = float(raw)
        else:
            raise _unexpected(raw, rtype, "string (or number)")
        if real != real or real in (float("inf"), float("-inf")):
            raise JsonShapeError(f"{raw!r} is not a finite float")
        return real
    if rtype is ResourceType.BOOLEAN:
        if not isinstance(raw, bool):
            raise _unexpected(raw, rtype, "boolean")
        return raw
    if rtype is ResourceType.TIME:
        # Both generations take a java.util.Date from a JSON integer: epoch milliseconds.
        if isinstance(raw, int | float) and not isinstance(raw, bool) and float(raw).is_integer():
            return int(raw) // 1000
        if isinstance(raw, str):
            try:
                return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp())
            except ValueError:
                pass
        raise _unexpected(raw, rtype, "number (epoch milliseconds)")
    if rtype is ResourceType.OPAQUE:
        if not isinstance(raw, str):
            raise _unexpected(raw, rtype, "string (hex)")
        try:
            return bytes.fromhex(raw)
        except ValueError:
            raise JsonShapeError(f"{raw!r} is not hexadecimal text") from None
    if rtype is ResourceType.OBJLNK:
        if isinstance(raw, dict):
            object_id, instance_id = raw.get("objectId"), raw.get("objectInstanceId")
            if isinstance(object_id, int) and isinstance(instance_id, int):
                try:
                    return ObjLink(object_id, instance_id)
                except ValueError as exc:
                    raise JsonShapeError(str(exc)) from None
        if isinstance(raw, str):
            try:
                return ObjLink.parse(raw)
            except ValueError as exc:
                raise JsonShapeError(str(exc)) from None
        raise _unexpected(raw, rtype, "object {objectId, objectInstanceId}")
    raise JsonShapeError(f"a {rtype.value} resource takes no value")


def _node_type(node: Mapping[str, Any], path: LwM2MPath, registry: ObjectRegistry) -> ResourceType:
    definition = registry.resource(LwM2MPath.from_ids(path.ids[:3]))
    if definition is not None and definition.type is not ResourceType.NONE:
        return definition.type
    name = node.get("type")
    if isinstance(name, str):
        rtype = _TYPES_BY_NAME.get(name.upper())
        if rtype is None or rtype is ResourceType.NONE:
            raise JsonShapeError(f"unknown resource type {name!r}")
        return rtype
    sample = node.get("value")
    if sample is None and isinstance(node.get("values"), dict) and node["values"]:
        sample = next(iter(node["values"].values()))
    if isinstance(sample, bool):
        return ResourceType.BOOLEAN
    if isinstance(sample, int):
        return ResourceType.INTEGER
    if isinstance(sample, float):
        return ResourceType.FLOAT
    if isinstance(sample, dict):
        return ResourceType.OBJLNK
    return ResourceType.STRING


def _node_id(node: Mapping[str, Any], expected: int | None, what: str) -> int | None:
    raw = node.get("id")
    if raw is None:
        return expected
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 65535:
        raise JsonShapeError(f"the {what} id {raw!r} is not an integer 0..65535")
    if expected is not None and raw != expected:
        raise JsonShapeError(f"the {what} id {raw} does not match the path's {expected}")
    return raw


def _resource(
    node: Any, path: LwM2MPath, registry: ObjectRegistry
) -> SingleResource | MultiResource:
    if not isinstance(node, dict):
        raise JsonShapeError(f"a resource node must be a JSON object, not {_json_kind(node)}")
    resource_id = _node_id(node, path.resource_id, "resource")
    assert resource_id is not None
    rtype = _node_type(node, path, registry)
    if node.get("kind") == "multiResource" or "values" in node:
        values = node.get("values")
        if not isinstance(values, dict):
            raise JsonShapeError("'values' must be an object: instance id → value")
        instances: dict[int, Value] = {}
        for key, raw in values.items():
            if not str(key).isdigit() or int(key) > 65535:
                raise JsonShapeError(f"resource instance id {key!r} is not an integer 0..65535")
            instances[int(key)] = parse_value(raw, rtype)
        return MultiResource(resource_id, instances)
    if "value" not in node:
        raise JsonShapeError("a resource node needs 'value' (or 'values')")
    return SingleResource(resource_id, parse_value(node["value"], rtype))


def _instance(
    node: Any, path: LwM2MPath, instance_id: int | None, registry: ObjectRegistry
) -> ObjectInstance:
    if not isinstance(node, dict):
        raise JsonShapeError(f"an instance node must be a JSON object, not {_json_kind(node)}")
    chosen = _node_id(node, instance_id, "instance")
    resources = node.get("resources")
    if not isinstance(resources, list):
        raise JsonShapeError("an instance node needs 'resources': a list of resource nodes")
    instance_path = path.child(chosen) if path.level == 1 and chosen is not None else path
    parsed: dict[int, SingleResource | MultiResource] = {}
    for item in resources:
        if not isinstance(item, dict) or isinstance(item.get("id"), bool):
            raise JsonShapeError("each resource needs an integer 'id'")
        rid = item.get("id")
        if not isinstance(rid, int) or not 0 <= rid <= 65535:
            raise JsonShapeError(f"resource id {rid!r} is not an integer 0..65535")
        if instance_path.level == 2:
            resource_path = instance_path.child(rid)
        else:  # Create on /o without an instance id: types from the object's definition
            resource_path = LwM2MPath(path.ids[0], 0, rid)
        parsed[rid] = _resource(item, resource_path, registry)
    return ObjectInstance(chosen, parsed)


def json_content(node: Any, path: LwM2MPath, registry: ObjectRegistry) -> Content:
    """A Write (``path`` an instance, resource or resource instance) or Create (``path`` an
    object or instance) body as content; :class:`JsonShapeError` says what is wrong."""
    if path.level == 1:
        return _instance(node, path, None, registry)
    if path.level == 2:
        return _instance(node, path, path.instance_id, registry)
    if path.level == 3:
        return _resource(node, path, registry)
    if path.level == 4:
        if not isinstance(node, dict) or "value" not in node:
            raise JsonShapeError("a resource instance node needs 'value'")
        riid = _node_id(node, path.resource_instance_id, "resource instance")
        assert riid is not None
        return ResourceInstance(riid, parse_value(node["value"], _node_type(node, path, registry)))
    raise JsonShapeError("the root path takes no content")


# --------------------------------------------------------------------------- registrations
def link_json(link: Link) -> dict[str, Any]:
    """``</3/0>;pmin=10`` → ``{"url": "/3/0", "attributes": {"pmin": "10"}}``."""
    attributes: dict[str, str | None] = {}
    for name, value in link.params.items():
        if value is not None and name in ("rt", "if"):
            value = f'"{value}"'  # Leshan keeps the quotes of quoted-string values
        attributes[name] = value
    return {"url": link.target, "attributes": attributes}


def _wall(loop_time: float, loop_now: float) -> str:
    moment = time.time() - (loop_now - loop_time)
    return datetime.fromtimestamp(moment).astimezone().isoformat(timespec="milliseconds")


def registration_json(
    registration: Registration, *, loop_now: float, sleeping: bool = False
) -> dict[str, Any]:
    """A registration as Leshan 2.x's registration serializer writes it."""
    data: dict[str, Any] = {
        "endpoint": registration.endpoint,
        "registrationId": registration.registration_id,
        "registrationDate": _wall(registration.registered_at, loop_now),
        "lastUpdate": _wall(registration.last_update, loop_now),
        "address": registration.address,
        "smsNumber": registration.sms_number,
        "lwM2mVersion": registration.lwm2m_version,
        "lifetime": registration.lifetime,
        # 2.x: the binding letters as a set; queue mode is a flag of its own.
        "bindingMode": [letter for letter in registration.binding if letter != "Q"],
        "queuemode": registration.queue_mode,
        "rootPath": registration.alternate_path,
        "objectLinks": [link_json(link) for link in registration.links],
        "secure": registration.secure,
        "additionalRegistrationAttributes": dict(registration.extra_parameters),
        "sleeping": sleeping,
    }
    return data


# --------------------------------------------------------------------------- object models
def object_spec(definition: ObjectDefinition) -> dict[str, Any]:
    """An object definition as Leshan's object model JSON (the web page builds forms from it)."""
    return {
        "id": definition.id,
        "name": definition.name,
        "version": definition.version,
        "urn": definition.urn,
        "instancetype": "multiple" if definition.multiple else "single",
        "mandatory": definition.mandatory,
        "description": definition.description,
        "resourcedefs": [
            {
                "id": resource.id,
                "name": resource.name,
                "operations": resource.operations.value or "NONE",
                "instancetype": "multiple" if resource.multiple else "single",
                "mandatory": resource.mandatory,
                "type": _TYPE_NAMES[resource.type],
                "range": resource.range_enumeration,
                "units": resource.units,
                "description": resource.description,
            }
            for _, resource in sorted(definition.resources.items())
        ],
    }


# --------------------------------------------------------------------------- bootstrap
def _bytes(raw: Any, what: str) -> bytes:
    """Java byte[] from JSON (signed -128..127 numbers), or hex text."""
    if raw is None:
        return b""
    if isinstance(raw, str):
        try:
            return bytes.fromhex(raw)
        except ValueError:
            raise JsonShapeError(f"{what} is neither a byte array nor hex text") from None
    if isinstance(raw, list) and all(
        isinstance(b, int) and not isinstance(b, bool) and -128 <= b <= 255 for b in raw
    ):
        return bytes(b & 0xFF for b in raw)
    raise JsonShapeError(f"{what} must be a byte array (numbers -128..255) or hex text")


def _int_field(data: Mapping[str, Any], name: str, default: int | None) -> int | None:
    raw = data.get(name, default)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise JsonShapeError(f"{name!r} must be an integer, not {raw!r}")
    return raw


def bootstrap_config(body: Any) -> BootstrapConfig:
    """Leshan's bootstrap configuration (``servers``, ``security``, ``toDelete``) as ours.

    Each non-bootstrap security entry is paired with the server entry of the same short
    server id (``serverId`` / ``shortId``)."""
    if not isinstance(body, dict):
        raise JsonShapeError("a bootstrap configuration is a JSON object")
    servers = body.get("servers") or {}
    security = body.get("security") or {}
    to_delete = body.get("toDelete", ["/0", "/1"])
    if not isinstance(servers, dict) or not isinstance(security, dict):
        raise JsonShapeError("'servers' and 'security' map instance ids to objects")
    if not isinstance(to_delete, list) or not all(isinstance(p, str) for p in to_delete):
        raise JsonShapeError("'toDelete' is a list of paths")
    by_short_id: dict[int, tuple[int, dict[str, Any]]] = {}
    for key, server in servers.items():
        if not str(key).isdigit() or not isinstance(server, dict):
            raise JsonShapeError(f"server entry {key!r} is not instance id → object")
        short_id = _int_field(server, "shortId", None)
        if short_id is None:
            raise JsonShapeError(f"server entry {key} has no 'shortId'")
        by_short_id[short_id] = (int(key), server)
    accounts: list[ServerAccount] = []
    for key, entry in security.items():
        if not str(key).isdigit() or not isinstance(entry, dict):
            raise JsonShapeError(f"security entry {key!r} is not instance id → object")
        if entry.get("bootstrapServer"):
            continue  # the client keeps its own bootstrap account
        short_id = _int_field(entry, "serverId", None)
        if short_id is None or short_id not in by_short_id:
            raise JsonShapeError(f"security entry {key} has no 'serverId' of a server entry")
        server_key, server = by_short_id[short_id]
        uri = entry.get("uri")
        if not isinstance(uri, str):
            raise JsonShapeError(f"security entry {key} has no 'uri'")
        mode = str(entry.get("securityMode", "NO_SEC")).upper()
        identity = _bytes(entry.get("publicKeyOrId"), "publicKeyOrId")
        key_bytes = _bytes(entry.get("secretKey"), "secretKey")
        if mode not in ("PSK", "NO_SEC"):
            raise JsonShapeError(f"security mode {mode} is not supported (PSK or NO_SEC)")
        binding = server.get("binding", "U")
        if isinstance(binding, list):
            binding = "".join(str(letter) for letter in binding)
        try:
            accounts.append(
                ServerAccount(
                    uri=uri,
                    short_server_id=short_id,
                    psk_identity=identity.decode("utf-8", "replace") if mode == "PSK" else None,
                    psk_key=key_bytes if mode == "PSK" else None,
                    lifetime=_int_field(server, "lifetime", 86400) or 86400,
                    binding=str(binding),
                    default_min_period=_int_field(server, "defaultMinPeriod", None),
                    default_max_period=_int_field(server, "defaultMaxPeriod", None),
                    notification_storing=bool(server.get("notifIfDisabled", True)),
                    security_instance_id=int(key),
                    server_instance_id=server_key,
                )
            )
        except ValueError as exc:
            raise JsonShapeError(f"security entry {key}: {exc}") from None
    try:
        return BootstrapConfig(servers=tuple(accounts), delete=tuple(to_delete))
    except ValueError as exc:
        raise JsonShapeError(str(exc)) from None


def bootstrap_json(config: BootstrapConfig) -> dict[str, Any]:
    """A configuration as Leshan shows it, without secret keys (they are write-only)."""
    servers: dict[str, Any] = {}
    security: dict[str, Any] = {}
    for index, account in enumerate(config.servers):
        security_id = account.security_instance_id
        server_id = account.server_instance_id
        security[str(security_id if security_id is not None else index + 1)] = {
            "uri": account.uri,
            "bootstrapServer": False,
            "securityMode": account.security_mode.name,
            "publicKeyOrId": list((account.psk_identity or "").encode()),
            "serverId": account.short_server_id,
        }
        servers[str(server_id if server_id is not None else index)] = {
            "shortId": account.short_server_id,
            "lifetime": account.lifetime,
            "binding": list(account.binding),
            "defaultMinPeriod": account.default_min_period,
            "defaultMaxPeriod": account.default_max_period,
            "notifIfDisabled": account.notification_storing,
        }
    return {"servers": servers, "security": security, "toDelete": [str(p) for p in config.delete]}
