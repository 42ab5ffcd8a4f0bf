"""The two JSON formats: OMA LwM2M JSON (11543, TS 1.0 §6.4.4) and SenML JSON (110, RFC 8428 as
profiled by TS 1.1 §7.4.4).

Both are flat lists of records naming a path (base name + name) and carrying one typed value:

============  ===================  ===================
LwM2M type    LwM2M JSON key       SenML JSON key
============  ===================  ===================
Integer/Time  ``v`` (number)       ``v`` (number)
Float         ``v``                ``v``
Boolean       ``bv``               ``vb``
String        ``sv``               ``vs``
Opaque        ``sv`` (base64)      ``vd`` (base64url)
Objlnk        ``ov`` ("3:0")       ``vlo`` ("3:0")
============  ===================  ===================

We write the base name as the object path (``"/3/"``) for object content and as the instance
path (``"/3/0/"``) otherwise, with names relative to it, as in the TS examples. On input any
split between base name and name is accepted, and base names may change between SenML records.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Iterable
from typing import Any, Final

from .definitions import ResourceType
from .errors import BadRequest, CodecError, NotAcceptableFormatError
from .model import (
    Content,
    ObjectInstance,
    ObjLink,
    Value,
    build_content,
    content_path,
    flatten,
    type_of_value,
)
from .paths import LwM2MPath
from .values import check_value, decode_base64, encode_base64url

__all__ = ["decode_lwm2m_json", "decode_senml_json", "encode_lwm2m_json", "encode_senml_json"]

TypeResolver = Callable[[LwM2MPath], ResourceType | None]
MultipleResolver = Callable[[LwM2MPath], bool | None]

#: Which key carries which kind of value, per format.
_LWM2M_KEYS: Final = {"number": "v", "bool": "bv", "string": "sv", "opaque": "sv", "link": "ov"}
_SENML_KEYS: Final = {"number": "v", "bool": "vb", "string": "vs", "opaque": "vd", "link": "vlo"}


def _kind(rtype: ResourceType) -> str:
    if rtype in (
        ResourceType.INTEGER,
        ResourceType.UNSIGNED_INTEGER,
        ResourceType.TIME,
        ResourceType.FLOAT,
    ):
        return "number"
    if rtype is ResourceType.BOOLEAN:
        return "bool"
    if rtype is ResourceType.OPAQUE:
        return "opaque"
    if rtype is ResourceType.OBJLNK:
        return "link"
    return "string"


# -- encoding -------------------------------------------------------------------------------------


def _base_name(path: LwM2MPath) -> LwM2MPath:
    return LwM2MPath.from_ids(path.ids[: 1 if path.level == 1 else 2])


def _records(
    content: Content, base_path: LwM2MPath, types: TypeResolver, keys: dict[str, str]
) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(content, ObjectInstance) and content.id is None:
        raise NotAcceptableFormatError("JSON formats cannot carry an instance without its id")
    own_path = content_path(content, base_path)
    base = _base_name(own_path)
    prefix = len(base.ids)
    records: list[dict[str, Any]] = []
    for path, value in flatten(content, base_path):
        rtype = types(path) or type_of_value(value)
        try:
            value = check_value(value, rtype, str(path))
        except BadRequest as exc:
            raise CodecError(str(exc)) from None
        kind = _kind(rtype)
        encoded: Any
        if kind == "opaque":
            assert isinstance(value, bytes)
            encoded = encode_base64url(value) if keys is _SENML_KEYS else _b64(value)
        elif kind == "link":
            encoded = str(value)
        else:
            encoded = value
        records.append({"n": "/".join(path.segments[prefix:]), keys[kind]: encoded})
    return str(base) + "/", records


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _dump(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_lwm2m_json(content: Content, base_path: LwM2MPath, types: TypeResolver) -> bytes:
    """``{"bn":"/3/0/","e":[{"n":"0","sv":"..."},...]}``."""
    base_name, records = _records(content, base_path, types, _LWM2M_KEYS)
    return _dump({"bn": base_name, "e": records})


def encode_senml_json(content: Content, base_path: LwM2MPath, types: TypeResolver) -> bytes:
    """``[{"bn":"/3/0/","n":"0","vs":"..."},{"n":"1",...}]``."""
    base_name, records = _records(content, base_path, types, _SENML_KEYS)
    if records:
        records[0] = {"bn": base_name, **records[0]}
    return _dump(records)


# -- decoding -------------------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CodecError(f"JSON key {key!r} appears twice in one object")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise CodecError(f"JSON constant {name} is not a number LwM2M can carry")


def _load(payload: bytes) -> Any:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise CodecError("JSON payload is not valid UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise CodecError(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise CodecError("JSON nested too deeply") from None


def _full_path(base_name: str, name: str, where: str) -> LwM2MPath:
    text = base_name + name
    if len(text) > 1 and text.endswith("/"):
        text = text[:-1]
    try:
        return LwM2MPath.parse(text)
    except ValueError as exc:
        raise CodecError(f"{where}: name {text!r} is not an LwM2M path ({exc})") from None


def _typed_value(
    raw: Any, kind: str, rtype: ResourceType | None, where: str, *, senml: bool
) -> Value:
    if rtype is None:
        rtype = {
            "number": ResourceType.INTEGER
            if isinstance(raw, int) and not isinstance(raw, bool)
            else ResourceType.FLOAT,
            "bool": ResourceType.BOOLEAN,
            "string": ResourceType.STRING,
            "opaque": ResourceType.OPAQUE,
            "link": ResourceType.OBJLNK,
        }[kind]
    expected = _kind(rtype)
    # LwM2M JSON has one key (sv) for strings and opaque values: the definition decides.
    if not senml and kind == "string" and expected == "opaque":
        kind = "opaque"
    if kind != expected:
        raise CodecError(f"{where}: a {rtype.value} value cannot be given as {kind}")
    if kind == "number":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise CodecError(f"{where}: expected a number, got {raw!r}")
        if rtype is not ResourceType.FLOAT:
            if isinstance(raw, float):
                if not raw.is_integer():
                    raise CodecError(f"{where}: {raw!r} is not an integer")
                raw = int(raw)
        elif not math.isfinite(float(raw)):
            raise CodecError(f"{where}: {raw!r} is not finite")
        value: Any = raw
    elif kind == "bool":
        if not isinstance(raw, bool):
            raise CodecError(f"{where}: expected true or false, got {raw!r}")
        value = raw
    else:
        if not isinstance(raw, str):
            raise CodecError(f"{where}: expected a string, got {raw!r}")
        if kind == "opaque":
            value = decode_base64(raw, where, urlsafe=senml)
        elif kind == "link":
            try:
                value = ObjLink.parse(raw)
            except ValueError as exc:
                raise CodecError(f"{where}: {exc}") from None
        else:
            value = raw
    try:
        return check_value(value, rtype, where)
    except BadRequest as exc:
        raise CodecError(str(exc)) from None


def _value_from_record(
    record: dict[str, Any], keys: dict[str, str], path: LwM2MPath, types: TypeResolver, where: str
) -> Value:
    present = [(kind, key) for kind, key in keys.items() if key in record]
    # "string" and "opaque" share "sv" in LwM2M JSON: count keys, not kinds.
    distinct = {key for _, key in present}
    if len(distinct) != 1:
        names = sorted(set(keys.values()))
        raise CodecError(f"{where}: expected exactly one of {', '.join(names)}")
    kind, key = present[0]
    return _typed_value(record[key], kind, types(path), where, senml=keys is _SENML_KEYS)


def _build(
    entries: Iterable[tuple[LwM2MPath, Value]], base_path: LwM2MPath, multiple: MultipleResolver
) -> Content:
    try:
        return build_content(entries, base_path, multiple)
    except ValueError as exc:
        raise CodecError(str(exc)) from None


def decode_lwm2m_json(
    payload: bytes, base_path: LwM2MPath, types: TypeResolver, multiple: MultipleResolver
) -> Content:
    """Decode OMA LwM2M JSON received for ``base_path``."""
    document = _load(payload)
    if not isinstance(document, dict):
        raise CodecError("LwM2M JSON must be an object with an 'e' array")
    base_name = document.get("bn", "")
    if not isinstance(base_name, str):
        raise CodecError("'bn' must be a string")
    records = document.get("e")
    if not isinstance(records, list):
        raise CodecError("LwM2M JSON must have an 'e' array")
    entries: list[tuple[LwM2MPath, Value]] = []
    for index, record in enumerate(records):
        where = f"e[{index}]"
        if not isinstance(record, dict):
            raise CodecError(f"{where}: must be an object")
        name = record.get("n", "")
        if not isinstance(name, str):
            raise CodecError(f"{where}: 'n' must be a string")
        path = _full_path(base_name, name, where)
        entries.append((path, _value_from_record(record, _LWM2M_KEYS, path, types, where)))
    return _build(entries, base_path, multiple)


def decode_senml_json(
    payload: bytes, base_path: LwM2MPath, types: TypeResolver, multiple: MultipleResolver
) -> Content:
    """Decode SenML JSON received for ``base_path``."""
    document = _load(payload)
    if not isinstance(document, list):
        raise CodecError("SenML JSON must be an array of records")
    base_name = ""
    entries: list[tuple[LwM2MPath, Value]] = []
    for index, record in enumerate(document):
        where = f"record {index}"
        if not isinstance(record, dict):
            raise CodecError(f"{where}: must be an object")
        for key in record:
            # RFC 8428 §4.4: labels ending in "_" must be understood; we understand none.
            if key.endswith("_"):
                raise CodecError(f"{where}: unsupported must-understand label {key!r}")
        if "bn" in record:
            if not isinstance(record["bn"], str):
                raise CodecError(f"{where}: 'bn' must be a string")
            base_name = record["bn"]
        name = record.get("n", "")
        if not isinstance(name, str):
            raise CodecError(f"{where}: 'n' must be a string")
        path = _full_path(base_name, name, where)
        entries.append((path, _value_from_record(record, _SENML_KEYS, path, types, where)))
    return _build(entries, base_path, multiple)
