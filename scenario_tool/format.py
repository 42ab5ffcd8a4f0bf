"""The scenario file format: YAML in, validated frozen steps out. No I/O beyond reading text.

A scenario is a YAML mapping::

    name: LightweightM2M-1.0-int-101        # required: an id (OMA ETS test-case id if known)
    title: Initial registration             # optional, shown in progress and JUnit
    description: ...                        # optional
    module: {profile: EC200U}               # optional (default EC200U)
    vars: {ssid: 1000}                      # optional: more ${names}
    timeout: 120                            # optional: seconds for the whole scenario
    steps:                                  # required, non-empty
      - send: AT+QLWREG
        expect: OK
      - urc: '+QLWURC: "ready","successfully",${ssid}'
        within: 10

Each step is a mapping with exactly one *action key* (``send``, ``urc``, ``read``, ``fault``
...) whose value is the step's subject, plus that action's fields. ``STEP_SPECS`` below is the
whole grammar, kept as data: docs/scenarios.md is written from it, and nothing is accepted that
it does not list. Anything wrong (unknown step or field, missing field, wrong type, value out
of range, unknown ``${name}``) raises :class:`ScenarioFormatError` naming file, line and
reason, before anything runs. Line numbers come from PyYAML's node marks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Final

import yaml

from emulator.lwm2m.paths import LwM2MPath
from scenario_tool.errors import ScenarioFormatError, Where

# Names the runner defines for every scenario (see runner.Variables); scenarios add their own
# under ``vars``.
BUILTIN_VARIABLES: Final = (
    "endpoint",  # the module's LwM2M endpoint name, urn:imei:<IMEI>
    "imei",
    "imsi",
    "msisdn",
    "server_host",  # where the module reaches the server (the fault relay), e.g. 127.0.0.1
    "server_uri",  # coap://<relay to the server's CoAP port>
    "server_uri_secure",  # coaps://<relay to the server's CoAP-over-DTLS port>
    "bootstrap_uri",  # coap://<relay to the bootstrap server>
    "bootstrap_uri_secure",
    "server_kind",  # "embedded" or "leshan"
    "tcp_peer_port",  # the scenario's TCP peer's port (after ``tcp_peer: listen``)
)

_VARIABLE: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HEX: Final = re.compile(r"(?:[0-9A-Fa-f]{2})*")

DEFAULT_PROFILE: Final = "EC200U"
DEFAULT_SMS_SENDER: Final = "+8613912345678"
DEFAULT_SCENARIO_TIMEOUT: Final = 120.0


# --------------------------------------------------------------------------- field kinds
class _Invalid(Exception):
    """A value does not fit its field (turned into ScenarioFormatError with the node's line)."""


Check = Callable[[Any], Any]


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"must be a string, got {_show(value)}")
    return value


def _lines(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _Invalid(f"must be a string or a non-empty list of strings, got {_show(value)}")


def _text_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _Invalid(f"must be a list of strings, got {_show(value)}")


def _regex(value: Any) -> str:
    text = _text(value)
    try:
        re.compile(_VARIABLE.sub("x", text))
    except re.error as exc:
        raise _Invalid(f"is not a valid regular expression: {exc}") from exc
    return text


def _number(minimum: float | None = None, maximum: float | None = None) -> Check:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid(f"must be a number, got {_show(value)}")
        if minimum is not None and value < minimum:
            raise _Invalid(f"must be at least {minimum:g}, got {value}")
        if maximum is not None and value > maximum:
            raise _Invalid(f"must be at most {maximum:g}, got {value}")
        return float(value)

    return check


def _integer(minimum: int | None = None, maximum: int | None = None) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"must be a whole number, got {_show(value)}")
        if minimum is not None and value < minimum:
            raise _Invalid(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise _Invalid(f"must be at most {maximum}, got {value}")
        return value

    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"must be true or false, got {_show(value)}")
    return value


def _choice(*choices: str) -> Check:
    def check(value: Any) -> str:
        if value not in choices:
            raise _Invalid(f"must be one of {', '.join(choices)}; got {_show(value)}")
        return str(value)

    return check


def _member(kind: type[StrEnum]) -> Check:
    def check(value: Any) -> StrEnum:
        if not isinstance(value, str) or value not in kind.__members__.values():
            names = ", ".join(member.value for member in kind)
            raise _Invalid(f"must be one of {names}; got {_show(value)}")
        return kind(value)

    return check


def _path(level_min: int = 1, level_max: int = 4) -> Check:
    def check(value: Any) -> str:
        text = _text(value)
        if _VARIABLE.search(text):
            return text  # checked again once substituted
        try:
            path = LwM2MPath.parse(text)
        except ValueError as exc:
            raise _Invalid(f"is not an LwM2M path: {exc}") from exc
        if not level_min <= path.level <= level_max:
            wanted = {1: "an object", 2: "an object instance", 3: "a resource"}
            raise _Invalid(f"must name {wanted.get(level_min, 'a path')} (got {text})")
        return text

    return check


def _hex(value: Any) -> str:
    text = _text(value)
    if not _VARIABLE.search(text) and not _HEX.fullmatch(text):
        raise _Invalid(f"must be hex digits (two per byte), got {text!r}")
    return text


