"""Many modules in one ``serve``: headless modules, AT ports on demand, descriptors per
registered module, failed registrations counted and reported (issue 14). The 10,000-module
run and its timings live in benchmarks/fleet.py; these prove the behaviour at small counts."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from emulator.adapters.host import ModuleHost
from emulator.adapters.lwm2m_server import LwM2MServer
from emulator.app.fleet import FullCollectionHold, startup_state
from emulator.app.serve import Emulator, ServeOptions
from emulator.lwm2m.client.events import LwM2MStatus, LwM2MStatusChanged
from emulator.module.events import ModuleEvent
from tests.transport.helpers import AtPort, ServeProcess, write_test_profile

PSK_KEY = bytes(range(16))


def provision(
    state_dir: Path, imeis: list[str], uri: str, *, psk: bool = False, lifetime: int = 300
) -> None:
    """The state files ``AT+QLWCFG="security"/"server"/"startup",1`` and ``AT&W`` leave: each
    module registers as it boots."""
    state_dir.mkdir(parents=True, exist_ok=True)
    for imei in imeis:
        state = startup_state(uri, imei=imei, lifetime=lifetime, psk_key=PSK_KEY if psk else None)
        (state_dir / f"{imei}.json").write_text(json.dumps(state))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
async def server() -> AsyncIterator[LwM2MServer]:
    server = await LwM2MServer.start(coap=("127.0.0.1", 0), coaps=("127.0.0.1", 0))
    try:
        yield server
    finally:
        await server.stop()


async def run_fleet(
    tmp_path: Path,
    server: LwM2MServer,
    count: int,
    *,
    psk: bool,
    listener: Callable[[ModuleEvent], None] | None = None,
) -> tuple[Emulator, int]:
    """``count`` headless modules provisioned for ``server``, started, all registered; the
    descriptors this process held before they started."""
    emulator = Emulator(
        ServeOptions(count=count, pty=False, headless=True, state_dir=tmp_path / "state")
    )
    emulator.prepare()
    imeis = [m.imei for m in emulator.modules]
    provision(tmp_path / "state", imeis, server.uri("coaps" if psk else "coap"), psk=psk)
    if psk:
        for imei in imeis:
            server.set_psk(f"urn:imei:{imei}", f"urn:imei:{imei}", PSK_KEY)
    emulator = Emulator(emulator.options)  # built again: the state files exist now
    emulator.prepare()
    settled = [status_reached(m.host, LwM2MStatus.REGISTERED) for m in emulator.modules]
    if listener is not None:
        for served in emulator.modules:
            served.host.add_listener(listener)
    before = open_fds()
    await emulator.start()
    async with asyncio.timeout(30):
        await asyncio.gather(*settled)
    await asyncio.gather(*(server.wait_registered(f"urn:imei:{i}", 10.0) for i in imeis))
    return emulator, before


def status_reached(host: ModuleHost, status: LwM2MStatus) -> asyncio.Future[None]:
    """Done when the module's LwM2M client reports ``status`` (AT+QLWSTAT? would say it)."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def listener(event: ModuleEvent) -> None:
        if isinstance(event, LwM2MStatusChanged) and event.status is status and not done.done():
            done.set_result(None)

    host.add_listener(listener)
    return done


@pytest.mark.parametrize("psk", [False, True], ids=["coap", "dtls"])
async def test_headless_modules_register_with_at_most_two_descriptors_each(
    tmp_path: Path, server: LwM2MServer, psk: bool
) -> None:
    count = 50 if not psk else 20
    emulator, before = await run_fleet(tmp_path, server, count, psk=psk)
    try:
        assert all(not m.ports for m in emulator.modules)
        per_module = (open_fds() - before) / count
        assert per_module <= 2, per_module
        assert per_module <= 1.05, f"one socket per registered module, got {per_module}"
        line = emulator.stats_line()
        assert f"modules={count} registered={count} " in line
        assert "failed=0" in line and "failures=0" in line
    finally:
        await emulator.stop()


async def test_full_collections_are_held_while_modules_register(
    tmp_path: Path, server: LwM2MServer
) -> None:
    """While any module registers, the collector's full collections wait (a storm's worth
    of objects walked at once stalls every module); once they all registered, and what they
    built is frozen, the thresholds are what they were."""
    before = gc.get_threshold()
    held_at_registered: list[int] = []

    def note(event: ModuleEvent) -> None:
        if isinstance(event, LwM2MStatusChanged) and event.status is LwM2MStatus.REGISTERED:
            held_at_registered.append(gc.get_threshold()[2])

    emulator, _ = await run_fleet(tmp_path, server, 5, psk=False, listener=note)
    try:
        assert len(held_at_registered) == 5
        assert all(full > 1_000_000 for full in held_at_registered), held_at_registered
        assert gc.get_threshold() == before
    finally:
        await emulator.stop()
    assert gc.get_threshold() == before


