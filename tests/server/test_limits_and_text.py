"""The embedded server against hostile clients: endpoint names that would forge output lines,
a registration cap (5.03 + Max-Age), a link-payload cap (4.13), keys kept out of argv."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from aiocoap import Code

from emulator.adapters.lwm2m_server import LwM2MServer
from emulator.lwm2m.errors import BadRequest
from emulator.server.text import check_endpoint_name, printable

from .test_cli import ServerProcess
from .test_registration_interface import OBJECTS, RawClient


def test_printable_escapes_what_could_start_a_line() -> None:
    assert printable("ep\r\nregistered evil") == "ep\\x0d\\x0aregistered evil"
    assert printable("\x1b[2J") == "\\x1b[2J"
    assert printable("a\\b") == "a\\\\b"
    assert printable("plain-ep") == "plain-ep"
    assert printable("x" * 400).endswith("...")


@pytest.mark.parametrize("name", ["a\nb", "a\rb", "\x00", "a\x1b[31m", "a\x85"])
def test_endpoint_names_with_control_characters_are_refused(name: str) -> None:
    with pytest.raises(BadRequest, match="control character"):
        check_endpoint_name(name)


async def test_register_with_a_forged_endpoint_is_4_00_and_logged_escaped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await LwM2MServer.start()
    raw = RawClient(server.coap_port)
    try:
        with caplog.at_level("INFO", logger="emulator.server"):
            answer = await raw.request(
                Code.POST, ("rd",), ("ep=evil\nregistered root id=1",), OBJECTS
            )
        assert answer.code == Code.BAD_REQUEST
        assert len(server.registrations()) == 0
        logged = [r.getMessage() for r in caplog.records if "evil" in r.getMessage()]
        assert logged and all("\n" not in line for line in logged)
        answer = await raw.request(Code.POST, ("bs",), ("ep=evil\r\nOK",))
        assert answer.code == Code.BAD_REQUEST
    finally:
        raw.close()
        await server.stop()


async def test_registration_cap_answers_5_03_with_max_age() -> None:
    server = await LwM2MServer.start(max_registrations=2)
    raw = RawClient(server.coap_port)
    try:
        for name in ("a", "b"):
            answer = await raw.request(Code.POST, ("rd",), (f"ep={name}",), OBJECTS)
            assert answer.code == Code.CREATED
        full = await raw.request(Code.POST, ("rd",), ("ep=c",), OBJECTS)
        assert full.code == Code.SERVICE_UNAVAILABLE
        assert full.opt.max_age == 60
        assert b"maximum of 2" in full.payload
        # A registered endpoint may always register again (it replaces itself).
        again = await raw.request(Code.POST, ("rd",), ("ep=a",), OBJECTS)
        assert again.code == Code.CREATED
        assert len(server.registrations()) == 2
    finally:
        raw.close()
        await server.stop()


async def test_link_payload_cap_answers_4_13() -> None:
    server = await LwM2MServer.start(max_link_bytes=100)
    raw = RawClient(server.coap_port)
    try:
        big = b",".join(f"</3303/{i}>".encode() for i in range(20))
        assert len(big) > 100
        answer = await raw.request(Code.POST, ("rd",), ("ep=big",), big)
        assert answer.code == Code.REQUEST_ENTITY_TOO_LARGE
        created = await raw.request(Code.POST, ("rd",), ("ep=small",), OBJECTS)
        assert created.code == Code.CREATED
        update = await raw.request(Code.POST, tuple(created.opt.location_path), (), big)
        assert update.code == Code.REQUEST_ENTITY_TOO_LARGE
    finally:
        raw.close()
        await server.stop()


async def _locked_endpoint_refused_in_clear(server: ServerProcess) -> None:
    raw = RawClient(server.ports["coap"])
    try:
        refused = await raw.request(Code.POST, ("rd",), ("ep=locked",), OBJECTS)
        assert refused.code == Code.FORBIDDEN  # the key was taken: DTLS is required
    finally:
        raw.close()


async def test_server_keys_from_a_file_and_from_the_environment(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    with open(keys, "w", encoding="utf-8") as handle:
        handle.write("# endpoint keys\nlocked=locked-id:000102\n")
    server = await ServerProcess.start("--coap", "127.0.0.1:0", "--psk-file", str(keys))
    try:
        await _locked_endpoint_refused_in_clear(server)
    finally:
        await server.kill()
    env = {**os.environ, "QUECEMU_PSK": "locked=locked-id:000102"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulator", "server", "--coap", "127.0.0.1:0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    server = ServerProcess(process)
    while (line := await server.line()) != "ready":
        server.ports[line.split()[1]] = int(line.rsplit(":", 1)[1])
    try:
        await _locked_endpoint_refused_in_clear(server)
    finally:
        await server.kill()


async def test_a_bad_key_in_the_environment_is_named_without_the_key() -> None:
    env = {**os.environ, "QUECEMU_PSK": "dev=dev-id:5ec2e7zz"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulator", "server", "--coap", "127.0.0.1:0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    _, error = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode != 0
    text = error.decode()
    assert "QUECEMU_PSK" in text and "'dev'" in text
    assert "5ec2e7" not in text
