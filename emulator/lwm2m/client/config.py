"""The client's configuration as ``AT+QLWCFG`` sets it, and how it survives a restart.

Security and server settings are kept per ``<serverID>`` (0 Bootstrap server, 1 DM server,
2 Diagnostics, 3 Repository, as QuecOpen's LwM2M C API numbers them). The module-wide
settings (endpoint name, URC switch, startup, FOTA modes, ...) are kept always; a
security/server pair is kept across a restart only when its ``<storing>`` is 1 (the
QuecPython document: "whether to save server information"). The bootstrap account
(serverID 0) usually has no "server" line of its own: it is kept when any server line says
``storing`` 1.

Everything here is plain data; range checks on AT parameters live in the AT family, the checks
that need several values at once (``ConfigError``) live here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from .settings import ClientSettings

NV_NAMESPACE = "lwm2m"
COAP_PORT = 5683  # RFC 7252 §6.1
COAPS_PORT = 5684  # RFC 7252 §6.2
BOOTSTRAP_SERVER_ID = 0
MAX_SERVER_ID = 3
MODE_PSK = 0
MODE_NOSEC = 3


class ConfigError(ValueError):
    """A configuration that cannot work (the AT layer answers ``+CME ERROR: 50``)."""


@dataclass(frozen=True, kw_only=True)
class ServerUri:
    """``coap://host:port`` or ``coaps://host:port`` (OMA LwM2M TS 1.0 /0/x/0)."""

    scheme: str
    host: str
    port: int

    @property
    def secure(self) -> bool:
        return self.scheme == "coaps"

    @property
    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.hostport}"


def parse_server_uri(text: str, *, secure_default: bool = False) -> ServerUri:
    """Parse a server address as QuecPython passes it: a full ``coap(s)://host[:port]`` URI
    (the example), or ``host[:port]`` (the older document's "address:port")."""
    if not text or text != text.strip() or any(c in text for c in " \t\"'"):
        raise ConfigError(f"server address {text!r} is empty or has blanks or quotes")
    if "://" not in text:
        text = ("coaps://" if secure_default else "coap://") + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"server address {text!r}: {exc}") from None
    if parts.scheme not in ("coap", "coaps"):
        raise ConfigError(f"server address {text!r}: the scheme is coap or coaps")
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"server address {text!r}: expected scheme://host[:port]")
    if parts.username or parts.password:
        raise ConfigError(f"server address {text!r}: no user information allowed")
    host = parts.hostname
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(f"server address {text!r}: bad IPv6 literal") from None
    default_port = COAPS_PORT if parts.scheme == "coaps" else COAP_PORT
    return ServerUri(scheme=parts.scheme, host=host, port=port or default_port)


@dataclass(frozen=True, kw_only=True)
class SecurityEntry:
    """One ``AT+QLWCFG="security"`` instance (LwM2M Security object /0)."""

    server_id: int
    ssid: int
    address: str  # as given; parse_server_uri() turns it into a ServerUri
    bootstrap: bool
    mode: int  # 0 PSK (DTLS), 3 NoSec
    psk_identity: str = ""
    psk_key: str = ""  # hex text

    def uri(self) -> ServerUri:
        return parse_server_uri(self.address, secure_default=self.mode == MODE_PSK)

    def check(self) -> None:
        """Refuse combinations the client cannot use (QuecPython's lwm2m documentation)."""
        if self.bootstrap != (self.server_id == BOOTSTRAP_SERVER_ID):
            raise ConfigError("bootstrap is 1 exactly for serverID 0")
        uri = self.uri()
        if self.mode == MODE_PSK:
            if not uri.secure:
                raise ConfigError("PSK mode needs a coaps:// address")
            if not self.psk_identity or not self.psk_key:
                raise ConfigError("PSK mode needs an identity and a key")
            if len(self.psk_key) % 2 or any(
                c not in "0123456789abcdefABCDEF" for c in self.psk_key
            ):
                raise ConfigError("the PSK key is hex text with an even number of digits")
        elif uri.secure:
            raise ConfigError("a coaps:// address needs security mode 0 (PSK)")

    @property
    def key_bytes(self) -> bytes:
        return bytes.fromhex(self.psk_key)


@dataclass(frozen=True, kw_only=True)
class ServerEntry:
    """One ``AT+QLWCFG="server"`` instance (LwM2M Server object /1)."""

    server_id: int
    lifetime: int
    pmin: int
    pmax: int
    disable_timeout: int
    storing: int
    binding: str


