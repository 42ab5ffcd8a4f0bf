"""Fixtures of the LwM2M client tests: modules driven over AT, real peers on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from emulator.module.profile import ModuleProfile

from .harness import AtModule, NodeServer

ModuleFactory = Callable[..., Awaitable[AtModule]]


@pytest.fixture
async def make_module() -> AsyncIterator[ModuleFactory]:
    modules: list[AtModule] = []

    async def make(profile: ModuleProfile | None = None, **kwargs: Any) -> AtModule:
        module = AtModule(profile, **kwargs)
        modules.append(module)
        return await module.start()

    try:
        yield make
    finally:
        for module in modules:
            await module.stop()


@pytest.fixture
async def node_server() -> AsyncIterator[NodeServer]:
    server = await NodeServer.start()
    try:
        yield server
    finally:
        await server.stop()
