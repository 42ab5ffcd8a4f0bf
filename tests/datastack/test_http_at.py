"""HTTP(S) AT commands against a local aiohttp server on loopback, byte-exact on the AT
port; HTTPS with a test CA made for the run and uploaded to the module with AT+QFUPL."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.commands.files import checksum
from tests.datastack.harness import AtPort, stack_profile
from tests.datastack.web import WebServer, make_test_ca

OK = b"\r\nOK\r\n"


@pytest.fixture
async def port(tmp_path: Path) -> AsyncIterator[AtPort]:
    module = await AtPort(files=tmp_path / "ufs").start()
    yield module
    await module.stop()


@pytest.fixture
async def web() -> AsyncIterator[WebServer]:
    server = await WebServer().start()
    yield server
    await server.stop()


@pytest.fixture(autouse=True)
def ufs(tmp_path: Path) -> None:
    (tmp_path / "ufs").mkdir(mode=0o700)


async def set_url(port: AtPort, url: str) -> None:
    assert await port.at(f"AT+QHTTPURL={len(url)},80") == b"\r\nCONNECT\r\n"
    assert await port.data(url.encode()) == OK


async def read_body(port: AtPort, body: bytes) -> None:
    port.send(b"AT+QHTTPREAD=80\r")
    await port.expect(b"\r\nCONNECT\r\n" + body + b"\r\nOK\r\n\r\n+QHTTPREAD: 0\r\n")


async def test_get_and_read(port: AtPort, web: WebServer) -> None:
    assert await port.at('AT+QHTTPCFG="contextid",1') == OK
    assert await port.at('AT+QHTTPCFG="contextid"') == b'\r\n+QHTTPCFG: "contextid",1\r\n' + OK
    await set_url(port, web.base + "/hello")
    assert await port.at("AT+QHTTPURL?") == f'\r\n+QHTTPURL: "{web.base}/hello"\r\n'.encode() + OK
    assert await port.at("AT+QHTTPGET=80") == OK
    assert await port.urc() == b"\r\n+QHTTPGET: 0,200,11\r\n"
    await read_body(port, b"hello world")
    assert await port.at("AT+QHTTPREAD=80") == b"\r\n+CME ERROR: 705\r\n"  # read once
    method, path, headers, _ = web.seen.requests[0]
    assert (method, path, headers["User-Agent"]) == ("GET", "/hello", "QUECTEL_MODULE")


async def test_post_put_with_response_header(port: AtPort, web: WebServer) -> None:
    assert await port.at('AT+QHTTPCFG="contenttype",4') == OK
    assert await port.at('AT+QHTTPCFG="responseheader",1') == OK
    await set_url(port, web.base + "/echo")
    body = b'{"a":1,"bin":"\x00\x1a"}'
    assert await port.at(f"AT+QHTTPPOST={len(body)},80,80") == b"\r\nCONNECT\r\n"
    assert await port.data(body) == OK
    assert await port.urc() == f"\r\n+QHTTPPOST: 0,201,{len(body)}\r\n".encode()
    port.send(b"AT+QHTTPREAD\r")
    await port.expect(b"\r\nCONNECT\r\nHTTP/1.1 201 Created\r\n")
    await port.expect_somewhere(b"\r\n\r\n" + body + b"\r\nOK\r\n\r\n+QHTTPREAD: 0\r\n")
    method, _, headers, seen_body = web.seen.requests[0]
    assert (method, headers["Content-Type"], seen_body) == ("POST", "application/json", body)
    assert await port.at("AT+QHTTPPUT=3,80,80") == b"\r\nCONNECT\r\n"
    assert await port.data(b"put") == OK
    assert await port.urc() == b"\r\n+QHTTPPUT: 0,201,3\r\n"
    assert web.seen.requests[1][0] == "PUT"


async def test_custom_request_header_mode_sends_other_methods(
    port: AtPort, web: WebServer
) -> None:
    await set_url(port, web.base + "/echo")
    assert await port.at('AT+QHTTPCFG="requestheader",1') == OK
    request = b"DELETE /echo HTTP/1.1\r\nHost: example\r\nX-Token: 42\r\n\r\n"
    assert await port.at(f"AT+QHTTPPOST={len(request)},80,80") == b"\r\nCONNECT\r\n"
    assert await port.data(request) == OK
    assert await port.urc() == b"\r\n+QHTTPPOST: 0,201,0\r\n"
    method, path, headers, _ = web.seen.requests[0]
    assert (method, path, headers["X-Token"]) == ("DELETE", "/echo", "42")
    garbage = b"not a request\r\n\r\n"
    assert await port.at(f"AT+QHTTPPOST={len(garbage)},80,80") == b"\r\nCONNECT\r\n"
    assert await port.data(garbage) == OK
    assert await port.urc() == b"\r\n+QHTTPPOST: 730\r\n"


async def test_errors_and_bad_input(port: AtPort, web: WebServer) -> None:
    assert await port.at("AT+QHTTPGET=80") == b"\r\n+CME ERROR: 712\r\n"  # no URL yet
    assert await port.at("AT+QHTTPURL=9,80") == b"\r\nCONNECT\r\n"
    assert await port.data(b"ftp://x/y") == b"\r\n+CME ERROR: 711\r\n"
    assert await port.at("AT+QHTTPURL=701,80") == b"\r\n+CME ERROR: 50\r\n"
    assert await port.at("AT+QHTTPURL=20,1") == b"\r\nCONNECT\r\n"
    port.send(b"http://")
    assert await port.final(timeout=10) == b"\r\n+CME ERROR: 726\r\n"  # input timeout
    assert await port.at("AT") == OK
    await set_url(port, "http://no-such-host.invalid/")
    assert await port.at("AT+QHTTPGET=80") == OK
    assert await port.urc(timeout=30) == b"\r\n+QHTTPGET: 714\r\n"
    await set_url(port, "http://203.0.113.10/")  # outside loopback, not in the map
    assert await port.at("AT+QHTTPGET=80") == OK
    assert await port.urc(timeout=30) == b"\r\n+QHTTPGET: 716\r\n"
    closed = web.port
    await web.stop()
    await set_url(port, f"http://127.0.0.1:{closed}/hello")
    assert await port.at("AT+QHTTPGET=80") == OK
    assert await port.urc() == b"\r\n+QHTTPGET: 716\r\n"


async def test_stop_timeout_busy_and_pdp_loss(port: AtPort, web: WebServer) -> None:
    await set_url(port, web.base + "/slow")
    assert await port.at("AT+QHTTPGET=1") == OK
    assert await port.at("AT+QHTTPGET=1") == b"\r\n+CME ERROR: 703\r\n"  # busy
    assert await port.urc(timeout=10) == b"\r\n+QHTTPGET: 702\r\n"
    assert await port.at("AT+QHTTPGET=60") == OK
    assert await port.at("AT+QHTTPSTOP") == OK
    assert await port.at("AT+QHTTPREAD") == b"\r\n+CME ERROR: 705\r\n"
    assert await port.at("AT+QHTTPGET=60") == OK
    assert await port.at("AT+QIDEACT=1") == OK
    assert await port.urc() == b"\r\n+QHTTPGET: 709\r\n"


async def test_large_binary_body_is_read_whole(port: AtPort, web: WebServer) -> None:
    await set_url(port, web.base + "/big")
    assert await port.at("AT+QHTTPGET=80") == OK
    assert await port.urc() == b"\r\n+QHTTPGET: 0,200,102400\r\n"
    await read_body(port, bytes(range(256)) * 400)


async def upload(port: AtPort, name: str, data: bytes) -> None:
    assert await port.at(f'AT+QFUPL="UFS:{name}",{len(data)},10') == b"\r\nCONNECT\r\n"
    assert await port.data(data) == f"\r\n+QFUPL: {len(data)},{checksum(data):x}\r\n".encode() + OK


async def test_https_with_a_test_ca_from_the_module_file_system(
    port: AtPort, tmp_path: Path
) -> None:
    ca, server_tls = make_test_ca(tmp_path / "pki")
    other_ca, _ = make_test_ca(tmp_path / "other", name="other")
    server = await WebServer(tls=server_tls).start()
    try:
        await upload(port, "cacert.pem", ca.read_bytes())
        await upload(port, "other.pem", other_ca.read_bytes())
        assert await port.at('AT+QFUPL="UFS:cacert.pem",10,5') == b"\r\n+CME ERROR: 407\r\n"
        listing = await port.at("AT+QFLST")
        assert b'+QFLST: "UFS:cacert.pem",' in listing and listing.endswith(OK)
        assert await port.at('AT+QSSLCFG="sslversion",1,4') == OK
        assert await port.at('AT+QSSLCFG="ciphersuite",1,0xFFFF') == OK
        assert await port.at('AT+QSSLCFG="ciphersuite",1') == (
            b'\r\n+QSSLCFG: "ciphersuite",1,0XFFFF\r\n' + OK
        )
        assert await port.at('AT+QSSLCFG="seclevel",1,1') == OK
        assert await port.at('AT+QSSLCFG="cacert",1,"UFS:cacert.pem"') == OK
        assert await port.at('AT+QHTTPCFG="sslctxid",1') == OK
        await set_url(port, server.base + "/data.json")
        assert await port.at("AT+QHTTPGET=80") == OK
        assert await port.urc() == b"\r\n+QHTTPGET: 0,200,26\r\n"
        await read_body(port, b'{"temp": 21.5, "ok": true}')
        # A server certificate the configured CA did not sign is refused.
        assert await port.at('AT+QSSLCFG="cacert",1,"UFS:other.pem"') == OK
        assert await port.at("AT+QHTTPGET=80") == OK
        assert await port.urc() == b"\r\n+QHTTPGET: 716\r\n"
        # seclevel 0: no check at all.
        assert await port.at('AT+QSSLCFG="seclevel",1,0') == OK
        assert await port.at("AT+QHTTPGET=80") == OK
        assert await port.urc() == b"\r\n+QHTTPGET: 0,200,26\r\n"
        assert await port.at('AT+QFDEL="UFS:other.pem"') == OK
        assert await port.at('AT+QFDEL="UFS:other.pem"') == b"\r\n+CME ERROR: 405\r\n"
    finally:
        await server.stop()


async def test_the_file_system_is_in_memory_unless_given_a_folder(tmp_path: Path) -> None:
    """By default nothing touches the PC's disk, and the uploaded CA still secures HTTPS."""
    ca, server_tls = make_test_ca(tmp_path / "pki")
    server = await WebServer(tls=server_tls).start()
    port = await AtPort().start()
    try:
        await upload(port, "cacert.pem", ca.read_bytes())
        listing = await port.at("AT+QFLST")
        assert listing == f'\r\n+QFLST: "UFS:cacert.pem",{ca.stat().st_size}\r\n'.encode() + OK
        assert await port.at('AT+QSSLCFG="seclevel",1,1') == OK
        assert await port.at('AT+QSSLCFG="cacert",1,"UFS:cacert.pem"') == OK
        assert await port.at('AT+QHTTPCFG="sslctxid",1') == OK
        await set_url(port, server.base + "/data.json")
        assert await port.at("AT+QHTTPGET=80") == OK
        assert await port.urc() == b"\r\n+QHTTPGET: 0,200,26\r\n"
    finally:
        await port.stop()
        await server.stop()