@dataclass(frozen=True, kw_only=True)
class HostDevice:
    """``AT+QLWCFG="hostdevice"`` (QuecOpen's host-device setting): host data for carrier
    host-device objects."""

    index: int
    device_id: str
    manufacturer: str
    model: str
    sw_version: str
    fw_version: str
    hw_version: str
    upgrade_time: int


@dataclass(kw_only=True)
class ClientConfig:
    """The whole LwM2M configuration of one module."""

    security: dict[int, SecurityEntry] = field(default_factory=dict)
    servers: dict[int, ServerEntry] = field(default_factory=dict)
    epname_mode: int = 3
    epname: str = ""
    urc: int = 1
    startup: int = 0
    fota_download: int = 1
    fota_update: int = 1
    hostdevice: HostDevice | None = None
    nettype: int = 0
    maxreconntime: tuple[int, int, int] = (30, 3600, 0)
    apnretry: tuple[int, int, int] = (0, 0, 0)

    @classmethod
    def factory(cls, settings: ClientSettings) -> ClientConfig:
        d = settings.defaults
        h = d.hostdevice
        return cls(
            epname_mode=d.epname_mode,
            epname=d.epname,
            urc=d.urc,
            startup=d.startup,
            fota_download=d.fota[0],
            fota_update=d.fota[1],
            hostdevice=HostDevice(
                index=h[0],
                device_id=h[1],
                manufacturer=h[2],
                model=h[3],
                sw_version=h[4],
                fw_version=h[5],
                hw_version=h[6],
                upgrade_time=h[7],
            ),
            nettype=d.nettype,
            maxreconntime=d.maxreconntime,
            apnretry=d.apnretry,
        )

    def server_entry(self, server_id: int, settings: ClientSettings) -> ServerEntry:
        """The server line for ``server_id``, or the factory one when none was given."""
        entry = self.servers.get(server_id)
        if entry is not None:
            return entry
        s = settings.defaults.server
        return ServerEntry(
            server_id=server_id,
            lifetime=s.lifetime,
            pmin=s.pmin,
            pmax=s.pmax,
            disable_timeout=s.disable_timeout,
            storing=s.storing,
            binding=s.binding,
        )

    def stored(self) -> ClientConfig:
        """What survives a restart: module-wide settings always, server pairs by ``storing``."""
        keep_any = any(s.storing for s in self.servers.values())
        security = {}
        for server_id, entry in self.security.items():
            own = self.servers.get(server_id)
            if (own is not None and own.storing) or (own is None and entry.bootstrap and keep_any):
                security[server_id] = entry
        servers = {k: v for k, v in self.servers.items() if v.storing}
        return replace(self, security=security, servers=servers)

    # --------------------------------------------------------------- NV form
    def to_nv(self) -> dict[str, Any]:
        data = asdict(self)
        data["security"] = [asdict(v) for _, v in sorted(self.security.items())]
        data["servers"] = [asdict(v) for _, v in sorted(self.servers.items())]
        return data

    @classmethod
    def from_nv(cls, data: dict[str, Any], settings: ClientSettings) -> ClientConfig:
        """Read back what ``to_nv`` wrote; anything unreadable falls back to factory values
        (a damaged entry must not stop the module from booting)."""
        config = cls.factory(settings)
        try:
            security = {}
            for raw in data.get("security", []):
                entry = SecurityEntry(**raw)
                security[entry.server_id] = entry
            servers = {}
            for raw in data.get("servers", []):
                server = ServerEntry(**raw)
                servers[server.server_id] = server
            host = data.get("hostdevice")
            config = replace(
                config,
                security=security,
                servers=servers,
                epname_mode=int(data.get("epname_mode", config.epname_mode)),
                epname=str(data.get("epname", config.epname)),
                urc=int(data.get("urc", config.urc)),
                startup=int(data.get("startup", config.startup)),
                fota_download=int(data.get("fota_download", config.fota_download)),
                fota_update=int(data.get("fota_update", config.fota_update)),
                hostdevice=HostDevice(**host) if isinstance(host, dict) else config.hostdevice,
                nettype=int(data.get("nettype", config.nettype)),
                maxreconntime=_triple(data.get("maxreconntime"), config.maxreconntime),
                apnretry=_triple(data.get("apnretry"), config.apnretry),
            )
        except (TypeError, ValueError):
            return cls.factory(settings)
        return config


def _triple(value: Any, default: tuple[int, int, int]) -> tuple[int, int, int]:
    if isinstance(value, list | tuple) and len(value) == 3:
        return int(value[0]), int(value[1]), int(value[2])
    return default
