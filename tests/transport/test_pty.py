"""The pty transport in process: a real module on a real pty, a host program in a thread
(pyserial or a bare fd), everything seen as bytes on the device."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import select
import termios
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.adapters.factory import hosted_module
from emulator.adapters.host import ModuleHost
from emulator.adapters.port.port import PortEvent
from emulator.adapters.port.pty import LinkError, PtyPort
from emulator.module.events import BootCompleted, ModuleEvent
from emulator.module.profile import load_profile
from tests.transport.helpers import AtPort, write_test_profile

TIMEOUT = 10.0
BACKLOG = 4096


@dataclasses.dataclass
class Rig:
    host: ModuleHost
    port: PtyPort
    link: Path
    events: asyncio.Queue[PortEvent]

    async def next_event(self, kind: str) -> PortEvent:
        event = await asyncio.wait_for(self.events.get(), TIMEOUT)
        assert event.kind == kind, event
        return event


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    profile = load_profile(str(write_test_profile(tmp_path)))
    host = hosted_module(profile, services=False)
    booted: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_module_event(event: ModuleEvent) -> None:
        if isinstance(event, BootCompleted) and not booted.done():
            booted.set_result(None)

    host.add_listener(on_module_event)
    events: asyncio.Queue[PortEvent] = asyncio.Queue()
    link = tmp_path / "ttyQ"
    port = PtyPort(host.feed, link=link, on_event=events.put_nowait, backlog_limit=BACKLOG)
    host.add_sink(port.write)
    await host.start()
    await asyncio.wait_for(booted, TIMEOUT)
    yield Rig(host=host, port=port, link=link, events=events)
    port.close()
    await host.stop()


def read_until(fd: int, marker: bytes, timeout: float = TIMEOUT) -> bytes:
    """Blocking read on a raw fd until ``marker`` arrives (run in a thread)."""
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"waited for {marker!r}, got {data!r}")
        if select.select([fd], [], [], remaining)[0]:
            data += os.read(fd, 65536)
    return data


def read_available(fd: int) -> bytes:
    data = b""
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data


async def test_at_round_trip_through_pyserial_on_the_link(rig: Rig) -> None:
    def host_program() -> bytes:
        with AtPort(str(rig.link)) as at:
            return at.command(b"AT\r")

    assert os.readlink(rig.link) == rig.port.path
    assert await asyncio.to_thread(host_program) == b"AT\r\r\nOK\r\n"
    await rig.next_event("open")
    await rig.next_event("close")


async def test_module_keeps_running_across_close_and_reopen(rig: Rig) -> None:
    def first_session() -> bytes:
        with AtPort(str(rig.link)) as at:
            return at.command(b"ATE0\r")

    assert await asyncio.to_thread(first_session) == b"ATE0\r\r\nOK\r\n"
    await rig.next_event("open")
    await rig.next_event("close")
    assert not rig.port.host_present

    # URCs while nobody holds the port are lost, as on a UART with nothing attached.
    dropped_before = rig.port.stats.bytes_dropped
    rig.host.raise_urc('+QIND: "stale",1')
    assert rig.port.stats.bytes_dropped > dropped_before

    def second_session() -> bytes:
        # A bare open (no pyserial flush-on-open): a stale URC would show here.
        fd = os.open(rig.link, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, b"AT\r")
            return read_until(fd, b"OK\r\n")
        finally:
            os.close(fd)

    # Echo stays off: the same module answered, it did not restart.
    assert await asyncio.to_thread(second_session) == b"\r\nOK\r\n"


async def test_output_nobody_reads_is_bounded_and_counted(rig: Rig) -> None:
    fd = await asyncio.to_thread(os.open, rig.link, os.O_RDWR | os.O_NOCTTY)
    try:
        await rig.next_event("open")
        stats = rig.port.stats
        before = stats.bytes_out + stats.bytes_dropped
        urc = '+QLWURC: "report",1,"/3/0/9","' + "x" * 40 + '"'
        for _ in range(2000):  # ~110 KB: kernel buffer full, backlog full, the rest dropped
            rig.host.raise_urc(urc)
        assert stats.bytes_dropped > 50_000
        assert rig.port.backlog_size <= BACKLOG
        accounted = stats.bytes_out + rig.port.backlog_size + stats.bytes_dropped - before
        assert accounted == 2000 * len(f"\r\n{urc}\r\n")

        # The host starts reading again: what was kept arrives, then the module answers.
        def catch_up() -> bytes:
            backlog = read_available(fd)
            os.write(fd, b"AT\r")
            return backlog + read_until(fd, b"AT\r\r\nOK\r\n")

        received = await asyncio.to_thread(catch_up)
        assert received.startswith(b"\r\n+QLWURC: ")
        assert received.endswith(b"AT\r\r\nOK\r\n")
        assert rig.port.backlog_size == 0
    finally:
        os.close(fd)


async def test_output_with_no_host_is_dropped_not_buffered(rig: Rig) -> None:
    out_before = rig.port.stats.bytes_out
    dropped_before = rig.port.stats.bytes_dropped
    for _ in range(1000):
        rig.host.raise_urc("+CEREG: 1")
    assert rig.port.stats.bytes_out == out_before
    assert rig.port.stats.bytes_dropped - dropped_before == 1000 * len(b"\r\n+CEREG: 1\r\n")
    assert rig.port.backlog_size == 0


async def test_next_host_starts_in_raw_mode_whatever_the_last_one_set(rig: Rig) -> None:
    def cooked_session() -> None:
        fd = os.open(rig.link, os.O_RDWR | os.O_NOCTTY)
        attrs = termios.tcgetattr(fd)
        attrs[3] |= termios.ECHO | termios.ICANON
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        os.close(fd)

    await asyncio.to_thread(cooked_session)
    await rig.next_event("open")
    await rig.next_event("close")

    def next_session() -> tuple[int, bytes]:
        fd = os.open(rig.link, os.O_RDWR | os.O_NOCTTY)
        try:
            lflag = termios.tcgetattr(fd)[3]
            os.write(fd, b"AT\r")
            return lflag, read_until(fd, b"OK\r\n")
        finally:
            os.close(fd)

    lflag, answer = await asyncio.to_thread(next_session)
    assert lflag & (termios.ECHO | termios.ICANON) == 0
    assert answer == b"AT\r\r\nOK\r\n"


async def test_a_stale_link_is_replaced_and_removed_on_close(tmp_path: Path) -> None:
    link = tmp_path / "ttyS"
    os.symlink("/dev/pts/nonexistent", link)
    port = PtyPort(lambda data: None, link=link)
    try:
        assert os.readlink(link) == port.path
    finally:
        port.close()
    assert not os.path.lexists(link)


async def test_a_link_taken_over_by_another_run_is_left_alone(tmp_path: Path) -> None:
    link = tmp_path / "ttyS"
    port = PtyPort(lambda data: None, link=link)
    os.unlink(link)
    os.symlink("/dev/pts/elsewhere", link)
    port.close()
    assert os.readlink(link) == "/dev/pts/elsewhere"


async def test_a_regular_file_is_not_clobbered(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    fds_before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(LinkError, match="not a symlink"):
        PtyPort(lambda data: None, link=path)
    assert path.read_text() == "mine"
    assert len(os.listdir("/proc/self/fd")) == fds_before  # the pty was released


async def test_ports_of_one_process_track_their_own_hosts(tmp_path: Path) -> None:
    events: list[tuple[str, str]] = []
    seen = asyncio.Event()

    def recorder(name: str) -> object:
        def record(event: PortEvent) -> None:
            events.append((name, event.kind))
            seen.set()

        return record

    first = PtyPort(lambda data: None, on_event=recorder("first"))  # type: ignore[arg-type]
    second = PtyPort(lambda data: None, on_event=recorder("second"))  # type: ignore[arg-type]
    try:
        fd = os.open(second.path, os.O_RDWR | os.O_NOCTTY)
        try:
            await asyncio.wait_for(seen.wait(), TIMEOUT)
            assert events == [("second", "open")]
            assert second.host_present and not first.host_present
        finally:
            os.close(fd)
    finally:
        first.close()
        second.close()


async def test_closing_the_port_hangs_up_an_open_host(rig: Rig) -> None:
    fd = await asyncio.to_thread(os.open, rig.link, os.O_RDWR | os.O_NOCTTY)
    try:
        await rig.next_event("open")
        rig.port.close()
        assert not os.path.lexists(rig.link)

        def read_after_close() -> bytes | None:
            select.select([fd], [], [], TIMEOUT)
            with contextlib.suppress(OSError):
                return os.read(fd, 100)
            return None

        assert await asyncio.to_thread(read_after_close) in (b"", None)  # EOF or EIO
    finally:
        os.close(fd)
