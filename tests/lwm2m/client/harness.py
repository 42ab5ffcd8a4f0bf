"""A virtual module on its asyncio host, driven through its AT bytes, and the peers it talks to.

``AtModule`` runs a real :class:`~emulator.module.virtual.VirtualModule` with the LwM2M family's
service (the aiocoap adapter) on a :class:`~emulator.adapters.host.ModuleHost`, collects every
byte it writes and lets a test send command lines and wait for their final result code or for URCs.
The peers are independent programs: lwm2m-node-lib (tests/peers/lwm2m_server.js) and libcoap's
``coap-server-openssl``. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emulator.adapters.factory import hosted_module
from emulator.adapters.host import ModuleHost
from emulator.module.nvstore import MemoryNvStore, NvStore
from emulator.module.profile import ModuleProfile, load_profile
from emulator.module.virtual import VirtualModule

PEERS_DIR = Path(__file__).resolve().parents[2] / "peers"
FINAL = re.compile(r"^(OK|ERROR|\+CME ERROR: .*)$")


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def lwm2m_profile(name: str = "EC200U", **lwm2m: Any) -> ModuleProfile:
    """A built-in profile with its "lwm2m" section overridden (deep merge), e.g. timings."""
    profile = load_profile(name)
    section = merged(profile.sections["lwm2m"], lwm2m)
    # Tests run with a short boot so they spend their time on LwM2M.
    boot = dataclasses.replace(profile.boot, duration=0.05, urc_gap=0.001)
    return dataclasses.replace(profile, boot=boot, sections={**profile.sections, "lwm2m": section})


FAST: dict[str, Any] = {
    "coap": {"ack_timeout": 0.2, "ack_random_factor": 1.0, "max_retransmit": 2},
    "timing_ms": {"dtls_handshake_timeout": 1500, "reboot_delay": 20, "firmware_apply": 50},
}


class AtModule:
    """One emulated module driven through its AT port."""

    def __init__(self, profile: ModuleProfile | None = None, *, nv: NvStore | None = None):
        self.profile = profile or lwm2m_profile(**FAST)
        self.nv = nv if nv is not None else MemoryNvStore()
        self.output = bytearray()
        self.lines: list[str] = []
        self._partial = ""
        self._changed = asyncio.Event()
        self.host: ModuleHost | None = None
        self._cursor = 0  # lines consumed by at()

    @property
    def module(self) -> VirtualModule:
        assert self.host is not None
        return self.host.module

    async def start(self) -> AtModule:
        loop = asyncio.get_running_loop()
        self.host = hosted_module(self.profile, nv=self.nv, clock=loop.time)
        self.host.add_sink(self._sink)
        # Module events (the client's work included) also wake waiters: state may have moved.
        self.host.add_listener(lambda event: self._changed.set())
        await self.host.start()
        await self.wait_line("+QIND: PB DONE", timeout=5)
        await self.at("ATE0")
        return self

    async def stop(self) -> None:
        if self.host is not None:
            await self.host.stop()

    def _sink(self, data: bytes) -> None:
        self.output += data
        text = self._partial + data.decode("ascii", "replace")
        *complete, self._partial = text.split("\r\n")
        self.lines.extend(line.strip("\r") for line in complete if line.strip("\r"))
        self._changed.set()

    async def _until(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
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
            raise AssertionError(
                f"no {what} within {timeout} s; output so far:\n" + "\n".join(self.lines)
            ) from None

    async def at(self, command: str, timeout: float = 5.0) -> list[str]:
        """Send one command line; the lines up to and including its final result code."""
        assert self.host is not None
        self._skip_to_end()
        start = len(self.lines)
        self.host.feed(command.encode("ascii") + b"\r")

        def final() -> int | None:
            for index in range(start, len(self.lines)):
                if FINAL.match(self.lines[index]) and not self.lines[index].startswith("+QLWURC"):
                    return index + 1
            return None

        end = await self._until(final, timeout, f"final result for {command}")
        # With echo on (ATE1 is the power-on default) the echoed line precedes the answer.
        return [
            line
            for line in self.lines[start:end]
            if not line.startswith("+QLWURC") and not line.startswith(command)
        ]

    def _skip_to_end(self) -> None:
        self._cursor = len(self.lines)

    def urcs(self) -> list[str]:
        return [line for line in self.lines if line.startswith("+QLWURC: ")]

    def urc_names(self, since: int = 0) -> list[str]:
        names = []
        for line in self.urcs()[since:]:
            match = re.match(r'\+QLWURC: "([^"]*)"', line)
            if match:
                names.append(match.group(1))
        return names

    async def wait_urc(self, fragment: str, timeout: float = 5.0, since: int = 0) -> str:
        """The first ``+QLWURC`` line (from index ``since`` of the URCs) containing ``fragment``."""

        def found() -> str | None:
            return next((u for u in self.urcs()[since:] if fragment in u), None)

        result: str = await self._until(found, timeout, f"URC containing {fragment!r}")
        return result

    async def wait_line(self, text: str, timeout: float = 5.0) -> None:
        await self._until(lambda: text in self.lines, timeout, f"line {text!r}")

    async def stat(self) -> int:
        lines = await self.at("AT+QLWSTAT?")
        assert lines[-1] == "OK", lines
        return int(lines[0].split(":")[1])

    async def wait_stat(self, value: int, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if await self.stat() == value:
                return
            if loop.time() > deadline:
                raise AssertionError(f"AT+QLWSTAT? never became {value}")
            await asyncio.sleep(0.02)  # polling the AT port like a host would, bounded above


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def require_node() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not (PEERS_DIR / "node_modules" / "lwm2m-node-lib").is_dir():
        pytest.skip("lwm2m-node-lib is not installed in tests/peers (run make setup)")


class NodeServer:
    """lwm2m-node-lib's LwM2M server (tests/peers/lwm2m_server.js) on 127.0.0.1."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.port = 0
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls) -> NodeServer:
        return await cls.start_on(0)

    @classmethod
    async def start_on(cls, port: int) -> NodeServer:
        """On ``port`` (0: a free one)."""
        require_node()
        process = await asyncio.create_subprocess_exec(
            "node",
            "lwm2m_server.js",
            str(port),
            cwd=PEERS_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        server = cls(process)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 15)
        ready = json.loads(line)
        assert ready.get("event") == "ready", ready
        server.port = int(ready["port"])
        server._reader = asyncio.get_running_loop().create_task(server._read())
        return server

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = json.loads(line)
            if "id" in message and message["id"] in self._answers:
                self._answers.pop(message["id"]).set_result(message)
            else:
                self.seen.append(message)
                await self.events.put(message)

    async def event(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next event of ``kind`` (others in between are kept in ``seen``)."""

        async def wait() -> dict[str, Any]:
            while True:
                message = await self.events.get()
                if message.get("event") == kind:
                    return message

        return await asyncio.wait_for(wait(), timeout)

    async def command(self, op: str, timeout: float = 8.0, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._answers[self._next_id] = future
        line = json.dumps({"id": self._next_id, "op": op, **fields}) + "\n"
        self.process.stdin.write(line.encode())
        await self.process.stdin.drain()
        return await asyncio.wait_for(future, timeout)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        if self._reader is not None:
            self._reader.cancel()


def require_libcoap(binary: str = "coap-server-openssl") -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"libcoap3-bin ({binary}) is not installed")
    return path


class LibcoapServer:
    """libcoap's ``coap-server-openssl`` (or ``coap-rd-openssl``, a CoRE resource directory
    that takes ``POST /rd?ep=...`` like an LwM2M server) with a PSK: DTLS on ``port + 1``."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    @property
    def dtls_port(self) -> int:
        return self.port + 1

    @classmethod
    async def start(
        cls, key: str, hint: str = "quecemu", program: str = "coap-server-openssl"
    ) -> LibcoapServer:
        binary = require_libcoap(program)
        for _ in range(20):
            port = free_udp_port()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            process = await asyncio.create_subprocess_exec(
                binary,
                "-A",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                key,
                "-h",
                hint,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            server = cls(process, port)
            if await server._listening():
                return server
            await server.stop()
        raise AssertionError("coap-server-openssl did not start")

    async def _listening(self) -> bool:
        """Ready once its DTLS port is bound (probing with bind() fails then)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while loop.time() < deadline:
            if self.process.returncode is not None:
                return False
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(("127.0.0.1", self.dtls_port))
                except OSError:
                    return True
            await asyncio.sleep(0.02)
        return False

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 3)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