def _code(value: Any) -> str:
    """A CoAP response code: ``2.05``, ``"2.05"``, ``205`` or a name (``CONTENT``)."""
    from scenario_tool.values import normalise_code

    if isinstance(value, float):
        value = f"{value:.2f}"
    elif isinstance(value, int) and not isinstance(value, bool):
        value = f"{value // 100}.{value % 100:02d}"
    text = _text(value)
    try:
        return normalise_code(text)
    except ValueError as exc:
        raise _Invalid(str(exc)) from exc


def _any(value: Any) -> Any:
    return value


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    kind = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(type(value))
    if kind is None:
        kind = "a list" if isinstance(value, list) else "a mapping"
    return f"{kind} ({value!r})" if kind != "a mapping" else kind


# --------------------------------------------------------------------------- the grammar
@dataclass(frozen=True)
class FieldSpec:
    check: Check
    required: bool = False
    default: Any = None
    doc: str = ""


RESOURCE_TYPES: Final = (
    "string",
    "integer",
    "unsigned",
    "float",
    "boolean",
    "opaque",
    "time",
    "objlnk",
)
FORMATS: Final = ("tlv", "text", "json", "senml_json", "cbor", "opaque")
DIRECTIONS: Final = ("both", "uplink", "downlink")


class WaitFor(StrEnum):
    """What a ``wait:`` step waits for (driver.WAITABLE maps each to its event type)."""

    REGISTRATION = "registration"
    UPDATE = "update"
    DEREGISTRATION = "deregistration"
    BOOTSTRAP = "bootstrap"
    NOTIFICATION = "notification"


class Fault(StrEnum):
    """How a ``fault:`` step changes the world: the relay, the server, the module's radio."""

    DROP = "drop"
    DELAY = "delay"
    CLEAR = "clear"
    NETWORK_CUT = "network_cut"
    NETWORK_RESTORE = "network_restore"
    SERVER_STOP = "server_stop"
    SERVER_RESTART = "server_restart"
    PDP_REJECT = "pdp_reject"
    SIGNAL = "signal"
    REBOOT = "reboot"
    POWER_ON = "power_on"
    NETWORK_TIME = "network_time"
    SIM_REMOVE = "sim_remove"
    SIM_INSERT = "sim_insert"
    SMS_REJECT = "sms_reject"
    PDP_DEACTIVATE = "pdp_deactivate"


class PeerAction(StrEnum):
    """What a ``tcp_peer:`` step has the scenario's TCP peer do."""

    LISTEN = "listen"
    SEND = "send"
    EXPECT = "expect"
    CLOSE = "close"


class Quiet(StrEnum):
    """What must not come during a ``quiet:`` step."""

    NOTIFICATION = "notification"
    URC = "urc"


WAIT_EVENTS: Final = tuple(WaitFor)
FAULTS: Final = tuple(Fault)

_WITHIN = FieldSpec(_number(0.001), default=10.0, doc="seconds to wait at most")
_AFTER = FieldSpec(_number(0.0), default=0.0, doc="it must not come earlier (seconds)")
_ENDPOINT = FieldSpec(_text, default="${endpoint}", doc="endpoint name")
_EXPECT = FieldSpec(_any, doc="expected value (a scalar, or a mapping id -> value)")
_MATCH = FieldSpec(_regex, doc="regular expression the value's text form must match")
_FORMAT = FieldSpec(_choice(*FORMATS), doc="content format asked of the client")


@dataclass(frozen=True)
class StepSpec:
    subject: FieldSpec
    fields: Mapping[str, FieldSpec]
    doc: str
    # fields allowed per subject value (for ``fault`` and ``wait``); None: ``fields`` for all
    variants: Mapping[str, Mapping[str, FieldSpec]] | None = None


