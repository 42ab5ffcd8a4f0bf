"""The conformance set against a real Eclipse Leshan, when one is given.

Leshan cannot run on the build machines (no Maven Central, no Docker engine), so these tests
run only when ``QUECEMU_LESHAN_URL`` names a Leshan demo server's web/REST base, e.g. after
``docker-compose up -d`` on a machine that has Docker::

    QUECEMU_LESHAN_URL=http://127.0.0.1:8080 QUECEMU_LESHAN_BS_URL=http://127.0.0.1:8081 \\
        .venv/bin/pytest tests/scenario/test_leshan_real.py

``QUECEMU_LESHAN_COAP_HOST`` says where Leshan's CoAP ports are reached (default: the URL's
host). Scenarios Leshan cannot serve (server stop/restart; bootstrap without a bootstrap URL)
are reported as skipped by the runner, with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emulator.scenario.format import load_scenario
from emulator.scenario.leshan import LeshanDriver
from emulator.scenario.runner import Runner, RunOptions
from emulator.scenario.transcript import Transcript

LESHAN_URL = os.environ.get("QUECEMU_LESHAN_URL")
LESHAN_BS_URL = os.environ.get("QUECEMU_LESHAN_BS_URL")
LESHAN_COAP_HOST = os.environ.get("QUECEMU_LESHAN_COAP_HOST")
CONFORMANCE = Path(__file__).resolve().parents[2] / "scenarios" / "conformance"
FILES = sorted(CONFORMANCE.glob("*.yaml"))

pytestmark = pytest.mark.skipif(
    not LESHAN_URL,
    reason="no Leshan here: set QUECEMU_LESHAN_URL (e.g. http://127.0.0.1:8080 after "
    "docker-compose up) to run the scenarios against a real Leshan",
)


async def test_the_driver_finds_the_leshan_generation() -> None:
    assert LESHAN_URL is not None
    driver = LeshanDriver(LESHAN_URL, bootstrap_url=LESHAN_BS_URL, coap_host=LESHAN_COAP_HOST)
    await driver.start()
    try:
        assert driver.api in ("1", "2")
    finally:
        await driver.close()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_scenario_against_leshan(path: Path, tmp_path: Path) -> None:
    options = RunOptions(
        server="leshan",
        leshan_url=LESHAN_URL,
        leshan_bootstrap_url=LESHAN_BS_URL,
        leshan_coap_host=LESHAN_COAP_HOST,
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
