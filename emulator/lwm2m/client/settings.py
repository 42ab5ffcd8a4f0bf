"""The ``"lwm2m"`` section of a module profile: what one firmware build's LwM2M client does.

Everything a firmware build may differ in is data here, not code: which ``AT+QLWCFG``
sub-commands exist and in which order ``AT+QLWCFG=?`` lists them, the endpoint-name modes,
the factory defaults, the URC texts, the LwM2M version, the content formats, the objects the
client carries, timing bounds (DTLS handshake, bootstrap, queue-mode awake window) and the
CoAP transmission parameters (RFC 7252 §4.8). ``ClientSettings.from_profile`` checks the
section and says what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.lwm2m.client.events import NoticeKind
from emulator.lwm2m.suites import DEFAULT_CLIENT_SUITES, check_suites
from emulator.module.profile import ModuleProfile, ProfileError

# Settings already parsed, by profile (see ClientSettings.from_profile).
MAX_CACHED_PROFILES = 16
_FROM_PROFILE: dict[int, tuple[ModuleProfile, ClientSettings]] = {}

# The sub-commands the AT family knows how to run (EG25-G's AT+QLWCFG=? and QuecOpen's LwM2M
# C API); a profile picks from these.
KNOWN_SUBCOMMANDS = (
    "security",
    "server",
    "epname/mode",
    "epname",
    "urc",
    "startup",
    "fota",
    "hostdevice",
    "reset",
    "nettype",
    "maxreconntime",
    "apnretry",
)

# URC names of the QuecPython document's event table, plus the two FOTA notices we infer: one
# template per kind of notice the client reports.
KNOWN_URCS = tuple(kind.value for kind in NoticeKind)

# Fields a URC template may use: {result} is "successfully"/"failed", the rest are values.
URC_FIELDS = (
    "result",
    "ssid",
    "apn",
    "code",
    "url",
    "user",
    "password",
    "type",
    "lifetime",
    "time",
    "size",
)


@dataclass(frozen=True, kw_only=True)
class ServerDefaults:
    """Factory values of ``AT+QLWCFG="server"`` (QuecPython document: 86400 s each)."""

    lifetime: int = 86400
    pmin: int = 86400
    pmax: int = 86400
    disable_timeout: int = 86400
    storing: int = 0
    binding: str = "U"


@dataclass(frozen=True, kw_only=True)
class ConfigDefaults:
    """Factory values of the module-wide sub-commands."""

    epname_mode: int = 3
    epname: str = ""
    urc: int = 1
    startup: int = 0
    fota: tuple[int, int] = (1, 1)
    hostdevice: tuple[int, str, str, str, str, str, str, int] = (
        0,
        "HUID0",
        "HMAN0",
        "HMOD0",
        "HSW0",
        "HFW0",
        "HHW0",
        1,
    )
    nettype: int = 0
    maxreconntime: tuple[int, int, int] = (30, 3600, 0)
    apnretry: tuple[int, int, int] = (0, 0, 0)
    server: ServerDefaults = field(default_factory=ServerDefaults)


@dataclass(frozen=True, kw_only=True)
class CoapTuning:
    """RFC 7252 §4.8 transmission parameters for the client's confirmable requests."""

    ack_timeout: float = 2.0
    ack_random_factor: float = 1.5
    max_retransmit: int = 4
    # Observe notifications as NON (Wakaama's default, which Quectel's client is built on) or
    # CON (RFC 7641 §4.5 allows both).
    confirmable_notifications: bool = False

    @property
    def max_transmit_wait(self) -> float:
        """RFC 7252 §4.8.2 MAX_TRANSMIT_WAIT: how long a CON request may stay unanswered."""
        factor: float = 2 ** (self.max_retransmit + 1) - 1
        return self.ack_timeout * factor * self.ack_random_factor


@dataclass(frozen=True, kw_only=True)
class Timing:
    """Bounds and delays, in seconds."""

    dtls_handshake_timeout: float = 10.0  # a wrong PSK is often dropped silently
    bootstrap_timeout: float = 60.0  # from Bootstrap-Request to Bootstrap-Finish
    queue_awake: float = 93.0  # TS 1.0 §7.3 queue mode: MAX_TRANSMIT_WAIT by default
    update_margin: float = 10.0  # send the Update this long before the lifetime runs out
    # ...and up to this much earlier still, by a share fixed per endpoint name (at most half
    # the time until the Update is due): a fleet that registered at once does not update at
    # once, and the same endpoint always picks the same moment (repeatable runs).
    update_spread: float = 0.0
    reboot_delay: float = 0.1  # a Reboot execute answers 2.04 first, then the module goes down
    firmware_apply: float = 0.5  # state Updating before the module restarts on new firmware
    pdp_reactivate: float = 1.0  # the context went down under a live radio: try again after
    response_timeout: float = 0.0  # 0: RFC 7252 MAX_TRANSMIT_WAIT from the CoAP tuning