STEP_SPECS: Final[Mapping[str, StepSpec]] = {
    "send": StepSpec(
        FieldSpec(_text, doc="the AT command line (CR is added)"),
        {
            "expect": FieldSpec(_lines, doc="exact response lines (default: OK)"),
            "match": FieldSpec(_regex, doc="regex searched in the response lines"),
            "within": FieldSpec(_number(0.001), default=5.0, doc="seconds for the final result"),
            "payload": FieldSpec(
                _text, doc="typed after the '> ' prompt, then Ctrl-Z (AT+CMGS, AT+CMGW)"
            ),
        },
        "send an AT command and check its response",
    ),
    "urc": StepSpec(
        FieldSpec(_text, doc="the exact URC line"),
        {"within": _WITHIN, "after": _AFTER},
        "expect an unsolicited result code",
    ),
    "urc_match": StepSpec(
        FieldSpec(_regex, doc="regex the whole URC line must match"),
        {"within": _WITHIN, "after": _AFTER},
        "expect an unsolicited result code matching a regex",
    ),
    "wait": StepSpec(
        FieldSpec(_member(WaitFor), doc="the server-side event"),
        {},
        "wait for an event the server sees",
        variants={
            "registration": {
                "within": _WITHIN,
                "after": _AFTER,
                "endpoint": _ENDPOINT,
                "lifetime": FieldSpec(_integer(1), doc="expected lifetime"),
                "binding": FieldSpec(_text, doc="expected binding"),
                "lwm2m_version": FieldSpec(_text, doc="expected LwM2M version"),
                "objects": FieldSpec(_text_list, doc="object links the registration must list"),
                "secure": FieldSpec(_boolean, doc="registered over DTLS"),
            },
            "update": {
                "within": _WITHIN,
                "after": _AFTER,
                "endpoint": _ENDPOINT,
                "lifetime": FieldSpec(_integer(1), doc="expected lifetime"),
            },
            "deregistration": {"within": _WITHIN, "after": _AFTER, "endpoint": _ENDPOINT},
            "bootstrap": {"within": _WITHIN, "after": _AFTER, "endpoint": _ENDPOINT},
            "notification": {
                "within": _WITHIN,
                "after": _AFTER,
                "apart": FieldSpec(
                    _number(0.0),
                    default=0.0,
                    doc="it must come at least this long after the previous notification of "
                    "its path (seconds, both as the server saw them)",
                ),
                "endpoint": _ENDPOINT,
                "path": FieldSpec(_path(), doc="observed path"),
                "expect": _EXPECT,
                "match": _MATCH,
            },
        },
    ),
    "read": StepSpec(
        FieldSpec(_path(), doc="path to read"),
        {
            "expect": _EXPECT,
            "match": _MATCH,
            "code": FieldSpec(_code, default="2.05"),
            "format": _FORMAT,
            "endpoint": _ENDPOINT,
            "within": _WITHIN,
        },
        "server Read",
    ),
    "write": StepSpec(
        FieldSpec(_path(2, 4), doc="path to write"),
        {
            "value": FieldSpec(_any, required=True, doc="the value (mapping id -> value for /o/i)"),
            "type": FieldSpec(_choice(*RESOURCE_TYPES), doc="value type (default: the object's)"),
            "code": FieldSpec(_code, default="2.04"),
            "format": _FORMAT,
            "endpoint": _ENDPOINT,
            "within": _WITHIN,
        },
        "server Write",
    ),
    "execute": StepSpec(
        FieldSpec(_path(3, 3), doc="resource to execute"),
        {
            "args": FieldSpec(_text, doc="execute arguments"),
            "code": FieldSpec(_code, default="2.04"),
            "endpoint": _ENDPOINT,
            "within": _WITHIN,
        },
        "server Execute",
    ),
    "observe": StepSpec(
        FieldSpec(_path(), doc="path to observe"),
        {
            "expect": _EXPECT,
            "match": _MATCH,
            "code": FieldSpec(_code, default="2.05"),
            "format": _FORMAT,
            "endpoint": _ENDPOINT,
            "within": _WITHIN,
        },
        "server Observe (the first value is the response)",
    ),
    "cancel_observe": StepSpec(
        FieldSpec(_path(), doc="observed path"),
        {"endpoint": _ENDPOINT, "within": _WITHIN},
        "server cancels an observation",
    ),
    "write_attributes": StepSpec(
        FieldSpec(_path(), doc="path the attributes attach to"),
        {
            "pmin": FieldSpec(_integer(0)),
            "pmax": FieldSpec(_integer(0)),
            "gt": FieldSpec(_number()),
            "lt": FieldSpec(_number()),
            "st": FieldSpec(_number(0.0)),
            "code": FieldSpec(_code, default="2.04"),
            "endpoint": _ENDPOINT,
            "within": _WITHIN,
        },
        "server Write-Attributes",
    ),
    "discover": StepSpec(
        FieldSpec(_path(1, 3), doc="path to discover"),
        {
            "contains": FieldSpec(_text_list, doc="links the answer must contain"),
            "code": FieldSpec(_code, default="2.05"),
            "endpoint": _ENDPOINT,
            "within": _WITHIN,
        },
        "server Discover",
    ),
    "set_psk": StepSpec(
        FieldSpec(_text, doc="endpoint name"),
        {
            "identity": FieldSpec(_text, required=True),
            "key": FieldSpec(_hex, required=True, doc="PSK as hex"),
        },
        "give the server an endpoint's PSK credentials",
    ),
    "configure_bootstrap": StepSpec(
        FieldSpec(_text, doc="endpoint name"),
        {
            "server_uri": FieldSpec(_text, required=True, doc="the LwM2M server to provision"),
            "security": FieldSpec(_choice("nosec", "psk"), default="nosec"),
            "identity": FieldSpec(_text, doc="PSK identity (security: psk)"),
            "key": FieldSpec(_hex, doc="PSK as hex (security: psk)"),
            "short_id": FieldSpec(_integer(1, 65534), default=1),
            "lifetime": FieldSpec(_integer(1), default=86400),
            "binding": FieldSpec(_text, default="U"),
        },
        "configure what the bootstrap server writes to the endpoint",
    ),
    "fault": StepSpec(
        FieldSpec(_member(Fault), doc="the fault"),
        {},
        "change the world: network, server, radio",
        variants={
            "drop": {
                "share": FieldSpec(_number(0.0, 1.0), required=True, doc="share of datagrams"),
                "direction": FieldSpec(_choice(*DIRECTIONS), default="both"),
                "seed": FieldSpec(_integer(), doc="random seed (runs repeat exactly)"),
            },
            "delay": {
                "seconds": FieldSpec(_number(0.0, 60.0), required=True),
                "direction": FieldSpec(_choice(*DIRECTIONS), default="both"),
            },
            "clear": {},
            "network_cut": {},
            "network_restore": {},
            "server_stop": {},
            "server_restart": {},
            "pdp_reject": {"reject": FieldSpec(_boolean, default=True)},
            "signal": {"rssi": FieldSpec(_integer(0, 99), required=True, doc="27.007 <rssi>")},
            "reboot": {},
            "power_on": {},
            "network_time": {
                "tz": FieldSpec(
                    _integer(-48, 56), default=0, doc="time zone in quarters of an hour"
                ),
                "dst": FieldSpec(_integer(0, 2), default=0, doc="hours of DST in tz"),
                "time": FieldSpec(
                    _number(0.0), doc="UTC as Unix time (default: the module's clock)"
                ),
            },
            "sim_remove": {},
            "sim_insert": {},
            "sms_reject": {
                "code": FieldSpec(_integer(0, 511), default=500, doc="+CMS ERROR <err>"),
                "reject": FieldSpec(_boolean, default=True),
            },
            "pdp_deactivate": {
                "cid": FieldSpec(_integer(1, 15), doc="the context (default: every active one)")
            },
        },
    ),
    "quiet": StepSpec(
        FieldSpec(_member(Quiet), doc="what must not come"),
        {},
        "nothing of that kind comes for a while (e.g. after cancelling an observation)",
        variants={
            "notification": {
                "for": FieldSpec(_number(0.001, 600.0), required=True, doc="seconds"),
                "endpoint": _ENDPOINT,
                "path": FieldSpec(_path(), doc="only notifications of this path count"),
            },
            "urc": {
                "for": FieldSpec(_number(0.001, 600.0), required=True, doc="seconds"),
                "match": FieldSpec(_regex, doc="only URCs matching this regex count"),
            },
        },
    ),
    "deliver_sms": StepSpec(
        FieldSpec(_text, doc="the message text"),
        {"from": FieldSpec(_text, default=DEFAULT_SMS_SENDER, doc="the sender's number")},
        "the network delivers an SMS to the module",
    ),
    "sms_sent": StepSpec(
        FieldSpec(_text, doc="the text the module sent"),
        {"to": FieldSpec(_text, doc="the destination it was sent to"), "within": _WITHIN},
        "expect an SMS the module sent to the network",
    ),
    "mqtt_publish": StepSpec(
        FieldSpec(_text, doc="the topic"),
        {
            "broker": FieldSpec(_text, required=True, doc="the broker as HOST:PORT"),
            "payload": FieldSpec(_text, default="", doc="the message (text)"),
            "qos": FieldSpec(_integer(0, 2), default=0),
            "retain": FieldSpec(_boolean, default=False),
            "within": _WITHIN,
        },
        "publish to a topic through the MQTT broker, as another client (the module's "
        "+QMTRECV is then checked with urc/urc_match)",
    ),
    "mqtt_takeover": StepSpec(
        FieldSpec(_text, doc="the client identifier the module connected with"),
        {
            "broker": FieldSpec(_text, required=True, doc="the broker as HOST:PORT"),
            "within": _WITHIN,
        },
        "another client connects with the module's client identifier, so the broker closes "
        "the module's connection (MQTT 3.1.1 §3.1.4); the module's +QMTSTAT follows",
    ),
    "tcp_peer": StepSpec(
        FieldSpec(_member(PeerAction), doc="what the peer does"),
        {},
        "a TCP peer on loopback that the module connects to: listen, send, expect, close",
        variants={
            "listen": {
                "at": FieldSpec(_text, default="127.0.0.1:0", doc="HOST:PORT (0: a free port)"),
                "destination": FieldSpec(
                    _text, doc="HOST:PORT the module names; the network map sends it here"
                ),
                "echo": FieldSpec(_boolean, default=False, doc="send back what arrives"),
            },
            "send": {
                "data": FieldSpec(_text, doc="the bytes as text"),
                "hex": FieldSpec(_hex, doc="the bytes as hex"),
                "within": _WITHIN,
            },
            "expect": {
                "data": FieldSpec(_text, doc="the bytes as text"),
                "hex": FieldSpec(_hex, doc="the bytes as hex"),
                "within": _WITHIN,
            },
            "close": {},
        },
    ),
    "pause": StepSpec(
        FieldSpec(_number(0.0, 600.0), doc="seconds"),
        {},
        "let time pass (e.g. keep the network cut)",
    ),
}

