"""Where the module's MQTT and HTTP(S) stacks connect: the virtual network map
(:mod:`emulator.adapters.netmap`) asked in one place, its refusals turned into OSErrors so that the
libraries underneath (aiohttp's resolver hook, our own connect) treat them as the network
failures they stand for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator.adapters import netmap

if TYPE_CHECKING:
    from emulator.module.virtual import VirtualModule


class NameNotResolved(OSError):
    """DNS gave no address (the module reports its DNS error code)."""


class DestinationRefused(OSError):
    """The destination is outside what the emulator may reach (loopback only, unless the
    user allowed external traffic)."""


async def resolve(module: VirtualModule, host: str, port: int) -> tuple[str, int]:
    """The address and port to connect to for ``host``:``port`` as the module names it."""
    network = netmap.network_map_of(module)
    try:
        address = await network.resolve(host)
    except netmap.HostNotFound as exc:
        raise NameNotResolved(exc.reason) from None
    try:
        route = network.route(address, port, name=host)
    except netmap.DestinationRefused as exc:
        raise DestinationRefused(exc.reason) from None
    return route.address, route.port
