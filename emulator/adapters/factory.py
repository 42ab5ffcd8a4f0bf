"""One way to build a module that runs: the core model on its asyncio host, with the I/O
services of its command families and its virtual network map.

``quecemu serve``, the scenario tool's in-process module, the benchmarks and the tests all
build modules here, so a new piece of wiring (a service, a map, a setting) is added once.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from emulator.adapters.host import ModuleHost
from emulator.adapters.netmap import NetworkMap, attach_network_map
from emulator.at.registry import CommandRegistry
from emulator.module.nvstore import NvStore
from emulator.module.profile import ModuleProfile
from emulator.module.virtual import VirtualModule


def hosted_module(
    profile: ModuleProfile,
    *,
    imei: str | None = None,
    nv: NvStore | None = None,
    network_map: NetworkMap | None = None,
    urc_before_echo: bool = False,
    clock: Callable[[], float] = time.monotonic,
    services: bool = True,
    registry: CommandRegistry | None = None,
) -> ModuleHost:
    """A module booting now (by ``clock``), hosted and not yet started.

    ``imei`` replaces the profile's; ``nv`` defaults to an in-memory store; ``network_map``
    to the profile's own; ``services=False`` leaves the family services (CoAP, sockets,
    MQTT, HTTP) out, for a test that adds its own; ``registry`` shares one command table
    (``build_registry(profile)``) among many modules of one profile. ``ValueError`` if the
    profile names a command family that cannot be loaded.
    """
    now = clock()
    identity = None if imei is None else dataclasses.replace(profile.identity, imei=imei)
    module = VirtualModule(
        profile,
        now=now,
        wall_clock_offset=time.time() - now,
        identity=identity,
        nv=nv,
        registry=registry,
    )
    module.engine.urc_before_echo = urc_before_echo
    attach_network_map(module, network_map or NetworkMap.from_profile(profile))
    host = ModuleHost(module, clock=clock)
    if services:
        host.load_family_services()
    return host
