"""A local HTTP(S) server for the HTTP tests (aiohttp.web on 127.0.0.1) and a test CA made
with the openssl command line for each test run."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web


@dataclass
class Seen:
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)  # ends /slow at stop


def build_app(seen: Seen) -> web.Application:
    async def record(request: web.Request) -> bytes:
        body = await request.read()
        seen.requests.append((request.method, request.path_qs, dict(request.headers), body))
        return body

    async def hello(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(text="hello world")

    async def data(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response({"temp": 21.5, "ok": True})

    async def echo(request: web.Request) -> web.Response:
        body = await record(request)
        return web.Response(
            body=body, status=201, content_type="application/octet-stream"
        )

    async def slow(request: web.Request) -> web.Response:
        await record(request)
        await seen.release.wait()
        return web.Response(text="late")

    async def big(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(body=bytes(range(256)) * 400)

    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_get("/data.json", data)
    app.router.add_post("/echo", echo)
    app.router.add_put("/echo", echo)
    app.router.add_route("DELETE", "/echo", echo)
    app.router.add_get("/slow", slow)
    app.router.add_get("/big", big)
    return app


class WebServer:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.seen = Seen()
        self.tls = tls
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> WebServer:
        self._runner = web.AppRunner(build_app(self.seen), handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.tls)
        await site.start()
        server = site._server  # aiohttp keeps the asyncio server here
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        self.seen.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_test_ca(folder: Path, name: str = "ca") -> tuple[Path, ssl.SSLContext]:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it; returns the CA
    file and the server's SSL context."""
    folder.mkdir(parents=True, exist_ok=True)
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *curve, "-keyout", f"{name}.key", "-out", f"{name}.pem",
             "-days", "2", "-subj", f"/CN=quecemu test {name}", cwd=folder)
    _openssl("req", *curve, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", f"{name}.pem", "-CAkey",
             f"{name}.key", "-CAcreateserial", "-out", "server.pem", "-days", "2",
             "-extfile", "san.ext", cwd=folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return folder / f"{name}.pem", context
