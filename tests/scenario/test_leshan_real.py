"""The conformance set through LeshanDriver, against a Leshan demo server's REST API.

By default the peer is ``quecemu server --http``, started here as a user would start it (the
real CLI in its own process, on Leshan's default CoAP ports of a loopback address of its own),
which proves that the embedded server speaks Leshan 2.x's REST API and events well enough for
everything the scenarios do. When ``QUECEMU_LESHAN_URL`` names a real Leshan demo server (e.g.
after ``docker-compose up -d`` on a machine with Docker), the same tests run against it::

    QUECEMU_LESHAN_URL=http://127.0.0.1:8080 QUECEMU_LESHAN_BS_URL=http://127.0.0.1:8081 \\
        .venv/bin/pytest tests/scenario/test_leshan_real.py

``QUECEMU_LESHAN_COAP_HOST`` says where Leshan's CoAP ports are reached (default: the URL's
host). Scenarios a REST API cannot serve (server stop/restart) are reported as skipped by the
runner, with the reason.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from scenario_tool.format import load_scenario
from scenario_tool.leshan import LeshanDriver
from scenario_tool.runner import Runner, RunOptions
from scenario_tool.transcript import Transcript

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "scenarios" / "conformance"
FILES = sorted(CONFORMANCE.glob("*.yaml"))


@dataclass(frozen=True)
class LeshanUnderTest:
    url: str
    bootstrap_url: str | None
    coap_host: str | None


def _drain(stream: IO[str]) -> None:
    with contextlib.suppress(ValueError, OSError):  # closed by the fixture's teardown
        for _ in stream:
            pass


def _start_quecemu_server() -> tuple[subprocess.Popen[str], str, str]:
    """``quecemu server --http`` on Leshan's CoAP ports (5683/5684, bootstrap 5783) of a random
    127/8 address, so parallel runs on one machine do not collide. Returns the process, the
    address and the HTTP URL it printed."""
    rng = random.Random()
    last = ""
    for _ in range(5):
        host = f"127.{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        command = [
            sys.executable, "-m", "emulator.app.server_cli",
            "--coap", f"{host}:5683", "--coaps", f"{host}:5684",
            "--bootstrap", f"{host}:5783", "--http", f"{host}:0",
        ]  # fmt: skip
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        url = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("listening http "):
                url = line.split()[-1]
            if line.strip() == "ready" and url:
                # Keep reading what it prints (one line per event), so a full pipe never
                # blocks the server in the middle of the set.
                threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
                return process, host, url
        process.kill()
        _, err = process.communicate(timeout=10)
        last = err
    raise RuntimeError(f"quecemu server --http did not start: {last}")


@pytest.fixture(scope="module")
def leshan() -> Iterator[LeshanUnderTest]:
    url = os.environ.get("QUECEMU_LESHAN_URL")
    if url:
        yield LeshanUnderTest(
            url,
            os.environ.get("QUECEMU_LESHAN_BS_URL"),
            os.environ.get("QUECEMU_LESHAN_COAP_HOST"),
        )
        return
    process, host, http_url = _start_quecemu_server()
    try:
        # The embedded server serves the bootstrap API on the same HTTP face.
        yield LeshanUnderTest(http_url, http_url, host)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()


async def test_the_driver_finds_the_leshan_generation(leshan: LeshanUnderTest) -> None:
    driver = LeshanDriver(
        leshan.url, bootstrap_url=leshan.bootstrap_url, coap_host=leshan.coap_host
    )
    await driver.start()
    try:
        assert driver.api in ("1", "2")
    finally:
        await driver.close()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_scenario_against_leshan(
    path: Path, tmp_path: Path, leshan: LeshanUnderTest
) -> None:
    options = RunOptions(
        server="leshan",
        leshan_url=leshan.url,
        leshan_bootstrap_url=leshan.bootstrap_url,
        leshan_coap_host=leshan.coap_host,
    )
    transcript = Transcript(tmp_path / "transcript.txt")
    try:
        result = await Runner(options, transcript).run(load_scenario(path))
    finally:
        transcript.close()
    if result.outcome == "skipped":
        pytest.skip(result.message)
    if not result.passed:
        line = result.steps[-1].transcript_line if result.steps else result.last_line
        excerpt = transcript.excerpt(max(result.first_line, line - 40), line + 5)
        pytest.fail(f"{result.outcome}: {result.message}\n{excerpt}", pytrace=False)