@dataclass(frozen=True, kw_only=True)
class Limits:
    """The module's own value ranges, enforced alike on ``AT+QLWCFG`` and on server writes
    (a server write outside them is 4.00 Bad Request, nothing stored, no URC).

    Seconds follow the QuecPython document (lifetime, pmin, pmax, disable_timeout: 1-86400).
    ``current_time`` bounds /3/0/13 to what ``AT+CCLK`` can show (27.007 §8.15: two-digit
    years, 2000-2099). Text lengths follow the AT commands that show the values (``AT+CGDCONT``
    APN 99, ``AT+QICSGP`` user and password 127, ``AT+QLWCFG`` addresses and PSK fields 256);
    ``string_bytes`` bounds any other string or opaque value a server writes.
    """

    lifetime: tuple[int, int] = (1, 86400)
    pmin: tuple[int, int] = (1, 86400)
    pmax: tuple[int, int] = (1, 86400)
    disable_timeout: tuple[int, int] = (1, 86400)
    current_time: tuple[int, int] = (946684800, 4102444799)
    apn_length: int = 99
    user_length: int = 127
    password_length: int = 127
    address_length: int = 256
    psk_field_length: int = 256
    string_bytes: int = 4096


@dataclass(frozen=True, kw_only=True)
class DeviceInfo:
    """Device (/3) and Connectivity Monitoring (/4) values that are not module state."""

    timezone: str = "Asia/Shanghai"
    device_type: str = "Module"
    hardware_version: str = "R1.0"
    power_sources: tuple[int, ...] = (0,)  # TS 1.0 Appendix E.4: 0 DC power
    network_bearer: int = 6  # TS 1.0 Appendix E.5: 6 LTE FDD
    available_bearers: tuple[int, ...] = (6,)
    supported_bindings: str = "UQ"


@dataclass(frozen=True, kw_only=True)
class FirmwareInfo:
    """Firmware Update (/5) limits of this build."""

    max_package_bytes: int = 8 * 1024 * 1024
    protocols: tuple[int, ...] = (0, 2, 3)  # /5/0/8: 0 CoAP, 2 HTTP 1.1, 3 HTTPS
    delivery_method: int = 2  # /5/0/9: 0 pull, 1 push, 2 both


