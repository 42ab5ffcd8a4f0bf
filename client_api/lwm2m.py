"""QuecPython's ``lwm2m`` on a PC: the document's API, carried out over the module's AT port.

Usage is the device's::

    from client_api import lwm2m      # on the device: import lwm2m
    lw = lwm2m()                      # the module object is callable, as on the device
    lw.config(lw.Security, [1, 1000, "coap://127.0.0.1:5683", 0, 3])

Every method returns the document's integer codes; nothing here raises for a module
that refuses, times out or vanishes (the reason is logged at WARNING instead). The one
exception is creating the object with no port named at all
(:class:`~client_api.errors.PortNotConfigured`), which is a set-up mistake on the PC.

``config`` maps onto ``AT+QLWCFG`` (QuecPython's lwm2m documentation). Lists are checked against the
document's field table before anything is sent; a list that does not fit returns -1 and
sends nothing. The module's ``+CME ERROR: 4`` (operation not supported, 27.007 §9.2)
returns -2; every other error returns -1.
"""

from __future__ import annotations

import logging
import sys
import threading
import types
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from client_api.at_args import BadArgument, check_string, render
from client_api.at_data import CME_OPERATION_NOT_SUPPORTED
from client_api.at_session import UrcReceived
from client_api.channel import AtChannel, AtResponse
from client_api.errors import AtChannelError, CmeError
from client_api.lwm2m_events import URC_PREFIX, callback_args
from client_api.ports import default_channel

log = logging.getLogger(__name__)

# QuecPython's config-type constants: the Helios C layer's enum values (helios_lwm2m.h).
Security = 1
Server = 2
Epnamemode = 4
Urc = 5
Fota = 7
Reset = 9
Epname = 15

OK = 0
FAILED = -1
UNSUPPORTED = -2

STAT_VALUES = range(0, 5)  # 0 not registered .. 4 login failed (the document's stat())
EPNAME_MAX = 63  # Helios keeps the name in char[64] (helios_lwm2m.h)


