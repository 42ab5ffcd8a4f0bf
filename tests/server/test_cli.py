"""``quecemu server`` as a user runs it: a subprocess printing one line per event, stopped
by SIGTERM/SIGINT; bad options get a clear message."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator

import pytest
from aiocoap import Code

from emulator.app.server_cli import describe, main
from emulator.lwm2m.model import ObjectInstance, SingleResource
from emulator.lwm2m.paths import LwM2MPath
from emulator.server import (
    BootstrapFailed,
    BootstrapFailure,
    Deregistered,
    Expired,
    Notification,
    Registered,
    Registration,
    Sleeping,
)

from .aiocoap_device import AiocoapDevice
from .test_registration_interface import OBJECTS, RawClient


class ServerProcess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.ports: dict[str, int] = {}

    @classmethod
    async def start(cls, *options: str) -> ServerProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "emulator", "server", *options,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        started = cls(process)
        while (line := await started.line()) != "ready":
            match = re.fullmatch(r"listening (\w+) coaps?://127\.0\.0\.1:(\d+)", line)
            assert match, line
            started.ports[match[1]] = int(match[2])
        return started

    async def line(self, timeout: float = 10.0) -> str:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert raw, "the server exited"
        return raw.decode().rstrip("\n")

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        assert await self.line() == "stopped"
        return await asyncio.wait_for(self.process.wait(), 10)

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@pytest.fixture
async def cli_server() -> AsyncIterator[ServerProcess]:
    server = await ServerProcess.start(
        "--coap", "127.0.0.1:0", "--coaps", "127.0.0.1:0", "--observe", "/3/0/13",
        "--psk", "locked=locked-id:000102",
    )  # fmt: skip
    try:
        yield server
    finally:
        await server.kill()


async def test_one_line_per_event_and_a_clean_stop(cli_server: ServerProcess) -> None:
    raw = RawClient(cli_server.ports["coap"])
    try:
        created = await raw.request(Code.POST, ("rd",), ("ep=raw-ep", "lt=90"), OBJECTS)
        assert created.code == Code.CREATED
        line = await cli_server.line()
        assert re.fullmatch(
            r"registered raw-ep id=\w+ lwm2m=1\.0 lt=90 b=U from 127\.0\.0\.1:\d+ nosec "
            r"objects=</1/0>,</3/0>",
            line,
        ), line
        # --observe /3/0/13 makes the server ask the raw client; we do not answer.
        observe = await raw.receive()
        assert observe.opt.observe == 0 and tuple(observe.opt.uri_path) == ("3", "0", "13")
        assert (
            await raw.request(Code.DELETE, tuple(created.opt.location_path))
        ).code == Code.DELETED
        line = await cli_server.line()
        assert re.fullmatch(r"deregistered raw-ep id=\w+", line), line
        # Locked endpoints must come over DTLS.
        refused = await raw.request(Code.POST, ("rd",), ("ep=locked",), OBJECTS)
        assert refused.code == Code.FORBIDDEN
    finally:
        raw.close()
    assert await cli_server.stop() == 0


async def test_notifications_are_printed(cli_server: ServerProcess) -> None:
    device = AiocoapDevice("watched")
    await device.start(f"coap://127.0.0.1:{cli_server.ports['coap']}")
    try:
        await device.register()
        assert (await cli_server.line()).startswith("registered watched ")
        await asyncio.wait_for(_first_watch(device), 10)
        # The observation's start is printed once the client accepted it.
        assert await cli_server.line() == "observing watched /3/0/13"
        device.set_value("/3/0/13", 1_700_000_123)
        assert await cli_server.line() == "notification watched /3/0/13 seq=1 1700000123"
    finally:
        await device.close()
    assert await cli_server.stop(signal.SIGINT) == 0


async def _first_watch(device: AiocoapDevice) -> None:
    while not device.watched_paths():
        seen = await device.seen.get()
        assert seen.observe == 0


async def test_a_bad_option_exits_2_with_a_clear_message() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulator", "server", "--psk", "nonsense",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, error = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert "argument --psk: a PSK entry is not EP=IDENTITY:HEXKEY (no EP=)" in error.decode()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--psk", "ep=id:xyz"], "is not hex"),
        (["--psk", "=id:00"], "is not EP=IDENTITY:HEXKEY"),
        (["--coap", "127.0.0.1:99999"], "port 99999 is not 0-65535"),
        (["--coaps", "localhost:abc"], "is not a number"),
        (["--observe", "/3/a"], "not a decimal number"),
        (["--bootstrap-config", "ep=http://x"], "coap://"),
        (["--bootstrap-config", "ep=coaps://h:1"], "psk"),
        (["--bootstrap-config", "ep=coaps://h:1,id"], "IDENTITY:HEXKEY"),
        (["--awake-time", "0"], "must be above 0"),
    ],
)
def test_bad_options_are_named(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(options)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_no_listener_at_all_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-coap"]) == 1
    assert "--no-coap leaves no listener" in capsys.readouterr().err


async def test_a_port_in_use_is_reported() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "emulator", "server", "--coap", f"127.0.0.1:{port}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, error = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in error.decode()


def _registration(**changes: object) -> Registration:
    fields: dict[str, object] = dict(
        registration_id="r1", endpoint="dev", lifetime=60, lwm2m_version="1.1", binding="UQ",
        queue_mode=True, sms_number=None, objects={1: (0,), 3: (0,), 5: ()},
        object_versions={}, alternate_path="/", preferred_format=None, links=(),
        address="127.0.0.1:9", secure_endpoint="dev", registered_at=0.0, last_update=0.0,
    )  # fmt: skip
    fields.update(changes)
    return Registration(**fields)  # type: ignore[arg-type]


def test_describe_lines() -> None:
    registration = _registration()
    assert describe(Registered(endpoint="dev", registration=registration)) == (
        "registered dev id=r1 lwm2m=1.1 lt=60 b=UQ from 127.0.0.1:9 dtls objects=</1/0>,</3/0>,</5>"
    )
    assert describe(Deregistered(endpoint="dev", registration=registration)) == (
        "deregistered dev id=r1"
    )
    assert describe(Expired(endpoint="dev", registration=registration)) == "expired dev id=r1"
    assert describe(Sleeping(endpoint="dev")) == "sleeping dev"
    failed = BootstrapFailed(endpoint="dev", cause=BootstrapFailure.NO_ANSWER, reason="why")
    assert describe(failed) == "bootstrap-failed dev: why"
    instance = ObjectInstance(0, {0: SingleResource(0, "Q"), 3: SingleResource(3, b"\x01")})
    notification = Notification(
        endpoint="dev", path=LwM2MPath(3, 0), content=instance, content_format=11542,
        payload=b"", sequence=4,
    )  # fmt: skip
    assert describe(notification) == "notification dev /3/0 seq=4 /3/0/0=Q /3/0/3=0x01"
    broken = Notification(
        endpoint="dev", path=LwM2MPath(3, 0, 0), content=None, content_format=99,
        payload=b"\xff", sequence=5, error="unsupported",
    )  # fmt: skip
    assert describe(broken) == "notification dev /3/0/0 seq=5 undecodable (unsupported) 0xff"