def test_a_full_collection_hold_gives_the_thresholds_back() -> None:
    async def run() -> None:
        before = gc.get_threshold()
        hold = FullCollectionHold(limit=3600)
        hold.hold()
        hold.hold()  # holding twice is one hold
        assert gc.get_threshold()[:2] == before[:2] and gc.get_threshold()[2] > 1_000_000
        hold.release()
        assert gc.get_threshold() == before and not hold.held
        expiring = FullCollectionHold(limit=0)  # a storm that never settles
        expiring.hold()
        assert expiring.held
        for _ in range(100):
            if not expiring.held:
                break
            await asyncio.sleep(0)  # let the loop run its due timer
        assert not expiring.held and gc.get_threshold() == before

    asyncio.run(run())


async def test_plain_coap_sends_resolve_nothing(
    tmp_path: Path, server: LwM2MServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's address is a literal: neither preparing the session nor any send asks
    the resolver (a thread-pool getaddrinfo per datagram was 30 % of a registration)."""
    loop = asyncio.get_running_loop()

    async def no_resolver(*args: object, **kwargs: object) -> list[object]:
        raise AssertionError(f"getaddrinfo{args} called")

    monkeypatch.setattr(loop, "getaddrinfo", no_resolver)
    emulator, _ = await run_fleet(tmp_path, server, 3, psk=False)
    await emulator.stop()


async def test_an_at_port_opened_on_demand_answers(tmp_path: Path, server: LwM2MServer) -> None:
    emulator, _ = await run_fleet(tmp_path, server, 3, psk=False)
    try:
        port = await emulator.open_port(1, "tcp")
        host, _, number = port.describe().split()[1].rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(number))
        writer.write(b"ATE0\rAT+QLWSTAT?\r")
        answer = b""
        async with asyncio.timeout(10):
            while b"+QLWSTAT" not in answer or not answer.endswith(b"OK\r\n"):
                answer += await reader.read(1024)
        assert b"+QLWSTAT: 2\r\n" in answer  # it registered while headless
        writer.close()
        assert "at_ports=1" in emulator.stats_line()
        assert emulator.close_port(1) == 1 and not emulator.modules[1].ports
        with pytest.raises(ValueError, match="no module 3"):
            await emulator.open_port(3, "pty")
    finally:
        await emulator.stop()


async def test_failed_registrations_are_counted_and_reported_not_silent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens at the server address: every module fails, the first is named at once,
    the rest are summed up in one line, and the counts say so."""
    count = 12
    emulator = Emulator(
        ServeOptions(count=count, pty=False, headless=True, state_dir=tmp_path / "state")
    )
    emulator.prepare()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]  # free again once closed: nobody listens there
    provision(tmp_path / "state", [m.imei for m in emulator.modules], f"coap://127.0.0.1:{dead}")
    emulator = Emulator(emulator.options)
    emulator.prepare()
    caplog.set_level(logging.WARNING, logger="emulator.app.serve")
    failed = [status_reached(m.host, LwM2MStatus.LOGIN_FAILED) for m in emulator.modules]
    await emulator.start()
    try:
        assert emulator.watch is not None
        async with asyncio.timeout(30):
            await asyncio.gather(*failed)
        assert f"failed={count}" in emulator.stats_line()
        emulator.watch.close()  # flushes the pending summary
        lines = [r.getMessage() for r in caplog.records]
        assert any("LwM2M registration failed" in line for line in lines[:1]), lines
        assert any(f"{count - 1} more LwM2M registrations failed" in line for line in lines), lines
        assert len(lines) <= 3  # not one line per module
    finally:
        await emulator.stop()


def test_serve_headless_with_a_pty_on_demand_and_stats(tmp_path: Path) -> None:
    profile = write_test_profile(tmp_path)
    with ServeProcess(
        "serve", "--profile", profile, "--headless", "--count", "3", "--control",
        stderr_path=tmp_path / "stderr", stdin_pipe=True,
    ) as serve:  # fmt: skip
        modules = serve.wait_ready()
        assert [m.headless for m in modules] == [True, True, True]
        serve.write_line("port 2 pty")
        line = serve.read_line(10)
        assert line is not None and line.startswith("port 2 pty /dev/pts/"), line
        with AtPort(line.split()[3]) as at:
            assert at.command(b"AT+CGSN\r").endswith(f"{modules[2].imei}\r\n\r\nOK\r\n".encode())
        serve.write_line("stats")
        stats = serve.read_line(10)
        assert stats is not None and stats.startswith("stats modules=3 "), stats
        assert "at_ports=1" in stats and "lag_p99_ms=" in stats
        serve.write_line("port 7 tcp")
        serve.write_line("stats")
        assert (serve.read_line(10) or "").startswith("stats ")
        assert serve.stop() == 0
        assert "control: no module 7 (there are 3)" in serve.stderr()
