"""Text, opaque, CBOR, LwM2M JSON and SenML JSON: exact bytes, round trips, bad input."""

from __future__ import annotations

import json

import pytest

from emulator.lwm2m import (
    CodecError,
    Content,
    ContentFormat,
    LwM2MObject,
    LwM2MPath,
    MultiResource,
    NotAcceptableFormatError,
    ObjectInstance,
    ObjLink,
    ResourceInstance,
    SingleResource,
    UnsupportedFormatError,
    decode,
    default_format,
    default_registry,
    encode,
    supports,
)
from emulator.lwm2m.registry import parse_object_definition

REGISTRY = default_registry()
REGISTRY.add(
    parse_object_definition(
        {
            "id": 9000,
            "name": "Every type",
            "resources": [
                {"id": 0, "name": "s", "type": "string", "operations": "RW"},
                {"id": 1, "name": "i", "type": "integer", "operations": "RW"},
                {"id": 2, "name": "f", "type": "float", "operations": "RW"},
                {"id": 3, "name": "b", "type": "boolean", "operations": "RW"},
                {"id": 4, "name": "o", "type": "opaque", "operations": "RW"},
                {"id": 5, "name": "t", "type": "time", "operations": "RW"},
                {"id": 6, "name": "l", "type": "objlnk", "operations": "RW"},
                {"id": 7, "name": "m", "type": "integer", "operations": "RW", "multiple": True},
            ],
        }
    )
)
EVERY_TYPE = ObjectInstance(
    1,
    {
        0: SingleResource(0, "héllo"),
        1: SingleResource(1, -42),
        2: SingleResource(2, 2.5),
        3: SingleResource(3, False),
        4: SingleResource(4, b"\xfb\xff\x00"),
        5: SingleResource(5, 1700000000),
        6: SingleResource(6, ObjLink(3, 0)),
        7: MultiResource(7, {0: 1, 5: 2}),
    },
)
J = ContentFormat.LWM2M_JSON
S = ContentFormat.SENML_JSON
STRUCTURED = (ContentFormat.TLV, ContentFormat.LWM2M_JSON, ContentFormat.SENML_JSON)

CASES: list[tuple[str, Content]] = [
    ("/9000", LwM2MObject(9000, {1: EVERY_TYPE, 2: ObjectInstance(2, {1: SingleResource(1, 7)})})),
    ("/9000/1", EVERY_TYPE),
    ("/9000/1/4", SingleResource(4, b"\x00\x01")),
    ("/9000/1/7", MultiResource(7, {0: 1, 5: 2})),
    ("/9000/1/7/5", ResourceInstance(5, 2)),
    ("/3/0/13", SingleResource(13, 1367491215)),
]


@pytest.mark.parametrize("fmt", STRUCTURED)
@pytest.mark.parametrize(("path", "content"), CASES)
def test_structured_formats_round_trip(fmt: ContentFormat, path: str, content: Content) -> None:
    base = LwM2MPath.parse(path)
    payload = encode(content, fmt, base, REGISTRY)
    assert decode(payload, fmt, base, REGISTRY) == content


def test_lwm2m_json_is_exact() -> None:
    payload = encode(EVERY_TYPE, ContentFormat.LWM2M_JSON, LwM2MPath(9000, 1), REGISTRY)
    assert json.loads(payload) == {
        "bn": "/9000/1/",
        "e": [
            {"n": "0", "sv": "héllo"},
            {"n": "1", "v": -42},
            {"n": "2", "v": 2.5},
            {"n": "3", "bv": False},
            {"n": "4", "sv": "+/8A"},
            {"n": "5", "v": 1700000000},
            {"n": "6", "ov": "3:0"},
            {"n": "7/0", "v": 1},
            {"n": "7/5", "v": 2},
        ],
    }
    assert payload.startswith(b'{"bn":"/9000/1/","e":[{"n":"0","sv":"h\xc3\xa9llo"}')


def test_senml_json_is_exact() -> None:
    payload = encode(EVERY_TYPE, ContentFormat.SENML_JSON, LwM2MPath(9000, 1), REGISTRY)
    assert json.loads(payload) == [
        {"bn": "/9000/1/", "n": "0", "vs": "héllo"},
        {"n": "1", "v": -42},
        {"n": "2", "v": 2.5},
        {"n": "3", "vb": False},
        {"n": "4", "vd": "-_8A"},
        {"n": "5", "v": 1700000000},
        {"n": "6", "vlo": "3:0"},
        {"n": "7/0", "v": 1},
        {"n": "7/5", "v": 2},
    ]
    single = encode(SingleResource(9, 95), ContentFormat.SENML_JSON, LwM2MPath(3, 0, 9), REGISTRY)
    assert single == b'[{"bn":"/3/0/","n":"9","v":95}]'


