"""The MQTT control plane's topics and JSON payloads, schema version 1 (docs/control-plane.md).

Pure mapping, no I/O: module events become (topic, payload) pairs, request payloads become
typed requests or a :class:`PayloadError` that says what is wrong. Every payload is a JSON
object with ``"v": 1``; a consumer that sees a larger ``v`` knows the layout changed.

Topics under the prefix (default ``quecemu``)::

    <p>/<IMEI>/urc                each URC as the AT port shows it
    <p>/<IMEI>/event/<kind>       state changes: registration, lwm2m, pdp, signal, sim, ...
    <p>/<IMEI>/status             retained: the module's current state
    <p>/<IMEI>/at/request         in:  {"id", "line", "data"?, "timeout"?}
    <p>/<IMEI>/at/response        out: the whole response, final result code included
    <p>/<IMEI>/control/request    in:  {"id", "control", ...fields}
    <p>/<IMEI>/control/response   out: {"id", "control", "error", "result"}
    <p>/_instance/<name>          retained: one serve process (its last will says offline)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from emulator.controlplane.controls import Control, ControlError, parse_control
from emulator.lwm2m.client.events import LwM2MStatusChanged
from emulator.module.events import (
    BootCompleted,
    FunctionalityChanged,
    ModuleEvent,
    NetworkTimeReceived,
    PdpContextChanged,
    PoweredDown,
    RebootStarted,
    RegistrationChanged,
    SignalChanged,
    SimStateChanged,
)
from emulator.sms.events import SmsReceived, SmsSent
from emulator.sms.pdu import Alphabet

SCHEMA_VERSION: Final = 1
DEFAULT_PREFIX: Final = "quecemu"
MAX_PAYLOAD: Final = 64 * 1024  # bytes of one request payload
MAX_AT_TIMEOUT: Final = 300.0  # seconds a request may wait for its final result code
DEFAULT_AT_TIMEOUT: Final = 30.0
_PREFIX_RE: Final = re.compile(r"[^#+\x00]+")
_IMEI_RE: Final = re.compile(r"[0-9]{15}")


class PayloadError(ValueError):
    """A request payload that cannot be carried out; ``request_id`` when it could be read."""

    def __init__(self, reason: str, request_id: Any = None) -> None:
        super().__init__(reason)
        self.request_id = request_id


@dataclass(frozen=True)
class Topics:
    """Topic names under one prefix."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not _PREFIX_RE.fullmatch(self.prefix) or self.prefix.startswith("$"):
            raise ValueError(
                f"MQTT prefix {self.prefix!r} must be non-empty, without + # or a leading $"
            )

    def urc(self, imei: str) -> str:
        return f"{self.prefix}/{imei}/urc"

    def event(self, imei: str, kind: str) -> str:
        return f"{self.prefix}/{imei}/event/{kind}"

    def status(self, imei: str) -> str:
        return f"{self.prefix}/{imei}/status"

    def request(self, imei: str, kind: str) -> str:
        """``kind``: "at" or "control"."""
        return f"{self.prefix}/{imei}/{kind}/request"

    def response(self, imei: str, kind: str) -> str:
        return f"{self.prefix}/{imei}/{kind}/response"

    def instance(self, name: str) -> str:
        return f"{self.prefix}/_instance/{name}"

    def request_filters(self) -> list[str]:
        """What a serve process subscribes to."""
        return [f"{self.prefix}/+/at/request", f"{self.prefix}/+/control/request"]

    def parse_request(self, topic: str) -> tuple[str, str] | None:
        """(IMEI level, "at" | "control") of a request topic, or None for another topic."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head) :].split("/")
        if len(parts) != 3 or parts[2] != "request" or parts[1] not in ("at", "control"):
            return None
        return parts[0], parts[1]


def looks_like_imei(text: str) -> bool:
    return bool(_IMEI_RE.fullmatch(text))


def encode(fields: Mapping[str, Any]) -> bytes:
    """A payload: ``{"v": 1, ...}`` as compact UTF-8 JSON."""
    return json.dumps({"v": SCHEMA_VERSION, **fields}, separators=(",", ":")).encode()


# ------------------------------------------------------------------------ events
def event_fields(event: ModuleEvent) -> tuple[str, dict[str, Any]] | None:
    """(kind, fields) of an event published on ``<p>/<IMEI>/event/<kind>``, or None."""
    if isinstance(event, RegistrationChanged):
        return "registration", {
            "stat": event.stat,
            "state": event.stat.name.lower(),
            "registered": event.registered,
        }
    if isinstance(event, LwM2MStatusChanged):
        return "lwm2m", {
            "stat": int(event.status),
            "state": event.status.name.lower(),
            "previous": event.previous.name.lower(),
        }
    if isinstance(event, PdpContextChanged):
        return "pdp", {
            "cid": event.cid,
            "active": event.active,
            "address": event.address,
            "by_network": event.by_network,
        }
    if isinstance(event, SignalChanged):
        return "signal", {"rssi": event.rssi, "ber": event.ber}
    if isinstance(event, SimStateChanged):
        return "sim", {"state": event.state}
    if isinstance(event, FunctionalityChanged):
        return "functionality", {"fun": event.fun}
    if isinstance(event, RebootStarted):
        return "reboot", {
            "reason": event.reason,
            "cause": event.cause.name.lower(),
            "factory_reset": event.factory_reset,
        }
    if isinstance(event, BootCompleted):
        return "boot", {}
    if isinstance(event, PoweredDown):
        return "power", {"on": False, "reason": event.reason, "cause": event.cause.name.lower()}
    if isinstance(event, NetworkTimeReceived):
        return "network_time", {
            "unix_time": event.unix_time,
            "tz": event.tz_quarters,
            "dst": event.dst,
        }
    if isinstance(event, SmsSent):
        return "sms_sent", {
            "destination": event.destination,
            "reference": event.reference,
            "alphabet": event.alphabet,
            "text": event.text if event.alphabet is not Alphabet.DATA8 else None,
            "data": event.data.hex() if event.alphabet is Alphabet.DATA8 else None,
            "part": list(event.part) if event.part else None,
        }
    if isinstance(event, SmsReceived):
        return "sms_received", {
            "sender": event.sender,
            "text": event.text,
            "storage": event.storage,
            "index": event.index,
            "direct": event.direct,
            "rejected": event.rejected,
        }
    return None


# ---------------------------------------------------------------------- requests
@dataclass(frozen=True, kw_only=True)
class AtRequest:
    request_id: Any
    line: str
    data: str | None = None  # typed after a "> " prompt; CTRL-Z added when missing
    timeout: float = DEFAULT_AT_TIMEOUT


@dataclass(frozen=True, kw_only=True)
class ControlRequest:
    request_id: Any
    name: str
    control: Control


def _object(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD:
        raise PayloadError(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
    try:
        value = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError:
        raise PayloadError("payload is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"payload is not JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(value, dict):
        raise PayloadError(f"payload must be a JSON object, not {type(value).__name__}")
    return value


def _request_id(body: Mapping[str, Any]) -> Any:
    request_id = body.get("id")
    if request_id is not None and (
        isinstance(request_id, bool) or not isinstance(request_id, str | int)
    ):
        raise PayloadError("'id' must be a string or a whole number")
    if isinstance(request_id, str) and len(request_id) > 128:
        raise PayloadError("'id' is longer than 128 characters")
    return request_id


def _version(body: Mapping[str, Any], request_id: Any) -> None:
    version = body.get("v", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise PayloadError(
            f"schema version {version!r} is not supported (this emulator speaks {SCHEMA_VERSION})",
            request_id,
        )


def parse_at_request(payload: bytes) -> AtRequest:
    body = _object(payload)
    request_id = _request_id(body)
    _version(body, request_id)
    unknown = sorted(set(body) - {"v", "id", "line", "data", "timeout"})
    if unknown:
        raise PayloadError(f"unknown field(s) {', '.join(unknown)}", request_id)
    line = body.get("line")
    if not isinstance(line, str) or not line.strip():
        raise PayloadError("'line' must be a non-empty string such as \"AT+CSQ\"", request_id)
    if "\r" in line or "\n" in line:
        raise PayloadError("'line' is one command line: no CR or LF in it", request_id)
    data = body.get("data")
    if data is not None and not isinstance(data, str):
        raise PayloadError("'data' must be a string", request_id)
    timeout = body.get("timeout", DEFAULT_AT_TIMEOUT)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or not 0 < timeout <= MAX_AT_TIMEOUT
    ):
        raise PayloadError(f"'timeout' must be seconds in (0, {MAX_AT_TIMEOUT:g}]", request_id)
    return AtRequest(request_id=request_id, line=line, data=data, timeout=float(timeout))


def parse_control_request(payload: bytes) -> ControlRequest:
    body = _object(payload)
    request_id = _request_id(body)
    _version(body, request_id)
    name = body.get("control")
    if not isinstance(name, str):
        raise PayloadError("'control' must name a control such as \"signal\"", request_id)
    fields = {k: v for k, v in body.items() if k not in ("v", "id", "control")}
    try:
        control = parse_control(name, fields)
    except ControlError as exc:
        raise PayloadError(str(exc), request_id) from None
    return ControlRequest(request_id=request_id, name=name, control=control)


def split_response(text: str) -> tuple[list[str], str]:
    """The non-empty lines of a response and its final result code ("" when ATQ1 hid it)."""
    lines = [line for line in re.split(r"[\r\n]+", text) if line]
    final = lines[-1] if lines and _FINAL.fullmatch(lines[-1]) else ""
    return lines, final


_FINAL: Final = re.compile(
    r"OK|ERROR|NO CARRIER|BUSY|NO ANSWER|NO DIALTONE|\+CME ERROR: ?.*|\+CMS ERROR: ?.*|[0-9]"
)
