"""The peers every TCP/IP test module uses (each module makes its own module under test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.tcpip.harness import EchoServer


@pytest.fixture
async def echo() -> AsyncIterator[EchoServer]:
    server = EchoServer()
    await server.start()
    yield server
    await server.stop()
