"""RFC 6690 link format as LwM2M uses it: Register payloads and Discover answers.

``format_links`` writes links; ``parse_links`` is a strict parser (``LinkFormatError`` with the
reason on bad input) that also copes with what common clients send (whitespace or a trailing
comma after links, unquoted ``rt``/``ct`` values, bare flags like ``;obs``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

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
        raise NotImplementedError

    def __str__(self) -> str:
        raise NotImplementedError


def format_links(links: Iterable[Link]) -> str:
    """``</a>;p=1,</b>``: links joined with commas; string values quoted where RFC 6690 needs it
    (``rt``, ``if`` and any value that is not a token are quoted, numbers are not)."""
    raise NotImplementedError


def parse_links(payload: str | bytes) -> list[Link]:
    """Parse a link-format payload; raises ``LinkFormatError`` with the reason."""
    raise NotImplementedError


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
    raise NotImplementedError


def parse_register_payload(payload: str | bytes) -> RegisterPayload:
    """Parse a Register/Update payload (raises ``LinkFormatError``)."""
    raise NotImplementedError
