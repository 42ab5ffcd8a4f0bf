"""OMA TLV (11542), byte-exact against hand-assembled vectors (TS 1.0 §6.4.3)."""

from __future__ import annotations

import contextlib

import pytest

from emulator.lwm2m import (
    CodecError,
    ContentFormat,
    LwM2MObject,
    LwM2MPath,
    MultiResource,
    ObjectInstance,
    ObjLink,
    ResourceInstance,
    SingleResource,
    decode,
    default_registry,
    encode,
)
from emulator.lwm2m.registry import parse_object_definition

REGISTRY = default_registry()
TLV = ContentFormat.TLV


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", "").replace("\n", ""))


def text(s: str) -> str:
    return s.encode().hex()


# The single Device instance of the TS 1.0 worked example (values from the TS), read on /3/0.
DEVICE = ObjectInstance(
    0,
    {
        0: SingleResource(0, "Open Mobile Alliance"),
        1: SingleResource(1, "Lightweight M2M Client"),
        2: SingleResource(2, "345000123"),
        3: SingleResource(3, "1.0"),
        6: MultiResource(6, {0: 1, 1: 5}),
        7: MultiResource(7, {0: 3800, 1: 5000}),
        8: MultiResource(8, {0: 125, 1: 900}),
        9: SingleResource(9, 100),
        10: SingleResource(10, 15),
        11: MultiResource(11, {0: 0}),
        13: SingleResource(13, 1367491215),
        14: SingleResource(14, "+02:00"),
        16: SingleResource(16, "U"),
    },
)
# Assembled by hand from the header rules: C8 = resource value, 8-bit id, 8-bit length;
# C3 = resource value, length 3 in the type byte; 86/87 = multiple resource, length 6/7 in the
# type byte; 88 = multiple resource with an 8-bit length; 41/42 = resource instance of 1/2 bytes.
DEVICE_TLV = h(
    "C8 00 14"
    + text("Open Mobile Alliance")
    + "C8 01 16"
    + text("Lightweight M2M Client")
    + "C8 02 09"
    + text("345000123")
    + "C3 03"
    + text("1.0")
    + "86 06 4100 01 4101 05"
    + "88 07 08 4200 0ED8 4201 1388"
    + "87 08 4100 7D 4201 0384"
    + "C1 09 64"
    + "C1 0A 0F"
    + "83 0B 4100 00"
    + "C4 0D 5182428F"
    + "C6 0E"
    + text("+02:00")
    + "C1 10"
    + text("U")
)


def test_device_instance_is_byte_exact() -> None:
    assert encode(DEVICE, TLV, LwM2MPath(3, 0), REGISTRY) == DEVICE_TLV
    assert decode(DEVICE_TLV, TLV, LwM2MPath(3, 0), REGISTRY) == DEVICE


def test_device_object_wraps_the_instance() -> None:
    content = LwM2MObject(3, {0: DEVICE})
    # 08 = object instance, 8-bit id, 8-bit length (the body is 0x79 bytes long).
    assert len(DEVICE_TLV) == 0x79
    expected = h("08 00 79") + DEVICE_TLV
    assert encode(content, TLV, LwM2MPath(3), REGISTRY) == expected
    assert decode(expected, TLV, LwM2MPath(3), REGISTRY) == content
    # legacy number 1542 decodes the same
    assert decode(expected, 1542, LwM2MPath(3), REGISTRY) == content


def test_instance_read_wrapped_in_its_instance_entry_is_accepted() -> None:
    assert decode(h("08 00 79") + DEVICE_TLV, TLV, LwM2MPath(3, 0), REGISTRY) == DEVICE
    with pytest.raises(CodecError, match="instance 1"):
        decode(h("08 01 79") + DEVICE_TLV, TLV, LwM2MPath(3, 0), REGISTRY)


@pytest.mark.parametrize(
    ("value", "tlv"),
    [
        (0, "C1 09 00"),
        (127, "C1 09 7F"),
        (128, "C2 09 0080"),
        (-128, "C1 09 80"),
        (-129, "C2 09 FF7F"),
        (32767, "C2 09 7FFF"),
        (32768, "C4 09 00008000"),
        (2**31, "C8 09 08 0000000080000000"),
        (-(2**63), "C8 09 08 8000000000000000"),
    ],
)
def test_integers_use_the_shortest_signed_width(value: int, tlv: str) -> None:
    path = LwM2MPath(3, 0, 9)
    assert encode(SingleResource(9, value), TLV, path, REGISTRY) == h(tlv)
    assert decode(h(tlv), TLV, path, REGISTRY) == SingleResource(9, value)


def test_identifier_and_length_field_widths() -> None:
    # A 16-bit resource id sets bit 5; 300 bytes need a 16-bit length (bits 4-3 = 10).
    registry = default_registry()
    registry.add(
        parse_object_definition(
            {
                "id": 3341,
                "name": "Text",
                "resources": [{"id": 5527, "name": "Text", "type": "string", "operations": "RW"}],
            }
        )
    )
    path = LwM2MPath(3341, 0, 5527)
    long_text = "x" * 300
    encoded = encode(SingleResource(5527, long_text), TLV, path, registry)
    assert encoded[:5] == h("F0 1597 012C")
    assert decode(encoded, TLV, path, registry) == SingleResource(5527, long_text)
    huge = "y" * 70000  # 24-bit length (bits 4-3 = 11)
    encoded = encode(SingleResource(5527, huge), TLV, path, registry)
    assert encoded[:6] == h("F8 1597 011170")
    assert decode(encoded, TLV, path, registry) == SingleResource(5527, huge)


