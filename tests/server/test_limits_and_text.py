"""The embedded server against hostile clients: endpoint names that would forge output lines,
a registration cap (5.03 + Max-Age), a link-payload cap (4.13), keys kept out of argv."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from aiocoap import Code, Context, Message

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


async def test_an_answer_longer_than_one_block_arrives_whole_in_blocks() -> None:
    # A bad link is quoted in the 4.00 diagnostic: 1,500 bytes of it do not fit one message
    # (1,024 bytes), so the answer goes out in Block2 blocks (RFC 7959 §2.2) and a client that
    # follows them gets all of it.
    server = await LwM2MServer.start()
    client = await Context.create_client_context()
    raw = RawClient(server.coap_port)
    uri = f"coap://127.0.0.1:{server.coap_port}/rd?ep=long&lt=60"
    try:
        first = await raw.request(Code.POST, ("rd",), ("ep=long",), b"</" + b"x" * 1500 + b">")
        assert first.code == Code.BAD_REQUEST
        assert first.opt.block2 is not None and first.opt.block2.more
        request = Message(code=Code.POST, uri=uri, payload=b"</" + b"x" * 1500 + b">")
        request.opt.content_format = 40
        answer = await asyncio.wait_for(client.request(request).response, 10)
        assert answer.code == Code.BAD_REQUEST
        assert answer.payload.startswith(b"link </xxx") and len(answer.payload) > 1500
        assert b"is not an LwM2M path" in answer.payload
        assert len(server.registrations()) == 0
    finally:
        raw.close()
        await client.shutdown()
        await server.stop()


async def test_a_bug_in_the_core_is_answered_5_00_and_the_server_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = await LwM2MServer.start()
    raw = RawClient(server.coap_port)
    handle_request = server.core.handle_request
    calls = 0

    def broken_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug")
        return handle_request(*args, **kwargs)

    monkeypatch.setattr(server.core, "handle_request", broken_once)
    try:
        with caplog.at_level("ERROR", logger="emulator.server"):
            answer = await raw.request(Code.POST, ("rd",), ("ep=dev1",), OBJECTS)
        assert answer.code == Code.INTERNAL_SERVER_ERROR
        assert any("a bug" in (r.exc_text or "") or r.exc_info for r in caplog.records)
        answer = await raw.request(Code.POST, ("rd",), ("ep=dev1",), OBJECTS)
        assert answer.code == Code.CREATED
        assert server.registration("dev1") is not None
    finally:
        raw.close()
        await server.stop()
