"""LwM2M paths: strict parsing, levels, relations."""

from __future__ import annotations

import pytest

from emulator.lwm2m import LwM2MPath


@pytest.mark.parametrize(
    ("text", "ids", "level"),
    [
        ("/", (), 0),
        ("/3", (3,), 1),
        ("/3/0", (3, 0), 2),
        ("/3/0/13", (3, 0, 13), 3),
        ("/3/0/7/1", (3, 0, 7, 1), 4),
        ("/65535/0/65535/65535", (65535, 0, 65535, 65535), 4),
    ],
)
def test_parse_and_print(text: str, ids: tuple[int, ...], level: int) -> None:
    path = LwM2MPath.parse(text)
    assert path.ids == ids
    assert path.level == level
    assert str(path) == text
    assert LwM2MPath.from_segments(path.segments) == path


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "does not start with '/'"),
        ("3/0", "does not start with '/'"),
        ("/3/", "empty object instance id"),
        ("//3", "empty object id"),
        ("/3/x", "not a decimal number"),
        ("/3/-1", "not a decimal number"),
        ("/3/+1", "not a decimal number"),
        ("/3/01", "leading zero"),
        ("/3/ 1", "not a decimal number"),
        ("/3/٣", "not a decimal number"),  # a non-ASCII digit
        ("/65536", "larger than 65535"),
        ("/3/65535", "reserved"),
        ("/1/2/3/4/5", "at most 4"),
    ],
)
def test_parse_refuses_with_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        LwM2MPath.parse(text)


def test_from_segments_as_in_uri_path_options() -> None:
    assert LwM2MPath.from_segments(("3", "0")) == LwM2MPath(3, 0)
    assert LwM2MPath.from_segments(()) == LwM2MPath()
    with pytest.raises(ValueError):
        LwM2MPath.from_segments(("rd",))


def test_constructor_refuses_gaps_and_bad_ids() -> None:
    with pytest.raises(ValueError, match="without the levels above"):
        LwM2MPath(3, None, 1)
    with pytest.raises(ValueError, match="must be an int"):
        LwM2MPath(True)
    with pytest.raises(ValueError, match="outside"):
        LwM2MPath(-1)


def test_level_helpers_and_relations() -> None:
    resource = LwM2MPath(3, 0, 13)
    assert resource.is_resource and not resource.is_object_instance
    assert resource.parent() == LwM2MPath(3, 0)
    assert resource.ancestors() == (LwM2MPath(3, 0), LwM2MPath(3))
    assert LwM2MPath(3, 0).child(13) == resource
    assert LwM2MPath(3).contains(resource)
    assert LwM2MPath().contains(resource)
    assert not resource.contains(LwM2MPath(3))
    assert resource.overlaps(LwM2MPath(3)) and LwM2MPath(3).overlaps(resource)
    assert not LwM2MPath(3, 0).overlaps(LwM2MPath(3, 1))
    assert sorted([LwM2MPath(3, 1), LwM2MPath(3), LwM2MPath(1, 0)]) == [
        LwM2MPath(1, 0),
        LwM2MPath(3),
        LwM2MPath(3, 1),
    ]
    with pytest.raises(ValueError):
        LwM2MPath().parent()
    with pytest.raises(ValueError):
        LwM2MPath(3, 0, 7, 1).child(0)