@dataclass(frozen=True, kw_only=True)
class ClientSettings:
    """The parsed ``"lwm2m"`` profile section."""

    lwm2m_version: str = "1.0"
    subcommands: tuple[str, ...] = KNOWN_SUBCOMMANDS
    epname_modes: Mapping[int, str] = field(
        default_factory=lambda: {
            1: "{epname}",
            3: "urn:imei:{imei}",
            6: "urn:imei-msisdn:{imei}-{msisdn}",
            7: "urn:imei-imsi:{imei}-{imsi}",
        }
    )
    security_modes: tuple[int, ...] = (0, 3)
    # DTLS-PSK cipher suites the client offers, in order (IANA names; LwM2M 1.0 §7.1.7).
    dtls_cipher_suites: tuple[str, ...] = DEFAULT_CLIENT_SUITES
    bindings: tuple[str, ...] = ("U", "UQ", "S", "SQ", "US", "UQS")
    defaults: ConfigDefaults = field(default_factory=ConfigDefaults)
    pdp_cid: int = 1
    objects: tuple[int, ...] = (0, 1, 3, 4, 5, 11)
    register_content_format: int | None = 11542
    content_formats: tuple[int, ...] = (0, 42, 11542, 11543)
    preferred_format: int = 11542
    timing: Timing = field(default_factory=Timing)
    coap: CoapTuning = field(default_factory=CoapTuning)
    device: DeviceInfo = field(default_factory=DeviceInfo)
    firmware: FirmwareInfo = field(default_factory=FirmwareInfo)
    limits: Limits = field(default_factory=Limits)
    urcs: Mapping[str, str | None] = field(default_factory=dict)
    flows: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_profile(cls, profile: ModuleProfile) -> ClientSettings:
        """Settings from the profile's ``"lwm2m"`` section (``ProfileError`` if malformed).
        The modules of one profile share one (frozen) settings object: a fleet of 10,000
        would otherwise parse the same section 10,000 times and keep as many copies."""
        cached = _FROM_PROFILE.get(id(profile))
        if cached is not None and cached[0] is profile:
            return cached[1]
        raw = profile.sections.get("lwm2m")
        if raw is None:
            raise ProfileError(f'profile {profile.name} has no "lwm2m" section')
        settings = cls.from_dict(raw, where=f"profile {profile.name} lwm2m")
        while len(_FROM_PROFILE) >= MAX_CACHED_PROFILES:
            del _FROM_PROFILE[next(iter(_FROM_PROFILE))]
        _FROM_PROFILE[id(profile)] = (profile, settings)  # holding it keeps its id unique
        return settings

    @classmethod
    def from_dict(cls, raw: Any, *, where: str = "lwm2m") -> ClientSettings:
        if not isinstance(raw, dict):
            raise ProfileError(f"{where}: must be a JSON object")
        reader = _Reader(raw, where)
        version = reader.choice("lwm2m_version", ("1.0", "1.1"), "1.0")
        subcommands = reader.str_list("subcommands", KNOWN_SUBCOMMANDS)
        for name in subcommands:
            if name not in KNOWN_SUBCOMMANDS:
                raise ProfileError(f"{where}: unknown sub-command {name!r}")
        modes_raw = reader.obj("epname_modes")
        epname_modes = cls().epname_modes
        if modes_raw is not None:
            epname_modes = {}
            for key, template in modes_raw.items():
                if not key.isdigit() or not isinstance(template, str):
                    raise ProfileError(f"{where}: epname_modes maps mode numbers to templates")
                _check_template(template, ("imei", "imsi", "msisdn", "epname"), where)
                epname_modes[int(key)] = template
        defaults = _defaults(reader.obj("defaults") or {}, f"{where} defaults")
        if defaults.epname_mode not in epname_modes:
            raise ProfileError(f"{where}: default epname mode {defaults.epname_mode} is not listed")
        urcs: dict[str, str | None] = dict(_DEFAULT_URCS)
        for name, template in (reader.obj("urcs") or {}).items():
            if name not in KNOWN_URCS:
                raise ProfileError(f"{where}: unknown URC {name!r}")
            if template is not None and not isinstance(template, str):
                raise ProfileError(f"{where}: URC {name!r} is a template string or null")
            if template is not None:
                _check_template(template, URC_FIELDS, where)
            urcs[name] = template
        flows: dict[str, tuple[str, ...]] = {}
        for name, steps in (reader.obj("flows") or {}).items():
            if not isinstance(steps, list) or not all(s in KNOWN_URCS for s in steps):
                raise ProfileError(f"{where}: flow {name!r} is a list of URC names")
            flows[name] = tuple(steps)
        formats = _formats(reader, version)
        suites = reader.str_list("dtls_cipher_suites", DEFAULT_CLIENT_SUITES)
        try:
            check_suites(suites)
        except ValueError as exc:
            raise ProfileError(f"{where}: dtls_cipher_suites: {exc}") from None
        preferred = reader.integer("preferred_format", 11542)
        if preferred not in formats:
            raise ProfileError(f"{where}: preferred_format {preferred} is not in content_formats")
        return cls(
            lwm2m_version=version,
            subcommands=subcommands,
            epname_modes=epname_modes,
            security_modes=reader.int_list("security_modes", (0, 3)),
            dtls_cipher_suites=suites,
            bindings=reader.str_list("bindings", ("U", "UQ", "S", "SQ", "US", "UQS")),
            defaults=defaults,
            pdp_cid=reader.integer("pdp_cid", 1),
            objects=reader.int_list("objects", (0, 1, 3, 4, 5, 11)),
            register_content_format=reader.optional_int("register_content_format", 11542),
            content_formats=formats,
            preferred_format=preferred,
            timing=_timing(reader.obj("timing_ms") or {}, f"{where} timing_ms"),
            coap=_coap(reader.obj("coap") or {}, f"{where} coap"),
            device=_device(reader.obj("device") or {}, f"{where} device"),
            firmware=_firmware(reader.obj("firmware") or {}, f"{where} firmware"),
            limits=_limits(reader.obj("limits") or {}, f"{where} limits"),
            urcs=urcs,
            flows=flows,
        )


