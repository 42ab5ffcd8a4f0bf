"""HTTP(S) AT commands (Quectel "LTE Standard HTTP(S) AT Commands Manual"): AT+QHTTPCFG,
AT+QHTTPURL (URL after ``CONNECT``), AT+QHTTPGET, AT+QHTTPPOST and AT+QHTTPPUT (body after
``CONNECT``), AT+QHTTPREAD (response after ``CONNECT``, then ``+QHTTPREAD: <err>``) and
AT+QHTTPSTOP. Errors found before any network work are ``+CME ERROR: <err>`` with the
manual's 7xx codes; the outcome of a request is its URC. The aiohttp adapter is this
family's service.
"""

from __future__ import annotations

from emulator.at.errors import CmeError
from emulator.at.parser import Args, Form
from emulator.at.registry import CommandRegistry, DataInput, Handler, Response
from emulator.commands.context import CommandContext
from emulator.commands.ssl import tls_request
from emulator.http.model import CONTENT_TYPES, HttpError, HttpSession, session_for

MAX_CID = 15
CFG_NAMES = ("contextid", "requestheader", "responseheader", "sslctxid", "contenttype")


class HttpCmeError(CmeError):
    """``+CME ERROR: 7xx``; at CMEE=2 the manual's words."""

    def __init__(self, error: HttpError, reason: str = "") -> None:
        super().__init__(reason or error.name, code=int(error))
        self.error = error

    @property
    def text(self) -> str:
        return "HTTP(S) " + self.error.name.lower().replace("_", " ")


def _session(ctx: CommandContext) -> HttpSession:
    return session_for(ctx.module)


def qhttpcfg_write(ctx: CommandContext, args: Args) -> list[str] | None:
    args.count(1, 2)
    name = args.str(0, max_len=16, choices=CFG_NAMES, case_insensitive=True)
    cfg = _session(ctx).config
    if len(args) == 1:
        value = {
            "contextid": cfg.contextid,
            "requestheader": int(cfg.requestheader),
            "responseheader": int(cfg.responseheader),
            "sslctxid": cfg.sslctxid,
            "contenttype": cfg.contenttype,
        }[name]
        return [f'+QHTTPCFG: "{name}",{value}']
    if name == "contextid":
        cfg.contextid = args.int(1, 1, MAX_CID)
    elif name == "requestheader":
        cfg.requestheader = bool(args.int(1, 0, 1))
    elif name == "responseheader":
        cfg.responseheader = bool(args.int(1, 0, 1))
    elif name == "sslctxid":
        cfg.sslctxid = args.int(1, 0, 5)
    else:
        cfg.contenttype = args.int(1, 0, max(CONTENT_TYPES))
    return None


def qhttpcfg_test(ctx: CommandContext, args: Args) -> list[str]:
    return [
        f'+QHTTPCFG: "contextid",(1-{MAX_CID})',
        '+QHTTPCFG: "requestheader",(0,1)',
        '+QHTTPCFG: "responseheader",(0,1)',
        '+QHTTPCFG: "sslctxid",(0-5)',
        f'+QHTTPCFG: "contenttype",(0-{max(CONTENT_TYPES)})',
    ]


def _idle(session: HttpSession) -> None:
    if session.in_flight is not None:
        raise HttpCmeError(HttpError.BUSY)


def qhttpurl_write(ctx: CommandContext, args: Args) -> Response:
    """``AT+QHTTPURL=<URL_length>[,<timeout>]`` → CONNECT, exactly <URL_length> bytes, OK."""
    session = _session(ctx)
    args.count(1, 2)
    length = args.int(0, 1, session.limits.max_url)
    timeout = args.int(1, 1, 65535, default=60)
    _idle(session)

    def on_data(data: bytes, now: float) -> Response:
        url = data.decode("latin-1")
        if not url.lower().startswith(("http://", "https://")) or any(
            c in url for c in " \r\n\t"
        ):
            raise HttpCmeError(HttpError.URL_ERROR, f"not an http(s) URL: {url!r}")
        session.url = url
        session.response = None
        return Response()

    def on_timeout(data: bytes, now: float) -> Response:
        raise HttpCmeError(HttpError.INPUT_TIMEOUT)

    return Response(
        final=None,
        data_input=DataInput(
            prompt=b"\r\nCONNECT\r\n",
            length=length,
            on_data=on_data,
            on_timeout=on_timeout,
            timeout=float(timeout),
        ),
    )


def qhttpurl_read(ctx: CommandContext, args: Args) -> list[str]:
    session = _session(ctx)
    return [f'+QHTTPURL: "{session.url}"'] if session.url else []


def qhttpurl_test(ctx: CommandContext, args: Args) -> list[str]:
    return [f"+QHTTPURL: (1-{_session(ctx).limits.max_url}),(1-65535)"]