_COMMON_FIELDS: Final[Mapping[str, FieldSpec]] = {
    "name": FieldSpec(_text, doc="label shown in progress and the transcript"),
}


# --------------------------------------------------------------------------- the steps
# One frozen dataclass per action, built once by the parser from the fields STEP_SPECS
# checked; the runner dispatches on the type. Values may still hold ``${names}``: they are
# substituted when the scenario runs (the runner knows the endpoint and the ports then).
# YAML field names that are Python keywords (or read badly as attributes) are renamed:
FIELD_NAMES: Final[Mapping[str, str]] = {
    "for": "period",
    "from": "sender",
    "type": "value_type",
    "format": "content_format",
}


@dataclass(frozen=True, kw_only=True)
class Step:
    """What every step has: its place in the scenario and an optional label."""

    action: ClassVar[str]  # the YAML action key
    subject_field: ClassVar[str]  # the attribute holding the action key's value
    index: int  # 1-based within the scenario
    where: Where
    label: str | None = None

    @property
    def subject(self) -> Any:
        return getattr(self, self.subject_field)

    def fields(self) -> dict[str, Any]:
        """The action's fields by their YAML names (defaults filled in), subject excluded."""
        spec = STEP_SPECS[self.action]
        allowed = spec.variants[self.subject] if spec.variants is not None else spec.fields
        return {key: getattr(self, FIELD_NAMES.get(key, key)) for key in allowed}

    def describe(self) -> str:
        """One line for progress output: ``send AT+QLWREG``, ``fault drop share=0.3``."""
        if self.label:
            return self.label
        subject = self.subject
        return (
            f"{self.action} {subject:g}s"
            if isinstance(subject, float)
            else f"{self.action} {subject}"
        )


