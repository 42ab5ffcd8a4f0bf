"""Values as scenarios see them, whichever server produced them.

Both drivers turn what the server returns into the same plain tree, so one scenario's
``expect:`` works against either:

* a resource value is ``str``, ``int``, ``float``, ``bool`` or ``bytes`` (opaque); a time is
  ``int`` seconds since 1970 (TS 1.0 Appendix C); an object link is the text ``"3:0"``;
* a multiple resource, an object instance and an object are ``dict[int, tree]``.

Response codes are kept as CoAP's dotted form (``"2.05"``, RFC 7252 §12.1.2); Leshan's names
(``CONTENT``) and the RFC's reason phrases are accepted in scenario files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final, TypeAlias

from emulator.lwm2m.model import (
    Content,
    LwM2MObject,
    MultiResource,
    ObjectInstance,
    ObjLink,
    ResourceInstance,
    SingleResource,
    Value,
)

Tree: TypeAlias = "str | int | float | bool | bytes | dict[int, Tree]"

# RFC 7252 §12.1.2 response codes (plus 2.31 of RFC 7959), with Leshan's enum names.
CODE_NAMES: Final[Mapping[str, str]] = {
    "2.01": "CREATED",
    "2.02": "DELETED",
    "2.03": "VALID",
    "2.04": "CHANGED",
    "2.05": "CONTENT",
    "2.31": "CONTINUE",
    "4.00": "BAD_REQUEST",
    "4.01": "UNAUTHORIZED",
    "4.02": "BAD_OPTION",
    "4.03": "FORBIDDEN",
    "4.04": "NOT_FOUND",
    "4.05": "METHOD_NOT_ALLOWED",
    "4.06": "NOT_ACCEPTABLE",
    "4.08": "REQUEST_ENTITY_INCOMPLETE",
    "4.12": "PRECONDITION_FAILED",
    "4.13": "REQUEST_ENTITY_TOO_LARGE",
    "4.15": "UNSUPPORTED_CONTENT_FORMAT",
    "5.00": "INTERNAL_SERVER_ERROR",
    "5.01": "NOT_IMPLEMENTED",
    "5.02": "BAD_GATEWAY",
    "5.03": "SERVICE_UNAVAILABLE",
    "5.04": "GATEWAY_TIMEOUT",
    "5.05": "PROXYING_NOT_SUPPORTED",
}
_BY_NAME: Final = {name: code for code, name in CODE_NAMES.items()}
_DOTTED: Final = re.compile(r"([245])\.(\d\d)")


def normalise_code(text: str) -> str:
    """``"2.05"``, ``"205"``, ``"CONTENT"``, ``"Content"``, ``"not found"`` → dotted form."""
    stripped = text.strip()
    if _DOTTED.fullmatch(stripped):
        return stripped
    if re.fullmatch(r"[245]\d\d", stripped):
        return f"{stripped[0]}.{stripped[1:]}"
    key = re.sub(r"[\s-]+", "_", stripped).upper()
    if key in _BY_NAME:
        return _BY_NAME[key]
    raise ValueError(
        f"{text!r} is not a CoAP response code (use e.g. 2.05, 2.04, 4.04 or CONTENT, CHANGED)"
    )


def describe_code(code: str) -> str:
    """``2.05 CONTENT``."""
    name = CODE_NAMES.get(code)
    return f"{code} {name}" if name else code


def is_success(code: str) -> bool:
    return code.startswith("2.")


# --------------------------------------------------------------------------- trees
def value_to_tree(value: Value) -> Tree:
    if isinstance(value, ObjLink):
        return str(value)
    return value


def content_to_tree(content: Content) -> Tree:
    """The core value model (``emulator.lwm2m.model``) as a plain tree."""
    if isinstance(content, SingleResource | ResourceInstance):
        return value_to_tree(content.value)
    if isinstance(content, MultiResource):
        return {rid: value_to_tree(v) for rid, v in sorted(content.instances.items())}
    if isinstance(content, ObjectInstance):
        return {rid: content_to_tree(r) for rid, r in sorted(content.resources.items())}
    if isinstance(content, LwM2MObject):
        return {iid: content_to_tree(i) for iid, i in sorted(content.instances.items())}
    raise TypeError(f"{type(content).__name__} is not LwM2M content")


def render(tree: Any) -> str:
    """A short, unambiguous text of a tree for messages and the transcript."""
    if isinstance(tree, dict):
        return "{" + ", ".join(f"{k}: {render(v)}" for k, v in tree.items()) + "}"
    if isinstance(tree, list):
        return "[" + ", ".join(render(v) for v in tree) + "]"
    if isinstance(tree, bytes):
        return "0x" + tree.hex() if tree else "0x (empty)"
    if isinstance(tree, str):
        return repr(tree)
    if tree is None:
        return "nothing"
    return str(tree).lower() if isinstance(tree, bool) else str(tree)


def text_form(tree: Any) -> str:
    """What a ``match:`` regex is applied to: strings as they are, opaque as hex."""
    if isinstance(tree, bytes):
        return tree.hex()
    if isinstance(tree, bool):
        return "true" if tree else "false"
    if isinstance(tree, dict):
        return render(tree)
    return str(tree)


def mismatch(expected: Any, actual: Any, where: str = "") -> str | None:
    """Why ``actual`` does not match ``expected`` (None when it does).

    A mapping in ``expected`` is a subset check (keys are ids; YAML may give them as text);
    a list matches a multiple resource's values in id order; numbers compare by value
    (``120`` matches ``120.0``); opaque values compare with hex text; everything else by
    equality, then by text form (so ``"3:0"`` matches an object link, ``"42"`` matches 42).
    """
    label = f" at {where}" if where else ""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"expected a set of values{label}, got {render(actual)}"
        for key, want in expected.items():
            try:
                ident = int(key)
            except (TypeError, ValueError):
                return f"expected key {key!r}{label} is not an id"
            if ident not in actual:
                return f"no id {ident}{label} in {render(actual)}"
            inner = mismatch(want, actual[ident], f"{where}/{ident}" if where else str(ident))
            if inner is not None:
                return inner
        return None
    if isinstance(expected, list):
        if not isinstance(actual, dict):
            return f"expected a list of values{label}, got {render(actual)}"
        values = [actual[k] for k in sorted(actual)]
        if len(values) != len(expected):
            return f"expected {len(expected)} values{label}, got {render(actual)}"
        for i, (want, got) in enumerate(zip(expected, values, strict=True)):
            inner = mismatch(want, got, f"{where}[{i}]")
            if inner is not None:
                return inner
        return None
    if isinstance(actual, dict):
        return f"expected {render(expected)}{label}, got a set of values {render(actual)}"
    if _scalar_equal(expected, actual):
        return None
    return f"expected {render(expected)}{label}, got {render(actual)}"


def _scalar_equal(expected: Any, actual: Any) -> bool:
    if isinstance(actual, bool):
        if isinstance(expected, bool):
            return expected is actual
        return str(expected).lower() in (("true", "1") if actual else ("false", "0"))
    if isinstance(expected, bool):
        return False
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return math.isclose(float(actual), float(expected), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(actual, bytes):
        if isinstance(expected, bytes):
            return expected == actual
        return isinstance(expected, str) and expected.lower().removeprefix("0x") == actual.hex()
    if expected == actual:
        return True
    if isinstance(actual, int | float) and isinstance(expected, str):
        try:
            return math.isclose(float(expected), float(actual), rel_tol=1e-9, abs_tol=1e-9)
        except ValueError:
            return False
    return str(expected) == str(actual)
