"""The objects the module's client carries, tied to the virtual module's real state.

- Security /0 and Server /1 come from ``AT+QLWCFG="security"`` / ``"server"``: Security
  instance ``<serverID>``, Server instance ``<serverID> - 1`` (serverID 0 is the bootstrap
  server, which has no Server instance; TS 1.0 §E.1-E.2).
- Device /3 reads the module's identity and clock; Reboot and Factory Reset restart the module.
- Connectivity Monitoring /4 reads the radio model (bearer, signal, IP address, APN, cell).
- Firmware Update /5 is :mod:`.firmware`'s machine.
- APN Connection Profile /11 is the PDP context the client uses; a server writing its APN,
  user name, secret or authentication type changes that context (and the host is told).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from emulator.lwm2m.constraints import at_text_problem, int_range, text_for_at_port
from emulator.lwm2m.errors import BadRequest
from emulator.lwm2m.model import Value
from emulator.lwm2m.paths import LwM2MPath
from emulator.lwm2m.store import ObjectStore
from emulator.module.events import RebootCause
from emulator.module.radio import PdpInput
from emulator.module.state import PdpContext
from emulator.module.virtual import VirtualModule

from .config import BOOTSTRAP_SERVER_ID, MODE_PSK, ClientConfig, SecurityEntry, ServerEntry
from .events import (
    ApnAuthentication,
    ApnAuthenticationWritten,
    ApnTextWritten,
    CurrentTimeWritten,
    LwM2MNotice,
    NoticeKind,
)
from .firmware import FirmwareUpdate
from .settings import ClientSettings

SECURITY, SERVER, DEVICE, CONNECTIVITY, FIRMWARE, APN_PROFILE = 0, 1, 3, 4, 5, 11

# /11/x/4 Authentication Type (TS object 11): 0 PAP, 1 CHAP, 2 PAP or CHAP, 3 None.
# The module's AT+QICSGP <authentication>: 0 none, 1 PAP, 2 CHAP, 3 PAP or CHAP.
_LWM2M_AUTH_FROM_MODULE = {0: 3, 1: 0, 2: 1, 3: 2}
_MODULE_AUTH_FROM_LWM2M = {v: k for k, v in _LWM2M_AUTH_FROM_MODULE.items()}

_UTC_OFFSET = re.compile(r"^(?:UTC)?([+-])(\d{1,2})(?::?(\d{2}))?$")


def server_instance_id(server_id: int) -> int:
    """Server object instance of an AT ``<serverID>`` (1 DM server → /1/0)."""
    return server_id - 1


def rssi_to_dbm(rssi: int) -> int:
    """27.007 §8.5 <rssi>: 0 is -113 dBm or less, 31 is -51 dBm or more, in 2 dB steps."""
    if rssi == 99:
        return -113  # not known or not detectable: report the floor
    return -113 + 2 * rssi


def rssi_to_link_quality(rssi: int) -> int:
    """Link Quality /4/0/3 as a percentage of the 27.007 <rssi> scale."""
    return 0 if rssi == 99 else round(rssi * 100 / 31)


def format_utc_offset(quarters: int) -> str:
    sign = "+" if quarters >= 0 else "-"
    minutes = abs(quarters) * 15
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_utc_offset(text: str) -> int:
    """``"+08:00"``, ``"UTC+8"``, ``"-0530"`` → quarters of an hour (ISO 8601 offsets)."""
    match = _UTC_OFFSET.match(text.strip())
    if match is None:
        raise BadRequest(f"UTC offset {text!r} is not of the form +HH:MM")
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    if hours > 14 or minutes % 15 or minutes >= 60:
        raise BadRequest(f"UTC offset {text!r} is out of range")
    quarters = hours * 4 + minutes // 15
    return -quarters if sign == "-" else quarters


# ---------------------------------------------------------------- /0 and /1
def security_resources(entry: SecurityEntry) -> dict[int, Value | Mapping[int, Value]]:
    """Security instance values (TS 1.0 E.1) for an AT security entry."""
    psk = entry.mode == MODE_PSK
    return {
        0: str(entry.uri()),
        1: entry.bootstrap,
        2: entry.mode,
        3: entry.psk_identity.encode("utf-8") if psk else b"",
        4: b"",
        5: entry.key_bytes if psk else b"",
        10: entry.ssid,
        11: 0,
        12: 0,
    }


def server_resources(ssid: int, entry: ServerEntry) -> dict[int, Value | Mapping[int, Value]]:
    """Server instance values (TS 1.0 E.2) for an AT server entry."""
    return {
        0: ssid,
        1: entry.lifetime,
        2: entry.pmin,
        3: entry.pmax,
        5: entry.disable_timeout,
        6: bool(entry.storing),
        7: entry.binding,
    }


def install_constraints(store: ObjectStore, settings: ClientSettings) -> None:
    """The module's own limits on what a server may write (profile ``"limits"``, the ranges
    ``AT+QLWCFG`` enforces), and the AT-port rule for text: every string a server writes that
    the module shows on its AT port (in a URC or a read form) is refused with 4.00 when it
    holds a control character or a double quote, or is longer than the AT command allows."""
    limits = settings.limits
    store.max_string_bytes = limits.string_bytes
    for rid, (low, high) in (
        (1, limits.lifetime),
        (2, limits.pmin),
        (3, limits.pmax),
        (5, limits.disable_timeout),
    ):
        store.constrain(SERVER, rid, int_range(low, high))
    store.constrain(SERVER, 7, _one_of(settings.bindings))
    store.constrain(SECURITY, 0, text_for_at_port(limits.address_length))
    store.constrain(SECURITY, 3, _opaque_text(limits.psk_field_length))
    store.constrain(DEVICE, 13, int_range(*limits.current_time))
    store.constrain(FIRMWARE, 1, text_for_at_port(limits.address_length))
    store.constrain(APN_PROFILE, 1, text_for_at_port(limits.apn_length))
    store.constrain(APN_PROFILE, 5, text_for_at_port(limits.user_length))
    store.constrain(APN_PROFILE, 6, text_for_at_port(limits.password_length))


def _one_of(choices: tuple[str, ...]) -> Callable[[Value, str], None]:
    def check(value: Value, where: str) -> None:
        if value not in choices:
            raise BadRequest(f"{where}: {value!r} is not one of {', '.join(choices)}")

    return check


def _opaque_text(max_length: int) -> Callable[[Value, str], None]:
    """An opaque value the module shows as text (the PSK identity in ``AT+QLWCFG``)."""

    def check(value: Value, where: str) -> None:
        if not isinstance(value, bytes) or not value:
            return
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"{where}: not UTF-8 text") from None
        text_for_at_port(max_length)(text, where)

    return check


def install_accounts(store: ObjectStore, config: ClientConfig, settings: ClientSettings) -> None:
    """(Re)build /0 and /1 from the configuration."""
    for object_id in (SECURITY, SERVER):
        for instance_id in list(store.instance_ids().get(object_id, [])):
            store.remove_instance(LwM2MPath(object_id, instance_id))
        store.add_object(object_id)
    for server_id, entry in sorted(config.security.items()):
        store.add_instance(SECURITY, server_id, security_resources(entry))
        if server_id != BOOTSTRAP_SERVER_ID:
            server = config.server_entry(server_id, settings)
            store.add_instance(
                SERVER, server_instance_id(server_id), server_resources(entry.ssid, server)
            )


@dataclass(frozen=True, kw_only=True)
class BootstrappedAccount:
    """A DM server account as a bootstrap server left it in /0 and /1."""

    security: SecurityEntry
    server: ServerEntry


def read_bootstrapped(store: ObjectStore, settings: ClientSettings) -> list[BootstrappedAccount]:
    """The DM accounts written by a bootstrap server (TS 1.0 §5.2.7), in Security instance
    order, each matched to the Server instance with the same Short Server ID. Raises
    ``BadRequest`` when they do not make a usable configuration (then Bootstrap-Finish fails).
    """
    servers: dict[int, int] = {}  # ssid -> server instance id
    for instance_id in store.instance_ids().get(SERVER, []):
        ssid = store.get_value(LwM2MPath(SERVER, instance_id, 0))
        if isinstance(ssid, int):
            servers[ssid] = instance_id
    accounts: list[BootstrappedAccount] = []
    server_id = 1
    defaults = settings.defaults.server
    for instance_id in store.instance_ids().get(SECURITY, []):
        base = LwM2MPath(SECURITY, instance_id)

        def get(rid: int, default: Value, base: LwM2MPath = base) -> Value:
            path = base.child(rid)
            if not store.has(path):
                return default
            value = store.get_value(path)
            return default if isinstance(value, dict) else value

        if get(1, False):
            continue  # the bootstrap server's own account
        ssid, uri, mode = get(10, 0), get(0, ""), get(2, -1)
        if not isinstance(ssid, int) or ssid not in servers:
            raise BadRequest(f"security instance {instance_id} has no matching server instance")
        if mode not in settings.security_modes or not isinstance(mode, int):
            raise BadRequest(f"security instance {instance_id}: mode {mode!r} is not supported")
        identity, key = get(3, b""), get(5, b"")
        assert isinstance(identity, bytes) and isinstance(key, bytes)
        security = SecurityEntry(
            server_id=server_id,
            ssid=ssid,
            address=str(uri),
            bootstrap=False,
            mode=mode,
            psk_identity=identity.decode("utf-8", "replace") if mode == MODE_PSK else "",
            psk_key=key.hex() if mode == MODE_PSK else "",
        )
        try:
            security.check()
        except ValueError as exc:
            raise BadRequest(f"security instance {instance_id}: {exc}") from None
        sbase = LwM2MPath(SERVER, servers[ssid])

        def sget(rid: int, default: Value, sbase: LwM2MPath = sbase) -> Value:
            path = sbase.child(rid)
            value = store.get_value(path) if store.has(path) else default
            return default if isinstance(value, dict) else value

        binding = sget(7, defaults.binding)
        if binding not in settings.bindings:
            raise BadRequest(f"server {ssid}: binding {binding!r} is not supported")
        server = ServerEntry(
            server_id=server_id,
            lifetime=_int(sget(1, defaults.lifetime)),
            pmin=_int(sget(2, defaults.pmin)),
            pmax=_int(sget(3, defaults.pmax)),
            disable_timeout=_int(sget(5, defaults.disable_timeout)),
            storing=int(bool(sget(6, bool(defaults.storing)))),
            binding=str(binding),
        )
        accounts.append(BootstrappedAccount(security=security, server=server))
        server_id += 1
        if server_id > 3:
            break
    if not accounts:
        raise BadRequest("no LwM2M server account was provisioned")
    return accounts


def _int(value: Value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"expected an integer, got {value!r}")
    return value


# ------------------------------------------------------------ /3 /4 /5 /11
@dataclass(kw_only=True)
class DeviceObjects:
    """Installs /3, /4, /5 and /11 on a store, bound to the module."""

    module: VirtualModule
    settings: ClientSettings
    store: ObjectStore
    firmware: FirmwareUpdate
    now: Callable[[], float]
    notify: Callable[[LwM2MNotice], None]
    later: Callable[[float, Callable[[float], None]], None]  # later(delay, callback(now))

    def __post_init__(self) -> None:
        self.error_codes: dict[int, int] = {0: 0}  # /3/0/11: 0 no error

    def install(self) -> None:
        for object_id in self.settings.objects:
            if object_id in (SECURITY, SERVER):
                continue
            if object_id not in self.store.definitions:
                raise ValueError(f"object {object_id} has no definition")
            installer = {
                DEVICE: self._device,
                CONNECTIVITY: self._connectivity,
                FIRMWARE: self._firmware,
                APN_PROFILE: self._apn_profile,
            }.get(object_id)
            if installer is None:
                self.store.add_object(object_id)  # defined, supported, no instance yet
            else:
                installer()

    # --- /3 Device (TS 1.0 E.4)
    def _device(self) -> None:
        ident = self.module.identity
        dev = self.settings.device
        store = self.store
        store.add_instance(
            DEVICE,
            0,
            {
                0: ident.manufacturer,
                1: ident.model,
                2: ident.serial_number,
                3: ident.revision,
                6: dict(enumerate(dev.power_sources)),
                15: dev.timezone,
                16: dev.supported_bindings,
                17: dev.device_type,
                18: dev.hardware_version,
                19: ident.revision,
            },
        )
        store.bind(LwM2MPath(3, 0, 11), getter=lambda: dict(self.error_codes))
        store.bind(
            LwM2MPath(3, 0, 13),
            getter=lambda: int(self.module.unix_time(self.now())),
            setter=self._write_time,
        )
        store.bind(
            LwM2MPath(3, 0, 14),
            getter=lambda: format_utc_offset(self.module.utc_offset_quarters),
            setter=self._write_utc_offset,
        )
        store.on_execute(LwM2MPath(3, 0, 4), lambda path, args: self._restart(False))
        store.on_execute(LwM2MPath(3, 0, 5), lambda path, args: self._restart(True))
        store.on_execute(LwM2MPath(3, 0, 12), lambda path, args: self._reset_errors())

    def _write_time(self, value: Value | Mapping[int, Value]) -> None:
        low, high = self.settings.limits.current_time
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise BadRequest(f"current time {value!r} is outside {low}..{high}")
        self.module.set_unix_time(float(value), self.now())
        self.notify(CurrentTimeWritten(unix_time=value))

    def _write_utc_offset(self, value: Value | Mapping[int, Value]) -> None:
        if not isinstance(value, str):
            raise BadRequest("the UTC offset is a string")
        self.module.utc_offset_quarters = parse_utc_offset(value)

    def _restart(self, factory_reset: bool) -> None:
        # The 2.04 goes out first (TS 1.0 E.4: the device reboots after answering).
        cause = RebootCause.LWM2M_FACTORY_RESET if factory_reset else RebootCause.LWM2M_REBOOT
        self.later(
            self.settings.timing.reboot_delay,
            lambda now: self.module.reboot(now, cause, factory_reset=factory_reset),
        )

    def _reset_errors(self) -> None:
        self.error_codes = {0: 0}

    # --- /4 Connectivity Monitoring (TS 1.0 E.5)
    def _connectivity(self) -> None:
        dev = self.settings.device
        net = self.module.profile.network
        mcc, mnc = net.operator_numeric[:3], net.operator_numeric[3:]
        self.store.add_instance(
            CONNECTIVITY,
            0,
            {
                0: dev.network_bearer,
                1: dict(enumerate(dev.available_bearers)),
                8: int(net.cell_id, 16),
                9: int(mnc or "0"),
                10: int(mcc or "0"),
            },
        )
        module = self.module  # its radio state is replaced on reboot: read it each time
        self.store.bind(LwM2MPath(4, 0, 2), getter=lambda: rssi_to_dbm(module.radio.rssi))
        self.store.bind(LwM2MPath(4, 0, 3), getter=lambda: rssi_to_link_quality(module.radio.rssi))
        self.store.bind(LwM2MPath(4, 0, 4), getter=self._addresses)
        self.store.bind(LwM2MPath(4, 0, 7), getter=lambda: {0: self._context().apn})

    def _addresses(self) -> dict[int, Value]:
        address = self.module.active_address()
        return {0: address} if address else {}

    # --- /5 Firmware Update (TS 1.0 E.6)
    def _firmware(self) -> None:
        fw = self.firmware
        info = self.settings.firmware
        self.store.add_instance(
            FIRMWARE,
            0,
            {
                1: "",
                8: dict(enumerate(info.protocols)),
                9: info.delivery_method,
            },
        )
        self.store.bind(LwM2MPath(5, 0, 0), setter=self._write_package)
        self.store.bind(LwM2MPath(5, 0, 1), getter=lambda: fw.package_uri, setter=self._write_uri)
        self.store.bind(LwM2MPath(5, 0, 3), getter=lambda: int(fw.state))
        self.store.bind(LwM2MPath(5, 0, 5), getter=lambda: int(fw.result))
        self.store.bind(LwM2MPath(5, 0, 6), getter=lambda: fw.package_name)
        self.store.bind(LwM2MPath(5, 0, 7), getter=lambda: fw.package_version)
        self.store.on_execute(LwM2MPath(5, 0, 2), lambda path, args: fw.execute_update())

    def _write_uri(self, value: Value | Mapping[int, Value]) -> None:
        if not isinstance(value, str):
            raise BadRequest("the Package URI is a string")
        self.firmware.write_uri(value)

    def _write_package(self, value: Value | Mapping[int, Value]) -> None:
        if not isinstance(value, bytes):
            raise BadRequest("the Package is opaque")
        self.firmware.write_package(value)

    # --- /11 APN Connection Profile
    def _context(self) -> PdpContext:
        cid = self.settings.pdp_cid
        contexts = self.module.radio.contexts
        if cid not in contexts:
            # Defined on first use, as a transition of the radio machine (one without
            # effects: defining an inactive context reports nothing, so no time is needed).
            net = self.module.profile.network
            definition = PdpContext(cid=cid, pdp_type=net.pdp_type, apn="")
            outputs = self.module.machine.context(cid, PdpInput.DEFINE, definition)
            assert not outputs, outputs
        return contexts[cid]

    def _apn_profile(self) -> None:
        self.store.add_instance(APN_PROFILE, 0, {0: f"cid{self.settings.pdp_cid}", 2: False})
        store = self.store
        store.bind(
            LwM2MPath(11, 0, 1),
            getter=lambda: self._context().apn,
            setter=self._setter("apn", NoticeKind.APN_CHANGED),
        )
        store.bind(LwM2MPath(11, 0, 3), getter=lambda: self._context().active)
        store.bind(
            LwM2MPath(11, 0, 4),
            getter=lambda: _LWM2M_AUTH_FROM_MODULE.get(self._context().auth, 3),
            setter=self._write_auth,
        )
        store.bind(
            LwM2MPath(11, 0, 5),
            getter=lambda: self._context().username,
            setter=self._setter("username", NoticeKind.USER_NAME_CHANGED),
        )
        store.bind(
            LwM2MPath(11, 0, 6),
            getter=lambda: self._context().password,
            setter=self._setter("password", NoticeKind.SECRET_CHANGED),
        )
        store.bind(LwM2MPath(11, 0, 15), getter=self._addresses)

    def _setter(
        self, attribute: str, kind: NoticeKind
    ) -> Callable[[Value | Mapping[int, Value]], None]:
        def write(value: Value | Mapping[int, Value]) -> None:
            if not isinstance(value, str) or at_text_problem(value) is not None:
                raise BadRequest(f"{attribute} must be text the AT port can show")
            # The context takes the new value; it is used at the next activation.
            setattr(self._context(), attribute, value)
            self.notify(ApnTextWritten(kind=kind, text=value))

        return write

    def _write_auth(self, value: Value | Mapping[int, Value]) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value not in (0, 1, 2, 3):
            raise BadRequest("authentication type is 0 PAP, 1 CHAP, 2 PAP or CHAP, 3 None")
        self._context().auth = _MODULE_AUTH_FROM_LWM2M[value]
        self.notify(ApnAuthenticationWritten(authentication=ApnAuthentication(value)))
