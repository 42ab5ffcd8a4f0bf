"""Secrets (issue 9, part 7): state files 0600 in a 0700 directory; a PSK never in the trace,
a scenario's transcript, its JUnit report or its console output (a record shows that a key
was set and its length); ``--trace-secrets`` shows it on purpose."""

from __future__ import annotations

import asyncio
import json
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from emulator.app.serve import Emulator, ServeOptions
from emulator.at.redact import SecretMask, redact
from tests.scenario.test_runner import Output, run, write

KEY = "0badc0ffee5ec7e7"  # hex, as the module takes it
IDENTITY = "dev1-id"
# mode 0 is PSK (QuecPython's security mode numbering)
SECURITY = f'AT+QLWCFG="security",1,1000,"coaps://127.0.0.1:5684",0,0,"{IDENTITY}","{KEY}"'
MASKED = "*" * len(KEY)


async def at(emulator: Emulator, command: str) -> str:
    """Send ``command`` to module 0 over its TCP port and return what came back."""
    (port,) = emulator.modules[0].ports
    reader, writer = await asyncio.open_connection("127.0.0.1", port.port)  # type: ignore[attr-defined]
    try:
        writer.write(command.encode() + b"\r")
        answer = b""
        while not answer.endswith(b"OK\r\n") and b"ERROR" not in answer:
            answer += await asyncio.wait_for(reader.read(1000), 5)
        return answer.decode()
    finally:
        writer.close()
        await writer.wait_closed()


async def test_state_files_are_0600_in_a_0700_directory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    emulator = Emulator(ServeOptions(pty=False, tcp=("127.0.0.1", 0), state_dir=state))
    await emulator.start()
    try:
        assert (await at(emulator, SECURITY)).endswith("OK\r\n")
        assert (await at(emulator, "AT&W")).endswith("OK\r\n")
    finally:
        await emulator.stop()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    (saved,) = state.glob("*.json")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert KEY in saved.read_text()  # kept to survive a restart, readable by the user alone
    assert emulator.warnings == []


def test_an_old_world_readable_state_file_is_made_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    old = state / "869339060001965.json"
    old.write_text(json.dumps({"at": {}}))
    old.chmod(0o644)
    emulator = Emulator(ServeOptions(pty=False, tcp=("127.0.0.1", 0), state_dir=state))
    emulator.prepare()
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    (warning,) = emulator.warnings
    assert "is open to other users (0755)" in warning and "chmod 700" in warning


@pytest.mark.parametrize("reveal", [False, True])
async def test_the_trace_shows_that_a_key_was_set_and_its_length(
    tmp_path: Path, reveal: bool
) -> None:
    trace = tmp_path / "trace.log"
    options = ServeOptions(pty=False, tcp=("127.0.0.1", 0), trace=trace, trace_secrets=reveal)
    emulator = Emulator(options)
    await emulator.start()
    try:
        assert (await at(emulator, SECURITY)).endswith("OK\r\n")
        read = await at(emulator, 'AT+QLWCFG="security"')
        assert KEY in read  # the host, on its own port, reads the key back as on hardware
    finally:
        await emulator.stop()
    text = trace.read_text()
    assert IDENTITY in text
    # typed (RX), echoed and read back (TX): three times
    if reveal:
        assert text.count(KEY) == 3 and MASKED not in text
    else:
        assert KEY not in text and text.count(f'"{MASKED}\\"') == 3, text


def test_a_key_typed_a_byte_at_a_time_is_masked_in_every_chunk() -> None:
    mask = SecretMask()
    chunks = [mask.feed(bytes([b])) for b in (SECURITY + "\r").encode()]
    assert b"".join(chunks).decode() == SECURITY.replace(KEY, MASKED) + "\r"


def test_only_the_key_field_is_masked() -> None:
    assert redact("at+qlwcfg=\"security\",0,1000,\"coap://h\",0,3\r\nOK") == (
        'at+qlwcfg="security",0,1000,"coap://h",0,3\r\nOK'
    )
    line = f'+QLWCFG: "security",1,1000,"coaps://h",0,0,"{IDENTITY}","{KEY}"\r\n\r\nOK\r\n'
    assert redact(line) == line.replace(KEY, MASKED)


def test_a_scenario_never_writes_the_key(tmp_path: Path) -> None:
    scenario = write(
        tmp_path,
        "psk.yaml",
        f"""\
        name: psk-config
        steps:
          - send: '{SECURITY}'
          - send: 'AT+QLWCFG="security"'
            expect: ['+QLWCFG: "security",1,1000,"coaps://127.0.0.1:5684",0,0,"{IDENTITY}","x"',
                     OK]
        """,
    )
    out = Output()
    transcript = tmp_path / "t.log"
    junit = tmp_path / "j.xml"
    run([scenario], out, transcript=transcript, junit=junit)
    failure = ET.parse(junit).getroot().find("./testsuite/testcase/failure")
    assert failure is not None  # the expectation quoted the key the module answered
    for where, text in (
        ("transcript", transcript.read_text()),
        ("JUnit", junit.read_text()),
        ("console", out.text + "\n".join(out.errors)),
    ):
        assert KEY not in text, where
        assert MASKED in text, where