async def test_a_folder_holds_the_module_files_privately(port: AtPort, tmp_path: Path) -> None:
    folder = tmp_path / "ufs"
    (folder / "preloaded.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    listing = await port.at("AT+QFLST")
    assert b'+QFLST: "UFS:preloaded.pem",28\r\n' in listing
    await upload(port, "key.pem", b"secret key")
    assert (folder / "key.pem").read_bytes() == b"secret key"
    assert (folder / "key.pem").stat().st_mode & 0o777 == 0o600
    assert await port.at('AT+QFDEL="UFS:key.pem"') == OK
    assert not (folder / "key.pem").exists()


def test_profile_section_is_checked() -> None:
    profile = stack_profile()
    bad = dataclasses.replace(profile, sections={**profile.sections, "http": {"max_url": "x"}})
    from emulator.http.model import HttpLimits
    from emulator.module.profile import ProfileError

    with pytest.raises(ProfileError, match="max_url"):
        HttpLimits.from_profile(bad.sections)


async def test_a_reboot_closes_the_connection_of_a_request_in_flight(port: AtPort) -> None:
    """A server that accepts and never answers: AT+CFUN=1,1 must close the connection."""
    accepted = asyncio.Event()
    closed = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        while await reader.read(4096):
            pass
        closed.set()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        address = server.sockets[0].getsockname()
        await set_url(port, f"http://127.0.0.1:{address[1]}/never")
        assert await port.at("AT+QHTTPGET=60") == OK
        await asyncio.wait_for(accepted.wait(), 10)
        assert await port.at("AT+CFUN=1,1") == OK
        await asyncio.wait_for(closed.wait(), 10)
    finally:
        server.close()