def _send(
    ctx: CommandContext,
    urc: str,
    method: str,
    body: bytes,
    rsptime: int,
    raw_request: bytes | None,
) -> None:
    session = _session(ctx)
    if not ctx.module.bring_up_context(session.config.contextid, ctx.now):
        session.in_flight = None
        ctx.module.raise_urc(f"{urc}: {int(HttpError.NETWORK_OPEN_FAILED)}", ctx.now)
        return
    https = session.url.lower().startswith("https://")
    tls = tls_request(ctx.module, session.config.sslctxid, session.url) if https else None
    session.start(urc, method, body, float(rsptime), tls, raw_request)


def _request_with_data(
    ctx: CommandContext,
    urc: str,
    method: str,
    length: int,
    input_time: int,
    rsptime: int,
) -> Response:
    session = _session(ctx)
    raw = session.config.requestheader

    def on_data(data: bytes, now: float) -> Response:
        if raw:
            _send(ctx, urc, method, b"", rsptime, data)
        else:
            _send(ctx, urc, method, data, rsptime, None)
        return Response()

    def on_timeout(data: bytes, now: float) -> Response:
        session.in_flight = None
        raise HttpCmeError(HttpError.INPUT_TIMEOUT)

    session.in_flight = urc  # busy from the CONNECT on
    return Response(
        final=None,
        data_input=DataInput(
            prompt=b"\r\nCONNECT\r\n",
            length=length,
            on_data=on_data,
            on_timeout=on_timeout,
            timeout=float(input_time),
        ),
    )


def _ready(ctx: CommandContext) -> HttpSession:
    session = _session(ctx)
    _idle(session)
    if not session.url:
        raise HttpCmeError(HttpError.EMPTY_URL)
    return session


def qhttpget_write(ctx: CommandContext, args: Args) -> Response | None:
    """``AT+QHTTPGET[=<rsptime>[,<data_length>,<input_time>]]``; the data form (request
    header enabled) takes the whole request after CONNECT."""
    args.count(1, 3)
    rsptime = args.int(0, 1, 65535, default=60)
    session = _ready(ctx)
    if len(args) > 1:
        if not session.config.requestheader:
            raise HttpCmeError(HttpError.INVALID_PARAMETER, "data needs requestheader=1")
        length = args.int(1, 1, session.limits.max_post)
        input_time = args.int(2, 1, 65535, default=60)
        return _request_with_data(ctx, "+QHTTPGET", "GET", length, input_time, rsptime)
    _send(ctx, "+QHTTPGET", "GET", b"", rsptime, None)
    return None


def qhttpget_exec(ctx: CommandContext, args: Args) -> None:
    _ready(ctx)
    _send(ctx, "+QHTTPGET", "GET", b"", 60, None)


def _body_command(urc: str, method: str) -> Handler:
    def handler(ctx: CommandContext, args: Args) -> Response:
        """``AT+QHTTPPOST=<data_length>[,<input_time>[,<rsptime>]]`` (PUT alike)."""
        args.count(1, 3)
        session = _ready(ctx)
        length = args.int(0, 1, session.limits.max_post)
        input_time = args.int(1, 1, 65535, default=60)
        rsptime = args.int(2, 1, 65535, default=60)
        return _request_with_data(ctx, urc, method, length, input_time, rsptime)

    return handler


qhttppost_write = _body_command("+QHTTPPOST", "POST")
qhttpput_write = _body_command("+QHTTPPUT", "PUT")


def qhttpread_write(ctx: CommandContext, args: Args) -> Response:
    """``AT+QHTTPREAD[=<wait_time>]`` → ``CONNECT`` <response> ``OK`` ``+QHTTPREAD: 0``."""
    args.count(0, 1)
    args.int(0, 1, 65535, default=60)
    session = _session(ctx)
    _idle(session)
    response = session.response
    if response is None:
        raise HttpCmeError(HttpError.NO_REQUEST)
    session.response = None  # the module streams it out once
    data = response.body
    if session.config.responseheader:
        data = response.header_block() + data
    ctx.module.raise_urc("+QHTTPREAD: 0", ctx.now)
    return Response(lines=["CONNECT"], data=data)


def qhttpstop_exec(ctx: CommandContext, args: Args) -> None:
    _session(ctx).stop()


def register(registry: CommandRegistry) -> None:
    on = registry.add
    on("+QHTTPCFG", Form.WRITE, qhttpcfg_write)
    on("+QHTTPCFG", Form.TEST, qhttpcfg_test)
    on("+QHTTPURL", Form.WRITE, qhttpurl_write)
    on("+QHTTPURL", Form.READ, qhttpurl_read)
    on("+QHTTPURL", Form.TEST, qhttpurl_test)
    on("+QHTTPGET", Form.WRITE, qhttpget_write)
    on("+QHTTPGET", Form.EXEC, qhttpget_exec)
    on("+QHTTPPOST", Form.WRITE, qhttppost_write)
    on("+QHTTPPUT", Form.WRITE, qhttpput_write)
    on("+QHTTPREAD", Form.WRITE, qhttpread_write)
    on("+QHTTPREAD", Form.EXEC, qhttpread_write)
    on("+QHTTPSTOP", Form.EXEC, qhttpstop_exec)
