"""File descriptors (issue 9, part 8): ``quecemu serve`` raises its soft limit to the hard one
and refuses a count that cannot fit, saying the numbers; a socket that cannot be created at run
time gives the module's failure URC and one log line; accept() failures back off quietly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.adapters.port.fdlimit import FdLimitError, budget, ensure_fd_limit
from emulator.adapters.port.tcp import TcpPort
from emulator.app.serve import Emulator, ServeOptions
from tests.lwm2m.client.harness import AtModule
from tests.tcpip.harness import ModuleUnderTest
from tests.transport.helpers import REPO

NOFILE = resource.RLIMIT_NOFILE


@contextlib.contextmanager
def descriptors_exhausted() -> Iterator[None]:
    """Every descriptor this process may open is taken until the block ends."""
    soft, hard = resource.getrlimit(NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    fillers: list[int] = []
    resource.setrlimit(NOFILE, (highest + 1, hard))
    try:
        while True:
            try:
                fillers.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        yield
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(NOFILE, (soft, hard))


# ------------------------------------------------------------- the limit and the refusal
def test_the_soft_limit_goes_up_to_the_hard_one() -> None:
    calls: list[tuple[int, int]] = []
    warning = ensure_fd_limit(
        budget(100, pty=True, tcp=False),
        getrlimit=lambda _: (1024, 65536),
        setrlimit=lambda _, limits: calls.append(limits),
    )
    assert calls == [(65536, 65536)] and warning is None


def test_a_count_whose_ports_cannot_fit_is_refused_with_the_numbers() -> None:
    with pytest.raises(FdLimitError) as raised:
        ensure_fd_limit(
            budget(2000, pty=True, tcp=True),
            getrlimit=lambda _: (1024, 4096),
            setrlimit=lambda _, limits: None,
        )
    message = str(raised.value)
    assert "--count 2000 needs 8064 file descriptors (4 per module" in message
    assert "may open only 4096 (hard limit 4096)" in message
    assert "at most 1008 modules fit" in message and "ulimit -Hn" in message


def test_ports_that_fit_without_every_lwm2m_socket_give_a_warning() -> None:
    warning = ensure_fd_limit(
        budget(1000, pty=True, tcp=False),
        getrlimit=lambda _: (2200, 2200),
        setrlimit=lambda _, limits: None,
    )
    assert warning is not None and "only about 712 of them" in warning


def test_serve_refuses_a_count_past_the_hard_limit(tmp_path: Path) -> None:
    def low_limit() -> None:
        resource.setrlimit(NOFILE, (256, 256))

    done = subprocess.run(
        [sys.executable, "-m", "emulator", "serve", "--count", "200"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=low_limit,
    )
    assert done.returncode == 2, done.stderr
    assert "--count 200 needs 464 file descriptors" in done.stderr
    assert "may open only 256 (hard limit 256)" in done.stderr
    assert "at most 96 modules fit" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_raises_its_soft_limit_to_the_hard_one(tmp_path: Path) -> None:
    """A child started with soft 256 / hard 2048 runs 200 pty modules (464 descriptors)."""

    def low_soft_limit() -> None:
        resource.setrlimit(NOFILE, (256, 2048))

    code = (
        "import asyncio, resource\n"
        "from emulator.app.serve import Emulator, ServeOptions\n"
        "async def main():\n"
        "    emulator = Emulator(ServeOptions(count=200))\n"
        "    await emulator.start()\n"
        "    print(resource.getrlimit(resource.RLIMIT_NOFILE), len(emulator.modules))\n"
        "    await emulator.stop()\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=low_soft_limit,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["(2048,", "2048)", "200"]


# --------------------------------------------------------------- run-time exhaustion
async def test_no_socket_for_lwm2m_gives_the_failure_urc_and_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    module = await AtModule().start()
    try:
        await module.at('AT+QLWCFG="security",1,1000,"coap://127.0.0.1:5683",0,3')
        caplog.set_level(logging.WARNING)
        with descriptors_exhausted():
            assert await module.at("AT+QLWREG") == ["OK"]
            await module.wait_urc('"initial","failed"')
        assert await module.stat() == 4  # waiting for its back-off, as after any failure
    finally:
        await module.stop()
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "no socket for LwM2M server" in lines[0], lines
    assert "Too many open files" in lines[0]
    assert not [r for r in caplog.records if r.exc_info]


async def test_accept_failures_back_off_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator = Emulator(ServeOptions(pty=False, tcp=("127.0.0.1", 0)))
    await emulator.start()
    caplog.set_level(logging.WARNING)
    client = socket.socket()
    client.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        (port,) = emulator.modules[0].ports
        assert isinstance(port, TcpPort)
        reporter = emulator._accept_failures
        assert reporter is not None
        with descriptors_exhausted():
            await loop.sock_connect(client, ("127.0.0.1", port.port))  # queued by the kernel
            deadline = loop.time() + 10
            while reporter.failures < 3:  # asyncio retries the listener once a second
                assert loop.time() < deadline, "accept() was not retried"
                await asyncio.sleep(0.05)
        deadline = loop.time() + 10
        while not port.connected:  # accepted at the next retry, now that fds are free
            assert loop.time() < deadline, "the queued client was never accepted"
            await asyncio.sleep(0.05)
        await loop.sock_sendall(client, b"AT\r")
        answer = b""
        while b"OK\r\n" not in answer:
            answer += await asyncio.wait_for(loop.sock_recv(client, 100), 5)
    finally:
        client.close()
        await emulator.stop()
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and lines[0].startswith("accept() failed 1 time(s)"), lines
    assert "Too many open files" in lines[0]
    assert reporter.failures >= 3 and reporter.lines == 1


async def test_no_socket_for_qiopen_gives_554_and_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mut = ModuleUnderTest()
    await mut.start()
    try:
        assert await mut.command("AT+QIACT=1") == b"\r\nOK\r\n"
        caplog.set_level(logging.WARNING)
        with descriptors_exhausted():
            answer = await mut.command('AT+QIOPEN=1,0,"UDP","127.0.0.1",9,0,0')
            assert answer == b"\r\nOK\r\n"
            await mut.urc(b"\r\n+QIOPEN: 0,554\r\n")  # create socket failed
    finally:
        await mut.stop()
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == ["no socket for AT+QIOPEN: Too many open files"], lines
