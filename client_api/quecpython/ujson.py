"""MicroPython's ``ujson`` (QuecPython's JSON module) on CPython's ``json``.

The device has ``dump(obj, stream)``, ``dumps(obj)``, ``load(stream)``, ``loads(str)``;
the output format is the same as CPython's defaults (``{"a": 1}``, ASCII-escaped).
``loads`` takes ``bytes`` too; malformed JSON raises ``ValueError`` as on the device.
"""

from __future__ import annotations

import json
from typing import IO, Any


def dumps(obj: Any) -> str:
    return json.dumps(obj)


def dump(obj: Any, stream: IO[str]) -> None:
    stream.write(json.dumps(obj))


def loads(text: str | bytes | bytearray) -> Any:
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")
    return json.loads(text)


def load(stream: IO[str] | IO[bytes]) -> Any:
    return loads(stream.read())