# The document's event table (QuecPython lwm2m, "Event-Description"): strings quoted, numbers
# bare. "fota/downloaded" is ours [inferred]: the manual-update notice.
_DEFAULT_URCS: dict[str, str | None] = {
    "pdp active": '"pdp active","{result}","{apn}"',
    "initial": '"initial","{result}",{ssid}',
    "dtls": '"dtls","{result}",{ssid}',
    "bootstraping": '"bootstraping"',
    "bootstrap": '"bootstrap","{result}",{ssid}',
    "registering": '"registering"',
    "ready": '"ready","{result}",{ssid}',
    "update": '"update","{result}",{ssid}',
    "deregister": '"deregister",{ssid},{code}',
    "fota/pkgurl": '"fota/pkgurl","{url}"',
    "fota/downloaded": '"fota/downloaded",{size}',
    "apn_changed": '"apn_changed","{apn}"',
    "user_name_changed": '"user_name_changed","{user}"',
    "secret_changed": '"secret_changed","{password}"',
    "authentication_type_changed": '"authentication_type_changed",{type}',
    "lifetime_changed": '"lifetime_changed",{lifetime}',
    "current_time_changed": '"current_time_changed",{time}',
}


def _check_template(template: str, allowed: tuple[str, ...], where: str) -> None:
    try:
        template.format(**{name: "" for name in allowed})
    except (KeyError, IndexError, ValueError) as exc:
        raise ProfileError(f"{where}: template {template!r} uses an unknown field {exc}") from None


