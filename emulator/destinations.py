"""Where the module's data stacks (MQTT, HTTP) may connect: names resolved, loopback only.

One seam: :func:`resolve`. It resolves a host name through the PC's resolver and allows
only loopback addresses (127.0.0.0/8, ::1), so nothing an app names reaches beyond this
machine. The virtual network map (host name -> address, address:port -> a local peer) plugs
in here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emulator.module.virtual import VirtualModule


class NameNotResolved(OSError):
    """DNS gave no address (the module reports its DNS error code)."""


class DestinationRefused(OSError):
    """The address is outside what the emulator may reach (loopback only)."""


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


async def resolve(module: VirtualModule, host: str, port: int) -> tuple[str, int]:
    """The address and port to connect to for ``host``:``port`` named by the module."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise NameNotResolved(f"{host}: {exc}") from None
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if _is_loopback(address):
            return address, int(sockaddr[1])
    raise DestinationRefused(f"{host} ({infos[0][4][0] if infos else '?'}) is not on loopback")
