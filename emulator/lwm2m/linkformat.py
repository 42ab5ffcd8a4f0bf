"""RFC 6690 link format as LwM2M uses it: Register payloads and Discover answers.

``format_links`` writes links; ``parse_links`` is a strict parser (``LinkFormatError`` with the
reason on bad input) that also copes with what common clients send (whitespace or a trailing
comma after links, unquoted ``rt``/``ct`` values, bare flags like ``;obs``).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from .errors import LinkFormatError
from .formats import ContentFormat
from .paths import LwM2MPath

__all__ = [
    "Link",
    "RegisterPayload",
    "build_register_payload",
    "format_links",
    "parse_links",
    "parse_register_payload",
]


@dataclass(frozen=True, slots=True)
class Link:
    """One link: its target (``"/3/0"``) and parameters in order.

    A parameter without a value (e.g. ``;obs``) maps to ``None``. Values are stored unquoted.
    """

    target: str
    params: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def path(self) -> LwM2MPath | None:
        """The target as an LwM2M path, or ``None`` if it is not one (e.g. ``/`` with rt)."""
        if self.target == "/":
            return None
        try:
            return LwM2MPath.parse(self.target)
        except ValueError:
            return None

    def __str__(self) -> str:
        parts = [f"<{self.target}>"]
        for name, value in self.params.items():
            parts.append(name if value is None else f"{name}={_param_value(name, value)}")
        return ";".join(parts)


def format_links(links: Iterable[Link]) -> str:
    """``</a>;p=1,</b>``: links joined with commas; string values quoted where RFC 6690 needs it
    (``rt``, ``if`` and any value that is not a token are quoted, numbers are not)."""
    return ",".join(str(link) for link in links)


# RFC 6690 §2: parameter names are tokens (RFC 5988 parmname), unquoted values are ptokens.
_NAME_CHARS: Final = frozenset(string.ascii_letters + string.digits + "!#$&+-.^_`|~*")
_PTOKEN_CHARS: Final = frozenset(
    string.ascii_letters + string.digits + "!#$%&'()*+-./:<=>?@[]^_`{|}~"
)
# Relation-type-like parameters are always quoted (RFC 6690 §2: rt and if are quoted-strings).
_ALWAYS_QUOTED: Final = frozenset({"rt", "if", "title", "anchor", "rel", "rev", "type"})
_MAX_PAYLOAD: Final = 64 * 1024


def _param_value(name: str, value: str) -> str:
    if name in _ALWAYS_QUOTED or not value or not set(value) <= _PTOKEN_CHARS:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return value


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, reason: str) -> LinkFormatError:
        return LinkFormatError(f"link format, at character {self.pos}: {reason}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        # Not in RFC 6690's grammar, but common clients put newlines or spaces between links.
        while self.peek() in (" ", "\t", "\r", "\n") and self.peek():
            self.pos += 1

    def links(self) -> list[Link]:
        result: list[Link] = []
        self.skip_space()
        if not self.peek():
            return result
        while True:
            result.append(self.link())
            self.skip_space()
            if not self.peek():
                return result
            if self.peek() != ",":
                raise self.fail(f"expected ',' between links, found {self.peek()!r}")
            self.pos += 1
            self.skip_space()
            if not self.peek():  # a trailing comma is tolerated
                return result

    def link(self) -> Link:
        if self.peek() != "<":
            raise self.fail(f"a link starts with '<', found {self.peek() or 'end of input'!r}")
        close = self.text.find(">", self.pos + 1)
        if close < 0:
            raise self.fail("'<' without matching '>'")
        target = self.text[self.pos + 1 : close]
        if not target or any(c in target for c in '<" ,;') or not target.isprintable():
            raise self.fail(f"invalid link target {target!r}")
        self.pos = close + 1
        params: dict[str, str | None] = {}
        while self.peek() == ";":
            self.pos += 1
            name, value = self.param()
            params.setdefault(name, value)  # RFC 6690 allows repeats; the first one counts
        return Link(target, params)

    def param(self) -> tuple[str, str | None]:
        start = self.pos
        while self.peek() and self.peek() in _NAME_CHARS:
            self.pos += 1
        name = self.text[start : self.pos]
        if not name:
            raise self.fail("empty parameter name")
        if self.peek() != "=":
            return name, None
        self.pos += 1
        if self.peek() == '"':
            return name, self.quoted()
        start = self.pos
        while self.peek() and self.peek() in _PTOKEN_CHARS:
            self.pos += 1
        if self.pos == start:
            raise self.fail(f"parameter {name!r} has an empty value")
        return name, self.text[start : self.pos]

    def quoted(self) -> str:
        self.pos += 1
        out: list[str] = []
        while True:
            char = self.peek()
            if not char:
                raise self.fail("unterminated quoted string")
            self.pos += 1
            if char == '"':
                return "".join(out)
            if char == "\\":
                if not self.peek():
                    raise self.fail("unterminated escape in quoted string")
                char = self.peek()
                self.pos += 1
            out.append(char)


def parse_links(payload: str | bytes) -> list[Link]:
    """Parse a link-format payload; raises ``LinkFormatError`` with the reason."""
    if isinstance(payload, bytes | bytearray):
        if len(payload) > _MAX_PAYLOAD:
            raise LinkFormatError(f"link-format payload of {len(payload)} bytes is too large")
        try:
            payload = bytes(payload).decode("utf-8")
        except UnicodeDecodeError:
            raise LinkFormatError("link-format payload is not valid UTF-8") from None
    if len(payload) > _MAX_PAYLOAD:
        raise LinkFormatError(f"link-format payload of {len(payload)} characters is too large")
    return _Parser(payload).links()


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterPayload:
    """What a Register/Update payload says about the client (TS 1.0 §5.3.1)."""

    #: Alternate path from ``</path>;rt="oma.lwm2m"`` (``"/"`` if absent).
    alternate_path: str = "/"
    #: ``ct`` on the root link: the format the client prefers, if given.
    content_format: int | None = None
    #: Object id → instance ids (empty list for an object listed without instances).
    objects: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    #: Object id → ``ver`` attribute where given (LwM2M 1.1).
    versions: Mapping[int, str] = field(default_factory=dict)
    #: All links as parsed.
    links: tuple[Link, ...] = ()


def build_register_payload(
    instances: Mapping[int, Iterable[int]],
    *,
    content_format: ContentFormat | int | None = ContentFormat.TLV,
    versions: Mapping[int, str] | None = None,
    alternate_path: str = "/",
) -> str:
    """The Register payload, e.g. ``</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0>,</5>``.

    Object 0 (Security) is never listed (TS 1.0 §5.3.1); an object without instances is listed
    as ``</o>``. ``versions`` adds ``;ver=`` to the object's links (LwM2M 1.1). With
    ``content_format=None`` and the default alternate path the root link is left out.
    """
    if not alternate_path.startswith("/") or (
        alternate_path != "/" and alternate_path.endswith("/")
    ):
        raise ValueError(f"alternate path {alternate_path!r} must start and not end with '/'")
    versions = versions or {}
    links: list[Link] = []
    if content_format is not None or alternate_path != "/":
        root: dict[str, str | None] = {"rt": "oma.lwm2m"}
        if content_format is not None:
            root["ct"] = str(int(content_format))
        links.append(Link(alternate_path, root))
    prefix = "" if alternate_path == "/" else alternate_path
    for object_id in sorted(instances):
        if object_id == 0:
            continue  # the Security object is never announced to a server
        ids = sorted(set(instances[object_id]))
        version = versions.get(object_id)
        if version is not None or not ids:
            params: dict[str, str | None] = {} if version is None else {"ver": version}
            links.append(Link(f"{prefix}/{object_id}", params))
        links.extend(Link(f"{prefix}/{object_id}/{iid}") for iid in ids)
    return format_links(links)


def parse_register_payload(payload: str | bytes) -> RegisterPayload:
    """Parse a Register/Update payload (raises ``LinkFormatError``).

    Object links (``</o>``) and instance links (``</o/i>``) are collected; links to resources,
    to anything outside the alternate path, or that are not LwM2M paths are refused.
    """
    links = parse_links(payload)
    alternate_path = "/"
    content_format: int | None = None
    for link in links:
        if link.params.get("rt") == "oma.lwm2m":
            alternate_path = link.target
            ct = link.params.get("ct")
            if ct is not None:
                # LwM2M 1.1 allows a space separated list: the first one is the preferred.
                first = ct.split()[0] if ct.split() else ""
                if not first.isdigit():
                    raise LinkFormatError(f"ct={ct!r} is not a content format number")
                content_format = int(first)
            break
    if alternate_path != "/" and alternate_path.endswith("/"):
        alternate_path = alternate_path.rstrip("/") or "/"
    prefix = "" if alternate_path == "/" else alternate_path
    objects: dict[int, set[int]] = {}
    versions: dict[int, str] = {}
    for link in links:
        if link.params.get("rt") == "oma.lwm2m":
            continue
        target = link.target
        if prefix:
            if not target.startswith(prefix + "/"):
                raise LinkFormatError(f"link <{target}> is outside the alternate path {prefix}")
            target = target[len(prefix) :]
        try:
            path = LwM2MPath.parse(target)
        except ValueError as exc:
            raise LinkFormatError(f"link <{link.target}> is not an LwM2M path: {exc}") from None
        if path.level not in (1, 2):
            raise LinkFormatError(f"link <{link.target}> is not an object or object instance")
        assert path.object_id is not None
        found = objects.setdefault(path.object_id, set())
        if path.instance_id is not None:
            found.add(path.instance_id)
        version = link.params.get("ver")
        if version is not None:
            versions[path.object_id] = version
    return RegisterPayload(
        alternate_path=alternate_path,
        content_format=content_format,
        objects={oid: tuple(sorted(iids)) for oid, iids in sorted(objects.items())},
        versions=versions,
        links=tuple(links),
    )
