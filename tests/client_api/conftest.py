"""Fixtures: a fake module on a real pty and a channel on its device path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import client_api
from client_api.channel import AtChannel
from tests.client_api.capi_fake import FakeModule


@pytest.fixture
def fake() -> Iterator[FakeModule]:
    module = FakeModule()
    yield module
    module.close()


@pytest.fixture
def channel(fake: FakeModule) -> Iterator[AtChannel]:
    chan = AtChannel(fake.url, command_timeout=1.0, reconnect_interval=0.05)
    assert chan.wait_connected(2.0)
    yield chan
    chan.close()


@pytest.fixture(autouse=True)
def _no_shared_channels(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(client_api.PORT_ENV, raising=False)
    yield
    client_api.close_all()