@dataclass(frozen=True, kw_only=True)
class SendStep(Step):
    action: ClassVar[str] = "send"
    subject_field: ClassVar[str] = "command"
    command: str
    expect: tuple[str, ...] | None = None
    match: str | None = None
    within: float = 5.0
    payload: str | None = None


@dataclass(frozen=True, kw_only=True)
class UrcStep(Step):
    action: ClassVar[str] = "urc"
    subject_field: ClassVar[str] = "text"
    text: str
    within: float = 10.0
    after: float = 0.0


@dataclass(frozen=True, kw_only=True)
class UrcMatchStep(Step):
    action: ClassVar[str] = "urc_match"
    subject_field: ClassVar[str] = "pattern"
    pattern: str
    within: float = 10.0
    after: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ChecksValue:
    """A step that compares a value with ``expect`` (a tree) or ``match`` (a regex)."""

    expect: Any = None
    match: str | None = None


@dataclass(frozen=True, kw_only=True)
class WaitStep(ChecksValue, Step):
    action: ClassVar[str] = "wait"
    subject_field: ClassVar[str] = "event"
    event: WaitFor
    within: float = 10.0
    after: float = 0.0
    apart: float = 0.0  # notifications: the least time since the previous one (pmin)
    endpoint: str = "${endpoint}"
    lifetime: int | None = None
    binding: str | None = None
    lwm2m_version: str | None = None
    objects: tuple[str, ...] | None = None
    secure: bool | None = None
    path: str | None = None


@dataclass(frozen=True, kw_only=True)
class OperationStep(Step):
    """A request the server sends the client; ``code`` is the CoAP code it must answer."""

    subject_field: ClassVar[str] = "path"
    path: str
    endpoint: str = "${endpoint}"
    within: float = 10.0
    code: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReadStep(ChecksValue, OperationStep):
    action: ClassVar[str] = "read"
    code: str | None = "2.05"
    content_format: str | None = None


@dataclass(frozen=True, kw_only=True)
class WriteStep(OperationStep):
    action: ClassVar[str] = "write"
    value: Any
    value_type: str | None = None
    code: str | None = "2.04"
    content_format: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExecuteStep(OperationStep):
    action: ClassVar[str] = "execute"
    args: str | None = None
    code: str | None = "2.04"


@dataclass(frozen=True, kw_only=True)
class ObserveStep(ChecksValue, OperationStep):
    action: ClassVar[str] = "observe"
    code: str | None = "2.05"
    content_format: str | None = None


@dataclass(frozen=True, kw_only=True)
class CancelObserveStep(OperationStep):
    action: ClassVar[str] = "cancel_observe"


@dataclass(frozen=True, kw_only=True)
class WriteAttributesStep(OperationStep):
    action: ClassVar[str] = "write_attributes"
    pmin: int | None = None
    pmax: int | None = None
    gt: float | None = None
    lt: float | None = None
    st: float | None = None
    code: str | None = "2.04"

    def attributes(self) -> dict[str, float]:
        """The attributes given (TS 1.0 §5.1.2), in the order the query lists them."""
        given = {"pmin": self.pmin, "pmax": self.pmax, "gt": self.gt, "lt": self.lt, "st": self.st}
        return {name: float(value) for name, value in given.items() if value is not None}


@dataclass(frozen=True, kw_only=True)
class DiscoverStep(OperationStep):
    action: ClassVar[str] = "discover"
    contains: tuple[str, ...] | None = None
    code: str | None = "2.05"


@dataclass(frozen=True, kw_only=True)
class SetPskStep(Step):
    action: ClassVar[str] = "set_psk"
    subject_field: ClassVar[str] = "endpoint"
    endpoint: str
    identity: str
    key: str


@dataclass(frozen=True, kw_only=True)
class ConfigureBootstrapStep(Step):
    action: ClassVar[str] = "configure_bootstrap"
    subject_field: ClassVar[str] = "endpoint"
    endpoint: str
    server_uri: str
    security: str = "nosec"
    identity: str | None = None
    key: str | None = None
    short_id: int = 1
    lifetime: int = 86400
    binding: str = "U"


