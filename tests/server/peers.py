"""Launchers for the independent peers the server tests run against."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

PEERS_DIR = Path(__file__).resolve().parent.parent / "peers"


def require_node_client() -> None:
    """Skip when node or the npm peer is not installed (``make setup`` installs both)."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not (PEERS_DIR / "node_modules" / "lwm2m-node-lib").is_dir():
        pytest.skip("lwm2m-node-lib is not installed in tests/peers (run make setup)")


class NodeClient:
    """The npm lwm2m-node-lib client (tests/peers/lwm2m_client.js) as a subprocess that
    reports what happens as JSON lines and takes commands on stdin."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, port: int, endpoint: str, lifetime: int = 60) -> NodeClient:
        require_node_client()
        process = await asyncio.create_subprocess_exec(
            "node",
            "lwm2m_client.js",
            "127.0.0.1",
            str(port),
            endpoint,
            str(lifetime),
            cwd=PEERS_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return cls(process)

    async def next_event(self, timeout: float = 10.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise EOFError(f"the node client exited ({self.process.returncode})")
        event: dict[str, Any] = json.loads(line)
        return event

    async def command(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
