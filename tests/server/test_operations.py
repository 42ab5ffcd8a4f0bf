"""Server → client requests as data (sans-I/O): methods, paths, options and payload bytes."""

from __future__ import annotations

import pytest

from emulator.lwm2m.formats import ContentFormat
from emulator.lwm2m.model import (
    MultiResource,
    ObjectInstance,
    ResourceInstance,
    SingleResource,
)
from emulator.lwm2m.paths import LwM2MPath
from emulator.lwm2m.registry import default_registry
from emulator.server import operations
from emulator.server.operations import CHANGED, CONTENT, CREATED, DELETED, Method

REGISTRY = default_registry()


def test_read_observe_cancel_discover() -> None:
    read = operations.read(LwM2MPath(3, 0), ContentFormat.TLV)
    assert (read.method, read.path, read.accept, read.observe) == (
        Method.GET,
        ("3", "0"),
        11542,
        None,
    )
    assert read.success == {CONTENT}
    observe = operations.observe(LwM2MPath(3, 0, 13), ContentFormat.TEXT)
    assert (observe.observe, observe.accept) == (0, 0)
    cancel = operations.cancel_observe(LwM2MPath(3, 0, 13), ContentFormat.TEXT)
    assert cancel.observe == 1
    discover = operations.discover(LwM2MPath(3))
    assert discover.accept == ContentFormat.LINK_FORMAT
    with pytest.raises(ValueError, match="not /"):
        operations.read(LwM2MPath(), ContentFormat.TLV)


def test_write_encodes_with_the_shared_codecs() -> None:
    text = operations.write(LwM2MPath(1, 0, 1), 300, ContentFormat.TEXT, REGISTRY)
    assert (text.method, text.payload, text.content_format) == (Method.PUT, b"300", 0)
    assert text.success == {CHANGED}
    tlv = operations.write(LwM2MPath(1, 0, 1), 300, ContentFormat.TLV, REGISTRY)
    assert tlv.payload == bytes([0xC2, 0x01, 0x01, 0x2C])  # TLV resource 1, 2-byte int 300
    partial = operations.write(
        LwM2MPath(3, 0), {14: "+02"}, ContentFormat.SENML_JSON, REGISTRY, replace=False
    )
    assert partial.method == Method.POST
    assert partial.payload == b'[{"bn":"/3/0/","n":"14","vs":"+02"}]'
    with pytest.raises(ValueError, match="partial update"):
        operations.write(LwM2MPath(3, 0, 14), "+02", ContentFormat.TLV, REGISTRY, replace=False)
    with pytest.raises(ValueError, match="object instance or resource"):
        operations.write(LwM2MPath(3), {}, ContentFormat.TLV, REGISTRY)


def test_as_content_builds_trees_from_plain_values() -> None:
    assert operations.as_content("x", LwM2MPath(3, 0, 14), REGISTRY) == SingleResource(14, "x")
    assert operations.as_content({0: 5, 1: 7}, LwM2MPath(3, 0, 6), REGISTRY) == MultiResource(
        6, {0: 5, 1: 7}
    )
    assert operations.as_content(1, LwM2MPath(3, 0, 6, 2), REGISTRY) == ResourceInstance(2, 1)
    instance = operations.as_content({14: "+01", 6: {0: 1}}, LwM2MPath(3, 0), REGISTRY)
    assert instance == ObjectInstance(
        0, {6: MultiResource(6, {0: 1}), 14: SingleResource(14, "+01")}
    )
    with pytest.raises(ValueError, match="mapping"):
        operations.as_content("x", LwM2MPath(3, 0), REGISTRY)
    with pytest.raises(ValueError, match="not an LwM2M value"):
        operations.as_content([1], LwM2MPath(3, 0, 14), REGISTRY)  # type: ignore[arg-type]


def test_execute_attributes_create_delete() -> None:
    execute = operations.execute(LwM2MPath(3, 0, 4), "0='x'")
    assert (execute.method, execute.payload, execute.content_format) == (Method.POST, b"0='x'", 0)
    assert operations.execute(LwM2MPath(3, 0, 4)).content_format is None
    with pytest.raises(ValueError):
        operations.execute(LwM2MPath(3, 0))

    attributes = operations.write_attributes(
        LwM2MPath(3, 0, 9), {"pmin": 10, "gt": 50.5, "st": None}
    )
    assert (attributes.method, attributes.query, attributes.payload) == (
        Method.PUT,
        ("pmin=10", "gt=50.5", "st"),
        b"",
    )
    with pytest.raises(ValueError, match="unknown"):
        operations.write_attributes(LwM2MPath(3, 0, 9), {"epmin": 1})
    with pytest.raises(ValueError, match="at least one"):
        operations.write_attributes(LwM2MPath(3, 0, 9), {})

    created = operations.create(LwM2MPath(11), {0: "p", 4: 0}, ContentFormat.TLV, REGISTRY)
    assert (created.method, created.path, created.success) == (
        Method.POST,
        ("11",),
        frozenset({CREATED}),
    )
    # Without an instance id, TLV carries the bare resources (TS 1.0 §5.4.5).
    assert created.payload == bytes([0xC1, 0x00, ord("p"), 0xC1, 0x04, 0x00])
    with_id = operations.create(LwM2MPath(11, 3), {0: "p", 4: 0}, ContentFormat.TLV, REGISTRY)
    # An object-instance TLV header (type bits 00) for instance 3 around the same resources.
    assert with_id.path == ("11",)
    assert with_id.payload == bytes([0x06, 0x03]) + created.payload
    with pytest.raises(ValueError, match="needs TLV"):
        operations.create(LwM2MPath(11), {0: "p"}, ContentFormat.SENML_JSON, REGISTRY)

    delete = operations.delete(LwM2MPath(11, 3))
    assert (delete.method, delete.success) == (Method.DELETE, frozenset({DELETED}))
    with pytest.raises(ValueError):
        operations.delete(LwM2MPath(11))


def test_decode_answer_without_content_format_is_text() -> None:
    value = operations.decode_answer(b"42", None, LwM2MPath(3, 0, 9), ContentFormat.TLV, REGISTRY)
    assert value == SingleResource(9, 42)
    instance = operations.decode_answer(
        bytes([0xC1, 0x09, 0x2A]), None, LwM2MPath(3, 0), ContentFormat.TLV, REGISTRY
    )
    assert instance == ObjectInstance(0, {9: SingleResource(9, 42)})