@dataclass(frozen=True, kw_only=True)
class FaultStep(Step):
    """One class for every fault; the fields a fault does not take stay None (the parser
    refuses them, STEP_SPECS["fault"].variants)."""

    action: ClassVar[str] = "fault"
    subject_field: ClassVar[str] = "fault"
    fault: Fault
    share: float | None = None
    direction: str = "both"
    seed: int | None = None
    seconds: float | None = None
    reject: bool = True
    rssi: int | None = None
    tz: int = 0
    dst: int = 0
    time: float | None = None
    code: int = 500
    cid: int | None = None

    def describe(self) -> str:
        if self.label:
            return self.label
        extra = " ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in self.fields().items()
            if v is not None and k != "seed"
        )
        return f"fault {self.fault} {extra}".rstrip()


@dataclass(frozen=True, kw_only=True)
class QuietStep(Step):
    action: ClassVar[str] = "quiet"
    subject_field: ClassVar[str] = "what"
    what: Quiet
    period: float
    endpoint: str = "${endpoint}"
    path: str | None = None
    match: str | None = None


@dataclass(frozen=True, kw_only=True)
class DeliverSmsStep(Step):
    action: ClassVar[str] = "deliver_sms"
    subject_field: ClassVar[str] = "text"
    text: str
    sender: str = DEFAULT_SMS_SENDER


@dataclass(frozen=True, kw_only=True)
class SmsSentStep(Step):
    action: ClassVar[str] = "sms_sent"
    subject_field: ClassVar[str] = "text"
    text: str
    to: str | None = None
    within: float = 10.0


@dataclass(frozen=True, kw_only=True)
class MqttPublishStep(Step):
    action: ClassVar[str] = "mqtt_publish"
    subject_field: ClassVar[str] = "topic"
    topic: str
    broker: str
    payload: str = ""
    qos: int = 0
    retain: bool = False
    within: float = 10.0


@dataclass(frozen=True, kw_only=True)
class MqttTakeoverStep(Step):
    action: ClassVar[str] = "mqtt_takeover"
    subject_field: ClassVar[str] = "identifier"
    identifier: str
    broker: str
    within: float = 10.0


@dataclass(frozen=True, kw_only=True)
class TcpPeerStep(Step):
    """One class for the peer's actions; fields an action does not take stay at their
    defaults (the parser refuses them, STEP_SPECS["tcp_peer"].variants)."""

    action: ClassVar[str] = "tcp_peer"
    subject_field: ClassVar[str] = "does"
    does: PeerAction
    at: str = "127.0.0.1:0"
    destination: str | None = None
    echo: bool = False
    data: str | None = None
    hex: str | None = None
    within: float = 10.0


@dataclass(frozen=True, kw_only=True)
class PauseStep(Step):
    action: ClassVar[str] = "pause"
    subject_field: ClassVar[str] = "seconds"
    seconds: float


STEP_TYPES: Final[Mapping[str, type[Step]]] = {
    kind.action: kind
    for kind in (
        SendStep,
        UrcStep,
        UrcMatchStep,
        WaitStep,
        ReadStep,
        WriteStep,
        ExecuteStep,
        ObserveStep,
        CancelObserveStep,
        WriteAttributesStep,
        DiscoverStep,
        SetPskStep,
        ConfigureBootstrapStep,
        FaultStep,
        QuietStep,
        DeliverSmsStep,
        SmsSentStep,
        MqttPublishStep,
        MqttTakeoverStep,
        TcpPeerStep,
        PauseStep,
    )
}


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    title: str
    description: str
    profile: str
    variables: Mapping[str, Any]
    timeout: float
    steps: tuple[Step, ...]
    where: Where
    source: str = field(default="")  # the file's path as given
    # module.map entries (NAME=ADDR, HOST:PORT=ADDR:PORT; may hold ${names}) and
    # module.allow_external: the in-process module's virtual network (emulator.adapters.netmap)
    network_map: tuple[str, ...] = ()
    allow_external: bool = False

    @property
    def display_name(self) -> str:
        return f"{self.name} {self.title}".strip() if self.title else self.name


_MODULE_KEYS: Final = ("profile", "map", "allow_external")
_TOP_LEVEL: Final = ("name", "title", "description", "module", "vars", "timeout", "steps")


