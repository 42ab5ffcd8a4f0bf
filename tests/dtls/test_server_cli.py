"""``quecemu server`` tells its operator about each failed DTLS handshake, once: the peer's
address, the identity it offered and the reason, never a key."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from .peers import NEITHER, GnutlsClient

REPO = Path(__file__).resolve().parents[2]
KEY_HEX = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
WRONG_HEX = "0f0e0d0c0b0a09080706050403020100"


async def test_failed_handshakes_are_printed_once_each_without_keys() -> None:
    env = {**os.environ, "QUECEMU_PSK": f"cli-ep=cli-id:{KEY_HEX}"}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulator", "server", "--no-coap", "--coaps", "127.0.0.1:0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO, env=env,
    )  # fmt: skip
    assert server.stdout is not None and server.stderr is not None
    try:
        port = 0
        async with asyncio.timeout(30):
            while (line := (await server.stdout.readline()).decode().strip()) != "ready":
                assert line, "quecemu server ended before ready"
                if line.startswith("listening coaps "):
                    port = int(line.rsplit(":", 1)[1])
        assert port
        for identity, key in (("cli-id", WRONG_HEX), ("nobody", KEY_HEX)):
            client = await GnutlsClient.connect(port, identity, key, NEITHER)
            try:
                async with asyncio.timeout(15):
                    await client.process.wait()  # gnutls-cli gives up on the fatal alert
            finally:
                await client.stop()
            assert b"Handshake was completed" not in client.output
    finally:
        server.send_signal(signal.SIGTERM)
        _, errors = await asyncio.wait_for(server.communicate(), 15)
    lines = [line for line in errors.decode().splitlines() if "DTLS handshake from" in line]
    assert len(lines) == 2, errors.decode()
    assert "127.0.0.1:" in lines[0] and "identity b'cli-id'" in lines[0]
    assert "wrong key" in lines[0]
    assert "identity b'nobody'" in lines[1] and "unknown PSK identity" in lines[1]
    assert KEY_HEX not in errors.decode() and WRONG_HEX not in errors.decode()
