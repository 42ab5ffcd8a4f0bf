"""The virtual network: where a module's host names and destinations lead on the PC.

Firmware and QuecPython apps name real hosts (``api.example.com``, a broker's DNS name, a
fixed address and port). A :class:`NetworkMap` sends them to test servers on the PC without
editing the app. Every data stack of the module (TCP/IP sockets, HTTP, MQTT, NTP, ping...)
goes through the same two steps:

1. **Resolve a host name** (:meth:`NetworkMap.lookup`, then :meth:`NetworkMap.resolve` when the
   map defers to the PC's resolver). Order: an address literal is itself; a name in the map
   (exact, or a ``*.suffix`` wildcard) gives its address; a name mapped only as a
   destination (``NAME:PORT=ADDR:PORT``) gets an address of its own from 198.18.0.0/15
   that :meth:`NetworkMap.route` sends back to the mapped peer; ``localhost`` gives ``127.0.0.1``;
   any other name goes to the PC's resolver **only** when external traffic is allowed (a DNS
   query is traffic leaving the PC). Otherwise, or when the PC's resolver has no answer, the
   lookup raises :class:`HostNotFound`, which each command family renders as the DNS error
   its Quectel manual gives when there is no answer:

   =====================  ===============================================================
   family                 what the module says (Quectel manuals named)
   =====================  ===============================================================
   TCP/IP (AT+QIOPEN,     ``565`` "DNS parse failed" (TCP(IP) AT Commands Manual, error
   AT+QIDNSGIP, AT+QPING, codes 550-574): ``+QIOPEN: <id>,565``, ``+QIURC: "dnsgip",565``,
   AT+QNTP)               ``+QPING: 565``, ``+QNTP: 565``
   HTTP(S)                ``714`` "DNS error" (HTTP(S) AT Commands Manual)
   MQTT                   ``+QMTOPEN: <id>,4`` "failed to parse domain name" (MQTT manual)
   =====================  ===============================================================

2. **Route a destination** (:meth:`NetworkMap.route`): ``address:port`` (or the
   ``name:port`` the app asked for) listed in the map goes to its local peer; a loopback
   destination (127.0.0.0/8, ::1) goes where it says; anything else is refused with
   :class:`DestinationRefused` unless the user allowed external traffic. A family renders
   the refusal as the connect failure of its manual (TCP/IP ``566`` "socket connect
   failed" after the module's connect attempt, HTTP ``716``, MQTT ``+QMTOPEN: <id>,3``...).

The map is plain data and does no I/O except :meth:`NetworkMap.resolve`, the one call that
may ask the PC's resolver; the sans-I/O cores call :meth:`lookup` (pure) and leave
``resolve`` to their asyncio adapter.

Configuration, merged in this order (later wins): the profile's ``"network_map"`` section::

    "network_map": {
      "hosts": {"api.example.com": "127.0.0.1", "*.iot.example.net": "127.0.0.2"},
      "endpoints": {"203.0.113.10:1883": "127.0.0.1:18830",
                    "broker.example.com:8883": "127.0.0.1:18883"},
      "allow_external": false
    }

the scenario's ``module: {map: [...], allow_external: ...}``, and the command line
``quecemu serve --map NAME=ADDR --map HOST:PORT=127.0.0.1:PORT --allow-external``
(the same ``NAME=ADDR`` / ``HOST:PORT=ADDR:PORT`` entries everywhere; see
:func:`parse_entry`). A module's map is attached with :func:`attach_network_map` and read
with :func:`network_map_of` (the profile's map when none was attached).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.module.profile import ModuleProfile
    from emulator.module.virtual import VirtualModule

COMPONENT = "netmap"  # key of the attached map in VirtualModule.components
LOCALHOST = "localhost"
SYNTHETIC_BASE = "198.18.0.0"  # RFC 2544 benchmarking range: addresses for mapped names
MAX_NAME_LENGTH = 253  # RFC 1035 §2.3.4: a domain name is at most 255 octets on the wire


class NetworkError(Exception):
    """Base of what the virtual network refuses. ``reason`` is for logs and CLI messages."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HostNotFound(NetworkError):
    """The name resolves to nothing: not in the map, and the PC's resolver was not allowed
    or had no answer. Families render it as their DNS error (TCP/IP 565, HTTP 714...)."""