# --------------------------------------------------------------------- field table
@dataclass(frozen=True, kw_only=True)
class IntField:
    name: str
    allowed: range | frozenset[int] | None = None  # None: any integer >= 0

    def check(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadArgument(f"{self.name} must be an integer, got {value!r}")
        if self.allowed is None:
            if value < 0:
                raise BadArgument(f"{self.name} must not be negative, got {value}")
        elif value not in self.allowed:
            raise BadArgument(f"{self.name} must be in {_describe(self.allowed)}, got {value}")
        return value


@dataclass(frozen=True, kw_only=True)
class StrField:
    name: str
    max_length: int | None = None
    choices: frozenset[str] | None = None
    may_be_empty: bool = False

    def check(self, value: object) -> str:
        if not isinstance(value, str):
            raise BadArgument(f"{self.name} must be a string, got {value!r}")
        check_string(value, self.name)
        if not value and not self.may_be_empty:
            raise BadArgument(f"{self.name} must not be empty")
        if self.max_length is not None and len(value) > self.max_length:
            raise BadArgument(f"{self.name} is longer than {self.max_length} characters")
        if self.choices is not None and value not in self.choices:
            raise BadArgument(f"{self.name} must be one of {sorted(self.choices)}, got {value!r}")
        return value


Field = IntField | StrField


def _describe(allowed: range | frozenset[int]) -> str:
    if isinstance(allowed, range):
        return f"{allowed.start}-{allowed.stop - 1}"
    return "{" + ",".join(str(v) for v in sorted(allowed)) + "}"


ONE_DAY = range(1, 86401)
FLAG = frozenset({0, 1})
SERVER_ID = IntField(name="serverID", allowed=range(0, 4))  # AT range (0-3), EG25-G's AT+QLWCFG=?

SECURITY_FIELDS: tuple[Field, ...] = (
    SERVER_ID,
    IntField(name="SSID", allowed=range(1, 65536)),
    StrField(name="server_addr", max_length=256),
    IntField(name="bootstrap", allowed=FLAG),
    IntField(name="security_mode", allowed=frozenset({0, 3})),
    StrField(name="psk_id"),
    StrField(name="psk_key"),
)
SERVER_FIELDS: tuple[Field, ...] = (
    SERVER_ID,
    IntField(name="life_time", allowed=ONE_DAY),
    IntField(name="pmin", allowed=ONE_DAY),
    IntField(name="pmax", allowed=ONE_DAY),
    IntField(name="disable_timeout", allowed=ONE_DAY),
    IntField(name="storing", allowed=FLAG),
    StrField(name="binding_mode", choices=frozenset({"U", "UQ", "S", "SQ", "US", "UQS"})),
)


@dataclass(frozen=True, kw_only=True)
class ConfigType:
    """One row of the document's config table and its ``AT+QLWCFG`` sub-command."""

    at_name: str
    fields: tuple[Field, ...]
    lengths: frozenset[int]  # list lengths the document allows

    def arguments(self, values: Sequence[object]) -> list[int | str]:
        if len(values) not in self.lengths:
            allowed = " or ".join(str(n) for n in sorted(self.lengths))
            raise BadArgument(f"{self.at_name}: list of {len(values)}, expected {allowed}")
        return [spec.check(value) for spec, value in zip(self.fields, values, strict=False)]


CONFIG_TYPES: dict[int, ConfigType] = {
    # [serverID] clears that instance (QuecPython's lwm2m documentation); 5 fields without
    # PSK, 7 with.
    Security: ConfigType(at_name="security", fields=SECURITY_FIELDS, lengths=frozenset({1, 5, 7})),
    Server: ConfigType(at_name="server", fields=SERVER_FIELDS, lengths=frozenset({7})),
    Epnamemode: ConfigType(
        at_name="epname/mode", fields=(IntField(name="mode"),), lengths=frozenset({1})
    ),
    Urc: ConfigType(
        at_name="urc", fields=(IntField(name="URC_onoff", allowed=FLAG),), lengths=frozenset({1})
    ),
    Fota: ConfigType(
        at_name="fota",
        fields=(IntField(name="download", allowed=FLAG), IntField(name="update", allowed=FLAG)),
        lengths=frozenset({2}),
    ),
    Reset: ConfigType(at_name="reset", fields=(), lengths=frozenset({0})),
    Epname: ConfigType(
        at_name="epname",
        fields=(StrField(name="epname", max_length=EPNAME_MAX),),
        lengths=frozenset({1}),
    ),
}


def config_command(config_type: int, config_list: Sequence[object]) -> str:
    """The ``AT+QLWCFG`` line for a config call; raises BadArgument when it does not fit."""
    spec = CONFIG_TYPES[config_type]
    values = spec.arguments(config_list)
    if config_type == Security and len(values) >= 5:
        mode = values[4]
        if mode == 0 and len(values) != 7:
            raise BadArgument("security_mode 0 (PSK) needs psk_id and psk_key")
    tail = render(values)
    return f'AT+QLWCFG="{spec.at_name}"' + (f",{tail}" if tail else "")


# ------------------------------------------------------------------- callback slot
class _CallbackSlot:
    """The one LwM2M callback of a channel: on the device it is one per firmware, and
    every ``lwm2m`` object's ``register_call`` replaces it."""

    def __init__(self, channel: AtChannel) -> None:
        self.callback: Callable[[list[object]], object] | None = None
        channel.add_urc_listener(self._on_urc, prefix=URC_PREFIX)

    def _on_urc(self, urc: UrcReceived) -> None:
        callback = self.callback
        if callback is not None:
            callback(callback_args(urc.line))


_slots: weakref.WeakKeyDictionary[AtChannel, _CallbackSlot] = weakref.WeakKeyDictionary()
_slots_lock = threading.Lock()


def _slot_for(channel: AtChannel) -> _CallbackSlot:
    with _slots_lock:
        slot = _slots.get(channel)
        if slot is None:
            slot = _slots[channel] = _CallbackSlot(channel)
        return slot


def has_callback(channel: AtChannel) -> bool:
    """Whether a script registered an LwM2M callback on ``channel`` (used by the runtime)."""
    with _slots_lock:
        slot = _slots.get(channel)
    return slot is not None and slot.callback is not None


# --------------------------------------------------------------------- the object
class lwm2m:  # QuecPython names the class lwm2m
    """One LwM2M object, as ``lwm2m()`` returns it on the device."""

    Security = Security
    Server = Server
    Epnamemode = Epnamemode
    Urc = Urc
    Fota = Fota
    Reset = Reset
    Epname = Epname

    def __init__(self, channel: AtChannel | None = None) -> None:
        self._channel = channel if channel is not None else default_channel()

    def init(self) -> int:
        """0 when the module answers ``AT``, -1 otherwise."""
        return OK if self._send("AT") is not None else FAILED

    def config(self, config_type: object, config_list: object) -> int:
        """``AT+QLWCFG``; 0 done, -1 failed or list does not fit, -2 not supported."""
        if isinstance(config_type, bool) or not isinstance(config_type, int):
            log.warning("lwm2m.config: config_type %r is not an integer", config_type)
            return FAILED
        if config_type not in CONFIG_TYPES:
            log.warning("lwm2m.config: config_type %d is not supported", config_type)
            return UNSUPPORTED
        if not isinstance(config_list, list | tuple):
            log.warning("lwm2m.config: config_list must be a list, got %r", config_list)
            return FAILED
        try:
            line = config_command(config_type, config_list)
        except BadArgument as exc:
            log.warning("lwm2m.config: %s; nothing sent", exc)
            return FAILED
        return self._result_code(line)

    def register(self) -> int:
        """``AT+QLWREG``: 0 when the module took the request; the outcome comes as a URC."""
        return OK if self._send("AT+QLWREG") is not None else FAILED

    def unregister(self) -> int:
        """``AT+QLWDEREG``: 0 when the module took the request."""
        return OK if self._send("AT+QLWDEREG") is not None else FAILED

    def update(self, ssid: object) -> int:
        """``AT+QLWUPDATE=<ssid>``: 0 when the module took the request."""
        if isinstance(ssid, bool) or not isinstance(ssid, int) or not 0 <= ssid <= 65535:
            log.warning("lwm2m.update: ssid must be an integer 0-65535, got %r", ssid)
            return FAILED
        return OK if self._send(f"AT+QLWUPDATE={ssid}") is not None else FAILED

    def stat(self) -> int:
        """``AT+QLWSTAT?``: 0 not registered, 1 registering, 2 registered,
        3 deregistering, 4 login failed; -1 when it cannot be read."""
        response = self._send("AT+QLWSTAT?")
        value = response.value("+QLWSTAT:") if response is not None else None
        if value is None or not value.isdigit() or int(value) not in STAT_VALUES:
            if response is not None:
                log.warning("lwm2m.stat: unexpected answer %r", response.lines)
            return FAILED
        return int(value)

    def register_call(self, usrfun: object) -> int:
        """Set (or with None remove) the callback that gets
        ``[event_type, event_code, "+QLWURC: ..."]`` for every LwM2M URC."""
        if usrfun is not None and not callable(usrfun):
            log.warning("lwm2m.register_call: %r is not callable", usrfun)
            return FAILED
        _slot_for(self._channel).callback = usrfun
        return OK

    # ------------------------------------------------------------------ helpers
    def _send(self, command: str) -> AtResponse | None:
        try:
            return self._channel.command(command)
        except AtChannelError as exc:
            log.warning("lwm2m: %s", exc)
            return None

    def _result_code(self, command: str) -> int:
        try:
            self._channel.command(command)
        except CmeError as exc:
            log.warning("lwm2m: %s", exc)
            return UNSUPPORTED if exc.code == CME_OPERATION_NOT_SUPPORTED else FAILED
        except AtChannelError as exc:
            log.warning("lwm2m: %s", exc)
            return FAILED
        return OK


class _CallableModule(types.ModuleType):
    """``import lwm2m; lw = lwm2m()`` works on the device; so does calling this module."""

    def __call__(self, *args: Any, **kwargs: Any) -> lwm2m:
        return lwm2m(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
