"""A module on its asyncio host, driven byte-exactly through its AT port, and the real peers
the data stacks talk to: mosquitto (Debian's broker, started per test on a free loopback
port with a temporary configuration) and local HTTP(S) servers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emulator.adapters.factory import hosted_module
from emulator.adapters.host import ModuleHost
from emulator.adapters.ufs import set_files_root
from emulator.module.profile import ModuleProfile, load_profile
from emulator.module.virtual import VirtualModule

FINAL = re.compile(rb"\r\n(OK|ERROR|\+CME ERROR: [^\r]*)\r\n")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def stack_profile(name: str = "EC200U", **mqtt: Any) -> ModuleProfile:
    """A built-in profile with a short boot, without LwM2M, "mqtt" limits overridden."""
    profile = load_profile(name)
    families = tuple(f for f in profile.command_families if f != "lwm2m")
    boot = dataclasses.replace(profile.boot, duration=0.05, urc_gap=0.001)
    network = dataclasses.replace(profile.network, attach_delay=0.0)
    section = {**profile.sections.get("mqtt", {}), **mqtt}
    return dataclasses.replace(
        profile,
        boot=boot,
        network=network,
        command_families=families,
        sections={**profile.sections, "mqtt": section},
    )


class AtPort:
    """One emulated module; ``at`` sends a line and returns the exact bytes of its answer."""

    def __init__(self, profile: ModuleProfile | None = None, files: Path | None = None) -> None:
        self.profile = profile or stack_profile()
        self.files = files
        self.output = bytearray()
        self.cursor = 0
        self._changed = asyncio.Event()
        self.host: ModuleHost | None = None

    @property
    def module(self) -> VirtualModule:
        assert self.host is not None
        return self.host.module

    async def start(self) -> AtPort:
        loop = asyncio.get_running_loop()
        self.host = hosted_module(self.profile, clock=loop.time)
        if self.files is not None:
            set_files_root(self.host.module, self.files)
        self.host.add_sink(self._sink)
        await self.host.start()
        await self.expect_somewhere(b"+QIND: PB DONE\r\n", timeout=5)
        assert await self.at("ATE0") == b"ATE0\r\r\nOK\r\n"
        return self

    async def stop(self) -> None:
        if self.host is not None:
            await self.host.stop()

    def _sink(self, data: bytes) -> None:
        self.output += data
        self._changed.set()

    async def until(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        async def wait() -> Any:
            while True:
                result = predicate()
                if result:
                    return result
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            pending = bytes(self.output[self.cursor :])
            raise AssertionError(
                f"no {what} within {timeout} s; unread output: {pending!r}"
            ) from None

    def send(self, data: bytes) -> None:
        assert self.host is not None
        self.host.feed(data)

    async def at(self, line: str | bytes, timeout: float = 10.0) -> bytes:
        """Send ``line`` + CR; the bytes up to its final result code, a ``> `` prompt or
        ``CONNECT``."""
        raw = line.encode("latin-1") if isinstance(line, str) else line
        self.send(raw + b"\r")

        def end() -> int | None:
            pending = bytes(self.output[self.cursor :])
            ends = [m.end() for m in [FINAL.search(pending)] if m]
            for marker in (b"\r\n> ", b"\r\nCONNECT\r\n"):
                at = pending.find(marker)
                if at >= 0:
                    ends.append(at + len(marker))
            return min(ends) if ends else None

        stop = await self.until(end, timeout, f"final result for {raw!r}")
        answer = bytes(self.output[self.cursor : self.cursor + stop])
        self.cursor += stop
        return answer

    async def data(self, payload: bytes, timeout: float = 10.0) -> bytes:
        """Send raw data at a prompt; the bytes of the final answer."""
        self.send(payload)
        return await self.final(timeout)

    async def final(self, timeout: float = 10.0) -> bytes:
        def end() -> int | None:
            match = FINAL.search(bytes(self.output[self.cursor :]))
            return match.end() if match else None

        stop = await self.until(end, timeout, "a final result code")
        answer = bytes(self.output[self.cursor : self.cursor + stop])
        self.cursor += stop
        return answer

    async def expect(self, wanted: bytes, timeout: float = 10.0) -> None:
        """The next bytes on the port are exactly ``wanted``."""
        await self.until(
            lambda: len(self.output) - self.cursor >= len(wanted), timeout, f"{wanted!r}"
        )
        got = bytes(self.output[self.cursor : self.cursor + len(wanted)])
        assert got == wanted, f"expected {wanted!r}, got {got!r}"
        self.cursor += len(wanted)

    async def urc(self, timeout: float = 10.0) -> bytes:
        """The next framed line (``\\r\\n...\\r\\n``)."""

        def end() -> int | None:
            pending = bytes(self.output[self.cursor :])
            if not pending.startswith(b"\r\n"):
                return None
            close = pending.find(b"\r\n", 2)
            return close + 2 if close >= 0 else None

        stop = await self.until(end, timeout, "a URC")
        line = bytes(self.output[self.cursor : self.cursor + stop])
        self.cursor += stop
        return line

    async def expect_somewhere(self, wanted: bytes, timeout: float = 10.0) -> None:
        """Skip output up to and including ``wanted``."""
        at = await self.until(
            lambda: (self.output.find(wanted, self.cursor) + 1) or None, timeout, f"{wanted!r}"
        )
        self.cursor = at - 1 + len(wanted)

    def unread(self) -> bytes:
        return bytes(self.output[self.cursor :])


class Mosquitto:
    """Debian's mosquitto on 127.0.0.1, own configuration, no persistence."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_tcp_port()
        self.folder = tempfile.TemporaryDirectory(prefix="quecemu-mosquitto-")
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(self.folder.name) / "mosquitto.log"

    def start(self) -> Mosquitto:
        if not os.path.exists(MOSQUITTO):
            pytest.skip("mosquitto is not installed (make setup installs it)")
        config = Path(self.folder.name) / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"log_dest file {self.log}\nlog_type all\n"
        )
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    err = self.process.stderr.read() if self.process.stderr else b""
                    raise RuntimeError(f"mosquitto ended: {err!r}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not listen within 10 s") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        self.folder.cleanup()