class DestinationRefused(NetworkError):
    """The destination is outside loopback, not mapped, and external traffic is not allowed."""


class NetworkMapError(ValueError):
    """A map entry (CLI ``--map``, profile section, scenario) is malformed."""


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_loopback(address: str) -> bool:
    """127.0.0.0/8 or ::1 (and ::ffff:127.x.y.z)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _normal_name(name: str) -> str:
    """Host names compare case-insensitively, without the root's trailing dot (RFC 4343)."""
    return name.strip().rstrip(".").lower()


def _split_host_port(text: str, what: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port``."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise NetworkMapError(f"{what} {text!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise NetworkMapError(f"{what} {text!r}: write an IPv6 address as [ADDRESS]:PORT")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise NetworkMapError(f"{what} {text!r}: port {port_text!r} is not 1-65535")
    return host, int(port_text)


def _check_name(name: str, what: str) -> str:
    normal = _normal_name(name)
    bare = normal[2:] if normal.startswith("*.") else normal
    if not bare or len(bare) > MAX_NAME_LENGTH or any(c.isspace() for c in bare):
        raise NetworkMapError(f"{what} {name!r} is not a host name")
    return normal


def _check_address(address: str, what: str) -> str:
    text = address.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not _is_address(text):
        raise NetworkMapError(f"{what} {address!r} is not an IPv4 or IPv6 address")
    return str(ipaddress.ip_address(text))


@dataclass(frozen=True)
class Route:
    """Where a connection really goes, and whether the map redirected it."""

    address: str
    port: int
    mapped: bool


@dataclass(frozen=True)
class NetworkMap:
    """Host name → address, and destination → local peer, plus the external-traffic policy.

    ``hosts`` keys are lower-case names (``*.suffix`` for a wildcard); ``endpoints`` keys are
    ``(host, port)`` with ``host`` an address or a lower-case name. Build one with
    :meth:`from_entries`, :meth:`from_config` or :meth:`from_profile`; combine with
    :meth:`merged`.
    """

    hosts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    endpoints: Mapping[tuple[str, int], tuple[str, int]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    allow_external: bool = False

    # ---------------------------------------------------------------- building
    @classmethod
    def from_entries(cls, entries: Iterable[str], *, allow_external: bool = False) -> NetworkMap:
        """From ``NAME=ADDR`` and ``HOST:PORT=ADDR:PORT`` strings (see :func:`parse_entry`)."""
        hosts: dict[str, str] = {}
        endpoints: dict[tuple[str, int], tuple[str, int]] = {}
        for entry in entries:
            parsed = parse_entry(entry)
            if isinstance(parsed[0], tuple):
                endpoints[parsed[0]] = parsed[1]
            else:
                hosts[parsed[0]] = parsed[1]
        return cls(
            hosts=MappingProxyType(hosts),
            endpoints=MappingProxyType(endpoints),
            allow_external=allow_external,
        )

    @classmethod
    def from_config(cls, section: Any, where: str = "network_map") -> NetworkMap:
        """From a profile's ``"network_map"`` section (see the module docstring)."""
        if section is None:
            return cls()
        if not isinstance(section, dict):
            raise NetworkMapError(f"{where}: must be an object with hosts/endpoints")
        unknown = set(section) - {"hosts", "endpoints", "allow_external"}
        if unknown:
            raise NetworkMapError(
                f"{where}: unknown key {sorted(unknown)[0]!r} (known: hosts, endpoints, "
                "allow_external)"
            )
        entries: list[str] = []
        for key in ("hosts", "endpoints"):
            table = section.get(key, {})
            if not isinstance(table, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in table.items()
            ):
                raise NetworkMapError(f"{where}.{key}: must map strings to strings")
            for name, target in table.items():
                entry = f"{name}={target}"
                parsed = parse_entry(entry)
                if (key == "endpoints") != isinstance(parsed[0], tuple):
                    wanted = "HOST:PORT -> ADDR:PORT" if key == "endpoints" else "NAME -> ADDR"
                    raise NetworkMapError(f"{where}.{key}: {entry!r} is not {wanted}")
                entries.append(entry)
        allow = section.get("allow_external", False)
        if not isinstance(allow, bool):
            raise NetworkMapError(f"{where}.allow_external: must be true or false")
        return cls.from_entries(entries, allow_external=allow)

    @classmethod
    def from_profile(cls, profile: ModuleProfile) -> NetworkMap:
        return cls.from_config(
            profile.sections.get("network_map"), f"profile {profile.name} network_map"
        )

    def merged(self, other: NetworkMap) -> NetworkMap:
        """This map with ``other``'s entries on top; external traffic allowed if either says so."""
        return NetworkMap(
            hosts=MappingProxyType({**self.hosts, **other.hosts}),
            endpoints=MappingProxyType({**self.endpoints, **other.endpoints}),
            allow_external=self.allow_external or other.allow_external,
        )

    # --------------------------------------------------------------- resolving
    def lookup(self, name: str) -> tuple[str, ...] | None:
        """Resolve without I/O: the addresses, or None when only the PC's resolver can say
        (external traffic allowed). Raises :class:`HostNotFound` when there is no answer."""
        text = name.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        if _is_address(text):
            return (str(ipaddress.ip_address(text)),)
        normal = _normal_name(text)
        if not normal or len(normal) > MAX_NAME_LENGTH:
            raise HostNotFound(f"{name!r} is not a host name")
        if normal in self.hosts:
            return (self.hosts[normal],)
        parts = normal.split(".")
        for index in range(1, len(parts)):
            wildcard = "*." + ".".join(parts[index:])
            if wildcard in self.hosts:
                return (self.hosts[wildcard],)
        synthetic = self._synthetic_addresses().get(normal)
        if synthetic is not None:
            # The name only appears as a destination (NAME:PORT=ADDR:PORT): it resolves to
            # an address of its own from 198.18.0.0/15 (RFC 2544, never routed on the
            # internet), which route() maps back, so an app that resolves first and then
            # connects to the address reaches the mapped peer too.
            return (synthetic,)
        if normal == LOCALHOST or normal.endswith("." + LOCALHOST):
            return ("127.0.0.1",)  # RFC 6761 §6.3: localhost names are loopback
        if self.allow_external:
            return None
        raise HostNotFound(
            f"{name!r} is not in the network map and external traffic is not allowed "
            "(add --map NAME=ADDR, or --allow-external to use the PC's resolver)"
        )

    async def resolve(self, name: str, *, kind: socket.SocketKind = socket.SOCK_STREAM) -> str:
        """The first address of ``name``: :meth:`lookup`, then the PC's resolver if allowed."""
        found = self.lookup(name)
        if found is not None:
            return found[0]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(_normal_name(name), None, type=kind)
        except (OSError, UnicodeError) as exc:
            raise HostNotFound(f"{name!r}: the PC's resolver has no answer ({exc})") from None
        for family in (socket.AF_INET, socket.AF_INET6):  # IPv4 first, as modules prefer it
            for info in infos:
                if info[0] == family:
                    return str(info[4][0])
        raise HostNotFound(f"{name!r}: the PC's resolver gave no IP address")

    def _synthetic_addresses(self) -> dict[str, str]:
        """Destination-only names -> 198.18.0.1, 198.18.0.2... in name order."""
        names = sorted(
            {host for host, _ in self.endpoints if not _is_address(host)} - set(self.hosts)
        )
        base = int(ipaddress.IPv4Address(SYNTHETIC_BASE))
        return {name: str(ipaddress.IPv4Address(base + 1 + i)) for i, name in enumerate(names)}

    # ----------------------------------------------------------------- routing
    def route(self, address: str, port: int, *, name: str | None = None) -> Route:
        """Where a connection to ``address:port`` goes. ``name`` is the host name the app
        gave (if any): an endpoint keyed by ``name:port`` wins over one keyed by address.
        Raises :class:`DestinationRefused` for a non-loopback destination the map does not
        send to a local peer, unless external traffic is allowed."""
        keys: list[tuple[str, int]] = []
        if name is not None and not _is_address(name.strip("[]")):
            keys.append((_normal_name(name), port))
        if _is_address(address):
            normal_address = str(ipaddress.ip_address(address))
            keys.append((normal_address, port))
            for synthetic_name, synthetic in self._synthetic_addresses().items():
                if synthetic == normal_address:
                    keys.append((synthetic_name, port))
        else:
            keys.append((_normal_name(address), port))
        for key in keys:
            target = self.endpoints.get(key)
            if target is not None:
                return Route(address=target[0], port=target[1], mapped=True)
        if not _is_address(address):
            raise DestinationRefused(f"{address!r} is not an address (resolve it first)")
        if is_loopback(address) or self.allow_external:
            return Route(address=str(ipaddress.ip_address(address)), port=port, mapped=False)
        raise DestinationRefused(
            f"{address}:{port} is outside loopback and not in the network map "
            "(add --map HOST:PORT=127.0.0.1:PORT, or --allow-external)"
        )

    def describe(self) -> list[str]:
        """One line per entry, for logs and ``--help``-style listings."""
        lines = [f"{name} -> {address}" for name, address in sorted(self.hosts.items())]
        lines += [
            f"{_show(h, p)} -> {_show(a, q)}" for (h, p), (a, q) in sorted(self.endpoints.items())
        ]
        lines.append("external traffic " + ("allowed" if self.allow_external else "refused"))
        return lines


def _show(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_entry(text: str) -> tuple[str, str] | tuple[tuple[str, int], tuple[str, int]]:
    """One map entry: ``NAME=ADDR`` (a host name, or ``*.suffix``, to an address) or
    ``HOST:PORT=ADDR:PORT`` (a destination, by address or name, to a local peer)."""
    left, sep, right = text.partition("=")
    left, right = left.strip(), right.strip()
    if not sep or not left or not right:
        raise NetworkMapError(f"map entry {text!r} is not NAME=ADDRESS or HOST:PORT=ADDRESS:PORT")
    left_is_endpoint = left.startswith("[") or (left.count(":") == 1)
    if left_is_endpoint:
        host, port = _split_host_port(left, "map destination")
        if not _is_address(host):
            host = _check_name(host, "map destination host")
            if host.startswith("*."):
                raise NetworkMapError(f"map entry {text!r}: a destination cannot be a wildcard")
        else:
            host = str(ipaddress.ip_address(host))
        target_host, target_port = _split_host_port(right, "map target")
        return (host, port), (_check_address(target_host, "map target"), target_port)
    if _is_address(left):
        raise NetworkMapError(
            f"map entry {text!r}: an address is not renamed; map ADDR:PORT=ADDR:PORT instead "
            "(an IPv6 destination as [ADDRESS]:PORT)"
        )
    return _check_name(left, "map name"), _check_address(right, "map address for " + left)


# ------------------------------------------------------------------ per module
def attach_network_map(module: VirtualModule, network_map: NetworkMap) -> None:
    """Give ``module`` its map (serve and the scenario runner do this at start-up)."""
    module.components[COMPONENT] = network_map


def network_map_of(module: VirtualModule) -> NetworkMap:
    """The module's map: the attached one, else its profile's ``network_map`` section."""
    found = module.components.get(COMPONENT)
    if isinstance(found, NetworkMap):
        return found
    network_map = NetworkMap.from_profile(module.profile)
    module.components[COMPONENT] = network_map
    return network_map