# --------------------------------------------------------------------------- loading
def load_scenario(path: str | Path) -> Scenario:
    """Read and validate one scenario file; raises ScenarioFormatError (file, line, reason)."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioFormatError(Where(file=name, line=1), f"cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ScenarioFormatError(Where(file=name, line=1), f"not UTF-8 text: {exc}") from exc
    return parse_scenario(text, name)


def parse_scenario(text: str, file: str = "<scenario>") -> Scenario:
    """Validate scenario text (``file`` names it in errors)."""
    return _Parser(text, file).scenario()


class _Parser:
    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.loader = yaml.SafeLoader(text)
        try:
            root = self.loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            reason = exc.problem or str(exc)
            raise ScenarioFormatError(
                Where(file=file, line=line), f"not valid YAML: {reason}"
            ) from None
        except yaml.YAMLError as exc:
            raise ScenarioFormatError(Where(file=file, line=1), f"not valid YAML: {exc}") from exc
        if root is None:
            raise ScenarioFormatError(Where(file=file, line=1), "the file is empty")
        self.root: yaml.Node = root

    # -- helpers
    def where(self, node: yaml.Node) -> Where:
        mark = node.start_mark
        return Where(file=self.file, line=mark.line + 1, column=mark.column + 1)

    def fail(self, node: yaml.Node, reason: str) -> ScenarioFormatError:
        return ScenarioFormatError(self.where(node), reason)

    def value(self, node: yaml.Node) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self.fail(node, f"bad value: {exc}") from exc

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """``key -> (key node, value node)``; refuses non-mappings, non-string and repeated keys."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping (key: value)")
        result: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node)
            if not isinstance(key, str):
                raise self.fail(key_node, f"{what}: keys must be names, got {key!r}")
            if key in result:
                raise self.fail(key_node, f"{what}: {key!r} is given twice")
            result[key] = (key_node, value_node)
        return result

    def checked(self, spec: FieldSpec, node: yaml.Node, what: str) -> Any:
        try:
            return spec.check(self.value(node))
        except _Invalid as exc:
            raise self.fail(node, f"{what} {exc}") from exc

    # -- the document
    def scenario(self) -> Scenario:
        top = self.mapping(self.root, "a scenario")
        for key, (key_node, _) in top.items():
            if key not in _TOP_LEVEL:
                raise self.fail(
                    key_node, f"unknown top-level key {key!r} (known: {', '.join(_TOP_LEVEL)})"
                )
        if "name" not in top:
            raise self.fail(self.root, "missing 'name' (the scenario's id)")
        if "steps" not in top:
            raise self.fail(self.root, "missing 'steps'")
        name = self.checked(FieldSpec(_text), top["name"][1], "'name'")
        if not name.strip():
            raise self.fail(top["name"][1], "'name' is empty")
        title = self.checked(FieldSpec(_text), top["title"][1], "'title'") if "title" in top else ""
        description = (
            self.checked(FieldSpec(_text), top["description"][1], "'description'")
            if "description" in top
            else ""
        )
        timeout = (
            self.checked(FieldSpec(_number(0.001)), top["timeout"][1], "'timeout'")
            if "timeout" in top
            else DEFAULT_SCENARIO_TIMEOUT
        )
        profile = DEFAULT_PROFILE
        network_map: tuple[str, ...] = ()
        allow_external = False
        if "module" in top:
            module = self.mapping(top["module"][1], "'module'")
            for key, (key_node, _) in module.items():
                if key not in _MODULE_KEYS:
                    raise self.fail(
                        key_node,
                        f"'module': unknown key {key!r} (known: {', '.join(_MODULE_KEYS)})",
                    )
            if "map" in module:
                network_map = self.network_map(module["map"][1])
            if "allow_external" in module:
                allow_external = self.checked(
                    FieldSpec(_boolean), module["allow_external"][1], "'module.allow_external'"
                )
            if "profile" in module:
                profile = self.checked(FieldSpec(_text), module["profile"][1], "'module.profile'")
                if profile.endswith(".json") and not Path(profile).is_absolute():
                    # a profile file next to the scenario, wherever the run starts from
                    profile = str(Path(self.file).parent / profile)
                problem = profile_problem(profile)
                if problem is not None:
                    raise self.fail(module["profile"][1], f"'module.profile': {problem}")
        variables: dict[str, Any] = {}
        if "vars" in top:
            for key, (key_node, value_node) in self.mapping(top["vars"][1], "'vars'").items():
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                    raise self.fail(key_node, f"'vars': {key!r} is not a valid name")
                if key in BUILTIN_VARIABLES:
                    raise self.fail(key_node, f"'vars': {key!r} is set by the runner")
                value = self.value(value_node)
                if isinstance(value, dict | list) or value is None:
                    raise self.fail(value_node, f"'vars': {key} must be a string or number")
                variables[key] = value
        steps_node = top["steps"][1]
        if not isinstance(steps_node, yaml.SequenceNode) or not steps_node.value:
            raise self.fail(steps_node, "'steps' must be a non-empty list of steps")
        known_vars = set(BUILTIN_VARIABLES) | set(variables)
        steps = tuple(
            self.step(index, node, known_vars)
            for index, node in enumerate(steps_node.value, start=1)
        )
        return Scenario(
            name=name,
            title=title,
            description=description,
            profile=profile,
            variables=variables,
            timeout=timeout,
            steps=steps,
            where=self.where(self.root),
            source=self.file,
            network_map=network_map,
            allow_external=allow_external,
        )

    def network_map(self, node: yaml.Node) -> tuple[str, ...]:
        """``module.map``: NAME=ADDR / HOST:PORT=ADDR:PORT entries, checked unless they use
        ``${names}`` (those are checked once the runner has substituted them)."""
        from emulator.adapters.netmap import NetworkMapError, parse_entry

        entries = self.checked(FieldSpec(_text_list), node, "'module.map'")
        items = node.value if isinstance(node, yaml.SequenceNode) else []
        for entry, item in zip(entries, items, strict=False):
            if _VARIABLE.search(entry):
                continue
            try:
                parse_entry(entry)
            except NetworkMapError as exc:
                raise self.fail(item, f"'module.map': {exc}") from exc
        return tuple(entries)

    def step(self, index: int, node: yaml.Node, known_vars: set[str]) -> Step:
        what = f"step {index}"
        entries = self.mapping(node, what)
        actions = [key for key in entries if key in STEP_SPECS]
        unknown = [key for key in entries if key not in STEP_SPECS and key not in _COMMON_FIELDS]
        if not actions:
            if unknown:
                key_node = entries[unknown[0]][0]
                raise self.fail(
                    key_node,
                    f"{what}: unknown step {unknown[0]!r} (steps are: {', '.join(STEP_SPECS)})",
                )
            raise self.fail(node, f"{what}: no action (steps are: {', '.join(STEP_SPECS)})")
        if len(actions) > 1:
            raise self.fail(
                entries[actions[1]][0], f"{what}: one action per step, got {' and '.join(actions)}"
            )
        action = actions[0]
        spec = STEP_SPECS[action]
        subject = self.checked(spec.subject, entries[action][1], f"{what} ({action}):")
        allowed = spec.fields
        if spec.variants is not None:
            allowed = spec.variants[subject]
        params: dict[str, Any] = {}
        for key, (key_node, value_node) in entries.items():
            if key == action or key in _COMMON_FIELDS:
                continue
            if key not in allowed:
                known = ", ".join(allowed) or "none"
                kind = f"{action} {subject}" if spec.variants is not None else action
                raise self.fail(
                    key_node, f"{what} ({kind}): unknown field {key!r} (known: {known})"
                )
            params[key] = self.checked(allowed[key], value_node, f"{what} ({action}): {key!r}")
        for key, field_spec in allowed.items():
            if key not in params:
                if field_spec.required:
                    raise self.fail(node, f"{what} ({action}): missing field {key!r}")
                params[key] = field_spec.default
        self.check_combinations(action, subject, params, node, what)
        label = None
        if "name" in entries:
            label = self.checked(_COMMON_FIELDS["name"], entries["name"][1], f"{what}: 'name'")
        self.check_variables(node, known_vars, what)
        step_type = STEP_TYPES[action]
        values = {FIELD_NAMES.get(key, key): value for key, value in params.items()}
        values[step_type.subject_field] = subject
        return step_type(index=index, where=self.where(node), label=label, **values)

    def check_combinations(
        self, action: str, subject: Any, params: dict[str, Any], node: yaml.Node, what: str
    ) -> None:
        if params.get("expect") is not None and params.get("match") is not None:
            raise self.fail(node, f"{what} ({action}): give 'expect' or 'match', not both")
        after, within = params.get("after"), params.get("within")
        if after is not None and within is not None and after >= within:
            raise self.fail(node, f"{what} ({action}): 'after' must be less than 'within'")
        if action == "write_attributes" and all(
            params[k] is None for k in ("pmin", "pmax", "gt", "lt", "st")
        ):
            raise self.fail(node, f"{what} (write_attributes): give at least one attribute")
        both_or_neither = (params.get("data") is None) == (params.get("hex") is None)
        if action == "tcp_peer" and subject in ("send", "expect") and both_or_neither:
            raise self.fail(node, f"{what} (tcp_peer {subject}): give 'data' or 'hex'")
        if action == "configure_bootstrap" and params["security"] == "psk":
            for key in ("identity", "key"):
                if params[key] is None:
                    raise self.fail(node, f"{what} (configure_bootstrap): psk needs {key!r}")

    def check_variables(self, node: yaml.Node, known: set[str], what: str) -> None:
        """Every ``${name}`` in the step must be defined (found now, not halfway through)."""
        for scalar in _scalars(node):
            if not isinstance(scalar.value, str):
                continue
            for match in _VARIABLE.finditer(scalar.value):
                if match.group(1) not in known:
                    raise self.fail(
                        scalar,
                        f"{what}: unknown variable ${{{match.group(1)}}} "
                        f"(known: {', '.join(sorted(known))})",
                    )