def test_floats_booleans_objlinks_opaque_time() -> None:
    registry = default_registry()
    registry.add(
        parse_object_definition(
            {
                "id": 9000,
                "name": "Types",
                "resources": [
                    {"id": 0, "name": "f", "type": "float", "operations": "RW"},
                    {"id": 1, "name": "b", "type": "boolean", "operations": "RW"},
                    {"id": 2, "name": "l", "type": "objlnk", "operations": "RW"},
                    {"id": 3, "name": "o", "type": "opaque", "operations": "RW"},
                ],
            }
        )
    )
    content = ObjectInstance(
        0,
        {
            0: SingleResource(0, 1.5),
            1: SingleResource(1, True),
            2: SingleResource(2, ObjLink(3, 0)),
            3: SingleResource(3, b"\x00\xff"),
        },
    )
    expected = h("C4 00 3FC00000  C1 01 01  C4 02 0003 0000  C2 03 00FF")
    assert encode(content, TLV, LwM2MPath(9000, 0), registry) == expected
    assert decode(expected, TLV, LwM2MPath(9000, 0), registry) == content
    # a value that float32 cannot hold exactly takes 8 bytes
    encoded = encode(SingleResource(0, 0.1), TLV, LwM2MPath(9000, 0, 0), registry)
    assert encoded == h("C8 00 08 3FB999999999999A")
    assert decode(encoded, TLV, LwM2MPath(9000, 0, 0), registry) == SingleResource(0, 0.1)


def test_resource_instance_and_multiple_resource_paths() -> None:
    path = LwM2MPath(3, 0, 7)
    assert encode(MultiResource(7, {0: 3800}), TLV, path, REGISTRY) == h("84 07 4200 0ED8")
    single = LwM2MPath(3, 0, 7, 1)
    assert encode(ResourceInstance(1, 5000), TLV, single, REGISTRY) == h("42 01 1388")
    assert decode(h("42 01 1388"), TLV, single, REGISTRY) == ResourceInstance(1, 5000)
    # bare resource instances for a multiple resource are accepted too
    assert decode(h("42 00 0ED8"), TLV, path, REGISTRY) == MultiResource(7, {0: 3800})


def test_create_payload_without_instance_id() -> None:
    content = ObjectInstance(None, {0: SingleResource(0, "internet"), 4: SingleResource(4, 3)})
    payload = h("C8 00 08" + text("internet") + "C1 04 03")
    assert encode(content, TLV, LwM2MPath(11), REGISTRY) == payload
    assert decode(payload, TLV, LwM2MPath(11), REGISTRY) == content
    with_id = ObjectInstance(2, dict(content.resources))
    assert encode(with_id, TLV, LwM2MPath(11), REGISTRY) == h("08 02 0E") + payload
    assert decode(h("08 02 0E") + payload, TLV, LwM2MPath(11), REGISTRY) == LwM2MObject(
        11, {2: with_id}
    )


def test_unknown_resources_decode_as_bytes() -> None:
    assert decode(h("C2 63 0102"), TLV, LwM2MPath(3, 0), REGISTRY) == ObjectInstance(
        0, {99: SingleResource(99, b"\x01\x02")}
    )


@pytest.mark.parametrize(
    ("payload", "path", "reason"),
    [
        ("C8", "/3/0", "truncated"),
        ("C8 00", "/3/0", "truncated"),
        ("C8 00 05 41", "/3/0", "declares 5 bytes"),
        ("E0 00", "/3/0", "truncated"),
        ("C3 09 000000", "/3/0", "1, 2, 4 or 8 bytes"),
        ("C1 09", "/3/0", "declares 1 bytes"),
        ("C0 09", "/3/0", "not 0"),
        ("C2 0D 0102 C1 0D 01", "/3/0", "appears twice"),
        ("83 06 C1 00 01", "/3/0", "only resource instances"),
        ("86 06 4100 01 4100 02", "/3/0", "appears twice"),
        ("C1 10 FF", "/3/0", "UTF-8"),
        ("C1 09 05 C1 0A 05", "/3/0/9", "one resource entry"),
        ("C1 0A 05", "/3/0/9", "resource 10"),
        ("08 00 03 C1 09 05 C1 0A 05", "/3", "mixed"),
        ("C1 09 05", "/3/0/7/0", "one resource instance"),
    ],
)
def test_malformed_tlv_is_a_codec_error(payload: str, path: str, reason: str) -> None:
    with pytest.raises(CodecError, match=reason) as caught:
        decode(h(payload), TLV, LwM2MPath.parse(path), REGISTRY)
    assert caught.value.code_text == "4.00"


def test_wrong_value_type_on_encode() -> None:
    with pytest.raises(CodecError, match="expected an integer"):
        encode(SingleResource(9, "full"), TLV, LwM2MPath(3, 0, 9), REGISTRY)


def test_truncation_at_every_byte_never_crashes() -> None:
    # Every prefix either decodes to something or raises CodecError: no other exception.
    for end in range(len(DEVICE_TLV)):
        with contextlib.suppress(CodecError):
            decode(DEVICE_TLV[:end], TLV, LwM2MPath(3, 0), REGISTRY)