class _Reader:
    def __init__(self, raw: dict[str, Any], where: str) -> None:
        self.raw = raw
        self.where = where

    def _get(self, key: str) -> Any:
        return self.raw.get(key)

    def integer(self, key: str, default: int) -> int:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(f"{self.where}: {key} must be an integer, got {value!r}")
        return value

    def optional_int(self, key: str, default: int | None) -> int | None:
        if key in self.raw and self.raw[key] is None:
            return None
        return self.integer(key, default) if default is not None else self.integer(key, 0)

    def number(self, key: str, default: float) -> float:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ProfileError(f"{self.where}: {key} must be a number >= 0, got {value!r}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ProfileError(f"{self.where}: {key} must be true or false, got {value!r}")
        return value

    def text(self, key: str, default: str) -> str:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise ProfileError(f"{self.where}: {key} must be a string, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise ProfileError(f"{self.where}: {key} must be one of {list(choices)}")
        return value

    def str_list(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ProfileError(f"{self.where}: {key} must be a list of strings")
        return tuple(value)

    def int_list(self, key: str, default: tuple[int, ...]) -> tuple[int, ...]:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ProfileError(f"{self.where}: {key} must be a list of integers")
        return tuple(value)

    def obj(self, key: str) -> dict[str, Any] | None:
        value = self._get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ProfileError(f"{self.where}: {key} must be a JSON object")
        return value


# Content formats by LwM2M version: text, opaque, TLV, LwM2M JSON (TS 1.0 §6.4); 1.1 adds
# CBOR and SenML JSON (TS 1.1 §7.4).
DEFAULT_FORMATS: dict[str, tuple[int, ...]] = {
    "1.0": (0, 42, 11542, 11543),
    "1.1": (0, 42, 60, 110, 11542, 11543),
}


def _formats(reader: _Reader, version: str) -> tuple[int, ...]:
    """``"content_formats"``: a list, or an object keyed by LwM2M version (so that a profile
    extending this one and switching ``lwm2m_version`` gets that version's formats)."""
    raw = reader.raw.get("content_formats")
    if isinstance(raw, dict):
        per_version = _Reader(raw, f"{reader.where} content_formats")
        return per_version.int_list(version, DEFAULT_FORMATS[version])
    return reader.int_list("content_formats", DEFAULT_FORMATS[version])


def _limits(raw: dict[str, Any], where: str) -> Limits:
    reader = _Reader(raw, where)
    base = Limits()
    values: dict[str, Any] = {}
    for name in Limits.__dataclass_fields__:
        default = getattr(base, name)
        if isinstance(default, tuple):
            pair = reader.int_list(name, default)
            if len(pair) != 2 or pair[0] > pair[1]:
                raise ProfileError(f"{where}: {name} is [lowest, highest]")
            values[name] = (pair[0], pair[1])
        else:
            values[name] = reader.integer(name, default)
            if values[name] < 1:
                raise ProfileError(f"{where}: {name} must be at least 1")
    return Limits(**values)


def _triple(reader: _Reader, key: str, default: tuple[int, int, int]) -> tuple[int, int, int]:
    values = reader.int_list(key, default)
    if len(values) != 3:
        raise ProfileError(f"{reader.where}: {key} has three numbers")
    return values[0], values[1], values[2]


def _defaults(raw: dict[str, Any], where: str) -> ConfigDefaults:
    reader = _Reader(raw, where)
    base = ConfigDefaults()
    fota = reader.int_list("fota", base.fota)
    if len(fota) != 2:
        raise ProfileError(f"{where}: fota has two numbers")
    host = raw.get("hostdevice", list(base.hostdevice))
    if (
        not isinstance(host, list)
        or len(host) != 8
        or not isinstance(host[0], int)
        or not isinstance(host[7], int)
        or not all(isinstance(v, str) for v in host[1:7])
    ):
        raise ProfileError(f"{where}: hostdevice is [n, six strings, upgrade_time]")
    server_reader = _Reader(reader.obj("server") or {}, f"{where} server")
    sbase = base.server
    server = ServerDefaults(
        lifetime=server_reader.integer("lifetime", sbase.lifetime),
        pmin=server_reader.integer("pmin", sbase.pmin),
        pmax=server_reader.integer("pmax", sbase.pmax),
        disable_timeout=server_reader.integer("disable_timeout", sbase.disable_timeout),
        storing=server_reader.integer("storing", sbase.storing),
        binding=server_reader.text("binding", sbase.binding),
    )
    return ConfigDefaults(
        epname_mode=reader.integer("epname_mode", base.epname_mode),
        epname=reader.text("epname", base.epname),
        urc=reader.integer("urc", base.urc),
        startup=reader.integer("startup", base.startup),
        fota=(fota[0], fota[1]),
        hostdevice=(
            host[0],
            host[1],
            host[2],
            host[3],
            host[4],
            host[5],
            host[6],
            host[7],
        ),
        nettype=reader.integer("nettype", base.nettype),
        maxreconntime=_triple(reader, "maxreconntime", base.maxreconntime),
        apnretry=_triple(reader, "apnretry", base.apnretry),
        server=server,
    )


def _timing(raw: dict[str, Any], where: str) -> Timing:
    reader = _Reader(raw, where)
    base = Timing()
    values = {
        name: reader.number(name, getattr(base, name) * 1000.0) / 1000.0
        for name in Timing.__dataclass_fields__
    }
    return Timing(**values)


def _coap(raw: dict[str, Any], where: str) -> CoapTuning:
    reader = _Reader(raw, where)
    base = CoapTuning()
    tuning = CoapTuning(
        ack_timeout=reader.number("ack_timeout", base.ack_timeout),
        ack_random_factor=reader.number("ack_random_factor", base.ack_random_factor),
        max_retransmit=reader.integer("max_retransmit", base.max_retransmit),
        confirmable_notifications=reader.flag(
            "confirmable_notifications", base.confirmable_notifications
        ),
    )
    if tuning.ack_timeout <= 0 or tuning.ack_random_factor < 1 or tuning.max_retransmit < 0:
        raise ProfileError(f"{where}: RFC 7252 needs ack_timeout > 0, factor >= 1, retransmit >= 0")
    return tuning


def _device(raw: dict[str, Any], where: str) -> DeviceInfo:
    reader = _Reader(raw, where)
    base = DeviceInfo()
    return DeviceInfo(
        timezone=reader.text("timezone", base.timezone),
        device_type=reader.text("device_type", base.device_type),
        hardware_version=reader.text("hardware_version", base.hardware_version),
        power_sources=reader.int_list("power_sources", base.power_sources),
        network_bearer=reader.integer("network_bearer", base.network_bearer),
        available_bearers=reader.int_list("available_bearers", base.available_bearers),
        supported_bindings=reader.text("supported_bindings", base.supported_bindings),
    )


def _firmware(raw: dict[str, Any], where: str) -> FirmwareInfo:
    reader = _Reader(raw, where)
    base = FirmwareInfo()
    return FirmwareInfo(
        max_package_bytes=reader.integer("max_package_bytes", base.max_package_bytes),
        protocols=reader.int_list("protocols", base.protocols),
        delivery_method=reader.integer("delivery_method", base.delivery_method),
    )