def profile_problem(name: str) -> str | None:
    """Why the module profile ``name`` cannot be used (None: it can)."""
    from emulator.module.profile import ProfileError, load_profile
    from emulator.module.virtual import build_registry

    try:
        build_registry(load_profile(name))
    except (ProfileError, ValueError) as exc:
        return str(exc)
    return None


def _scalars(node: yaml.Node) -> list[yaml.ScalarNode]:
    if isinstance(node, yaml.ScalarNode):
        return [node]
    found: list[yaml.ScalarNode] = []
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            found.extend(_scalars(child))
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            found.extend(_scalars(key))
            found.extend(_scalars(value))
    return found


def substitute(value: Any, variables: Mapping[str, Any]) -> Any:
    """``value`` with every ``${name}`` replaced (recursively through lists and mappings).

    A string that is exactly one ``${name}`` takes the variable's value as is (so a number
    stays a number); otherwise the text form is spliced in.
    """
    if isinstance(value, str):
        whole = _VARIABLE.fullmatch(value)
        if whole is not None:
            return variables[whole.group(1)]
        return _VARIABLE.sub(lambda m: str(variables[m.group(1)]), value)
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if isinstance(value, tuple):
        return tuple(substitute(v, variables) for v in value)
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    return value


def substitute_text(value: str, variables: Mapping[str, Any]) -> str:
    """Like :func:`substitute` but always text (for AT lines, URCs, regexes, paths)."""
    return _VARIABLE.sub(lambda m: str(variables[m.group(1)]), value)