def test_json_decoders_accept_other_base_name_splits() -> None:
    registry = REGISTRY
    path = LwM2MPath(3, 0, 9)
    expected = SingleResource(9, 95)
    for payload in (
        b'{"bn":"/3/0/9","e":[{"v":95}]}',
        b'{"bn":"/3/0/9/","e":[{"n":"","v":95}]}',
        b'{"e":[{"n":"/3/0/9","v":95}]}',
        b'{"bn":"/","e":[{"n":"3/0/9","v":95.0}]}',
    ):
        assert decode(payload, ContentFormat.LWM2M_JSON, path, registry) == expected
    senml = b'[{"bn":"/3/0/","n":"0","vs":"A"},{"bn":"/3/1/","n":"0","vs":"B"}]'
    assert decode(senml, ContentFormat.SENML_JSON, LwM2MPath(3), registry) == LwM2MObject(
        3,
        {
            0: ObjectInstance(0, {0: SingleResource(0, "A")}),
            1: ObjectInstance(1, {0: SingleResource(0, "B")}),
        },
    )
    # padded base64url and the legacy JSON number 1543 are fine too
    assert decode(
        b'[{"bn":"/9000/1/4","vd":"AAE="}]',
        ContentFormat.SENML_JSON,
        LwM2MPath(9000, 1, 4),
        registry,
    ) == SingleResource(4, b"\x00\x01")
    assert decode(b'{"bn":"/3/0/9","e":[{"v":95}]}', 1543, path, registry) == expected


@pytest.mark.parametrize(
    ("fmt", "payload", "path", "reason"),
    [
        (J, b"{", "/3/0", "malformed JSON"),
        (J, b"[]", "/3/0", "must be an object"),
        (J, b'{"bn":"/3/0/"}', "/3/0", "'e' array"),
        (J, b'{"bn":1,"e":[]}', "/3/0", "'bn' must be a string"),
        (J, b'{"bn":"/3/0/","e":[{"n":"9","sv":"x"}]}', "/3/0", "integer"),
        (
            ContentFormat.LWM2M_JSON,
            b'{"bn":"/3/0/","e":[{"n":"9","v":1.5}]}',
            "/3/0",
            "not an integer",
        ),
        (
            ContentFormat.LWM2M_JSON,
            b'{"bn":"/3/0/","e":[{"n":"9","v":true}]}',
            "/3/0",
            "expected a number",
        ),
        (J, b'{"bn":"/3/0/","e":[{"n":"9"}]}', "/3/0", "exactly one of"),
        (
            ContentFormat.LWM2M_JSON,
            b'{"bn":"/3/0/","e":[{"n":"9","v":1,"sv":"1"}]}',
            "/3/0",
            "exactly one",
        ),
        (
            ContentFormat.LWM2M_JSON,
            b'{"bn":"/3/0/","e":[{"n":"x","v":1}]}',
            "/3/0",
            "not an LwM2M path",
        ),
        (J, b'{"bn":"/4/0/","e":[{"n":"2","v":1}]}', "/3/0", "not under"),
        (
            ContentFormat.LWM2M_JSON,
            b'{"bn":"/3/0/","e":[{"n":"9","v":1},{"n":"9","v":2}]}',
            "/3/0",
            "twice",
        ),
        (J, b'{"bn":"/3/0/","bn":"/3/0/","e":[]}', "/3/0", "appears twice"),
        (J, b'{"bn":"/3/0/","e":[{"n":"9","v":NaN}]}', "/3/0", "NaN"),
        (
            ContentFormat.LWM2M_JSON,
            b'{"bn":"/3/0/","e":[{"n":"7","v":1}]}',
            "/3/0",
            "multiple resource",
        ),
        (
            ContentFormat.LWM2M_JSON,
            b'{"bn":"/3/0/","e":[{"n":"9/0","v":1}]}',
            "/3/0",
            "single resource",
        ),
        (
            ContentFormat.LWM2M_JSON,
            b'{"bn":"/3/0/","e":[{"n":"13","v":99999999999999999999}]}',
            "/3/0",
            "64-bit",
        ),
        (
            ContentFormat.LWM2M_JSON,
            b'{"bn":"/9000/1/","e":[{"n":"2","v":1e400}]}',
            "/9000/1",
            "not finite",
        ),
        (J, b"\xff", "/3/0", "UTF-8"),
        (J, b'{"e":[]}', "/3/0/9", "no value"),
        (S, b"{}", "/3/0", "array of records"),
        (
            ContentFormat.SENML_JSON,
            b'[{"bn":"/3/0/","n":"9","v":"1"}]',
            "/3/0",
            "expected a number",
        ),
        (
            ContentFormat.SENML_JSON,
            b'[{"bn":"/3/0/","n":"9","vs":"1"}]',
            "/3/0",
            "cannot be given as string",
        ),
        (S, b'[{"bn":"/9000/1/","n":"4","vd":"!!"}]', "/9000/1", "base64"),
        (
            ContentFormat.SENML_JSON,
            b'[{"bn":"/9000/1/","n":"6","vlo":"3"}]',
            "/9000/1",
            "object link",
        ),
        (
            ContentFormat.SENML_JSON,
            b'[{"bn":"/3/0/","n":"9","v":1,"bad_":1}]',
            "/3/0",
            "must-understand",
        ),
        (S, b"[1]", "/3/0", "must be an object"),
        (S, b"[" * 100000, "/3/0", "JSON"),
    ],
)
def test_bad_json_is_a_codec_error(
    fmt: ContentFormat, payload: bytes, path: str, reason: str
) -> None:
    with pytest.raises(CodecError, match=reason):
        decode(payload, fmt, LwM2MPath.parse(path), REGISTRY)


@pytest.mark.parametrize(
    ("path", "value", "text"),
    [
        ("/9000/1/0", "héllo", "héllo"),
        ("/9000/1/1", -42, "-42"),
        ("/9000/1/2", 2.5, "2.5"),
        ("/9000/1/3", True, "1"),
        ("/9000/1/4", b"\xfb\xff\x00", "+/8A"),
        ("/9000/1/5", 1700000000, "1700000000"),
        ("/9000/1/6", ObjLink(3, 0), "3:0"),
        ("/9000/1/7/5", 2, "2"),
    ],
)
def test_plain_text(path: str, value: object, text: str) -> None:
    base = LwM2MPath.parse(path)
    content: Content = (
        ResourceInstance(5, value)  # type: ignore[arg-type]
        if base.level == 4
        else SingleResource(base.resource_id or 0, value)  # type: ignore[arg-type]
    )
    assert encode(content, ContentFormat.TEXT, base, REGISTRY) == text.encode()
    assert decode(text.encode(), ContentFormat.TEXT, base, REGISTRY) == content
    # lwm2m-node-lib writes with the pre-registration number 1541
    assert decode(text.encode(), 1541, base, REGISTRY) == content


@pytest.mark.parametrize(
    ("path", "text", "reason"),
    [
        ("/9000/1/1", "12a", "not an integer"),
        ("/9000/1/1", "", "not an integer"),
        ("/9000/1/1", "99999999999999999999", "64-bit"),
        ("/9000/1/2", "1.5.2", "not a decimal"),
        ("/9000/1/2", "nan", "not a decimal"),
        ("/9000/1/3", "true", "'0' or '1'"),
        ("/9000/1/4", "@@", "base64"),
        ("/9000/1/6", "3-0", "object link"),
    ],
)
def test_bad_text(path: str, text: str, reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        decode(text.encode(), ContentFormat.TEXT, LwM2MPath.parse(path), REGISTRY)


def test_text_and_opaque_only_carry_single_values() -> None:
    with pytest.raises(NotAcceptableFormatError) as caught:
        encode(EVERY_TYPE, ContentFormat.TEXT, LwM2MPath(9000, 1), REGISTRY)
    assert caught.value.code_text == "4.06"
    with pytest.raises(UnsupportedFormatError) as unsupported:
        decode(b"1", ContentFormat.TEXT, LwM2MPath(9000, 1), REGISTRY)
    assert unsupported.value.code_text == "4.15"
    with pytest.raises(UnsupportedFormatError, match="multiple resource"):
        decode(b"1", ContentFormat.TEXT, LwM2MPath(9000, 1, 7), REGISTRY)
    with pytest.raises(UnsupportedFormatError, match="not an opaque"):
        decode(b"1", ContentFormat.OPAQUE, LwM2MPath(9000, 1, 1), REGISTRY)
    with pytest.raises(NotAcceptableFormatError, match="not an opaque"):
        encode(SingleResource(1, 1), ContentFormat.OPAQUE, LwM2MPath(9000, 1, 1), REGISTRY)
    with pytest.raises(UnsupportedFormatError, match="12345"):
        decode(b"1", 12345, LwM2MPath(9000, 1, 1), REGISTRY)
    with pytest.raises(UnsupportedFormatError, match="40"):
        decode(b"</1>", ContentFormat.LINK_FORMAT, LwM2MPath(9000, 1, 1), REGISTRY)
    with pytest.raises(UnsupportedFormatError, match="executable"):
        decode(b"", ContentFormat.TEXT, LwM2MPath(3, 0, 4), REGISTRY)


def test_opaque() -> None:
    path = LwM2MPath(5, 0, 0)
    image = bytes(range(256)) * 4
    assert encode(SingleResource(0, image), ContentFormat.OPAQUE, path, REGISTRY) == image
    assert decode(image, ContentFormat.OPAQUE, path, REGISTRY) == SingleResource(0, image)


@pytest.mark.parametrize(
    ("path", "value", "cbor"),
    [
        ("/9000/1/1", 10, "0a"),
        ("/9000/1/1", 500, "1901f4"),
        ("/9000/1/1", -42, "3829"),
        ("/9000/1/2", 2.5, "fa40200000"),
        ("/9000/1/2", 0.1, "fb3fb999999999999a"),
        ("/9000/1/3", True, "f5"),
        ("/9000/1/0", "hi", "626869"),
        ("/9000/1/4", b"\x01", "4101"),
        ("/9000/1/6", ObjLink(3, 0), "63333a30"),
    ],
)
def test_cbor_single_values(path: str, value: object, cbor: str) -> None:
    base = LwM2MPath.parse(path)
    content = SingleResource(base.resource_id or 0, value)  # type: ignore[arg-type]
    assert encode(content, ContentFormat.CBOR, base, REGISTRY).hex() == cbor
    assert decode(bytes.fromhex(cbor), ContentFormat.CBOR, base, REGISTRY) == content


@pytest.mark.parametrize(
    ("cbor", "path", "reason"),
    [
        ("", "/9000/1/1", "truncated"),
        ("19 01", "/9000/1/1", "truncated"),
        ("0a 0a", "/9000/1/1", "trailing"),
        ("9f", "/9000/1/1", "indefinite"),
        ("80", "/9000/1/1", "major type 4"),
        ("c2 41 01", "/9000/1/1", "tag 2"),
        ("62 68", "/9000/1/0", "truncated"),
        ("f5", "/9000/1/1", "expected an integer"),
        ("f9 7c00", "/9000/1/2", "finite"),
    ],
)
def test_bad_cbor(cbor: str, path: str, reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        decode(
            bytes.fromhex(cbor.replace(" ", "")),
            ContentFormat.CBOR,
            LwM2MPath.parse(path),
            REGISTRY,
        )


def test_cbor_time_tag_and_half_floats() -> None:
    # tag 1 (epoch time) on a Time resource; a half float on a float resource
    assert decode(
        bytes.fromhex("c11a6553f100"), ContentFormat.CBOR, LwM2MPath(9000, 1, 5), REGISTRY
    ) == SingleResource(5, 1700000000)
    assert decode(
        bytes.fromhex("f93e00"), ContentFormat.CBOR, LwM2MPath(9000, 1, 2), REGISTRY
    ) == SingleResource(2, 1.5)


def test_format_helpers() -> None:
    assert default_format(LwM2MPath(3, 0, 13), REGISTRY) is ContentFormat.TEXT
    assert default_format(LwM2MPath(5, 0, 0), REGISTRY) is ContentFormat.OPAQUE
    assert default_format(LwM2MPath(3, 0, 7), REGISTRY) is ContentFormat.TLV
    assert default_format(LwM2MPath(3, 0, 7, 0), REGISTRY) is ContentFormat.TEXT
    assert default_format(LwM2MPath(3, 0), REGISTRY) is ContentFormat.TLV
    assert supports(ContentFormat.TLV, LwM2MPath(3), REGISTRY)
    assert not supports(ContentFormat.TEXT, LwM2MPath(3, 0), REGISTRY)
    assert not supports(ContentFormat.TEXT, LwM2MPath(3, 0, 7), REGISTRY)
    assert supports(1541, LwM2MPath(3, 0, 13), REGISTRY)
    assert not supports(ContentFormat.OPAQUE, LwM2MPath(3, 0, 13), REGISTRY)
    assert not supports(99, LwM2MPath(3, 0, 13), REGISTRY)


def test_content_must_belong_at_the_path() -> None:
    with pytest.raises(CodecError, match="does not belong"):
        encode(SingleResource(1, 1), ContentFormat.TLV, LwM2MPath(3, 0, 9), REGISTRY)
    with pytest.raises(NotAcceptableFormatError, match="without its id"):
        encode(ObjectInstance(None, {}), ContentFormat.SENML_JSON, LwM2MPath(3), REGISTRY)
